"""A pass while the operator has suspended reconciliation (`reconciler suspend`).

The pass still reads: it resolves unknown outcomes, records fills and cancellations, reads the
market and plans, so `plan` and `status` stay true. It then applies NOTHING of the plan: no
post, no cancel, on every token, until `reconciler resume`. The suspension lives in the state
file (store/controls.py), so it holds across restarts, and each pass reads it: a running daemon
stops posting within one pass (at once when `suspend` also signals it).

`suspend --cancel` asks for our orders (the inventory: live, and those whose outcome is unknown)
to be cancelled once, in one batch, journaled like any cancel. It is marked done when the call
went through (even if some ids were not cancelled: the result says which); a call that failed
is tried again on the next pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.engine.apply import ApplyResult, Signer, WriteClient, apply_plan
from reconciler.engine.results import applied_outcome
from reconciler.engine.scope import Inputs
from reconciler.model import Cancel, CancelReason, Plan, TickOutcome
from reconciler.spec import DesiredState
from reconciler.store import Store, Suspension


def describe_suspension(suspension: Suspension) -> str:
    """`suspended by alice@host (pid 7) at 2026-... UTC (reason)`."""
    at = datetime.fromtimestamp(suspension.at_ms / 1000, tz=UTC)
    text = f"suspended by {suspension.by} at {at:%Y-%m-%d %H:%M:%S} UTC"
    return text + (f" ({suspension.reason})" if suspension.reason else "")


def cancel_plan(store: Store) -> Plan:
    """Every order of our inventory, to cancel for `suspend --cancel`."""
    return Plan(cancels=tuple(
        Cancel(order_id=o.order_id, key=o.key, remaining=o.size, reason=CancelReason.SUSPENDED)
        for o in store.inventory()
    ))


def cancel_for_suspension(
    plan: Plan,
    *,
    client: WriteClient,
    signer: Signer,
    store: Store,
    run_id: int | None,
    clock: Callable[[], float],
) -> ApplyResult:
    """Carry out `--cancel` (the `cancel_plan`), and record it as done unless the call failed."""
    applied = apply_plan(plan, client=client, signer=signer, store=store, run_id=run_id,
                         revision_id=None, clock=clock)
    if applied.error is None:
        refused = len(applied.not_cancelled)
        text = f"cancelled {len(applied.cancelled)} of {len(plan.cancels)} of our orders"
        store.record_suspend_cancel(text + (f" ({refused} not cancelled)" if refused else ""))
    return applied


@dataclass(frozen=True)
class SuspendedPass:
    """A pass stopped before applying its plan: `finish` is its ending (outcome, the plan it
    shows, what was applied), `held` the reason of every token (None: unchanged)."""

    finish: Mapping[str, Any]
    held: Mapping[str, str] | None


def gate(
    spec: DesiredState,
    plan: Plan,
    inputs: Inputs,
    *,
    guard: Callable[[Plan, Inputs], str | None] | None,
    client: WriteClient,
    signer: Signer,
    store: Store,
    run_id: int | None,
    clock: Callable[[], float],
) -> SuspendedPass | None:
    """What stops a pass after planning, before anything is applied: a suspension (then only a
    pending `--cancel` is carried out), or a `guard(plan, inputs)` that returns why the plan
    shown (a saved plan, the plan an interactive apply asked about) no longer holds."""
    suspension = store.suspension()
    if suspension is not None:
        return while_suspended(spec, plan, suspension, client=client, signer=signer,
                               store=store, run_id=run_id, clock=clock)
    refusal = guard(plan, inputs) if guard is not None else None
    if refusal is not None:
        return SuspendedPass({"outcome": TickOutcome.REFUSED, "plan": plan, "error": refusal},
                             None)
    return None


def while_suspended(
    spec: DesiredState,
    plan: Plan,
    suspension: Suspension,
    *,
    client: WriteClient,
    signer: Signer,
    store: Store,
    run_id: int | None,
    clock: Callable[[], float],
) -> SuspendedPass:
    """Apply nothing of `plan`; carry out a pending `--cancel` once (then the pass shows the
    cancels it sent, not the plan it held back)."""
    why = describe_suspension(suspension)
    held = {t.token_id: why for t in spec.tokens}
    if not suspension.cancel_pending:
        return SuspendedPass({"outcome": TickOutcome.HELD, "plan": plan, "suspended": why}, held)
    cancels = cancel_plan(store)
    store.check_unchanged()  # the last moment before anything is sent (invariant 10)
    applied = cancel_for_suspension(cancels, client=client, signer=signer, store=store,
                                    run_id=run_id, clock=clock)
    outcome = applied_outcome(applied) if cancels.cancels else TickOutcome.HELD
    return SuspendedPass({"outcome": outcome, "plan": cancels, "applied": applied,
                          "error": applied.error, "retry_after": applied.retry_after,
                          "suspended": why}, held)


def suspension_holds(
    store: Store, spec: DesiredState, targets: frozenset[str] | None,
    held: Mapping[str, str],
) -> tuple[dict[str, str], str | None]:
    """For `plan`: (token -> why its posts wait, the suspension in force or None). While
    suspended, every token (of the targets) waits for `resume`."""
    suspension = store.suspension()
    if suspension is None:
        return dict(held), None
    why = describe_suspension(suspension)
    return {t.token_id: why for t in spec.tokens if targets is None or t.token_id in targets}, why
