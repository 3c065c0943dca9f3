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

from collections.abc import Callable
from datetime import UTC, datetime

from reconciler.engine.apply import ApplyResult, Signer, WriteClient, apply_plan
from reconciler.model import Cancel, CancelReason, Plan
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
