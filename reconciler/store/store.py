"""The state file: one SQLite database (through sqlite-utils) that makes restarts and crashes safe.

What it remembers, and why (one module per part, `Store` is all of them):
- revisions (revisions.py): every distinct content of the desired directory seen, valid or not,
  and the exact files of the valid ones (invariant 2).
- orders and levels (orders.py): the inventory of orders WE posted, which alone decides
  ownership (invariant 3); each order's status, moved only through the lifecycle table
  (`reconciler.lifecycle`); fills, and the level generations they count toward. An order row is
  written with status `intent` BEFORE the request that places it (invariant 4).
- journal, runs, processed notifications, cursors (journal.py): every request that changes state
  on the exchange or resolves an uncertainty, intent before and outcome after; the daemon's own
  bookkeeping.
- reports.py: what `status` reads, and pruning.
- foreign.py: open orders that are not ours (the trader's, seen appearing) and adoption;
  continuity.py: the check that the file is still the one that was opened (invariant 10).
- overrides.py: overrides of soft policy rules, each with its journal row.

Only this package speaks SQLite. Money is TEXT holding a canonical Decimal. Nothing secret is ever
written here. Access is serialised by the caller (the daemon runs one tick at a time); the
connection allows use from the daemon's worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from reconciler.lifecycle import OrderStatus
from reconciler.store.continuity import Continuity
from reconciler.store.foreign import Foreign
from reconciler.store.opening import StateIdentity, open_state_file, read_identity
from reconciler.store.opening import migrate as migrate  # re-exported: opening owns it
from reconciler.store.overrides import Overrides
from reconciler.store.reports import Reports
from reconciler.store.schema import decimal_text


class Store(Reports, Foreign, Continuity, Overrides):
    """The state file: revisions, orders, journal and reports (see the module docstring).
    Open with `Store.open(path)`; every method commits before it returns, except inside
    `with store.atomic():`, which makes several calls one transaction."""

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        identity: StateIdentity | None = None,
        read_only: bool = False,
        busy_timeout: float = 10.0,
    ) -> Store:
        """Open the state file at `path` after proving it is ours and, when `identity` is given,
        this account's (store/opening.py). Writable: created if needed (mode 0600, WAL) and
        migrated. `read_only`: never created, migrated or chmodded. Raises StateFileError."""
        path = Path(path)
        conn = open_state_file(path, identity=identity, read_only=read_only,
                               busy_timeout=busy_timeout, clock=clock)
        store = cls(sqlite_utils.Database(conn), path=path, clock=clock)
        if not read_only:
            try:
                store.watch_file()  # check_unchanged() compares with this (continuity.py)
            except BaseException:
                store.close()
                raise
        return store

    def identity(self) -> StateIdentity | None:
        """The account this state file belongs to (None: not bound to one)."""
        return read_identity(self._db.conn)


#: `OrderStatus` and `decimal_text` are also importable from here, as before the store was split.
__all__ = ["OrderStatus", "Store", "decimal_text", "migrate"]
