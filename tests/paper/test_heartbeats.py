"""The order heartbeat (clob-v2-wire.md 2.2), over HTTP with a movable clock."""

from __future__ import annotations

import requests

from paperclob import PaperExchange
from tests.support.paper import Trader


def beat(trader: Trader, heartbeat_id: str) -> requests.Response:
    return trader.request("POST", "/v1/heartbeats", {"heartbeat_id": heartbeat_id})


def test_each_answer_names_the_id_the_next_send_must_carry(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    first = beat(trader, "").json()["heartbeat_id"]
    second = beat(trader, first).json()["heartbeat_id"]
    assert first and second and first != second
    stale = beat(trader, first)
    assert (stale.status_code, stale.json()) == (
        400,
        {"error_msg": "Invalid Heartbeat ID", "heartbeat_id": second},
    )
    empty = beat(trader, "")  # "" is another id while the switch is armed
    assert empty.status_code == 400 and empty.json()["heartbeat_id"] == second
    assert beat(trader, second).status_code == 200  # resume with the id from the 400


def test_the_mismatch_key_can_be_error(paper_factory) -> None:
    paper = paper_factory()
    requests.post(paper.url + "/_admin/wire", json={"heartbeat_error_key": "error"}, timeout=10)
    trader = Trader(paper.url)
    expected = beat(trader, "").json()["heartbeat_id"]
    stale = beat(trader, "old")
    assert stale.json() == {"error": "Invalid Heartbeat ID", "heartbeat_id": expected}


def test_a_lapse_cancels_every_open_order_of_that_key_only(paper: PaperExchange, clock) -> None:
    trader, bystander = Trader(paper.url), Trader(paper.url)
    second_key = trader.create_api_key(nonce=1)
    mine = trader.place("BUY", "0.40", "10")
    entry = trader.entry(trader.limit("BUY", "0.41", "10")) | {"owner": second_key.api_key}
    kept = trader.request("POST", "/order", entry, creds=second_key).json()["orderID"]
    theirs = bystander.place("BUY", "0.42", "10")
    beat(trader, "")
    clock.advance(10)
    assert {o["id"] for o in trader.open_orders()} == {mine, kept}  # exactly 10 s: still alive
    clock.advance(0.5)
    assert {o["id"] for o in trader.open_orders()} == {kept}  # the other key's order stays
    assert [o["id"] for o in bystander.open_orders()] == [theirs]
    assert paper.exchange.engine.orders[mine].cancel_reason == "heartbeat missed"
    # The registration is gone: any id arms it again.
    assert beat(trader, "whatever").status_code == 200


def test_a_refused_send_does_not_extend_the_deadline(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    beat(trader, "")
    clock.advance(6)
    assert beat(trader, "stale").status_code == 400
    clock.advance(4.5)  # 10.5 s after the last accepted send
    assert trader.open_orders() == []
    assert trader.ok("GET", f"/data/order/{order_id}")["status"] == "CANCELED"


def test_unchained_heartbeats_answer_ok_and_extend_the_same_switch(
    paper: PaperExchange, clock
) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    chained = beat(trader, "").json()["heartbeat_id"]
    for _ in range(3):
        clock.advance(8)
        assert trader.ok("POST", "/heartbeats") == {"status": "ok"}
    assert [o["id"] for o in trader.open_orders()] == [order_id]
    assert beat(trader, chained).status_code == 200  # the chained id did not change


def test_the_timeout_is_configurable(paper_factory, clock) -> None:
    paper = paper_factory(heartbeat_timeout_s=3)
    trader = Trader(paper.url)
    trader.place("BUY", "0.40", "10")
    beat(trader, "")
    clock.advance(3.5)
    assert trader.open_orders() == []


def test_garbage_heartbeat_bodies_are_refused_and_change_nothing(
    paper: PaperExchange, clock
) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    for body in (b"[1]", b'{"heartbeat_id": 7}', b"not json"):
        response = trader.request("POST", "/v1/heartbeats", body=body)
        assert response.status_code == 400 and "error" in response.json()
    clock.advance(60)  # never armed: nothing is cancelled
    assert [o["id"] for o in trader.open_orders()] == [order_id]
