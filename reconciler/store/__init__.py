"""The state file: SQLite schema and migrations, revisions, levels, inventory, journal, cursors.

Only this package touches SQLite. `Store.open(path)` opens (creating and migrating) a state file.
"""

from reconciler.store.schema import (
    INVENTORY_STATUSES,
    UNRESOLVED_STATUSES,
    OrderStatus,
    Revision,
    SchemaTooNew,
    StoredOrder,
    decimal_text,
)
from reconciler.store.store import Store, migrate

__all__ = [
    "INVENTORY_STATUSES",
    "UNRESOLVED_STATUSES",
    "OrderStatus",
    "Revision",
    "SchemaTooNew",
    "Store",
    "StoredOrder",
    "decimal_text",
    "migrate",
]
