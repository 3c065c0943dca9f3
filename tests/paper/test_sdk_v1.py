"""The V1 profile: the official V1 SDK (py_clob_client, unmodified) against a `--protocol v1`
paper exchange, the V2 SDK switching to V1 orders when /version says 1, and the strict mode
that refuses the other protocol with `order_version_mismatch`."""

from __future__ import annotations

import pytest
from py_clob_client.client import ClobClient as ClobClientV1
from py_clob_client.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    DropNotificationParams,
    MarketOrderArgs,
    OpenOrderParams,
    OrderArgs,
    OrderType,
    PostOrdersArgs,
    TradeParams,
)
from py_clob_client.exceptions import PolyApiException
from py_clob_client_v2.client import ClobClient as ClobClientV2
from py_clob_client_v2.clob_types import OrderArgsV2

from paperclob import PaperExchange
from tests.support.accounts import new_key
from tests.support.paper import OTHER_TOKEN, TOKEN

START = 10_000 * 10**6


@pytest.fixture
def paper_v1(paper_factory) -> PaperExchange:
    return paper_factory(protocol="v1")


def v1_client(url: str) -> ClobClientV1:
    client = ClobClientV1(url, chain_id=137, key=new_key())
    client.set_api_creds(client.create_or_derive_api_creds())
    return client


def test_v1_sdk_keys_orders_pages_and_cancels(paper_v1: PaperExchange) -> None:
    client = v1_client(paper_v1.url)
    assert client.get_ok() == "OK"
    single = client.create_and_post_order(
        OrderArgs(token_id=TOKEN, price=0.45, size=10, side="BUY")
    )
    assert single["success"] is True and single["status"] == "live"
    batch = [
        PostOrdersArgs(
            order=client.create_order(
                OrderArgs(
                    token_id=OTHER_TOKEN, price=round(0.20 + 0.01 * i, 2), size=10, side="BUY"
                )
            ),
            orderType=OrderType.GTC,
            postOnly=True,
        )
        for i in range(6)
    ]
    assert all(r["status"] == "live" for r in client.post_orders(batch))

    assert len(client.get_orders()) == 7  # pages of 5
    assert len(client.get_orders(OpenOrderParams(asset_id=OTHER_TOKEN))) == 6
    assert client.get_order(single["orderID"])["price"] == "0.45"
    assert client.cancel(single["orderID"])["canceled"] == [single["orderID"]]
    first_two = [o["id"] for o in client.get_orders()][:2]
    assert sorted(client.cancel_orders(first_two)["canceled"]) == sorted(first_two)
    assert len(client.cancel_market_orders(asset_id=OTHER_TOKEN)["canceled"]) == 4
    assert client.cancel_all() == {"canceled": [], "not_canceled": {}}
    assert client.get_api_keys()["apiKeys"] == [client.creds.api_key]


def test_v1_sdk_trades_balances_notifications_heartbeat(paper_v1: PaperExchange) -> None:
    maker, taker = v1_client(paper_v1.url), v1_client(paper_v1.url)
    bid = maker.create_and_post_order(OrderArgs(token_id=TOKEN, price=0.40, size=25, side="BUY"))
    market_sell = taker.create_market_order(
        MarketOrderArgs(token_id=TOKEN, amount=10, side="SELL")
    )  # priced from our /book: 0.40
    result = taker.post_order(market_sell, orderType=OrderType.FOK)
    assert result["status"] == "matched" and result["takingAmount"] == "4"

    (trade,) = maker.get_trades(TradeParams(asset_id=TOKEN))
    assert trade["maker_orders"][0]["order_id"] == bid["orderID"]
    collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL, signature_type=0)
    assert maker.get_balance_allowance(collateral)["balance"] == str(START - 4 * 10**6)
    assert taker.get_balance_allowance(collateral)["balance"] == str(START + 4 * 10**6)
    maker.update_balance_allowance(collateral)

    (note,) = maker.get_notifications()
    assert note["type"] == 2 and note["payload"]["matched_size"] == "10"
    maker.drop_notifications(DropNotificationParams(ids=[str(note["id"])]))
    assert maker.get_notifications() == []
    beat = maker.post_heartbeat(None)["heartbeat_id"]
    assert maker.post_heartbeat(beat)["heartbeat_id"] != beat
    assert maker.delete_api_key() == "OK"  # the JSON string the unified SDK requires


def test_v2_sdk_builds_v1_orders_when_the_exchange_says_version_1(
    paper_v1: PaperExchange,
) -> None:
    client = ClobClientV2(paper_v1.url, chain_id=137, key=new_key())
    client.set_api_creds(client.create_or_derive_api_key())
    assert client.get_version() == 1
    result = client.create_and_post_order(
        OrderArgsV2(token_id=TOKEN, price=0.33, size=12, side="BUY")
    )
    assert result["status"] == "live"
    stored = paper_v1.exchange.engine.orders[result["orderID"]]
    assert stored.profile == "v1"


def test_strict_exchange_refuses_the_other_protocol(paper_factory) -> None:
    strict_v2 = paper_factory(strict_version=True)
    client = v1_client(strict_v2.url)
    with pytest.raises(PolyApiException) as refused:
        client.create_and_post_order(OrderArgs(token_id=TOKEN, price=0.45, size=10, side="BUY"))
    assert refused.value.status_code == 400
    assert refused.value.error_msg == {"error": "order_version_mismatch"}


def test_v1_orders_are_accepted_by_a_lenient_v2_exchange(paper: PaperExchange) -> None:
    client = v1_client(paper.url)
    result = client.create_and_post_order(
        OrderArgs(token_id=TOKEN, price=0.45, size=10, side="BUY")
    )
    assert result["status"] == "live"
    assert paper.exchange.engine.orders[result["orderID"]].profile == "v1"
