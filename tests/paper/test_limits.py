"""Cancel limits and the per-signer token buckets (clob-v2-wire.md 2.2, 2.13), over HTTP.

Standard tier: orders 40/s burst 60, cancels 80/s burst 120. The clock is the test's own, so a
bucket refills only when the test moves time.
"""

from __future__ import annotations

import pytest

from paperclob import PaperExchange
from tests.support.paper import TOKEN, Trader


def fake_ids(count: int, start: int = 0) -> list[str]:
    return [f"0x{i:064x}" for i in range(start, start + count)]


def test_delete_orders_takes_at_most_1000_ids(paper_factory) -> None:
    paper = paper_factory(rate_limit_tier="Elite")  # a burst above 1000: only the cap refuses
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    too_many = trader.request("DELETE", "/orders", [order_id, *fake_ids(1000)])
    assert (too_many.status_code, too_many.json()) == (
        400,
        {"error": "Too many orders in payload, max allowed: 1000"},
    )
    assert [o["id"] for o in trader.open_orders()] == [order_id]  # nothing was cancelled
    assert "Poly-RateLimit-Remaining" not in too_many.headers  # refused before the bucket
    answer = trader.ok("DELETE", "/orders", [order_id, *fake_ids(999)])
    assert answer["canceled"] == [order_id] and len(answer["not_canceled"]) == 999


def test_duplicate_ids_are_dropped_but_each_id_sent_costs_a_token(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    response = trader.request("DELETE", "/orders", [order_id] * 5)
    assert response.json() == {"canceled": [order_id], "not_canceled": {}}
    assert response.headers["Poly-RateLimit-Remaining"] == "115"  # 120 - 5


def test_cancel_bucket_admits_a_batch_all_or_nothing(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    kept = trader.place("BUY", "0.40", "10")
    first = trader.request("DELETE", "/orders", fake_ids(100))
    assert first.status_code == 200
    assert (first.headers["Poly-RateLimit-Remaining"], first.headers["Poly-RateLimit-Tier"]) == (
        "20",
        "Standard",
    )
    refused = trader.request("DELETE", "/orders", [kept, *fake_ids(29)])  # 30 > 20 left
    assert (refused.status_code, refused.json()) == (429, {"error": "Too Many Requests"})
    # 10 tokens are missing; at 80/s they are there in 0.125 s: Retry-After rounds up to 1 s.
    assert refused.headers["Retry-After"] == "1"
    assert int(refused.headers["Poly-RateLimit-Reset"]) == int(clock()) + 1
    assert [o["id"] for o in trader.open_orders()] == [kept]  # none of the batch ran
    clock.advance(0.125)
    assert trader.request("DELETE", "/orders", [kept, *fake_ids(29)]).status_code == 200
    assert trader.open_orders() == []


def test_a_batch_dearer_than_the_burst_never_passes(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    refused = trader.request("DELETE", "/orders", fake_ids(121))  # cancel burst is 120
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers  # waiting cannot help: split it
    clock.advance(60)
    assert trader.request("DELETE", "/orders", fake_ids(121)).status_code == 429
    assert trader.request("DELETE", "/orders", fake_ids(120)).status_code == 200


def test_order_bucket_charges_one_per_order_and_refuses_whole_batches(
    paper: PaperExchange, clock
) -> None:
    trader = Trader(paper.url)
    single = trader.post(trader.limit("BUY", "0.10", "10"))
    assert single.headers["Poly-RateLimit-Remaining"] == "59"
    for batch in range(3):  # 45 more: 14 left
        entries = [
            trader.entry(trader.limit("BUY", f"0.{11 + batch * 15 + i}", "5")) for i in range(15)
        ]
        answer = trader.request("POST", "/orders", entries)
        assert answer.status_code == 200
    assert answer.headers["Poly-RateLimit-Remaining"] == "14"
    last = [trader.entry(trader.limit("BUY", "0.70", "5")) for _ in range(1)] + [
        trader.entry(trader.limit("BUY", f"0.{71 + i}", "5")) for i in range(14)
    ]
    refused = trader.request("POST", "/orders", last)  # 15 > 14
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert len(trader.open_orders()) == 46  # not one of the 15 was placed
    clock.advance(1 / 40)  # one more token at 40/s
    assert trader.request("POST", "/orders", last).status_code == 200
    assert len(trader.open_orders()) == 61


def test_cancel_all_costs_one_then_one_per_cancelled_and_may_go_negative(
    paper_factory, clock
) -> None:
    paper = paper_factory()
    trader = Trader(paper.url)
    for i in range(15):
        trader.place("BUY", f"0.{10 + i}", "5")
    trader.request("DELETE", "/orders", fake_ids(110))  # 10 tokens left
    answer = trader.request("DELETE", "/cancel-all")
    assert answer.status_code == 200 and len(answer.json()["canceled"]) == 15
    assert answer.headers["Poly-RateLimit-Remaining"] == "-6"  # 10 - 1 - 15: Standard may owe
    assert trader.request("DELETE", "/order", {"orderID": fake_ids(1)[0]}).status_code == 429
    clock.advance(7 / 80)
    assert trader.request("DELETE", "/order", {"orderID": fake_ids(1)[0]}).status_code == 200


def test_tiers_without_a_negative_cancel_balance_stop_at_zero(paper_factory) -> None:
    paper = paper_factory(rate_limit_tier="Platinum")  # cancel burst 1350
    trader = Trader(paper.url)
    for i in range(10):
        trader.place("BUY", f"0.{10 + i}", "5")
    trader.request("DELETE", "/orders", fake_ids(1000))
    trader.request("DELETE", "/orders", fake_ids(345))  # 5 left
    answer = trader.request("DELETE", "/cancel-market-orders", {"asset_id": TOKEN})
    assert len(answer.json()["canceled"]) == 10
    assert answer.headers["Poly-RateLimit-Remaining"] == "0"
    assert answer.headers["Poly-RateLimit-Tier"] == "Platinum"


def test_buckets_are_per_signer_and_per_kind(paper: PaperExchange) -> None:
    first, second = Trader(paper.url), Trader(paper.url)
    first.request("DELETE", "/orders", fake_ids(120))
    assert first.request("DELETE", "/orders", fake_ids(1)).status_code == 429
    assert first.post(first.limit("BUY", "0.40", "10")).status_code == 200  # orders unaffected
    assert second.request("DELETE", "/orders", fake_ids(120)).status_code == 200


def test_warn_mode_runs_the_request_and_says_it_would_have_been_refused(
    paper_factory,
) -> None:
    paper = paper_factory(rate_limit_mode="warn")
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    response = trader.request("DELETE", "/orders", [order_id, *fake_ids(120)])
    assert response.status_code == 200 and response.json()["canceled"] == [order_id]
    assert response.headers["Poly-RateLimit-Warning"] == "true"
    assert "Retry-After" not in response.headers
    calm = trader.request("DELETE", "/orders", fake_ids(10))
    assert "Poly-RateLimit-Warning" not in calm.headers


def test_mode_off_sends_no_rate_limit_headers(paper_factory) -> None:
    paper = paper_factory(rate_limit_mode="off")
    trader = Trader(paper.url)
    response = trader.request("DELETE", "/orders", fake_ids(1000))
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("poly-ratelimit")]


def test_rate_limit_tier_endpoint_and_admin_changes(paper: PaperExchange) -> None:
    import requests

    trader = Trader(paper.url)
    assert trader.ok("GET", "/v1/user/rate-limit-tier") == {"tier": "Standard"}
    changed = requests.post(
        paper.url + "/_admin/rate-limits",
        json={"address": trader.address, "tier": "gold"},
        timeout=10,
    )
    assert changed.json()["tiers"] == {trader.address.lower(): "Gold"}
    assert trader.ok("GET", "/v1/user/rate-limit-tier") == {"tier": "Gold"}
    response = trader.request("DELETE", "/orders", fake_ids(1000))
    assert response.headers["Poly-RateLimit-Tier"] == "Gold"
    assert response.headers["Poly-RateLimit-Remaining"] == "200"
    bad = requests.post(paper.url + "/_admin/rate-limits", json={"tier": "Tin"}, timeout=10)
    assert bad.status_code == 400 and "unknown rate-limit tier" in bad.json()["error"]


@pytest.mark.parametrize("bad", [{"mode": "loud"}, {"tier": 7}])
def test_admin_refuses_unknown_limit_settings(paper: PaperExchange, bad: dict) -> None:
    import requests

    response = requests.post(paper.url + "/_admin/rate-limits", json=bad, timeout=10)
    assert response.status_code == 400
