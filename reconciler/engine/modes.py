"""The exchange's trading mode as the engine believes it (clob-v2-wire.md 2.13), and what each
mode lets a pass send.

The engine learns a mode from refusals only: a `TradingRestricted` answer (503 trading
disabled, cancel-only or post-only; 425 while the matching engine restarts; 400 for an address
in closed-only mode or banned) or a post-only / closed-only entry of a `POST /orders` answer.
Each is a definite refusal, never an unknown outcome: nothing was placed or cancelled. From then
on, until the wait is over, a pass sends only what the mode takes:

| mode        | cancels | posts                  | the wait                                     |
|-------------|---------|------------------------|----------------------------------------------|
| disabled    | wait    | wait                   | Retry-After, else 10 s; no pass before it    |
| cancel-only | go      | wait                   | Retry-After, else 10 s (the mode sends none) |
| post-only   | go      | post-only orders go    | Retry-After / retry_after_seconds, else 10 s |
| restarting  | wait    | wait (reads refused)   | 1, 2, 4 ... 30 s, no pass before it; then    |
|             |         |                        | 2 minutes of post-only are expected          |
| closed-only | go      | sells go, buys wait    | 300 s (an account state, not a moment)       |
| banned      | go      | wait                   | 300 s                                        |

Where the reference is silent, the choice made here: cancels are still tried in closed-only and
banned (a cancel opens no position; a refusal holds them like any other), closed-only takes
sells only (the reference says "may only close positions"), the waits where the exchange names
none (10 s, 300 s) and the cap of the restart backoff (30 s; 2.13 says "back off exponentially
from 1-2 s" and that the window lasts about 90 s).

A mode that refuses a cancel where the table says cancels go (the reference does not say what
closed-only and banned do to cancels) holds cancels too until its wait is over. When the wait is
over a pass sends again what the mode held; a refusal renews the mode, and a pass that meets
none ends it. Each change is logged once, saying what the account may do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from reconciler.engine.results import ApplyResult
from reconciler.model import TickOutcome, TradingRestriction

log = logging.getLogger(__name__)

_R = TradingRestriction

#: Seconds to wait when the exchange names no wait (its answer carries no Retry-After).
DEFAULT_WAIT_S = 10.0
ACCOUNT_WAIT_S = 300.0  # closed-only and banned describe the account, not a moment
RESTART_BACKOFF_FIRST_S = 1.0
RESTART_BACKOFF_CAP_S = 30.0
POST_ONLY_AFTER_RESTART_S = 120.0  # "after every restart ... 2 minutes in post-only mode"

#: What the account may do in each mode, for the logs and `status`.
MAY_DO: dict[TradingRestriction, str] = {
    _R.DISABLED: "trading is disabled: nothing is sent, no posts and no cancels",
    _R.CANCEL_ONLY: "cancel-only: cancels go, posts wait",
    _R.POST_ONLY: "post-only: cancels and post-only orders go, other orders wait",
    _R.RESTARTING: "the matching engine is restarting: nothing is sent (reads are refused too); "
    "backing off, then 2 minutes of post-only",
    _R.CLOSED_ONLY: "this address is in closed-only mode: it may only close positions; sells and "
    "cancels go, buys wait",
    _R.BANNED: "this address is banned from trading: posts wait; cancels are still tried",
}

#: The modes in which no pass runs before the wait is over (nothing at all could be sent).
_NO_PASS = (_R.DISABLED, _R.RESTARTING)


@dataclass(frozen=True)
class ModeState:
    """The mode in force: since when, until when its refusals are held, and why."""

    restriction: TradingRestriction
    since: float  # unix seconds
    until: float  # the hold lasts until then; after it, what it held is sent again
    message: str  # the exchange's words, or why the mode is expected
    expected: bool = False  # the post-only that follows a restart: assumed, not yet answered
    cancels_refused: bool = False  # a cancel was refused too (e.g. banned, if it refuses them)

    @property
    def cancels_wait(self) -> bool:
        return self.restriction in _NO_PASS or self.cancels_refused

    def summary(self, now: float) -> dict[str, Any]:
        """What a run's summary records (and `status` shows)."""
        return {
            "mode": self.restriction.value,
            "may_do": MAY_DO[self.restriction],
            "since": round(self.since, 3),
            "until": round(self.until, 3),
            "wait_s": round(max(0.0, self.until - now), 3),
            "message": self.message,
            "expected": self.expected,
            "cancels": "wait" if self.cancels_wait else "go",
        }


class TradingModes:
    """The one place that decides which trading mode a pass obeys (see the module docstring)."""

    def __init__(self) -> None:
        self.state: ModeState | None = None
        self._restarts = 0  # consecutive 425 answers

    def refused(
        self,
        restriction: TradingRestriction,
        *,
        retry_after: float | None,
        message: str,
        now: float,
        cancel: bool = False,
    ) -> ModeState:
        """The exchange refused something (`cancel`: a cancel) with this restriction: hold
        what it refuses until the wait is over."""
        restriction = TradingRestriction(restriction)
        if restriction is _R.RESTARTING:
            self._restarts += 1
            wait = min(RESTART_BACKOFF_CAP_S, RESTART_BACKOFF_FIRST_S * 2 ** (self._restarts - 1))
        elif retry_after is not None and retry_after > 0:
            wait = float(retry_after)
        elif restriction in (_R.CLOSED_ONLY, _R.BANNED):
            wait = ACCOUNT_WAIT_S
        else:
            wait = DEFAULT_WAIT_S
        if restriction is not _R.RESTARTING:
            self._restarts = 0
        before = self.state
        since = before.since if before and before.restriction is restriction else now
        self.state = ModeState(restriction, since=since, until=now + wait, message=message,
                               cancels_refused=cancel)
        if before is None or before.restriction is not restriction or before.expected:
            log.warning("the exchange refuses: %s; %s; trying again in %.0f s (exchange: %s)",
                        restriction.value, MAY_DO[restriction], wait, message)
        else:
            log.info("still %s; trying again in %.0f s", restriction.value, wait)
        return self.state

    def reads_answered(self, now: float) -> None:
        """The open orders were read: a restart is over, and 2 minutes of post-only follow."""
        state = self.state
        if state is None or state.restriction is not _R.RESTARTING:
            return
        self._restarts = 0
        self.state = ModeState(
            _R.POST_ONLY,
            since=now,
            until=now + POST_ONLY_AFTER_RESTART_S,
            message="expected after a matching-engine restart (2.13)",
            expected=True,
        )
        log.warning("the matching engine restart is over; expecting post-only mode for %.0f s: %s",
                    POST_ONLY_AFTER_RESTART_S, MAY_DO[_R.POST_ONLY])

    def holding(self, now: float) -> TradingRestriction | None:
        """The mode whose refusals a pass holds now (None once its wait is over)."""
        state = self.state
        return state.restriction if state is not None and now < state.until else None

    def cancels_wait(self, now: float) -> bool:
        state = self.state
        return state is not None and state.cancels_wait and now < state.until

    def wait_before_next_pass(self, now: float) -> float | None:
        """Seconds before the next pass may run, in the modes where nothing could be sent."""
        state = self.state
        if state is None or state.restriction not in _NO_PASS or now >= state.until:
            return None
        return state.until - now

    def pass_done(self, *, refused: bool, now: float) -> None:
        """A pass reached the exchange. One that met no refusal after the wait ends the mode."""
        state = self.state
        if refused or state is None or now < state.until:
            return
        self.state = None
        log.warning("the exchange's %s mode is over (no refusal after its wait): trading as "
                    "usual", state.restriction.value)

    def summary(self, now: float) -> dict[str, Any] | None:
        return None if self.state is None else self.state.summary(now)

    def after_apply(self, applied: ApplyResult, *, now: float) -> None:
        """A pass applied its plan: a refusal by a mode is held from now on; a pass that met
        none after the wait ends the mode."""
        if applied.restriction is not None:
            self.refused(
                applied.restriction,
                retry_after=applied.restriction_wait,
                message=applied.restriction_message,
                now=now,
                cancel=applied.cancels_refused_by_mode,
            )
        self.pass_done(refused=applied.restriction is not None, now=now)

    def outcome(self, outcome: TickOutcome, *, held_by_mode: int, now: float) -> TickOutcome:
        """A pass the trading mode held (or refused) is `restricted`, unless it failed."""
        held = held_by_mode or self.holding(now) is not None
        if held and outcome in (TickOutcome.OK, TickOutcome.NOOP, TickOutcome.HELD,
                                TickOutcome.PARTIAL):
            return TickOutcome.RESTRICTED
        return outcome


__all__ = ["MAY_DO", "ModeState", "TradingModes"]
