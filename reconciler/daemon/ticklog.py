"""What the daemon says about each tick: its status line (the first tick's, and one for a tick
that changed orders; a quiet one only at DEBUG), one line per fill, one WARNING when reconciling
is suspended (and one line when it resumes), and one WARNING per cause for each token a pass
left unconverged (and one line when it converges again), never one per tick while it lasts."""

from __future__ import annotations

import logging
import re

from reconciler.engine import TickResult

#: The fill log's kinds (store/fill_log.py) as the line's first word.
_WORD = {"fill": "fill", "reversed": "fill reversed (its trade did not settle)"}


class TickLog:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._warned: dict[str, str] = {}  # token -> the cause last warned about
        self._suspended_as: str | None = None  # the suspension last logged

    def tick_line(self, result: TickResult, *, first: bool, started: float,
                  seconds: float | None) -> None:
        """The tick's status line, with structured fields (JSON logs carry them as keys). A
        tick that changed orders is worth a line; a quiet one is not (every 10 s). The trading
        mode says its changes itself (engine/modes.py)."""
        fields = {"tick_started": round(started, 3), "tick_seconds": seconds,
                  "outcome": result.outcome.value, "posted": result.posted,
                  "cancelled": result.cancelled}
        if first:
            self._log.info("first tick done: %s", result.status_line, extra=fields)
            return
        changed = result.posted + result.cancelled
        self._log.log(logging.INFO if changed else logging.DEBUG, "tick: %s", result.status_line,
                      extra=fields)

    def fills(self, result: TickResult) -> None:
        """One line per fill of our orders the pass learnt of, partial ones included, and per
        fill taken back (invariant 12)."""
        for fill in getattr(result, "fills", ()):
            of = f" of {fill['order_size']}" if fill.get("order_size") else ""
            fields = {k: fill[k] for k in ("order_id", "token_id", "side", "price", "size",
                                           "matched", "role", "kind") if k in fill}
            self._log.info("%s: %s %s at %s on token %s, order %s (%s); %s%s matched",
                           _WORD.get(fill.get("kind") or "", "fill"),
                           fill["side"], fill["size"], fill["price"], fill["token_id"],
                           fill["order_id"], fill["role"], fill["matched"], of,
                           extra={"fill": fields})

    def suspension(self, result: TickResult) -> None:
        suspended = getattr(result, "suspended", None)
        if suspended and suspended != self._suspended_as:
            self._log.warning("%s: nothing is posted or cancelled until `reconciler resume`",
                              suspended, extra={"suspended": suspended})
        elif not suspended and self._suspended_as and result.plan is not None:
            self._log.info("resumed: reconciling again (was %s)", self._suspended_as)
        if suspended or result.plan is not None:
            self._suspended_as = suspended

    def conditions(self, result: TickResult) -> None:
        """A WARNING once per cause for each token a pass left alone (skipped, posts held),
        and one INFO line when it converges again; not on every tick while it lasts."""
        if result.plan is None or getattr(result, "suspended", None):
            return  # a pass that did not plan says nothing about the tokens
        now = {token: _cause_key(why) for token, why in result.conditions.items()}
        for token, why in result.conditions.items():
            if self._warned.get(token) != now[token]:
                self._log.warning("token %s is not converged: %s", token, why,
                                  extra={"token_id": token, "condition": why})
        for token in sorted(self._warned.keys() - now.keys()):
            self._log.info("token %s is converged again", token, extra={"token_id": token})
        self._warned = now


def _cause_key(why: str) -> str:
    """A condition's cause without its counts ("held back after 2 failing passes (1 more)"
    counts down every pass, and is still one cause)."""
    return re.sub(r"\d+", "N", why)
