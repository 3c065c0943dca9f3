"""Trading modes and account restrictions (clob-v2-wire.md 2.13), switched by the admin route."""

from __future__ import annotations

from typing import Any

import requests

from paperclob import PaperExchange
from tests.support.paper import Trader

DISABLED = {"error": "Trading is currently disabled. Check polymarket.com for updates"}
CANCEL_ONLY = {
    "error": "Trading is currently cancel-only. New orders are not accepted, but cancels are "
    "allowed."
}
POST_ONLY_TEXT = "post-only mode: only post-only orders and cancels are allowed"


def mode(paper: PaperExchange, **body: Any) -> dict[str, Any]:
    response = requests.post(paper.url + "/_admin/trading-mode", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_disabled_refuses_orders_and_cancels_but_not_reads(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    mode(paper, mode="disabled")
    posted = trader.post(trader.limit("BUY", "0.41", "10"))
    assert (posted.status_code, posted.json()) == (503, DISABLED)
    cancelled = trader.request("DELETE", "/order", {"orderID": order_id})
    assert (cancelled.status_code, cancelled.json()) == (503, DISABLED)
    assert trader.request("DELETE", "/cancel-all").status_code == 503
    assert [o["id"] for o in trader.open_orders()] == [order_id]
    mode(paper, mode="normal")
    assert trader.post(trader.limit("BUY", "0.41", "10")).status_code == 200


def test_cancel_only_refuses_posts_and_lets_cancels_through(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    mode(paper, mode="cancel-only")
    posted = trader.post(trader.limit("BUY", "0.41", "10"))
    assert (posted.status_code, posted.json()) == (503, CANCEL_ONLY)
    batch = trader.request("POST", "/orders", [trader.entry(trader.limit("BUY", "0.42", "10"))])
    assert (batch.status_code, batch.json()) == (503, CANCEL_ONLY)
    assert "Poly-RateLimit-Remaining" not in posted.headers  # refused before the bucket
    assert trader.ok("DELETE", "/order", {"orderID": order_id})["canceled"] == [order_id]


def test_post_only_mode_takes_post_only_orders_and_refuses_the_rest(
    paper: PaperExchange, clock
) -> None:
    trader = Trader(paper.url)
    mode(paper, mode="post-only", duration_s=79)
    refused = trader.post(trader.limit("BUY", "0.40", "10"))
    assert refused.status_code == 503
    assert refused.json() == {
        "error": POST_ONLY_TEXT,
        "code": "post_only_mode",
        "retry_after_seconds": 79,
    }
    assert refused.headers["Retry-After"] == "79"
    accepted = trader.post(trader.limit("BUY", "0.40", "10"), post_only=True)
    assert accepted.status_code == 200 and accepted.json()["status"] == "live"
    clock.advance(30)
    assert trader.post(trader.limit("BUY", "0.41", "10")).json()["retry_after_seconds"] == 49
    clock.advance(49)
    assert trader.post(trader.limit("BUY", "0.41", "10")).status_code == 200  # over


def test_post_only_refusal_inside_a_batch_is_per_entry(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    mode(paper, mode="post-only")
    plain = trader.entry(trader.limit("BUY", "0.40", "10"))
    post_only = trader.entry(trader.limit("BUY", "0.41", "10"), post_only=True)
    results = trader.ok("POST", "/orders", [plain, post_only])
    assert results[0] == {
        "success": True,
        "orderID": "",
        "status": "",
        "makingAmount": "",
        "takingAmount": "",
        "errorMsg": POST_ONLY_TEXT,
    }
    assert results[1]["status"] == "live" and results[1]["orderID"]
    assert [o["price"] for o in trader.open_orders()] == ["0.41"]


def test_a_restart_answers_425_then_two_minutes_of_post_only(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    mode(paper, mode="restarting")
    for response in (
        trader.post(trader.limit("BUY", "0.41", "10")),
        trader.request("DELETE", "/order", {"orderID": order_id}),
        trader.request("GET", "/data/orders"),
        trader.request("GET", f"/data/order/{order_id}"),
    ):
        assert response.status_code == 425
    assert trader.request("GET", "/notifications").status_code == 200  # not an order endpoint
    clock.advance(90)
    after = trader.post(trader.limit("BUY", "0.41", "10"))
    assert after.status_code == 503 and after.json()["code"] == "post_only_mode"
    assert after.json()["retry_after_seconds"] == 120
    assert trader.ok("DELETE", "/order", {"orderID": order_id})["canceled"] == [order_id]
    clock.advance(120)
    assert trader.post(trader.limit("BUY", "0.41", "10")).status_code == 200


def test_a_mode_can_hold_for_one_account_only(paper: PaperExchange) -> None:
    chosen, other = Trader(paper.url), Trader(paper.url)
    described = mode(paper, mode="cancel-only", address=chosen.address)
    assert described["accounts"] == {chosen.address.lower(): "cancel-only"}
    assert chosen.post(chosen.limit("BUY", "0.40", "10")).status_code == 503
    assert other.post(other.limit("BUY", "0.40", "10")).status_code == 200
    mode(paper, mode="clear", address=chosen.address)
    assert chosen.post(chosen.limit("BUY", "0.40", "10")).status_code == 200


def test_closed_only_accounts_may_only_sell(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    assert trader.ok("GET", "/auth/ban-status/closed-only") == {"closed_only": False}
    mode(paper, address=trader.address, restriction="closed-only")
    assert trader.ok("GET", "/auth/ban-status/closed-only") == {"closed_only": True}
    bought = trader.post(trader.limit("BUY", "0.40", "10"))
    assert (bought.status_code, bought.json()) == (
        400,
        {"error": f"'{trader.address.lower()}' address in closed only mode"},
    )
    assert trader.post(trader.limit("SELL", "0.60", "10")).status_code == 200
    batch = trader.ok("POST", "/orders", [trader.entry(trader.limit("BUY", "0.41", "10"))])
    assert batch[0]["success"] is False and "closed only mode" in batch[0]["errorMsg"]


def test_banned_accounts_place_nothing_and_may_cancel(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("SELL", "0.60", "10")
    mode(paper, address=trader.address, restriction="banned")
    for side in ("BUY", "SELL"):
        refused = trader.post(trader.limit(side, "0.50", "10"))
        assert (refused.status_code, refused.json()) == (
            400,
            {"error": f"'{trader.address.lower()}' address banned"},
        )
    assert trader.ok("DELETE", "/order", {"orderID": order_id})["canceled"] == [order_id]
    mode(paper, address=trader.address, restriction="none")
    assert trader.post(trader.limit("BUY", "0.50", "10")).status_code == 200


def test_admin_refuses_unknown_modes(paper: PaperExchange) -> None:
    for body in ({"mode": "paused"}, {"restriction": "jailed", "address": "0x" + "1" * 40}):
        response = requests.post(paper.url + "/_admin/trading-mode", json=body, timeout=10)
        assert response.status_code == 400
    response = requests.post(
        paper.url + "/_admin/trading-mode", json={"restriction": "banned"}, timeout=10
    )
    assert response.json() == {"error": "a restriction needs an address"}
