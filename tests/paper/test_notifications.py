"""Notifications 1-11 with the payload shapes of clob-v2-wire.md 2.12, over HTTP."""

from __future__ import annotations

import pytest
import requests

from paperclob import PaperExchange
from tests.support.paper import TOKEN, Trader

ORDER_KEYS = {
    "asset_id",
    "market",
    "order_id",
    "side",
    "type",
    "price",
    "original_size",
    "matched_size",
    "remaining_size",
    "outcome",
    "outcome_index",
    "transaction_hash",
    "trade_id",
    "question",
    "market_slug",
    "icon",
    "image",
    "eventSlug",
    "seriesSlug",
}
MARKET_KEYS = {
    "condition_id",
    "question_id",
    "question",
    "description",
    "market_slug",
    "icon",
    "image",
    "fpmm",
    "active",
    "closed",
    "accepting_orders",
    "seconds_delay",
    "minimum_order_size",
    "minimum_tick_size",
    "tokens",
}
OTHER_KEYS = {
    5: {"proxyWallet", "reward", "txnHash"},
    6: {"id", "body", "parentEntityType", "parentEntityID", "parentCommentID", "userAddress"},
    7: {"proxyWallet", "amount", "txnHash"},
    9: {"proxyWallet", "amount", "conditionId", "question", "image", "slug", "negRisk", "txnHash"},
    10: {"proxyWallet", "amount", "positionId", "conditionId", "outcomeIndex", "legs", "txnHash"},
    11: {"previous_tier", "tier", "rebate_bps", "snapshot_date"},
}


def admin_notify(paper: PaperExchange, **body: object) -> requests.Response:
    return requests.post(paper.url + "/_admin/notifications", json=body, timeout=10)


def test_envelope_and_the_order_payload_of_a_cancellation(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    trader.ok("DELETE", "/order", {"orderID": order_id})
    (note,) = trader.notifications()
    assert set(note) == {"id", "owner", "type", "payload", "timestamp"}
    assert isinstance(note["id"], int) and isinstance(note["timestamp"], int)
    assert (note["type"], note["owner"]) == (1, trader.creds.api_key)  # type: ignore[union-attr]
    payload = note["payload"]
    assert set(payload) == ORDER_KEYS
    assert (payload["order_id"], payload["type"], payload["side"]) == (order_id, "GTC", "BUY")
    assert (payload["matched_size"], payload["remaining_size"]) == ("0", "10")
    assert (payload["transaction_hash"], payload["trade_id"]) == ("", "")


@pytest.mark.parametrize("order_type", ["GTC", "GTD", "FAK", "FOK"])
def test_fill_payloads_carry_the_order_type(paper: PaperExchange, clock, order_type) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.50", "100")
    if order_type in ("GTC", "GTD"):
        expiration = int(clock()) + 600 if order_type == "GTD" else 0
        order = taker.limit("BUY", "0.50", "10", expiration=expiration)
    else:
        order = taker.market("BUY", "5", "0.5")
    answer = taker.post(order, order_type).json()
    (note,) = taker.notifications()
    payload = note["payload"]
    assert note["type"] == 2 and set(payload) == ORDER_KEYS
    assert (payload["type"], payload["order_id"]) == (order_type, answer["orderID"])
    assert payload["trade_id"] == answer["tradeIDs"][0] and payload["transaction_hash"]
    assert payload["matched_size"] == "10"
    (maker_note,) = maker.notifications()
    assert maker_note["payload"]["type"] == "GTC"  # the maker's own order type


def test_market_registered_and_resolved_carry_the_market_payload(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    trader.place("BUY", "0.40", "10")
    assert admin_notify(paper, type=3, token_id=TOKEN, address=trader.address).status_code == 200
    requests.post(
        paper.url + "/_admin/market",
        json={"token_id": TOKEN, "resolve": True, "winner": TOKEN},
        timeout=10,
    )
    notes = trader.notifications()
    assert [n["type"] for n in notes] == [3, 1, 4]
    for note in (notes[0], notes[2]):
        assert set(note["payload"]) >= MARKET_KEYS
        assert note["payload"]["tokens"][0]["token_id"] == TOKEN
    assert notes[0]["payload"]["tokens"][0]["winner"] is False
    assert notes[2]["payload"]["tokens"][0]["winner"] is True


@pytest.mark.parametrize("kind", sorted(OTHER_KEYS))
def test_the_other_types_have_their_listed_shapes(paper: PaperExchange, kind: int) -> None:
    trader = Trader(paper.url)
    assert admin_notify(paper, type=kind, address=trader.address).status_code == 200
    (note,) = trader.notifications()
    assert note["type"] == kind and OTHER_KEYS[kind] <= set(note["payload"])


def test_a_fill_failure_notification_is_type_8(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    assert admin_notify(paper, type=8, order_id=order_id, address=trader.address).ok
    (note,) = trader.notifications()
    assert note["type"] == 8 and set(note["payload"]) == ORDER_KEYS


def test_a_broadcast_reaches_every_account_with_an_empty_owner(paper: PaperExchange) -> None:
    first, second = Trader(paper.url), Trader(paper.url)
    sent = admin_notify(paper, type=11, payload={"tier": 3}).json()["sent"]
    assert len(sent) == 2
    for trader in (first, second):
        (note,) = trader.notifications()
        assert (note["owner"], note["payload"]["tier"]) == ("", 3)


def test_admin_refuses_notifications_it_cannot_build(paper: PaperExchange) -> None:
    assert admin_notify(paper, type=12).status_code == 400
    assert admin_notify(paper, type=1, order_id="0x00").status_code == 400
    assert admin_notify(paper, type=4, condition_id="0x" + "00" * 32).status_code == 400
