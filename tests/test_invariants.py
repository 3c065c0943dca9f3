"""The safety invariants of DESIGN.md that the engine upholds (1-5, 8; 6 and 7 are the daemon's
and the client's). Each test fails if its invariant is broken: against the real paper exchange
and a real state file (tests/support/engine.py).

Where the paper exchange cannot make a fault (a garbled order in a page, an answer "delayed"),
the real answer is altered in flight by the test's session or a thin client wrapper; everything
else is real.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from reconciler.clob.client import ClobClient
from reconciler.clob.errors import ProtocolError
from reconciler.clob.types import OrderResult, PostArgs
from reconciler.model import OrderType, Plan, Post, Side
from reconciler.store.store import OrderStatus
from tests.support.engine import (
    TOKEN_A,
    TOKEN_B,
    Harness,
    apply_to,
    buy_notional,
    clear_faults,
    converge,
    level,
    make_post,
    new_account,
    set_faults,
    write_spec,
)

D = Decimal


# --- 1. a failed read of open orders aborts the tick ---------------------------------------


def test_1_failed_open_orders_read_aborts_the_tick_and_writes_nothing(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    before = harness.resting()
    set_faults(harness, fail_open_orders_next=1)
    result = harness.reconciler.tick()
    assert not result.success and result.outcome == "error"
    assert "open orders" in (result.error or "") or "500" in (result.error or "")
    assert harness.me.session.writes() == []
    assert harness.resting() == before
    assert harness.store.status()["last_run"]["outcome"] == "error"
    # Once the read works again, nothing needed: the orders were there all along.
    assert harness.reconciler.tick().outcome == "noop"


def test_1_failed_read_on_a_later_page_is_not_a_shorter_list(harness: Harness) -> None:
    # Page size is 7 in the kit: 10 orders span two pages; the failure hits the second page.
    converge(harness, {TOKEN_A: [level("BUY", f"0.{p}", "5") for p in range(30, 40)]})
    harness.me.session.reset()
    calls = {"n": 0}
    real = harness.me.session.request

    def fail_second_page(method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "/data/orders" in str(url):
            calls["n"] += 1
            if calls["n"] == 2:
                set_faults(harness, fail_open_orders_next=1)
        return real(method, url, *args, **kwargs)

    harness.me.session.request = fail_second_page  # type: ignore[method-assign]
    result = harness.reconciler.tick()
    assert calls["n"] == 2
    assert not result.success
    assert harness.me.session.writes() == []
    assert len(harness.open_orders(TOKEN_A)) == 10


def _garble_first_order(h: Harness) -> None:
    """Make the next GET /data/orders answer carry one order with an unreadable side."""
    real = h.me.session.request
    done = {"n": 0}

    def request(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(method, url, *args, **kwargs)
        if "/data/orders" in str(url) and not done["n"]:
            done["n"] += 1
            page = json.loads(response.content)
            page["data"][0]["side"] = "HOLD"
            response._content = json.dumps(page).encode()
        return response

    h.me.session.request = request  # type: ignore[method-assign]


def test_a_garbled_order_in_the_open_orders_read_aborts_the_tick(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]})
    assert harness.reconciler.tick().success
    before = harness.resting()
    _garble_first_order(harness)
    harness.me.session.reset()
    result = harness.reconciler.tick()
    assert not result.success and "ProtocolError" in (result.error or ""), result
    assert harness.me.session.order_writes() == []
    assert harness.resting() == before


def test_a_garbled_order_makes_get_open_orders_raise(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    assert harness.reconciler.tick().success
    _garble_first_order(harness)
    with pytest.raises(ProtocolError):
        harness.me.client.get_open_orders()


# --- 2. invalid YAML changes no order --------------------------------------------------------


def test_2_broken_yaml_changes_no_order_and_the_error_has_file_line_col(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.3", "10")]})
    before = harness.resting()
    # The broken file also drops TOKEN_B and moves a price: none of it may happen.
    (harness.desired / "orders.yaml").write_text(
        "version: 1\n"
        "tokens:\n"
        f'  - token_id: "{TOKEN_A}"\n'
        "    orders:\n"
        '      - {side: BUY, price: "0.46", size: 10, colour: red}\n'
    )
    result = harness.reconciler.tick()
    assert harness.me.session.order_writes() == []
    assert harness.resting() == before
    assert result.spec_errors, result
    error = result.spec_errors[0]
    assert "orders.yaml:5:" in error, error
    status = harness.store.status()
    assert status["spec_error"] and "orders.yaml:5:" in status["spec_error"]
    latest = harness.store.latest_revision()
    valid = harness.store.last_valid_revision()
    assert latest is not None and not latest.valid
    assert valid is not None and valid.id != latest.id
    # The last valid spec stays in force: a fill is still handled under it.
    other = new_account(harness.url)
    assert other.client.create_and_post_order(TOKEN_B, Side.SELL, "0.3", "10").ok
    result = harness.reconciler.tick()
    assert harness.me.session.order_writes() == []
    assert result.revision_id == valid.id


def test_2_after_a_restart_broken_yaml_changes_nothing(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    before = harness.resting()
    (harness.desired / "orders.yaml").write_text("version: 1\ntokens: [\n")
    harness.me.session.reset()
    fresh = harness.new_reconciler()
    result = fresh.tick()
    # The last valid revision stays in force across the restart (rebuilt from the files the
    # state file kept): the pass runs from it, reports the errors, and changes no order.
    valid = harness.store.last_valid_revision()
    assert valid is not None and result.revision_id == valid.id
    assert result.outcome == "noop" and result.spec_errors, result
    assert "orders.yaml:" in result.spec_errors[0]
    assert harness.me.session.order_writes() == []
    assert harness.resting() == before


def test_one_broken_file_among_valid_ones_changes_no_order(harness: Harness) -> None:
    write_spec(harness.desired, {TOKEN_A: [level("BUY", "0.45", "10")]}, name="a.yaml")
    write_spec(harness.desired, {TOKEN_B: [level("BUY", "0.30", "10")]}, name="b.yaml")
    assert harness.reconciler.tick().success
    before = harness.resting()
    # a.yaml gains a level (valid); b.yaml breaks. Applying a.yaml alone would also cancel
    # TOKEN_B's order as "token removed": neither may happen.
    write_spec(
        harness.desired,
        {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")]},
        name="a.yaml",
    )
    (harness.desired / "b.yaml").write_text("version: 1\ntokens:\n  - token_id: [broken\n")
    harness.me.session.reset()
    result = harness.reconciler.tick()
    assert result.spec_errors and any("b.yaml" in e for e in result.spec_errors)
    assert harness.me.session.order_writes() == []
    assert harness.resting() == before


# --- 3. only our orders are cancelled --------------------------------------------------------


def _manual_order(h: Harness, price: str) -> str:
    answer = h.me.client.create_and_post_order(TOKEN_A, Side.BUY, price, "5", post_only=True)
    assert answer.ok
    return answer.order_id


def test_3_a_manual_order_on_a_managed_token_survives_under_ignore(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")]})
    at_level = _manual_order(harness, "0.45")  # same price as a managed level
    elsewhere = _manual_order(harness, "0.33")
    # Remove one level and resize the other: our orders move, the manual ones must not.
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "5")]})
    result = harness.reconciler.tick()
    assert result.success
    open_ids = {o.order_id for o in harness.open_orders(TOKEN_A)}
    assert {at_level, elsewhere} <= open_ids
    assert harness.resting(TOKEN_A) == {
        (Side.BUY, D("0.45")): D("10"),  # 5 ours + 5 manual
        (Side.BUY, D("0.33")): D("5"),
    }
    # Removing the token entirely leaves them too.
    harness.write_spec({TOKEN_B: [level("BUY", "0.30", "5")]})
    assert harness.reconciler.tick().success
    assert {at_level, elsewhere} <= {o.order_id for o in harness.open_orders(TOKEN_A)}


def test_3_unmanaged_cancel_is_the_only_way_to_cancel_a_manual_order(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    manual = _manual_order(harness, "0.33")
    harness.write_spec(
        {TOKEN_A: [level("BUY", "0.45", "10")]},
        token_options={TOKEN_A: {"unmanaged": "cancel"}},
    )
    assert harness.reconciler.tick().success
    assert manual not in {o.order_id for o in harness.open_orders(TOKEN_A)}


# --- 4. exactly once -------------------------------------------------------------------------


def test_4_lost_post_response_is_resolved_by_hash_without_a_duplicate(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]})
    set_faults(harness, lose_response_next=1)
    first = harness.reconciler.tick()
    assert first.applied is not None and len(first.applied.unknown) == 2, first.run_summary
    assert {o.status for o in harness.store.orders()} == {OrderStatus.UNKNOWN}
    # The orders were placed although the answer was lost.
    assert len(harness.open_orders(TOKEN_A)) == 2
    harness.me.session.reset()
    second = harness.reconciler.tick()
    assert second.success, second.error
    assert harness.me.session.order_writes() == []
    lookups = [p for m, p in harness.me.session.sent if p.startswith("/data/order/")]
    assert len(lookups) == 2
    assert harness.resting(TOKEN_A) == {
        (Side.BUY, D("0.45")): D("10"),
        (Side.BUY, D("0.44")): D("10"),
    }
    assert {o.status for o in harness.store.orders()} == {OrderStatus.LIVE}
    assert harness.store.open_journal_entries() == []
    assert harness.store.status()["unresolved_intents"] == 0


def test_4_a_5xx_on_post_is_resolved_by_re_sending_the_identical_order(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    set_faults(harness, error_5xx_next=1, paths=["/orders"])
    first = harness.reconciler.tick()
    assert first.applied is not None and len(first.applied.unknown) == 1
    (unknown,) = first.applied.unknown
    clear_faults(harness)
    # The paper exchange refused before placing: the lookup says absent, which alone proves
    # nothing (a request may still be held inside the exchange); the identical order is sent
    # again and placed, under the same hash. Nothing is posted anew.
    outcomes = [harness.reconciler.tick().outcome for _ in range(3)]
    assert outcomes == ["ok", "noop", "noop"], outcomes
    posts = [w for w in harness.me.session.order_writes() if w == ("POST", "/orders")]
    assert len(posts) == 2  # the failed one and its re-send
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}
    assert [(o.order_id, o.status.value) for o in harness.store.orders()] == [(unknown, "live")]
    assert harness.store.open_journal_entries() == []


def test_4_a_lost_post_that_filled_meanwhile_is_learned_by_hash_not_reposted(
    harness: Harness,
) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    set_faults(harness, lose_response_next=1)
    first = harness.reconciler.tick()
    assert first.applied is not None and len(first.applied.unknown) == 1
    other = new_account(harness.url)
    assert other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.45", "10").ok
    assert harness.open_orders(TOKEN_A) == []  # filled: the open-orders read cannot tell
    harness.me.session.reset()
    second = harness.reconciler.tick()
    assert second.success, second.error
    assert harness.me.session.order_writes() == []
    (order,) = harness.store.orders()
    assert order.status is OrderStatus.FILLED and order.size_matched == D("10")
    assert next(iter(harness.store.level_states().values())).filled == D("10")


def _signed_intent(h: Harness, price: str) -> tuple[str, Post, object]:
    """An intent as apply writes it (with its signed order), left behind by a crash."""
    post = make_post(price)
    order = h.me.builder.build_limit(
        TOKEN_A, Side.BUY, D(price), D("10"), D("0.01"), False, expiration=0
    )
    with h.store.atomic():
        h.store.add_order_intent(order_id=order.order_id, post=post, revision=None, run_id=None,
                                 signed_order=order.to_wire(), profile=order.profile.value)
        h.store.journal_intent(run_id=None, kind="post", order_id=order.order_id, payload={})
    return order.order_id, post, order


def test_4_crash_after_the_intent_before_the_post_is_resolved_by_sending_that_order(
    harness: Harness,
) -> None:
    # Whether the dead process sent it or not is unknowable: the identical order is sent now
    # (placed under the journaled hash), never a new one for the level.
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    order_id, _, _ = _signed_intent(harness, "0.45")
    reconciler = harness.restart()
    result = reconciler.tick()
    assert result.success
    assert harness.store.order(order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert [o.order_id for o in harness.open_orders(TOKEN_A)] == [order_id]
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}
    assert harness.reconciler.tick().outcome == "noop"
    assert harness.store.open_journal_entries() == []


def test_4_crash_after_the_post_before_the_result_is_resolved_without_a_duplicate(
    harness: Harness,
) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    order_id, _, order = _signed_intent(harness, "0.45")
    sent = harness.me.client.post_orders([PostArgs(order, OrderType.GTC, True)])  # type: ignore[arg-type]
    assert sent[0].ok  # ... and the process died before recording this answer
    reconciler = harness.restart()
    harness.me.session.reset()
    result = reconciler.tick()
    assert result.success, result.error
    assert harness.me.session.order_writes() == []
    assert harness.store.order(order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert [o.order_id for o in harness.open_orders(TOKEN_A)] == [order_id]


def test_4_an_unresolvable_intent_holds_its_token_and_others_go_on(harness: Harness) -> None:
    harness.write_spec(
        {
            TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")],
            TOKEN_B: [level("BUY", "0.30", "10")],
        }
    )
    order_id, _, _ = _signed_intent(harness, "0.45")
    # The lookup fails, and so does the re-send of the identical order (a 5xx: the outcome is
    # unknown again), and only those two requests.
    set_faults(harness, error_5xx_next=2, paths=[f"/data/order/{order_id}", "/orders"])
    result = harness.reconciler.tick()
    # Unresolved: nothing is posted on TOKEN_A (the unknown order could rest unseen and count
    # toward its caps and level); TOKEN_B goes on.
    assert harness.resting(TOKEN_A) == {}
    assert harness.resting(TOKEN_B) == {(Side.BUY, D("0.3")): D("10")}
    assert result.plan is not None
    assert all(p.key.token_id != TOKEN_A for p in result.plan.posts)
    assert any("unknown outcome" in w for w in result.plan.warnings)
    assert harness.reconciler.tick().success
    assert harness.resting(TOKEN_A) == {
        (Side.BUY, D("0.45")): D("10"),
        (Side.BUY, D("0.4")): D("10"),
    }


def test_5_an_unknown_buy_holds_every_buy_under_a_total_cap(harness: Harness) -> None:
    harness.write_spec(
        {TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.30", "10")]},
        limits={"max_total_buy_notional": "8"},
    )
    order_id, _, _ = _signed_intent(harness, "0.45")
    # Unresolvable this pass: the lookup and the re-send both fail (5xx).
    set_faults(harness, error_5xx_next=2, paths=[f"/data/order/{order_id}", "/orders"])
    result = harness.reconciler.tick()
    assert result.plan is not None and result.plan.posts == ()
    assert harness.resting() == {}
    assert harness.reconciler.tick().success
    assert buy_notional(harness) <= D("8")


class DelayedAnswers:
    """The real client, except that each POST /orders answer says "delayed" with an error: the
    exchange took the order but has not placed it yet."""

    def __init__(self, client: ClobClient) -> None:
        self._client = client

    def post_orders(self, orders: Sequence[PostArgs]) -> list[OrderResult]:
        return [
            OrderResult(
                success=False, error_msg="order delayed", order_id=r.order_id, status="delayed"
            )
            for r in self._client.post_orders(orders)
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_delayed_answer_is_unknown_and_resolved_by_hash_without_a_repost(
    harness: Harness,
) -> None:
    post = make_post("0.45")
    result = apply_to(harness, Plan(posts=(post,)), client=DelayedAnswers(harness.me.client))
    (order,) = harness.store.orders()
    # "rejected" would mean "certainly not placed", and the level would be posted again.
    assert order.status is OrderStatus.UNKNOWN and result.unknown == [order.order_id]
    assert not result.rejected
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    harness.me.session.reset()
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == []
    assert harness.store.order(order.order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert harness.resting() == {(Side.BUY, D("0.45")): D("10")}


def test_a_vanished_order_whose_lookup_fails_holds_its_level(harness: Harness) -> None:
    """Our order leaves the open set (it filled), the lookup fails and so does the notification
    read: we cannot tell a fill from a cancel, so nothing is posted for the level until we can
    (posting would buy again what may already have filled)."""
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    assert harness.reconciler.tick().success
    (ours,) = harness.open_orders(TOKEN_A)
    other = new_account(harness.url)
    assert other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.45", "10").ok
    set_faults(harness, error_5xx_next=2, paths=["/notifications", f"/data/order/{ours.order_id}"])
    harness.me.session.reset()
    harness.reconciler.tick()
    assert harness.me.session.order_writes() == [], "posted again before learning of the fill"
    # Vanished (it was placed, so it is never re-sent), and unresolved: its level waits.
    assert harness.store.order(ours.order_id).status is OrderStatus.VANISHED  # type: ignore[union-attr]
    with harness.paper.exchange.lock:
        harness.paper.exchange.faults.reset()
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == []
    assert harness.store.order(ours.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert harness.resting(TOKEN_A) == {}


# --- 5. caps ---------------------------------------------------------------------------------


def test_5_token_and_total_caps_hold_after_apply(harness: Harness) -> None:
    harness.write_spec(
        {
            TOKEN_A: [level("BUY", "0.50", "100"), level("BUY", "0.40", "100")],  # 90 wanted
            TOKEN_B: [level("BUY", "0.20", "100"), level("BUY", "0.10", "100")],  # 30 wanted
        },
        token_options={TOKEN_A: {"max_buy_notional": "60"}},
        limits={"max_total_buy_notional": "80"},
    )
    assert harness.reconciler.tick().success
    assert buy_notional(harness, TOKEN_A) <= D("60")
    assert buy_notional(harness) <= D("80")
    assert buy_notional(harness) > D("70")  # the caps trim; they do not zero everything
    # Lowering the cap cancels down to it.
    harness.write_spec(
        {TOKEN_A: [level("BUY", "0.50", "100"), level("BUY", "0.40", "100")]},
        token_options={TOKEN_A: {"max_buy_notional": "25"}},
    )
    assert harness.reconciler.tick().success
    assert buy_notional(harness, TOKEN_A) <= D("25")


def test_5_sells_never_exceed_the_share_balance(harness: Harness) -> None:
    with harness.paper.exchange.lock:
        harness.paper.exchange.fund(harness.me.wallet.address, token_id=TOKEN_A, shares="12")
    harness.write_spec({TOKEN_A: [level("SELL", "0.60", "10"), level("SELL", "0.70", "10")]})
    result = harness.reconciler.tick()
    assert result.success, result.error
    sells = sum((o.remaining for o in harness.open_orders(TOKEN_A)), D(0))
    assert D(0) < sells <= D("12")
    assert result.plan is not None and result.plan.warnings


def test_5_direct_apply_of_a_plan_within_caps_keeps_notional(harness: Harness) -> None:
    """apply_plan posts exactly the plan: it adds no size of its own."""
    post = make_post("0.5", "20")
    result = apply_to(harness, Plan(posts=(post,)))
    assert result.posted and buy_notional(harness) == D("10")


def test_an_unreadable_share_balance_posts_no_sell(harness: Harness) -> None:
    with harness.paper.exchange.lock:
        harness.paper.exchange.fund(harness.me.wallet.address, token_id=TOKEN_A, shares="50")
    harness.write_spec(
        {TOKEN_A: [level("SELL", "0.60", "10")], TOKEN_B: [level("BUY", "0.3", "10")]}
    )
    set_faults(harness, error_5xx_next=1, paths=["/balance-allowance"])
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.resting(TOKEN_A) == {}, "a sell went out without a known share balance"
    assert harness.resting(TOKEN_B) == {(Side.BUY, D("0.3")): D("10")}  # buys go on
    # Once the balance reads again, the sell goes out.
    assert harness.reconciler.tick().success
    assert harness.resting(TOKEN_A) == {(Side.SELL, D("0.6")): D("10")}


# --- 8. rate limits and per-token backoff ----------------------------------------------------


def test_8_429_with_retry_after_stops_the_pass_and_is_reported(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    set_faults(harness, throttle_next=1, retry_after_s=7, paths=["/orders"])
    result = harness.reconciler.tick()
    assert result.outcome == "rate_limited"
    assert result.retry_after == 7
    assert harness.resting() == {}
    assert {o.status for o in harness.store.orders()} == {OrderStatus.VOID}
    # Nothing unknown is left behind: the next pass posts normally.
    assert harness.reconciler.tick().success
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}


def test_8_429_on_the_open_orders_read_reports_the_wait(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    set_faults(harness, throttle_next=1, retry_after_s=3, paths=["/data/orders"])
    result = harness.reconciler.tick()
    assert result.outcome == "rate_limited" and result.retry_after == 3
    assert harness.me.session.writes() == []


def test_8_one_failing_token_does_not_stop_another_and_backs_off(harness: Harness) -> None:
    # TOKEN_B sorts first, so its order is position 0 of every batch: always refused.
    harness.write_spec(
        {TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.30", "10")]}
    )
    set_faults(harness, reject_batch_positions=[0], reject_message="could not insert order")
    first = harness.reconciler.tick()
    assert first.applied is not None
    assert [r.token_id for r in first.applied.rejected] == [TOKEN_B]
    assert "could not insert order" in first.applied.rejected[0].message
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}
    rejected = [o for o in harness.store.orders() if o.status is OrderStatus.REJECTED]
    assert rejected and rejected[0].error == "could not insert order"
    # Backoff: B is held for 1 pass, then retried, then held for 2 ...
    posted_b = []
    for _ in range(6):
        harness.me.session.reset()
        harness.reconciler.tick()
        posted_b.append(bool(harness.me.session.order_writes()))
    assert posted_b == [False, True, False, False, True, False]
    assert harness.reconciler.backoff_state()[TOKEN_B][0] == 3
    clear_faults(harness)
    for _ in range(5):
        harness.reconciler.tick()
    assert harness.resting(TOKEN_B) == {(Side.BUY, D("0.3")): D("10")}
    assert TOKEN_B not in harness.reconciler.backoff_state()
