"""What every part of the store shares: the connection, transactions, the clock, new row ids.

`Store` (store.py) is assembled from one class per responsibility (revisions, orders, journal,
reports), each built on `StoreBase`, so each stays small and the callers still see one object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlite_utils


class StoreBase:
    """The state file's connection. Every method commits before it returns, except inside
    `with store.atomic():`, which makes several calls one transaction."""

    def __init__(self, db: sqlite_utils.Database, *, path: Path, clock: Callable[[], float]):
        self._db = db
        self.path = path
        self._clock = clock
        # order id -> token id of the orders whose recorded fills changed since the engine last
        # asked (`Orders.take_fill_changes`); in memory: after a restart everything is re-read.
        self._fill_changes: dict[str, str] = {}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[Self]:
        """Run several store calls as one transaction (nested calls use savepoints)."""
        with self._db.atomic():
            yield self

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        rowid = self._db.table(table).insert(row).last_rowid
        if rowid is None:
            raise RuntimeError(f"SQLite did not report the id of the new {table} row")
        return int(rowid)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])
