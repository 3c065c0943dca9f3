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

Only this package speaks SQLite. Money is TEXT holding a canonical Decimal. Nothing secret is ever
written here. Access is serialised by the caller (the daemon runs one tick at a time); the
connection allows use from the daemon's worker thread.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from reconciler.lifecycle import OrderStatus
from reconciler.store.reports import Reports
from reconciler.store.schema import MIGRATIONS, SchemaTooNew, decimal_text, split_statements


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the version the file is at afterwards."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the state file has schema version {current}, newer than this reconciler "
            f"understands ({len(MIGRATIONS)}); upgrade reconciler or use another --state file"
        )
    for version in range(current, len(MIGRATIONS)):
        # One transaction per migration, user_version included, so a crash part-way leaves
        # the file at the previous version rather than half-migrated.
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Statement by statement: executescript() would COMMIT first and leave the
            # transaction.
            for statement in split_statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


class Store(Reports):
    """The state file: revisions, orders, journal and reports (see the module docstring).
    Open with `Store.open(path)`; every method commits before it returns, except inside
    `with store.atomic():`, which makes several calls one transaction."""

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], float] = time.time) -> Store:
        """Open (creating if needed, mode 0600, WAL) and migrate the state file at `path`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Create the file ourselves with 0600 before SQLite does (SQLite would use 0644 minus
        # umask); SQLite gives the -wal and -shm files the mode of the database file.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout = 10000")
        db.enable_wal()
        # FULL: a committed intent must survive a power cut, or exactly-once is lost.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        _restrict_sidecar_files(path)
        return cls(db, path=path, clock=clock)


# --- row helpers ---------------------------------------------------------------------------


def _restrict_sidecar_files(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            os.chmod(sidecar, 0o600)


#: `OrderStatus` and `decimal_text` are also importable from here, as before the store was split.
__all__ = ["OrderStatus", "Store", "decimal_text", "migrate"]
