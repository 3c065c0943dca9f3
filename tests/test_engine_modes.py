"""Trading modes (clob-v2-wire.md 2.13) in the engine: each refusal is definite, never an unknown
outcome; a pass sends what the mode takes, holds the rest without asking again until the wait
is over, and `status`, the run summary and the metrics say which mode holds and why.

Against the paper exchange on 127.0.0.1, switched by its admin routes; the engine's clock is
moved forward by the test (the exchange keeps real time), so nothing sleeps.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciler.cli.settings import Settings
from reconciler.cli.status_view import status_text
from reconciler.cli.wiring import Connection, cancel_managed_orders
from reconciler.daemon.metrics import Metrics, record_tick_result
from reconciler.engine.modes import DEFAULT_WAIT_S
from reconciler.lifecycle import OrderStatus
from reconciler.model import Side, TickOutcome
from tests.support.engine import TOKEN_A, Harness, level
from tests.support.exchange import LossySession, OffsetClock, admin

BUY, SELL = Side.BUY, Side.SELL
D = Decimal


@pytest.fixture
def h(lossy_harness: Harness) -> Harness:
    lossy_harness.reconciler.clock = OffsetClock()
    return lossy_harness


def _clock(h: Harness) -> OffsetClock:
    assert isinstance(h.reconciler.clock, OffsetClock)
    return h.reconciler.clock


def _session(h: Harness) -> LossySession:
    assert isinstance(h.me.session, LossySession)
    return h.me.session


def _converge(h: Harness, levels: list[dict[str, object]]) -> None:
    h.write_spec({TOKEN_A: levels})  # type: ignore[dict-item]
    result = h.reconciler.tick()
    assert result.outcome is TickOutcome.OK, result.run_summary
    _session(h).reset()


def _status(h: Harness) -> str:
    return status_text(h.store.status(), daemon_pid=None)


def test_cancel_only_mode_cancels_holds_posts_and_posts_once_it_clears(h: Harness) -> None:
    _converge(h, [level("BUY", "0.40", "10"), level("BUY", "0.41", "10")])
    admin(h.url, "trading-mode", {"mode": "cancel-only"})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10"), level("BUY", "0.42", "10")]})

    first = h.reconciler.tick()

    assert first.outcome is TickOutcome.RESTRICTED, first.run_summary
    assert first.cancelled == 1 and h.resting(TOKEN_A) == {(BUY, D("0.4")): 10}
    assert first.applied is not None and len(first.applied.refused_by_mode) == 1
    assert first.applied.rejected == [] and first.applied.unknown == []
    assert h.reconciler.backoff_state() == {}  # a mode is not the token's failure
    mode = first.run_summary["trading_mode"]
    assert mode["mode"] == "cancel_only" and mode["may_do"] == "cancel-only: cancels go, posts wait"
    assert "cancel-only" in mode["message"]
    assert "exchange mode:     cancel_only since" in _status(h)
    assert "exchange mode cancel_only: cancel-only: cancels go, posts wait" in first.status_line
    refused = [o for o in h.store.orders(statuses=[OrderStatus.REJECTED])]
    assert len(refused) == 1 and "cancel-only" in (refused[0].error or "")

    # Within the wait the post waits without being sent again.
    _session(h).reset()
    second = h.reconciler.tick()
    assert second.outcome is TickOutcome.RESTRICTED
    assert _session(h).count("POST", "/orders") == 0
    assert any("held: the exchange is in cancel-only mode" in w for w in second.plan.warnings)  # type: ignore[union-attr]

    # The exchange trades again; after the wait the post goes, and the mode is over.
    admin(h.url, "trading-mode", {"mode": "normal"})
    _clock(h).advance(DEFAULT_WAIT_S + 1)
    third = h.reconciler.tick()
    assert third.outcome is TickOutcome.OK, third.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10, (BUY, D("0.42")): 10}
    assert "trading_mode" not in third.run_summary
    assert "exchange mode:     normal" in _status(h)


def test_post_only_mode_posts_only_post_only_orders(h: Harness) -> None:
    admin(h.url, "trading-mode", {"mode": "post-only", "retry_after_s": 79})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10"),
                            level("BUY", "0.41", "10", post_only=False)]})

    first = h.reconciler.tick()

    assert first.outcome is TickOutcome.RESTRICTED, first.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10}
    assert first.applied is not None and len(first.applied.refused_by_mode) == 1
    assert first.run_summary["trading_mode"]["mode"] == "post_only"
    assert h.reconciler.backoff_state() == {}

    _session(h).reset()
    second = h.reconciler.tick()
    assert second.outcome is TickOutcome.RESTRICTED
    assert _session(h).count("POST", "/orders") == 0  # 0.41 waits, 0.40 rests

    admin(h.url, "trading-mode", {"mode": "normal"})
    _clock(h).advance(DEFAULT_WAIT_S + 1)
    third = h.reconciler.tick()
    assert third.outcome is TickOutcome.OK, third.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10, (BUY, D("0.41")): 10}


def test_disabled_trading_sends_nothing_and_waits_before_the_next_pass(h: Harness) -> None:
    _converge(h, [level("BUY", "0.40", "10"), level("BUY", "0.41", "10")])
    admin(h.url, "trading-mode", {"mode": "disabled"})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10"), level("BUY", "0.42", "10")]})

    first = h.reconciler.tick()

    assert first.outcome is TickOutcome.RESTRICTED, first.run_summary
    assert first.cancelled == 0 and first.posted == 0
    assert _session(h).count("POST", "/orders") == 0  # the cancel was refused: nothing posted
    assert first.retry_after == pytest.approx(DEFAULT_WAIT_S, abs=1)
    assert first.run_summary["trading_mode"]["mode"] == "disabled"
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10, (BUY, D("0.41")): 10}

    _session(h).reset()
    second = h.reconciler.tick()
    assert second.outcome is TickOutcome.RESTRICTED and second.retry_after is not None
    assert _session(h).sent == []  # no pass before the wait: not even a read

    admin(h.url, "trading-mode", {"mode": "normal"})
    _clock(h).advance(DEFAULT_WAIT_S + 1)
    third = h.reconciler.tick()
    assert third.outcome is TickOutcome.OK, third.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10, (BUY, D("0.42")): 10}


def test_a_restart_backs_off_doubling_then_expects_two_minutes_of_post_only(h: Harness) -> None:
    _converge(h, [level("BUY", "0.40", "10")])
    admin(h.url, "trading-mode", {"mode": "restarting"})  # 425 for the ~90 s window
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10"), level("BUY", "0.41", "10"),
                            level("BUY", "0.42", "10", post_only=False)]})
    waits = []
    for _ in range(3):
        result = h.reconciler.tick()
        assert result.outcome is TickOutcome.RESTRICTED, result.run_summary
        assert result.run_summary["trading_mode"]["mode"] == "restarting"
        assert result.retry_after is not None
        waits.append(round(result.retry_after))
        _session(h).reset()
        early = h.reconciler.tick()  # asked for again too early: nothing is sent
        assert early.outcome is TickOutcome.RESTRICTED and _session(h).sent == []
        _clock(h).advance(result.retry_after + 0.01)
    assert waits == [1, 2, 4]

    admin(h.url, "clock", {"advance_s": 91})  # the restart is over: 2 minutes of post-only
    _session(h).reset()
    after = h.reconciler.tick()
    assert after.outcome is TickOutcome.RESTRICTED, after.run_summary
    assert after.run_summary["trading_mode"]["mode"] == "post_only"
    assert after.run_summary["trading_mode"]["expected"] is True
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10, (BUY, D("0.41")): 10}
    assert after.applied is not None and after.applied.refused_by_mode == []  # never asked

    admin(h.url, "clock", {"advance_s": 121})
    _clock(h).advance(121)
    done = h.reconciler.tick()
    assert done.outcome is TickOutcome.OK, done.run_summary
    assert (BUY, D("0.42")) in h.resting(TOKEN_A)


def test_closed_only_posts_sells_and_holds_buys(h: Harness) -> None:
    admin(h.url, "trading-mode", {"address": h.me.wallet.address, "restriction": "closed-only"})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10"), level("SELL", "0.60", "10")]})

    first = h.reconciler.tick()

    assert first.outcome is TickOutcome.RESTRICTED, first.run_summary
    assert h.resting(TOKEN_A) == {(SELL, D("0.6")): 10}
    mode = first.run_summary["trading_mode"]
    assert mode["mode"] == "closed_only" and "may only close positions" in mode["may_do"]
    assert "buys wait" in mode["may_do"]
    _session(h).reset()
    second = h.reconciler.tick()
    assert second.outcome is TickOutcome.RESTRICTED
    assert _session(h).count("POST", "/orders") == 0


def test_a_banned_address_still_cancels_and_holds_every_post(h: Harness) -> None:
    _converge(h, [level("BUY", "0.40", "10")])
    admin(h.url, "trading-mode", {"address": h.me.wallet.address, "restriction": "banned"})
    h.write_spec({TOKEN_A: [level("SELL", "0.60", "10")]})

    first = h.reconciler.tick()

    assert first.outcome is TickOutcome.RESTRICTED, first.run_summary
    assert first.cancelled == 1 and h.resting(TOKEN_A) == {}
    mode = first.run_summary["trading_mode"]
    assert mode["mode"] == "banned" and "banned" in mode["may_do"]
    assert "exchange mode:     banned" in _status(h)


def test_the_mode_is_a_metric(h: Harness) -> None:
    admin(h.url, "trading-mode", {"mode": "cancel-only"})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})
    result = h.reconciler.tick()
    metrics = Metrics()
    record_tick_result(metrics, result)
    assert metrics.value("reconciler_trading_mode", mode="cancel_only") == 1
    assert metrics.value("reconciler_trading_mode", mode="normal") == 0
    assert 'reconciler_trading_mode{mode="cancel_only"} 1' in metrics.render()


def test_the_shutdown_sweep_says_when_a_mode_refused_its_cancels(h: Harness) -> None:
    _converge(h, [level("BUY", "0.40", "10")])
    admin(h.url, "trading-mode", {"mode": "disabled"})
    conn = Connection(settings=Settings(host=h.url), client=h.me.client, wallet=h.me.wallet,
                      builder=h.me.builder)
    text = cancel_managed_orders(conn=conn, store=h.store)
    assert text.startswith("cancelled 0 of 1 managed orders") and "disabled mode" in text, text
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10}
    assert h.store.recent_runs(1)[0]["outcome"] == "shutdown_partial"
