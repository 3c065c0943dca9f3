"""One pass: which desired state is in force, observe the exchange, plan, apply through the journal.

- `desired_files`: which files of the desired directory are read, and reading them;
- `in_force`: the revision a pass works from (the last valid one while the files are broken);
- `reconcile`: the pass itself (`Reconciler.plan()`, `Reconciler.tick()`);
- `ledger`: how an order's state is learnt (reads, lookups, notifications -> lifecycle events);
- `apply`: carrying out a `Plan`, journaled so a crash never duplicates an order;
- `blind`: never trading blind (invariant 10): what a process saw first, the trader's orders,
  the hold of blind tokens and `reconciler adopt`;
- `results`: what a pass returns (`TickResult`, `PlanReport`);
- `memory`: what a reconciler keeps between passes (per-token backoff, market info).
"""

from reconciler.engine.apply import (
    ApplyResult,
    Rejection,
    Signer,
    WriteClient,
    apply_plan,
)
from reconciler.engine.blind import BlindWatch, adopt, find_adoptable
from reconciler.engine.blind import describe as describe_blind
from reconciler.engine.desired_files import (
    desired_files,
    is_candidate,
    load_desired,
    validate_directory,
)
from reconciler.engine.in_force import DesiredStateKeeper, InForce
from reconciler.engine.ledger import LookupState, look_up_order, record_order_state
from reconciler.engine.reconcile import ExchangeClient, Reconciler
from reconciler.engine.results import PlanReport, TickResult
from reconciler.store import StateFileChanged

__all__ = [
    "ApplyResult",
    "BlindWatch",
    "DesiredStateKeeper",
    "ExchangeClient",
    "InForce",
    "LookupState",
    "PlanReport",
    "Reconciler",
    "Rejection",
    "Signer",
    "StateFileChanged",
    "TickResult",
    "WriteClient",
    "adopt",
    "apply_plan",
    "describe_blind",
    "desired_files",
    "find_adoptable",
    "is_candidate",
    "load_desired",
    "look_up_order",
    "record_order_state",
    "validate_directory",
]
