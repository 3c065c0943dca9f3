"""The official V2 SDK (py_clob_client_v2, unmodified) drives every method against the paper exchange.

If the SDK can create keys, post, page, cancel, trade, read balances, notifications and
heartbeats, and build a market order from our /book and /clob-markets, the paper exchange speaks
the protocol the SDK speaks.
"""

from __future__ import annotations

import time

import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    DropNotificationParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

from paperclob import PaperExchange
from tests.support.accounts import new_key
from tests.support.paper import OTHER_TOKEN, TOKEN

START = 10_000 * 10**6


def sdk(url: str, key: str | None = None, **kwargs: object) -> ClobClient:
    client = ClobClient(url, chain_id=137, key=key or new_key(), **kwargs)  # type: ignore[arg-type]
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def buy(client: ClobClient, price: float, size: float = 10, token: str = TOKEN) -> dict:
    return client.create_and_post_order(
        OrderArgsV2(token_id=token, price=price, size=size, side="BUY")
    )


def test_api_keys_create_derive_list_and_delete(paper: PaperExchange) -> None:
    client = ClobClient(paper.url, chain_id=137, key=new_key())
    created = client.create_api_key()
    with pytest.raises(PolyApiException) as again:
        client.create_api_key()
    assert (again.value.status_code, again.value.error_msg) == (
        400,
        {"error": "Could not create api key"},
    )
    assert client.derive_api_key() == created
    assert client.create_or_derive_api_key() == created
    client.set_api_creds(created)
    assert client.get_api_keys() == {"apiKeys": [created.api_key]}

    assert client.delete_api_key() == "OK"  # the JSON string the unified SDK requires
    with pytest.raises(PolyApiException) as gone:
        client.get_api_keys()
    assert gone.value.status_code == 401
    with pytest.raises(PolyApiException) as underived:
        client.derive_api_key()
    assert underived.value.error_msg == {"error": "Could not derive api key!"}


def test_post_one_and_fifteen_then_read_every_page(paper: PaperExchange) -> None:
    client = sdk(paper.url)
    single = buy(client, 0.45)
    assert single["success"] is True and single["status"] == "live"
    batch = [
        PostOrdersV2Args(
            order=client.create_order(
                OrderArgsV2(
                    token_id=OTHER_TOKEN, price=round(0.20 + 0.01 * i, 2), size=10, side="BUY"
                )
            ),
            orderType=OrderType.GTC,
        )
        for i in range(15)
    ]
    results = client.post_orders(batch, post_only=True)
    assert len(results) == 15 and all(r["status"] == "live" for r in results)

    everything = client.get_open_orders()  # 16 orders, pages of 5: four pages
    assert len(everything) == 16
    assert {o["id"] for o in everything} == {single["orderID"]} | {r["orderID"] for r in results}
    assert len(client.get_open_orders(only_first_page=True)) == 5
    assert len(client.get_open_orders(OpenOrderParams(asset_id=OTHER_TOKEN))) == 15
    (one,) = client.get_open_orders(OpenOrderParams(id=single["orderID"]))
    assert one["price"] == "0.45" and one["original_size"] == "10"
    assert client.get_order(single["orderID"]) == one


def test_cancel_one_many_by_market_and_all(paper: PaperExchange) -> None:
    client = sdk(paper.url)
    ids = [buy(client, p)["orderID"] for p in (0.30, 0.31, 0.32, 0.33)]
    other = buy(client, 0.40, token=OTHER_TOKEN)["orderID"]
    more = buy(client, 0.41, token=OTHER_TOKEN)["orderID"]

    assert client.cancel_order(OrderPayload(orderID=ids[0])) == {
        "canceled": [ids[0]],
        "not_canceled": {},
    }
    answer = client.cancel_orders([ids[1], ids[2]])
    assert sorted(answer["canceled"]) == sorted(ids[1:3])
    condition = client.get_order(other)["market"]
    by_market = client.cancel_market_orders(OrderMarketCancelParams(market=condition))
    assert by_market == {"canceled": [other, more], "not_canceled": {}}
    assert {o["id"] for o in client.get_open_orders()} == {ids[3]}
    assert client.cancel_all() == {"canceled": [ids[3]], "not_canceled": {}}
    assert client.get_open_orders() == []


def test_cancel_market_orders_by_asset_id_leaves_other_tokens(paper: PaperExchange) -> None:
    client = sdk(paper.url)
    keep = buy(client, 0.30)["orderID"]
    drop = buy(client, 0.30, token=OTHER_TOKEN)["orderID"]
    answer = client.cancel_market_orders(OrderMarketCancelParams(asset_id=OTHER_TOKEN))
    assert answer == {"canceled": [drop], "not_canceled": {}}
    assert [o["id"] for o in client.get_open_orders()] == [keep]


def test_two_sdk_clients_trade_and_read_trades_balances_notifications(paper_factory) -> None:
    # A real clock and a short settle step: the answer carries trade ids only, and the SDK
    # resolves the hashes itself by polling /data/trades until the trade is mined.
    paper = paper_factory(clock=time.time, settle_delay_s=0.2)
    maker, taker = sdk(paper.url), sdk(paper.url)
    bid = buy(maker, 0.45, size=20)["orderID"]
    sell = taker.create_and_post_order(
        OrderArgsV2(token_id=TOKEN, price=0.44, size=20, side="SELL")
    )
    assert sell["status"] == "matched" and sell["transactionsHashes"]
    (mined,) = taker.get_trades(TradeParams(id=sell["tradeIDs"][0]))
    assert sell["transactionsHashes"] == [mined["transaction_hash"]]
    assert mined["status"] in ("TRADE_STATUS_MINED", "TRADE_STATUS_CONFIRMED")

    (trade,) = maker.get_trades()
    assert trade["trader_side"] == "MAKER" and trade["maker_orders"][0]["order_id"] == bid
    assert taker.get_trades(TradeParams(id=sell["tradeIDs"][0]))[0]["trader_side"] == "TAKER"
    assert taker.get_trades(TradeParams(asset_id=OTHER_TOKEN)) == []
    page = taker.get_trades_paginated()
    assert page["next_cursor"] == "LTE=" and len(page["trades"]) == 1

    collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    shares = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=TOKEN)
    assert maker.get_balance_allowance(collateral)["balance"] == str(START - 9 * 10**6)
    assert maker.get_balance_allowance(shares)["balance"] == str(START + 20 * 10**6)
    assert taker.get_balance_allowance(collateral)["balance"] == str(START + 9 * 10**6)
    assert len(maker.get_balance_allowance(collateral)["allowances"]) == 3
    assert maker.update_balance_allowance(collateral) is None

    notes = maker.get_notifications()
    assert [n["type"] for n in notes] == [2] and notes[0]["payload"]["order_id"] == bid
    assert maker.drop_notifications(DropNotificationParams(ids=[str(notes[0]["id"])])) is None
    assert maker.get_notifications() == []


def test_market_order_is_priced_from_the_book_and_market_info(paper_factory) -> None:
    # Settle at once: the FOK answer carries no hashes, and the SDK then polls the trade (on
    # its own wall clock) until it is mined, which on a frozen test clock would never happen.
    paper = paper_factory(settle_delay_s=0)
    maker, taker = sdk(paper.url), sdk(paper.url)
    for price in (0.50, 0.52):
        maker.create_and_post_order(OrderArgsV2(token_id=TOKEN, price=price, size=10, side="SELL"))
    result = taker.create_and_post_market_order(
        MarketOrderArgsV2(token_id=TOKEN, amount=8, side="BUY"), order_type=OrderType.FOK
    )
    assert result["status"] == "matched"
    # $8 walks 0.50 (5 pUSD) then 0.52: the SDK priced the order at 0.52 from our /book.
    shares = {
        m["price"]: m["matched_amount"] for t in taker.get_trades() for m in t["maker_orders"]
    }
    # The last 3 pUSD buy floor(3 / 0.52) = 5.76923 shares (6-decimal units, not 0.01 lots).
    assert shares["0.5"] == "10" and shares["0.52"] == "5.76923"

    # No bids at all: the SDK refuses before posting, from the (empty) bids of our /book.
    with pytest.raises(Exception, match="no match"):
        taker.create_and_post_market_order(
            MarketOrderArgsV2(token_id=TOKEN, amount=100, side="SELL")
        )


def test_public_market_data_as_the_sdk_reads_it(paper: PaperExchange) -> None:
    client = sdk(paper.url)
    buy(client, 0.40)
    client.create_and_post_order(OrderArgsV2(token_id=TOKEN, price=0.60, size=7, side="SELL"))

    assert client.get_ok() == "OK" and client.get_version() == 2
    assert isinstance(client.get_server_time(), int)
    assert client.get_tick_size(TOKEN) == "0.01" and client.get_neg_risk(TOKEN) is False
    book = client.get_order_book(TOKEN)
    assert book["bids"] == [{"price": "0.4", "size": "10"}]
    assert book["asks"] == [{"price": "0.6", "size": "7"}]
    assert client.get_order_book_hash(book) == book["hash"]
    assert client.get_midpoint(TOKEN) == {"mid": "0.5"}
    assert client.get_price(TOKEN, "BUY") == {"price": "0.4"}
    assert client.get_spread(TOKEN) == {"spread": "0.2"}
    assert client.get_last_trade_price(TOKEN)["price"] == "0"
    assert len(client.get_order_books([BookParams(token_id=TOKEN)])) == 1
    assert client.get_midpoints([BookParams(token_id=TOKEN)]) == {TOKEN: "0.5"}
    assert client.get_prices([BookParams(token_id=TOKEN, side="SELL")]) == {TOKEN: {"SELL": "0.6"}}
    condition = book["market"]
    info = client.get_clob_market_info(condition)
    assert info["t"] == [{"t": TOKEN, "o": "Yes"}] and info["mos"] == 5
    assert client.get_market(condition)["condition_id"] == condition


def test_book_orders_bids_ascending_and_asks_descending(paper: PaperExchange) -> None:
    client = sdk(paper.url)
    for price in (0.30, 0.35, 0.32):
        buy(client, price)
    for price in (0.70, 0.65, 0.80):
        client.create_and_post_order(OrderArgsV2(token_id=TOKEN, price=price, size=5, side="SELL"))
    book = client.get_order_book(TOKEN)
    assert [b["price"] for b in book["bids"]] == ["0.3", "0.32", "0.35"]
    assert [a["price"] for a in book["asks"]] == ["0.8", "0.7", "0.65"]


def test_heartbeats_chain_and_a_missed_one_cancels_the_keys_orders(
    paper: PaperExchange, clock
) -> None:
    client = sdk(paper.url)
    order_id = buy(client, 0.30)["orderID"]
    first = client.post_heartbeat("")["heartbeat_id"]
    clock.advance(9)
    second = client.post_heartbeat(first)["heartbeat_id"]
    with pytest.raises(PolyApiException) as stale:
        client.post_heartbeat(first)
    assert stale.value.status_code == 400
    assert stale.value.error_msg["heartbeat_id"] == second
    clock.advance(9)
    assert [o["id"] for o in client.get_open_orders()] == [order_id]  # 9 s: still alive
    clock.advance(2)
    assert client.get_open_orders() == []
    note = client.get_notifications()[-1]
    assert note["type"] == 1 and note["payload"]["order_id"] == order_id
    assert paper.exchange.engine.orders[order_id].cancel_reason == "heartbeat missed"


def test_neg_risk_market_and_finer_tick(paper: PaperExchange) -> None:
    paper.exchange.markets.define(TOKEN, {"neg_risk": True, "tick_size": "0.001"})
    client = sdk(paper.url)
    assert client.get_neg_risk(TOKEN) is True
    result = buy(client, 0.457, size=33.333)
    assert result["status"] == "live"
    (order,) = client.get_open_orders()
    assert (order["price"], order["original_size"]) == ("0.457", "33.33")


@pytest.mark.parametrize("signature_type", [1, 2, 3])
def test_proxy_safe_and_deposit_wallet_orders(paper: PaperExchange, signature_type: int) -> None:
    funder = "0x" + new_key()[-40:]
    client = sdk(paper.url, signature_type=signature_type, funder=funder)
    result = buy(client, 0.40)
    assert result["status"] == "live"
    (order,) = client.get_open_orders()
    assert order["maker_address"] == funder.lower()
    balance = client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    assert balance["balance"] == str(START)
    # The funder now belongs to this signer: another key cannot spend from it.
    thief = sdk(paper.url, signature_type=signature_type, funder=funder)
    with pytest.raises(PolyApiException) as refused:
        buy(thief, 0.40)
    assert refused.value.error_msg == {"error": "invalid signature"}
