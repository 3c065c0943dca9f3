"""The state file: SQLite schema and migrations, revisions, levels, inventory, journal, cursors.

Only this package touches SQLite. `Store.open(path)` opens (creating and migrating) a state file.
An order's status changes only through `Store.apply_event`, which follows the lifecycle table
(`reconciler.lifecycle`; its states and groups are re-exported here for the store's callers).
"""

from reconciler.lifecycle import INVENTORY_STATUSES, UNRESOLVED_STATUSES, OrderStatus
from reconciler.store.schema import (
    JournalKind,
    JournalOutcome,
    Revision,
    SchemaTooNew,
    StoredOrder,
    decimal_text,
)
from reconciler.store.store import Store, migrate

__all__ = [
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
