"""One pass: which desired state is in force, observe the exchange, plan, apply through the journal.

- `desired_files`: which files of the desired directory are read, and reading them;
- `in_force`: the revision a pass works from (the last valid one while the files are broken);
- `reconcile`: the pass itself (`Reconciler.plan()`, `Reconciler.tick()`); `targeted`: a pass
  over a few tokens only (`Reconciler.tick(tokens=...)`, for the stream's events);
- `observe`: the observing steps of a pass (resolve, read, notifications, lookups, settlement);
  `pass_steps`: the holds (with each held token's reason), balances and signing profile;
- `ledger`: how an order's state is learnt (reads, lookups, notifications -> lifecycle events);
- `resolve`: resolving unresolved orders exactly once (lookups, expiry, and re-sending the
  identical signed order);
- `apply`: carrying out a `Plan`, journaled so a crash never duplicates an order; its cancel step
  in `cancels` (through the client's splitting and pacing);
- `blind`: never trading blind (invariant 10): what a process saw first, the trader's orders,
  the hold of blind tokens and `reconciler adopt`;
- `policy_gate`, `policy_inputs`: the policy's rules on every plan, with the book data and
  balances they need read here (and `check_declared`: the files alone, for CI);
- `modes`: the exchange's trading mode as the engine believes it, and what each mode lets a pass
  send;
- `settlement`: following our trades until they settle, taking back the fills of failed ones;
- `suspend`: the operator's suspension (`reconciler suspend`), checked by every pass, and the
  guard a saved plan's apply passes; `scope`: `--target` and the digests of a plan's inputs;
  `readonly`: a plan beside a running daemon, which writes and resolves nothing;
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
from reconciler.engine.policy_gate import check_declared, verdict_json
from reconciler.engine.reconcile import ExchangeClient, Reconciler
from reconciler.engine.resolve import Resolution, default_landing_window, resolve_unresolved
from reconciler.engine.results import PlanReport, TickResult
from reconciler.engine.scope import Inputs
from reconciler.engine.suspend import describe_suspension
from reconciler.store import StateFileChanged

__all__ = [
    "ApplyResult",
    "BlindWatch",
    "DesiredStateKeeper",
    "ExchangeClient",
    "InForce",
    "Inputs",
    "LookupState",
    "PlanReport",
    "Reconciler",
    "Rejection",
    "Resolution",
    "Signer",
    "StateFileChanged",
    "TickResult",
    "WriteClient",
    "adopt",
    "apply_plan",
    "check_declared",
    "default_landing_window",
    "describe_blind",
    "describe_suspension",
    "desired_files",
    "find_adoptable",
    "is_candidate",
    "load_desired",
    "look_up_order",
    "record_order_state",
    "resolve_unresolved",
    "validate_directory",
    "verdict_json",
]
