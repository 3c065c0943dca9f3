"""The CLI's command handlers: `(args, settings) -> exit code`, one short function each, by area.

Each one wires library calls together and prints; the decisions are in the library.
- `reconcile`: plan, apply, run;
- `state`: status, history, revisions, state backup;
- `control`: suspend, resume;
- `adopt`: adopt (the blind tokens' orders into the inventory);
- `client`: the client's methods by hand (orders, trades, cancel, ...);
- `setup`: validate, schema, paper-exchange, keygen;
- `doctor`: the preflight.
(`policy-check` is cli/policy_view.py's.)
"""

from reconciler.cli.commands.adopt import adopt
from reconciler.cli.commands.client import (
    balance,
    cancel,
    cancel_all,
    cancel_market,
    keys,
    notifications,
    order,
    orders,
    trades,
)
from reconciler.cli.commands.control import resume, suspend
from reconciler.cli.commands.doctor import doctor
from reconciler.cli.commands.reconcile import apply, plan, run
from reconciler.cli.commands.setup import keygen, paper_exchange, schema, validate
from reconciler.cli.commands.state import history, revisions, state_backup, status

__all__ = [
    "adopt",
    "apply",
    "balance",
    "cancel",
    "cancel_all",
    "cancel_market",
    "doctor",
    "history",
    "keygen",
    "keys",
    "notifications",
    "order",
    "orders",
    "paper_exchange",
    "plan",
    "resume",
    "revisions",
    "run",
    "schema",
    "state_backup",
    "status",
    "suspend",
    "trades",
    "validate",
]
