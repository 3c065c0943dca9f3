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
