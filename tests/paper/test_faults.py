"""Fault injection, each fault on its own: by the admin API over HTTP and in-process."""

from __future__ import annotations

import time

import pytest
import requests

from paperclob import PaperExchange, RateLimit
from tests.support.paper import Trader


def admin(paper: PaperExchange, **faults: object) -> dict:
    response = requests.post(paper.url + "/_admin/faults", json=faults, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_added_latency_delays_each_request(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    admin(paper, latency_ms=80)
    started = time.monotonic()
    trader.ok("GET", "/data/orders")
    assert time.monotonic() - started >= 0.08
    admin(paper, latency_ms=0)


def test_next_requests_answer_5xx_without_doing_anything(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    admin(paper, error_5xx_next=2, error_status=503, paths=["/order"])
    order = trader.limit("BUY", "0.40", "10")
    for _ in range(2):
        response = trader.post(order)
        assert (response.status_code, response.json()) == (503, {"error": "Internal Server Error"})
    assert trader.open_orders() == []  # nothing was placed
    assert trader.post(order).status_code == 200


def test_a_5xx_rate_of_one_fails_every_request(paper_factory) -> None:
    paper = paper_factory(fail_5xx_rate=1.0)
    response = requests.get(paper.url + "/time", timeout=10)
    assert response.status_code == 500
    admin(paper, error_5xx_rate=0.0)
    assert requests.get(paper.url + "/time", timeout=10).status_code == 200


def test_throttling_answers_429_with_retry_after(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    admin(paper, throttle_next=1, retry_after_s=7)
    response = trader.request("GET", "/data/orders")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"error": "Too Many Requests"}
    assert trader.request("GET", "/data/orders").status_code == 200


def test_lost_response_after_the_order_was_placed(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    admin(paper, lose_response_next=1)
    order = trader.limit("BUY", "0.40", "10")
    with pytest.raises(requests.ConnectionError):
        trader.post(order)
    # The client cannot know, but the order IS on the book.
    assert [o["id"] for o in trader.open_orders()] == [order.order_id]
    # Posting it again is a duplicate, which is how a careful client learns the outcome.
    assert "Duplicated" in trader.post(order).json()["error"]


def test_chosen_orders_of_a_batch_are_rejected_and_the_others_placed(
    paper: PaperExchange,
) -> None:
    trader = Trader(paper.url)
    orders = [trader.limit("BUY", p, "10") for p in ("0.30", "0.31", "0.32", "0.33")]
    admin(paper, reject_batch_positions=[1], reject_order_ids=[orders[3].order_id])
    results = trader.ok("POST", "/orders", [trader.entry(o) for o in orders])
    assert [r["success"] for r in results] == [True, False, True, False]
    assert results[1]["errorMsg"] == "could not insert order"
    assert {o["id"] for o in trader.open_orders()} == {orders[0].order_id, orders[2].order_id}


def test_failing_open_orders_read(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    trader.place("BUY", "0.40", "10")
    paper.exchange.faults.fail_open_orders_next = -1  # until switched off
    for _ in range(2):
        response = trader.request("GET", "/data/orders", query="?next_cursor=MA==")
        assert response.status_code == 500
    paper.exchange.faults.fail_open_orders_next = 0
    assert len(trader.open_orders()) == 1


def test_faults_can_be_read_and_reset(paper: PaperExchange) -> None:
    admin(paper, throttle_next=3, paths=["/order"])
    assert requests.get(paper.url + "/_admin/faults", timeout=10).json()["throttle_next"] == 3
    reset = requests.delete(paper.url + "/_admin/faults", timeout=10).json()
    assert reset["throttle_next"] == 0 and reset["paths"] == []
    bad = requests.post(paper.url + "/_admin/faults", json={"nope": 1}, timeout=10)
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]


def test_per_signer_rate_limit(paper_factory, clock) -> None:
    paper = paper_factory(rate_limit=RateLimit(requests=3, window_s=10))
    first, second = Trader(paper.url), Trader(paper.url)  # key creation counts too
    answers = [first.request("GET", "/data/orders") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[1].headers["X-RateLimit-Remaining"] == "0"
    limited = first.request("GET", "/data/orders")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert second.request("GET", "/data/orders").status_code == 200  # other signer unaffected
    clock.advance(10)
    assert first.request("GET", "/data/orders").status_code == 200


def test_rate_limit_text_parses() -> None:
    assert RateLimit.parse("100/10") == RateLimit(100, 10.0)
    assert RateLimit.parse("50") == RateLimit(50, 1.0)
    with pytest.raises(ValueError, match="invalid rate limit"):
        RateLimit.parse("ten/second")


def test_rate_limit_switched_on_and_off_while_running(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    assert admin(paper, rate_limit="1/60")["rate_limit"] == "1/60"
    assert trader.request("GET", "/data/orders").status_code == 200
    assert trader.request("GET", "/data/orders").status_code == 429
    assert admin(paper, rate_limit=None)["rate_limit"] is None
    assert trader.request("GET", "/data/orders").status_code == 200


def test_a_held_post_is_processed_after_the_client_gave_up(paper: PaperExchange) -> None:
    """hold_next/hold_ms: the POST is received, waits inside the exchange (outside its lock:
    other requests are served meanwhile), and is only then processed: a late landing after the
    client's timeout."""
    trader = Trader(paper.url)
    admin(paper, hold_next=1, hold_ms=1500, paths=["/orders"])
    order = trader.limit("BUY", "0.40", "10")
    with pytest.raises(requests.Timeout):
        trader.request("POST", "/orders", [trader.entry(order)], timeout=0.2)
    assert paper.exchange.holds.wait(holding=1)
    assert trader.open_orders() == []  # served while the POST is held: not placed yet
    faults = requests.get(paper.url + "/_admin/faults", timeout=10).json()
    assert (faults["holding"], faults["received"], faults["released"]) == (1, 1, 0)
    assert faults["hold_next"] == 0
    assert paper.exchange.holds.wait(holding=0, released=1)
    assert [o["id"] for o in trader.open_orders()] == [order.order_id]  # it landed late


def test_a_held_post_landing_after_its_re_send_is_a_duplicate(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    admin(paper, hold_next=1, hold_ms=800, paths=["/order"])
    order = trader.limit("BUY", "0.40", "10")
    with pytest.raises(requests.Timeout):
        trader.request("POST", "/order", trader.entry(order), timeout=0.2)
    assert paper.exchange.holds.wait(holding=1)
    # The identical order, sent again while the first is held, is placed ...
    resent = trader.ok("POST", "/order", trader.entry(order))
    assert resent["success"] is True and resent["orderID"] == order.order_id
    assert paper.exchange.holds.wait(holding=0, released=1)
    # ... and the held copy, processed afterwards, can only be refused: one order rests.
    assert [o["id"] for o in trader.open_orders()] == [order.order_id]
    # Sent once more, both forms of the refusal (clob-v1-wire.md 6.3): HTTP 400 {"error"} on
    # POST /order, an entry with errorMsg (and success true, as the docs' table says) in a batch.
    single = trader.post(order)
    assert single.status_code == 400 and "Duplicated" in single.json()["error"]
    (entry,) = trader.ok("POST", "/orders", [trader.entry(order)])
    assert entry["success"] is True and entry["orderID"] == "" and entry["status"] == ""
    assert entry["errorMsg"] == (
        "order is invalid. Duplicated. Same order has already been placed, can't be placed again"
    )


def test_the_hold_is_counted_and_path_filtered(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    admin(paper, hold_next=2, hold_ms=300, paths=["/order"])  # single posts only
    trader.ok("POST", "/orders", [trader.entry(trader.limit("BUY", "0.41", "10"))])
    assert paper.exchange.holds.to_json() == {"holding": 0, "received": 0, "released": 0}
    for price in ("0.42", "0.43", "0.44"):
        trader.place("BUY", price, "10")
    assert paper.exchange.holds.to_json() == {"holding": 0, "received": 2, "released": 2}
    assert requests.get(paper.url + "/_admin/faults", timeout=10).json()["hold_next"] == 0
