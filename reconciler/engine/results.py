"""What a pass hands back: `PlanReport` (for `reconciler plan`), `TickResult` (for the daemon,
`apply` and the run row), and `ApplyResult` (what carrying out a plan did: engine/apply.py).

Three names, three things: a tick's `outcome` (a `TickOutcome`), its `status_line` (one line for
people and systemd's STATUS=), and its `run_summary` (the dict the run row records in its
`summary` column, which `status` shows).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from reconciler.model import SUCCESS_OUTCOMES, BlindToken, Plan, TickOutcome, TradingRestriction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    token_id: str
    order_id: str  # "" when the order could not even be built
    message: str


@dataclass
class ApplyResult:
    """What one apply did. `retry_after` is set when the exchange rate-limited us."""

    posted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    void: list[str] = field(default_factory=list)
    not_cancelled: dict[str, str] = field(default_factory=dict)
    still_live: set[str] = field(default_factory=set)  # a cancel did not take: it may rest
    failed_tokens: set[str] = field(default_factory=set)
    posted_tokens: set[str] = field(default_factory=set)
    write_requests: int = 0  # calls apply made (a cancel step the client splits counts once)
    retry_after: float | None = None
    error: str | None = None
    # The trading mode the exchange refused with (2.13), its wait (None: it named none), and
    # the orders it refused; the engine holds what the mode refuses.
    restriction: TradingRestriction | None = None
    restriction_wait: float | None = None
    restriction_message: str = ""
    refused_by_mode: list[str] = field(default_factory=list)
    cancels_refused_by_mode: bool = False

    def note_restriction(
        self, restriction: TradingRestriction, *, wait: float | None, message: str
    ) -> None:
        self.restriction = TradingRestriction(restriction)
        self.restriction_wait = wait
        self.restriction_message = message
        log.debug("apply: the exchange refused with its %s mode: %s", restriction.value, message)

    def run_summary(self) -> dict[str, Any]:
        """What this apply adds to its run row's summary (the whole of it for a shutdown sweep)."""
        return {
            "posted": len(self.posted),
            "cancelled": len(self.cancelled),
            "rejected": [
                {"token_id": r.token_id, "order_id": r.order_id, "message": r.message}
                for r in self.rejected
            ],
            "unknown": list(self.unknown),
            "void": len(self.void),
            "not_cancelled": dict(self.not_cancelled),
            "write_requests": self.write_requests,
            "retry_after": self.retry_after,
            "error": self.error,
            "restriction": self.restriction.value if self.restriction else None,
            "refused_by_mode": len(self.refused_by_mode),
        }


@dataclass(frozen=True)
class PlanReport:
    """What `reconciler plan` shows: the plan a pass would apply now, and why not if none.
    The CLI renders it (`cli.render.report_text`, `report_json`)."""

    plan: Plan | None
    digest: str
    spec_errors: tuple[str, ...] = ()
    error: str | None = None
    git_commit: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    kept: str | None = None  # the revision kept in force while the files are invalid
    refusal: str | None = None  # why there is no plan (an empty desired state)
    policy: Mapping[str, Any] | None = None  # the policy's verdicts (engine/policy_gate.py)

    @property
    def has_changes(self) -> bool:
        return self.plan is not None and not self.plan.is_empty


@dataclass(frozen=True)
class TickResult:
    """The outcome of one pass, for the daemon (loop backoff, sd_notify, metrics) and `apply`."""

    outcome: TickOutcome
    run_id: int | None = None
    revision_id: int | None = None
    plan: Plan | None = None
    applied: ApplyResult | None = None
    error: str | None = None
    retry_after: float | None = None
    spec_errors: tuple[str, ...] = ()
    run_summary: Mapping[str, Any] = field(default_factory=dict)  # what the run row records

    @classmethod
    def crashed(cls, error: str) -> TickResult:
        """A pass that raised instead of returning (the daemon's; no run row records it)."""
        return cls(outcome=TickOutcome.CRASHED, error=error)

    @property
    def success(self) -> bool:
        return self.outcome in SUCCESS_OUTCOMES

    @property
    def status_line(self) -> str:
        """One line for people and systemd's STATUS=."""
        if self.outcome is TickOutcome.CRASHED:
            return "tick crashed"  # the error and its traceback are in the log
        parts = [self.outcome.value]
        if self.applied is not None:
            parts.append(f"posted {self.posted}, cancelled {self.cancelled}")
            if self.rejected or self.unknown:
                parts.append(f"rejected {self.rejected}, unknown {self.unknown}")
        elif self.plan is not None:
            parts.append(f"{len(self.plan.keeps)} orders resting as desired")
        if self.plan is not None and self.plan.blind:
            parts.append(f"{len(self.plan.blind)} token(s) blind: stop the daemon and run "
                         "`reconciler adopt`")
        if self.spec_errors:
            parts.append(f"desired state invalid ({len(self.spec_errors)} errors)")
        mode = self.trading_mode
        if mode is not None:
            parts.append(f"exchange mode {mode.get('mode')}: {mode.get('may_do')}")
        policy = self.run_summary.get("policy")
        if isinstance(policy, Mapping) and policy.get("held_tokens"):
            parts.append(f"policy holds {len(policy['held_tokens'])} token(s)")
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)

    @property
    def trading_mode(self) -> Mapping[str, Any] | None:
        """The exchange's trading mode this pass obeyed (engine/modes.py), or None."""
        mode = self.run_summary.get("trading_mode")
        return mode if isinstance(mode, Mapping) else None

    # Action counts, as the metrics and the logs read them.
    @property
    def posted(self) -> int:
        return len(self.applied.posted) if self.applied else 0

    @property
    def cancelled(self) -> int:
        return len(self.applied.cancelled) if self.applied else 0

    @property
    def rejected(self) -> int:
        return len(self.applied.rejected) if self.applied else 0

    @property
    def unknown(self) -> int:
        return len(self.applied.unknown) if self.applied else 0

    @property
    def drift(self) -> int | None:
        """Actions the pass found necessary (0 when everything rested as desired)."""
        return None if self.plan is None else len(self.plan.posts) + len(self.plan.cancels)

    @property
    def spec_valid(self) -> bool:
        return not self.spec_errors


def run_summary(
    outcome: TickOutcome,
    *,
    plan: Plan | None,
    applied: ApplyResult | None,
    held_posts: int,
    spec_errors: tuple[str, ...],
) -> dict[str, Any]:
    """What a pass's run row records as its summary."""
    summary: dict[str, Any] = {"outcome": outcome}
    if plan is not None:
        summary.update(
            planned_posts=len(plan.posts),
            planned_cancels=len(plan.cancels),
            kept=len(plan.keeps),
            skipped=[s.token_id for s in plan.skipped],
            warnings=list(plan.warnings),
            held_posts=held_posts,
            blind=blind_summary(plan.blind),
        )
    if applied is not None:
        summary.update(applied.run_summary())
    if spec_errors:
        summary["spec_errors"] = list(spec_errors)
    return summary


def blind_summary(blind: Sequence[BlindToken]) -> list[dict[str, Any]]:
    """The blind tokens as the run row keeps them (`status` shows them): per token, how many
    orders, and how many at each level (never the whole order list: a new state file beside a
    big book would write it on every pass)."""
    summary = []
    for token in blind:
        levels: dict[tuple[str, str], list[Decimal]] = {}
        for o in token.orders:
            levels.setdefault((o.side.value, format(o.price.normalize(), "f")), []).append(
                o.remaining)
        summary.append({
            "token_id": token.token_id,
            "orders": len(token.orders),
            "levels": [{"side": side, "price": price, "orders": len(sizes),
                        "size": format(sum(sizes, Decimal(0)).normalize(), "f")}
                       for (side, price), sizes in levels.items()],
        })
    return summary


def applied_outcome(applied: ApplyResult) -> TickOutcome:
    """How a pass that applied a plan ended."""
    if applied.retry_after is not None:
        return TickOutcome.RATE_LIMITED
    if applied.error is not None:
        return TickOutcome.ERROR
    if applied.restriction is not None:
        return TickOutcome.RESTRICTED
    if applied.rejected or applied.unknown or applied.void or applied.not_cancelled:
        return TickOutcome.PARTIAL
    return TickOutcome.OK
