"""The trading-mode rules by themselves (engine/modes.py, `planner.hold_posts`,
`TradingRestriction.allows_order`): which orders each mode takes, how long a refusal holds, the
restart back-off and the post-only expected after it. Pure: a clock is a number.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciler import planner
from reconciler.engine.modes import (
    ACCOUNT_WAIT_S,
    DEFAULT_WAIT_S,
    POST_ONLY_AFTER_RESTART_S,
    RESTART_BACKOFF_CAP_S,
    TradingModes,
)
from reconciler.model import LevelKey, OrderType, Post, Side, TradingRestriction

R = TradingRestriction
NOW = 1_800_000_000.0


def _post(side: Side, post_only: bool) -> Post:
    return Post(key=LevelKey("1", side, Decimal("0.40")), size=Decimal(10),
                order_type=OrderType.GTC, post_only=post_only, expires_at=0, generation=1,
                neg_risk=False, tick_size=Decimal("0.01"))


#: restriction -> (BUY post-only, BUY not, SELL post-only, SELL not) that may go.
TAKES = {
    R.DISABLED: (False, False, False, False),
    R.CANCEL_ONLY: (False, False, False, False),
    R.POST_ONLY: (True, False, True, False),
    R.RESTARTING: (False, False, False, False),
    R.CLOSED_ONLY: (False, False, True, True),
    R.BANNED: (False, False, False, False),
}


@pytest.mark.parametrize("restriction", list(R))
def test_each_mode_holds_exactly_the_orders_it_refuses(restriction: TradingRestriction) -> None:
    posts = [_post(Side.BUY, True), _post(Side.BUY, False), _post(Side.SELL, True),
             _post(Side.SELL, False)]
    holds = planner.hold_posts(posts, max_total_buy_notional=None, restriction=restriction)
    kept = tuple(p in holds.kept for p in posts)
    assert kept == TAKES[restriction]
    assert all(h.reason == planner.mode_hold_reason(restriction) for h in holds.held)


@pytest.mark.parametrize(
    ("restriction", "retry_after", "wait"),
    [
        (R.POST_ONLY, 79.0, 79.0),  # the exchange's Retry-After / retry_after_seconds
        (R.POST_ONLY, None, DEFAULT_WAIT_S),  # a batch entry names no wait
        (R.CANCEL_ONLY, None, DEFAULT_WAIT_S),
        (R.DISABLED, 30.0, 30.0),
        (R.CLOSED_ONLY, None, ACCOUNT_WAIT_S),
        (R.BANNED, None, ACCOUNT_WAIT_S),
    ],
)
def test_a_refusal_holds_for_the_wait_the_exchange_named(
    restriction: TradingRestriction, retry_after: float | None, wait: float
) -> None:
    modes = TradingModes()
    modes.refused(restriction, retry_after=retry_after, message="m", now=NOW)
    assert modes.holding(NOW + wait - 0.01) is restriction
    assert modes.holding(NOW + wait) is None
    nothing_goes = restriction is R.DISABLED
    assert modes.cancels_wait(NOW) is nothing_goes
    assert (modes.wait_before_next_pass(NOW) is not None) is nothing_goes


def test_a_restart_backs_off_doubling_from_one_second_up_to_a_cap() -> None:
    modes, now, waits = TradingModes(), NOW, []
    for _ in range(8):
        modes.refused(R.RESTARTING, retry_after=None, message="425", now=now)
        wait = modes.wait_before_next_pass(now)
        assert wait is not None
        waits.append(wait)
        now += wait
    assert waits == [1, 2, 4, 8, 16, RESTART_BACKOFF_CAP_S, RESTART_BACKOFF_CAP_S,
                     RESTART_BACKOFF_CAP_S]
    modes.reads_answered(now)  # the restart is over
    assert modes.holding(now) is R.POST_ONLY
    assert modes.state is not None and modes.state.expected
    assert modes.holding(now + POST_ONLY_AFTER_RESTART_S) is None
    modes.refused(R.RESTARTING, retry_after=None, message="425", now=now)  # the next restart
    assert modes.wait_before_next_pass(now) == 1  # starts from 1 s again


def test_a_mode_ends_with_the_first_pass_after_its_wait_that_meets_no_refusal() -> None:
    modes = TradingModes()
    modes.refused(R.CANCEL_ONLY, retry_after=None, message="m", now=NOW)
    modes.pass_done(refused=False, now=NOW + 1)  # within the wait: posts were only held
    assert modes.state is not None
    modes.pass_done(refused=True, now=NOW + DEFAULT_WAIT_S + 1)  # refused again: it stays
    assert modes.state is not None
    modes.pass_done(refused=False, now=NOW + DEFAULT_WAIT_S + 2)
    assert modes.state is None and modes.summary(NOW) is None


def test_a_refused_cancel_holds_cancels_too_but_not_the_reads() -> None:
    # The reference does not say what banned or closed-only do to cancels: they are tried, and
    # a refusal holds them like anything else the mode refuses, while passes go on reading.
    modes = TradingModes()
    modes.refused(R.BANNED, retry_after=None, message="banned", now=NOW, cancel=True)
    assert modes.cancels_wait(NOW) and modes.wait_before_next_pass(NOW) is None
    assert not modes.cancels_wait(NOW + ACCOUNT_WAIT_S)
    summary = modes.summary(NOW)
    assert summary is not None and summary["cancels"] == "wait"
