"""The state file: SQLite schema and migrations, revisions, levels, inventory, journal, cursors.

Only this package touches SQLite. `Store.open(path, identity=...)` opens (creating and migrating)
a state file after proving it is ours and this account's; `Store.open(path, read_only=True)` only
reads. Every failure to open is a `StateFileError` with a one-line message; a file changed
under an open store (deleted, replaced, its WAL replaced) is `StateFileChanged`, raised by
`Store.check_unchanged()`.
An order's status changes only through `Store.apply_event`, which follows the lifecycle table
(`reconciler.lifecycle`; its states and groups are re-exported here for the store's callers).
"""

import sqlite3

from reconciler.lifecycle import INVENTORY_STATUSES, UNRESOLVED_STATUSES, OrderStatus
from reconciler.store.continuity import StateFileChanged
from reconciler.store.opening import (
    APPLICATION_ID,
    PAPER_FUNDER,
    StateFileError,
    StateIdentity,
    backup_state_file,
    describe_sqlite_error,
)
from reconciler.store.schema import (
    JournalKind,
    JournalOutcome,
    Revision,
    SchemaTooNew,
    StoredOrder,
    decimal_text,
)
from reconciler.store.store import Store, migrate

#: What a state file operation can raise besides StateFileError (a full disk mid-pass, a lock
#: held too long): callers above the store catch these without importing sqlite3.
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,)

__all__ = [
    "APPLICATION_ID",
    "PAPER_FUNDER",
    "STORE_ERRORS",
    "StateFileChanged",
    "StateFileError",
    "StateIdentity",
    "backup_state_file",
    "describe_sqlite_error",
    "INVENTORY_STATUSES",
    "UNRESOLVED_STATUSES",
    "JournalKind",
    "JournalOutcome",
    "OrderStatus",
    "Revision",
    "SchemaTooNew",
    "Store",
    "StoredOrder",
    "decimal_text",
    "migrate",
]
