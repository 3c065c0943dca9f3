"""Policy gates end to end: a Reconciler on a real paper exchange on 127.0.0.1 and a real SQLite
state file. A second account gives tokens a book (and sells into our bids); the engine's clock
is injected, so a trading window opens and closes when the test moves it."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest

from reconciler.cli.policy_view import status_policy_text
from reconciler.clob import AssetType
from reconciler.daemon.metrics import Metrics, record_tick_result
from reconciler.engine.reconcile import Reconciler
from reconciler.model import CancelReason, Side, TickOutcome
from reconciler.planner import Override
from reconciler.spec import Rule
from tests.support.clock import ManualClock
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, level, sell_into
from tests.support.policy import quote, rfc3339, verdicts_of, write_policy

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
BAND = {"price_band": {"max_distance": "0.05"}}


def books(h: Harness) -> None:
    """A: 0.44 / 0.46 (midpoint 0.45); B: 0.30 / 0.32 (midpoint 0.31)."""
    other = quote(h, TOKEN_A, BUY, "0.44", "50")
    quote(h, TOKEN_A, SELL, "0.46", "50", account=other)
    quote(h, TOKEN_B, BUY, "0.30", "50", account=other)
    quote(h, TOKEN_B, SELL, "0.32", "50", account=other)


def fat_finger(h: Harness) -> None:
    """BUY 0.94 typed for 0.44 on A, as a taker (post_only false: it would fill at 0.46 and
    rest the rest at 0.94); a good level on B."""
    books(h)
    write_policy(h, BAND)
    h.write_spec({TOKEN_A: [level("BUY", "0.94", "10", post_only=False)],
                  TOKEN_B: [level("BUY", "0.31", "10")]})


def test_a_fat_finger_buy_far_above_the_midpoint_is_held_and_the_rest_goes_on(
    harness: Harness,
) -> None:
    h = harness
    fat_finger(h)
    first = h.reconciler.tick()
    assert first.outcome is TickOutcome.OK and first.posted == 1
    assert h.resting(TOKEN_A) == {}
    assert h.resting(TOKEN_B) == {(BUY, D("0.31")): D(10)}
    assert h.me.client.get_trades() == []  # nothing of A traded
    [verdict] = verdicts_of(first.run_summary)
    assert (verdict["rule"], verdict["enforcement"], verdict["effect"], verdict["tokens"]) == (
        "price_band", "soft", "held", [TOKEN_A])
    assert "0.49 from the midpoint 0.45" in verdict["message"]
    # The daemon never overrides by itself: pass after pass, A stays held, nothing is sent.
    h.me.session.reset()
    again = h.reconciler.tick()
    assert again.outcome is TickOutcome.HELD and h.me.session.order_writes() == []
    assert verdicts_of(again.run_summary)[0]["effect"] == "held"


def test_an_override_applies_the_held_post_once_and_the_journal_shows_it(
    harness: Harness,
) -> None:
    h = harness
    fat_finger(h)
    assert h.reconciler.tick().outcome is TickOutcome.OK  # B posted, A held
    shown = h.reconciler.plan().policy  # what `plan` shows before the operator overrides
    assert shown is not None
    digest = shown["plan_digest"]
    override = Override(Rule.PRICE_BAND, "a taker buy approved by the desk", "alice")
    applied = h.reconciler.tick(overrides=[override])
    assert applied.outcome is TickOutcome.OK and applied.posted == 1
    assert applied.run_summary["policy"]["overridden"] == ["price_band"]
    assert applied.run_summary["policy"]["plan_digest"] == digest
    trades = h.me.client.get_trades()
    assert [(t.price, t.size) for t in trades] == [(D("0.46"), D(10))]
    # Journaled before the post it allowed, with the rule, the reason, the user, the digest.
    history = h.store.history(10)
    kinds = [e["kind"] for e in reversed(history)]
    assert kinds.index("override") < len(kinds) - 1 and kinds[-1] == "post"
    [row] = [e for e in history if e["kind"] == "override"]
    assert row["payload"] == {"override_id": 1, "rule": "price_band", "user": "alice",
                              "reason": "a taker buy approved by the desk",
                              "plan_digest": digest, "tokens": [TOKEN_A]}
    assert row["run_id"] == applied.run_id and row["outcome"] == "ok"
    # Once: the next fat finger on A is held again by a pass without the override.
    h.write_spec({TOKEN_A: [level("BUY", "0.94", "10", post_only=False),
                            level("SELL", "0.05", "10")],
                   TOKEN_B: [level("BUY", "0.31", "10")]})
    h.me.session.reset()
    later = h.reconciler.tick()
    assert later.outcome is TickOutcome.HELD and h.me.session.order_writes() == []
    assert [v["effect"] for v in verdicts_of(later.run_summary)] == ["held"]
    assert len(h.store.overrides()) == 1


def test_an_override_that_meets_no_soft_violation_is_not_journaled(harness: Harness) -> None:
    h = harness
    books(h)
    write_policy(h, BAND)
    h.write_spec({TOKEN_A: [level("BUY", "0.44", "10")]})
    result = h.reconciler.tick(overrides=[Override(Rule.PRICE_BAND, "just in case", "bob")])
    assert result.outcome is TickOutcome.OK and result.posted == 1
    assert result.run_summary["policy"]["overrides_not_needed"] == ["price_band"]
    assert h.store.overrides() == []
    assert all(e["kind"] != "override" for e in h.store.history(10))


@pytest.mark.parametrize("enforcement", ["hard", None])
def test_an_override_of_a_hard_or_absent_rule_refuses_the_pass(
    harness: Harness, enforcement: str | None
) -> None:
    h = harness
    fat_finger(h)
    if enforcement is None:
        write_policy(h, {"max_open_orders": {"total": 100}})
    else:
        write_policy(h, {"price_band": {"max_distance": "0.05", "enforcement": enforcement}})
    h.me.session.reset()
    result = h.reconciler.tick(overrides=[Override(Rule.PRICE_BAND, "please", "mallory")])
    assert result.outcome is TickOutcome.REFUSED and not result.success
    assert result.error is not None and "--override price_band" in result.error
    assert h.me.session.sent == []  # refused before anything was read or sent
    assert h.store.overrides() == [] and h.resting() == {}


def test_a_trading_window_suspends_posting_and_resumes_on_its_own(harness: Harness) -> None:
    h = harness
    clock = ManualClock(float(int(time.time())))
    engine = Reconciler(client=h.me.client, store=h.store, desired_dir=h.desired,
                        builder=h.me.builder, clock=clock)
    window = {"name": "debate", "tokens": [TOKEN_A], "start": rfc3339(clock.now + 300),
              "end": rfc3339(clock.now + 900), "cancel_orders": True}
    write_policy(h, {"trading_windows": {"enforcement": "hard", "windows": [window]}})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")], TOKEN_B: [level("BUY", "0.30", "10")]})
    before = engine.tick()
    assert before.posted == 2 and verdicts_of(before.run_summary) == []

    clock.advance(300)  # the window opens: our order on A is cancelled, B is left alone
    opened = engine.tick()
    assert opened.cancelled == 1 and opened.posted == 0
    assert opened.plan is not None
    assert [c.reason for c in opened.plan.cancels] == [CancelReason.POLICY_WINDOW]
    assert h.resting(TOKEN_A) == {} and h.resting(TOKEN_B) == {(BUY, D("0.30")): D(10)}

    clock.advance(60)  # still open: A's level wants a post, and it waits
    h.me.session.reset()
    during = engine.tick()
    assert during.outcome is TickOutcome.HELD and h.me.session.order_writes() == []
    [verdict] = verdicts_of(during.run_summary)
    assert verdict["rule"] == "trading_windows" and "'debate'" in verdict["message"]

    clock.advance(540)  # closed: posting resumes, nobody had to do anything
    after = engine.tick()
    assert after.posted == 1 and verdicts_of(after.run_summary) == []
    assert h.resting(TOKEN_A) == {(BUY, D("0.40")): D(10)}


def test_max_position_stops_a_replenishing_level_after_fills(harness: Harness) -> None:
    h = harness
    held = h.me.client.get_balance_allowance(AssetType.CONDITIONAL, TOKEN_A).balance_decimal
    # Room for the first bid and nothing more: held + 10 fits, held + 10 filled + 10 does not.
    write_policy(h, {"max_position": {"shares": str(held + 15)}})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    assert h.reconciler.tick().posted == 1
    sell_into(h, "0.40", "10")
    after = h.me.client.get_balance_allowance(AssetType.CONDITIONAL, TOKEN_A).balance_decimal
    assert after == held + 10
    h.me.session.reset()
    stopped = h.reconciler.tick()
    assert stopped.outcome is TickOutcome.HELD and stopped.posted == 0
    assert h.resting(TOKEN_A) == {}
    [verdict] = verdicts_of(stopped.run_summary)
    assert verdict["rule"] == "max_position" and f"{held + 20} shares" in verdict["message"]
    # Exactly the reads the rule needs: one balance for the one token with a buy, no book.
    assert h.me.session.sent.count(("GET", "/balance-allowance")) == 1
    assert ("GET", "/book") not in h.me.session.sent


def test_a_soft_violation_in_the_daemon_logs_once_sets_the_metric_and_shows_in_status(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness  # A has no book: its posts cannot be checked, which the soft rule holds
    write_policy(h, BAND)
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})
    metrics = Metrics()
    with caplog.at_level(logging.INFO, logger="reconciler"):
        for _ in range(3):
            result = h.reconciler.tick()
            record_tick_result(metrics, result)
    said = [r for r in caplog.records if "could not be checked" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert metrics.value("reconciler_policy_violations", rule="price_band",
                         enforcement="soft") == 1
    series = [line for line in metrics.render().splitlines()
              if line.startswith("reconciler_policy_violations{")]
    assert len(series) == 15 and not any(TOKEN_A[:10] in line for line in series)
    assert "price_band (soft, held)" in status_policy_text(h.store.status())
    # The files change (an empty market may be seeded): the hold lifts, status and metric say so.
    write_policy(h, {"price_band": {"max_distance": "0.05", "without_book": "advisory"}})
    lifted = h.reconciler.tick()
    record_tick_result(metrics, lifted)
    assert lifted.posted == 1
    assert metrics.value("reconciler_policy_violations", rule="price_band",
                         enforcement="soft") == 0
    assert metrics.value("reconciler_policy_violations", rule="price_band",
                         enforcement="advisory") == 1
    assert "price_band (advisory, warned)" in status_policy_text(h.store.status())


def test_the_rules_read_nothing_while_nothing_is_posted(harness: Harness) -> None:
    h = harness
    books(h)
    write_policy(h, {**BAND, "max_position": {"notional": "100000"}})
    h.write_spec({TOKEN_A: [level("BUY", "0.44", "10")], TOKEN_B: [level("BUY", "0.30", "10")]})
    h.me.session.reset()
    assert h.reconciler.tick().posted == 2
    assert sorted(p for m, p in h.me.session.sent if p == "/book") == ["/book", "/book"]
    h.me.session.reset()
    steady = h.reconciler.tick()
    assert steady.outcome is TickOutcome.NOOP
    assert not any(p in ("/book", "/balance-allowance") for _, p in h.me.session.sent)


def test_plan_shows_the_verdicts_and_sends_nothing(harness: Harness) -> None:
    h = harness
    fat_finger(h)
    h.me.session.reset()
    report = h.reconciler.plan()
    assert h.me.session.order_writes() == []
    assert report.policy is not None
    assert [v["rule"] for v in report.policy["verdicts"]] == ["price_band"]
    assert report.plan is not None and [p.key.token_id for p in report.plan.posts] == [TOKEN_B]
    assert any("policy price_band (soft)" in w for w in report.plan.warnings)
