"""The unified SDK (`polymarket-client` 0.14.0, unmodified) drives the paper exchange.

One test per method it shares with our client: orders, cancels, open orders, trades,
balance-allowance, API keys, notifications, heartbeats, get_order of an unknown id; plus the
2026 behaviours it reads (rate-limit headers, trading restrictions, settlement, protocol by asset
id). The SDK is pointed at the paper server through its own environment config: every host it
knows (CLOB, Gamma, data, relayer, RPC) is the paper URL, so nothing leaves 127.0.0.1. The
wallet is the signer's own address (an EOA account), which needs no relayer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import requests
from eth_account import Account
from polymarket import (
    OrderHeartbeatMismatchError,
    RateLimitError,
    RequestRejectedError,
    SecureClient,
    TransactionFailedError,
)
from polymarket._internal.environment import PRODUCTION_CONFIG, create_environment
from polymarket.models.clob import NotificationType
from polymarket.rate_limit import RateLimitUpdate

from paperclob import PaperExchange
from tests.support.accounts import new_key
from tests.support.paper import TOKEN

START = 10_000 * 10**6
# A Protocol-V2 position id (bits 40-103 zero): the SDK signs it for ExchangeV3 (domain "3").
POSITION_ID = str((1 << 248) | 0x1234)


def environment(url: str) -> Any:
    config = dataclasses.replace(
        PRODUCTION_CONFIG,
        clob_url=url,
        gamma_url=url + "/gamma",
        data_url=url + "/data-api",
        relayer_url=url + "/relayer",
        rpc_url=url + "/rpc",
        rfq_url=url + "/rfq",
    )
    return create_environment(name="paper", config=config)


def client(
    paper: PaperExchange, on_rate_limit_update: Callable[[RateLimitUpdate], None] | None = None
) -> SecureClient:
    key = new_key()
    return SecureClient.create(
        private_key=key,
        wallet=Account.from_key(key).address,
        environment=environment(paper.url),
        on_rate_limit_update=on_rate_limit_update,
    )


def bid(c: SecureClient, price: str, size: str = "10", token: str = TOKEN) -> str:
    placed = c.place_limit_order(token_id=token, price=price, size=size, side="BUY")
    assert placed.ok, placed
    return str(placed.order_id)


def test_api_keys_are_derived_listed_and_deleted(paper: PaperExchange) -> None:
    c = client(paper)
    keys = c.fetch_api_keys()
    assert keys == (c.credentials.key,)
    c.delete_api_key()
    with pytest.raises(RequestRejectedError) as gone:
        c.fetch_api_keys()
    assert gone.value.status == 401


def test_place_limit_order_and_post_orders(paper: PaperExchange) -> None:
    c = client(paper)
    single = c.place_limit_order(token_id=TOKEN, price="0.45", size="10", side="BUY")
    assert single.ok and single.status == "live" and single.trade_ids == ()
    signed = [
        c.create_limit_order(token_id=TOKEN, price=f"0.{30 + i}", size="5", side="BUY")
        for i in range(3)
    ]
    batch = c.post_orders(signed)
    assert [r.ok for r in batch] == [True] * 3
    assert {o.id for o in c.list_open_orders().iter_items()} == {single.order_id} | {
        r.order_id for r in batch if r.ok
    }


def test_list_open_orders_pages_to_the_end(paper: PaperExchange) -> None:
    c = client(paper)
    placed = {bid(c, f"0.{20 + i}") for i in range(12)}  # pages of 5: three pages
    orders = list(c.list_open_orders().iter_items())
    assert {o.id for o in orders} == placed and len(orders) == 12
    assert all(o.status == "LIVE" and o.order_type == "GTC" for o in orders)


def test_get_order_known_and_unknown(paper: PaperExchange) -> None:
    c = client(paper)
    order_id = bid(c, "0.41")
    assert str(c.get_order(order_id=order_id).price) == "0.41"
    with pytest.raises(RequestRejectedError) as unknown:
        c.get_order(order_id="0x" + "ab" * 32)
    assert (unknown.value.status, str(unknown.value)) == (404, "Order not found")


def test_cancel_one_many_by_market_and_all(paper: PaperExchange) -> None:
    c = client(paper)
    ids = [bid(c, p) for p in ("0.30", "0.31", "0.32", "0.33", "0.34")]
    assert c.cancel_order(order_id=ids[0]).canceled == (ids[0],)
    many = c.cancel_orders(order_ids=[ids[1], ids[2], ids[1]])  # a duplicate id is dropped
    assert sorted(many.canceled) == sorted(ids[1:3]) and dict(many.not_canceled) == {}
    by_token = c.cancel_market_orders(asset_id=TOKEN)
    assert sorted(by_token.canceled) == sorted(ids[3:])
    again = bid(c, "0.35")
    assert c.cancel_all().canceled == (again,)
    assert list(c.list_open_orders().iter_items()) == []


def test_market_orders_trades_and_settlement(paper_factory) -> None:
    paper = paper_factory(settle_delay_s=0)  # the SDK polls on its own wall clock
    maker, taker = client(paper), client(paper)
    ask = maker.place_limit_order(token_id=TOKEN, price="0.50", size="10", side="SELL")
    fok = taker.place_market_order(token_id=TOKEN, side="BUY", amount="2", order_type="FOK")
    assert fok.ok and fok.status == "matched" and len(fok.trade_ids) == 1
    assert fok.transactions_hashes == ()  # a FOK answer carries trade ids only (2026-07-24)
    hashes = taker.wait_for_order_fill_settlement(fok, timeout_s=5)
    (trade,) = list(taker.list_account_trades().iter_items())
    assert trade.status == "CONFIRMED" and hashes == (trade.transaction_hash,)
    assert trade.size == 4 and trade.maker_orders[0].order_id == ask.order_id  # type: ignore[union-attr]
    (maker_view,) = list(maker.list_account_trades().iter_items())
    assert maker_view.trader_side == "MAKER"
    maker.place_limit_order(token_id=TOKEN, price="0.40", size="5", side="BUY")
    fak = taker.place_market_order(token_id=TOKEN, side="SELL", shares="3", order_type="FAK")
    assert fak.ok and fak.status == "matched" and str(fak.taking_amount) == "1.2"  # type: ignore[union-attr]
    assert fak.transactions_hashes == ()  # type: ignore[union-attr]


def test_a_failed_fill_is_reported_failed(paper_factory) -> None:
    paper = paper_factory(settle_delay_s=0)
    paper.exchange.settlement.fail_next = 1
    maker, taker = client(paper), client(paper)
    maker.place_limit_order(token_id=TOKEN, price="0.50", size="10", side="SELL")
    fok = taker.place_market_order(token_id=TOKEN, side="BUY", amount="2", order_type="FOK")
    assert fok.ok
    with pytest.raises(TransactionFailedError):
        taker.wait_for_order_fill_settlement(fok, timeout_s=5)
    (trade,) = list(taker.list_account_trades().iter_items())
    assert trade.status == "FAILED" and trade.transaction_hash is None
    failed = [n for n in taker.get_notifications() if n.type is NotificationType.ORDER_FILL_FAILED]
    assert [n.payload.order_id for n in failed] == [fok.order_id]  # type: ignore[union-attr]


def test_balance_allowance_collateral_and_conditional(paper: PaperExchange) -> None:
    c = client(paper)
    collateral = c.get_balance_allowance(asset_type="COLLATERAL")
    assert collateral.balance == START and len(collateral.allowances) == 3
    shares = c.get_balance_allowance(asset_type="CONDITIONAL", token_id=TOKEN)
    assert shares.balance == START


def test_notifications_of_every_type_parse_and_drop(paper: PaperExchange) -> None:
    c = client(paper)
    order_id = bid(c, "0.40")
    c.cancel_order(order_id=order_id)
    address = c.wallet.lower()
    for kind in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11):
        body: dict[str, Any] = {"type": kind, "address": address}
        if kind in (2, 8):
            body["order_id"] = order_id
        if kind in (3, 4):
            body["token_id"] = TOKEN
        sent = requests.post(paper.url + "/_admin/notifications", json=body, timeout=10)
        assert sent.status_code == 200, sent.text
    notes = c.get_notifications()
    assert [int(n.type) for n in notes] == list(range(1, 12))
    cancel = notes[0]
    assert cancel.payload.order_type == "GTC"  # type: ignore[union-attr]
    assert cancel.payload.order_id == order_id  # type: ignore[union-attr]
    c.drop_notifications(ids=[n.id for n in notes[:5]])
    assert [int(n.type) for n in c.get_notifications()] == list(range(6, 12))


def test_order_heartbeats_chain_and_a_stale_id_is_recognised(paper: PaperExchange) -> None:
    c = client(paper)
    first = c.send_order_heartbeat(heartbeat_id="").heartbeat_id
    second = c.send_order_heartbeat(heartbeat_id=first).heartbeat_id
    with pytest.raises(OrderHeartbeatMismatchError) as stale:
        c.send_order_heartbeat(heartbeat_id=first)
    assert stale.value.heartbeat_id == second
    assert c.send_order_heartbeat(heartbeat_id=stale.value.heartbeat_id).heartbeat_id


def test_closed_only_mode_is_read(paper: PaperExchange) -> None:
    c = client(paper)
    assert c.get_closed_only_mode() is False
    requests.post(
        paper.url + "/_admin/trading-mode",
        json={"address": c.signer, "restriction": "closed-only"},
        timeout=10,
    ).raise_for_status()
    assert c.get_closed_only_mode() is True
    with pytest.raises(RequestRejectedError) as refused:
        bid(c, "0.40")
    assert str(refused.value) == f"'{c.signer.lower()}' address in closed only mode"


def test_rate_limit_headers_reach_the_listener_and_429_is_classified(paper: PaperExchange) -> None:
    updates: list[RateLimitUpdate] = []
    c = client(paper, on_rate_limit_update=updates.append)
    c.cancel_orders(order_ids=[f"0x{i:064x}" for i in range(100)])
    assert updates[-1].tier == "Standard" and updates[-1].remaining == 20
    with pytest.raises(RateLimitError) as limited:
        c.cancel_orders(order_ids=[f"0x{i:064x}" for i in range(50)])
    assert limited.value.retry_after is not None and limited.value.retry_after >= 1


def test_trading_restrictions_are_classified(paper: PaperExchange) -> None:
    c = client(paper)

    def mode(**body: object) -> None:
        requests.post(paper.url + "/_admin/trading-mode", json=body, timeout=10).raise_for_status()

    mode(mode="post-only", retry_after_s=79)
    with pytest.raises(RequestRejectedError) as post_only:
        bid(c, "0.40")
    assert (post_only.value.restriction, post_only.value.retry_after) == ("post_only", 79)
    assert post_only.value.code == "post_only_mode"
    accepted = c.place_limit_order(
        token_id=TOKEN, price="0.40", size="10", side="BUY", post_only=True
    )
    assert accepted.ok
    mode(mode="cancel-only")
    with pytest.raises(RequestRejectedError) as cancel_only:
        bid(c, "0.40")
    assert cancel_only.value.restriction == "cancel_only"
    mode(mode="restarting")
    with pytest.raises(RequestRejectedError) as restarting:
        bid(c, "0.40")
    assert (restarting.value.status, restarting.value.restriction) == (425, "restarting")


def test_protocol_v2_markets_take_the_sdks_exchange_v3_orders(paper: PaperExchange) -> None:
    c = client(paper)
    # Listed as a v1 market, an id the SDK reads as a position id gets a domain "3" signature,
    # which the exchange recovers under domain "2": refused.
    with pytest.raises(RequestRejectedError) as wrong:
        bid(c, "0.40", token=POSITION_ID)
    assert str(wrong.value) == "invalid signature"
    paper.exchange.markets.define(POSITION_ID, {"version": "v2"})
    order_id = bid(c, "0.40", token=POSITION_ID)
    assert c.get_order(order_id=order_id).asset_id == POSITION_ID
