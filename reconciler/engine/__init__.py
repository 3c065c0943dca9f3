"""One pass: which desired state is in force, observe the exchange, plan, apply through the journal.

- `desired_files`: which files of the desired directory are read, and reading them;
- `in_force`: the revision a pass works from (the last valid one while the files are broken);
- `reconcile`: the pass itself (`Reconciler.plan()`, `Reconciler.tick()`); `targeted`: a pass
  over a few tokens only (`Reconciler.tick(tokens=...)`, for the stream's events);
- `ledger`: how an order's state is learnt (reads, lookups, notifications -> lifecycle events);
- `resolve`: resolving unresolved orders exactly once (lookups, expiry, and re-sending the
  identical signed order);
- `apply`: carrying out a `Plan`, journaled so a crash never duplicates an order; its cancel step
  in `cancels` (through the client's splitting and pacing);
- `modes`: the exchange's trading mode as the engine believes it, and what each mode lets a pass
  send;
- `settlement`: following our trades until they settle, taking back the fills of failed ones;
- `results`: what a pass returns (`TickResult`, `PlanReport`, `ApplyResult`);
- `memory`: what a reconciler keeps between passes (per-token backoff, market info, skips).
"""

from reconciler.engine.apply import (
    ApplyResult,
    Rejection,
    Signer,
    WriteClient,
    apply_plan,
)
from reconciler.engine.desired_files import (
    desired_files,
    is_candidate,
    load_desired,
    validate_directory,
)
from reconciler.engine.in_force import DesiredStateKeeper, InForce
from reconciler.engine.ledger import LookupState, look_up_order, record_order_state
from reconciler.engine.reconcile import ExchangeClient, Reconciler
from reconciler.engine.resolve import Resolution, default_landing_window, resolve_unresolved
from reconciler.engine.results import PlanReport, TickResult

__all__ = [
    "ApplyResult",
    "DesiredStateKeeper",
    "ExchangeClient",
    "InForce",
    "LookupState",
    "PlanReport",
    "Reconciler",
    "Rejection",
    "Resolution",
    "Signer",
    "TickResult",
    "WriteClient",
    "apply_plan",
    "default_landing_window",
    "desired_files",
    "is_candidate",
    "load_desired",
    "look_up_order",
    "record_order_state",
    "resolve_unresolved",
    "validate_directory",
]
