"""The state file must stay the one a running daemon opened (invariant 10).

The daemon holds its connection for days. If the file is deleted, renamed away, or replaced by
another one (a restored backup moved into place, another account's file) under it, SQLite goes on
reading and writing the old inode: the daemon would trade on a history nobody will ever see
again, and the next start, on the file now at the path, would not know what it placed. A WAL file
replaced or removed under it is the same in kind: what the daemon commits no longer reaches the
file that the next start reads.

So a writable store remembers, when it opens, where its files are on disk and which history it
holds, and `Store.check_unchanged()` (a stat or two and one small read, run at the start of every
pass and again before anything is sent) says, in one line, when that changed:
- the database file: its device and inode, at the same path;
- the WAL file beside it: its device and inode (SQLite keeps it while a connection is open, and
  truncates it after a checkpoint rather than replacing it);
- the `file_id` in `state_identity`, read through a new read-only connection, so that another
  state file's contents at the same inode are noticed too.
A changed file is never "repaired" here: the caller stops trading and exits, and the next start
opens whatever file is at the path on its own terms (a new or rolled-back one is blind until its
orders are adopted: planner/blind.py). One thing is cleaned up: when the database file has left
the path, this store's own -wal and -shm files (still the same inodes) are removed from beside
it, since SQLite leaves them there when a moved database is closed, and the next start would
otherwise pair them with the file now at the path.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from reconciler.store.base import StoreBase
from reconciler.store.opening import StateFileError


class StateFileChanged(StateFileError):
    """The state file (or its WAL) is not the one this process opened; stop trading."""


@dataclass(frozen=True)
class _OnDisk:
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> _OnDisk | None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(info.st_dev, info.st_ino)


@dataclass(frozen=True)
class Fingerprint:
    """Where a state file is on disk and which history it holds, as it was opened."""

    path: Path
    database: _OnDisk
    wal: _OnDisk | None
    shm: _OnDisk | None
    file_id: str | None

    @classmethod
    def take(cls, path: Path) -> Fingerprint:
        database = _OnDisk.of(path)
        if database is None:
            raise StateFileChanged(f"{path} vanished while it was being opened")
        return cls(path=path, database=database, wal=_OnDisk.of(_wal(path)),
                   shm=_OnDisk.of(_shm(path)), file_id=read_file_id(path))

    def change(self) -> str | None:
        """What is different on disk now, in words; None when nothing is. A file that can no
        longer be looked at (permissions, I/O) counts as changed: it cannot be vouched for."""
        try:
            return self._change()
        except OSError as exc:
            return f"the state file {self.path} can no longer be checked ({exc.strerror})"

    def _change(self) -> str | None:
        path = self.path
        now = _OnDisk.of(path)
        if now is None:
            return f"the state file {path} was deleted (or moved away) while the daemon ran"
        if now != self.database:
            return f"the state file {path} was replaced by another file while the daemon ran"
        if self.wal is not None:
            wal = _OnDisk.of(_wal(path))
            if wal != self.wal:
                what = "deleted" if wal is None else "replaced"
                return f"the WAL file {_wal(path)} of the state file was {what} while the daemon ran"
        try:
            file_id = read_file_id(path)
        except sqlite3.Error as exc:
            return f"the state file {path} can no longer be read ({exc})"
        if file_id != self.file_id:
            return (f"the state file {path} now holds another history (file id {file_id}, "
                    f"opened as {self.file_id})")
        return None


    def database_gone(self) -> bool:
        """Whether the database file this store opened is no longer at its path."""
        try:
            return _OnDisk.of(self.path) != self.database
        except OSError:
            return False  # cannot tell: leave every file as it is

    def remove_orphans(self) -> list[Path]:
        """Remove this store's own WAL and shared-memory files from beside a path its database
        file has left (deleted, or replaced by another file). SQLite neither checkpoints nor
        deletes them when a moved database is closed, and the next start would pair them with
        whatever file is at the path now: another database's pages on top of that file's. Only
        files that are still ours (the same device and inode as when opened) are touched."""
        removed = []
        for sidecar, ours in ((_wal(self.path), self.wal), (_shm(self.path), self.shm)):
            try:
                if ours is not None and _OnDisk.of(sidecar) == ours:
                    sidecar.unlink(missing_ok=True)
                    removed.append(sidecar)
            except OSError:
                continue  # the restart refuses the leftover in one line (opening.py)
        return removed


def read_file_id(path: Path) -> str | None:
    """The `file_id` of `state_identity`, through a new read-only connection."""
    uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=10.0)
    try:
        row = conn.execute("SELECT file_id FROM state_identity WHERE id = 1").fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _shm(path: Path) -> Path:
    return path.with_name(path.name + "-shm")


class Continuity(StoreBase):
    """`check_unchanged()` for a store opened for writing (a read-only one has nothing to
    guard: it changes nothing)."""

    _fingerprint: Fingerprint | None = None

    def watch_file(self) -> None:
        """Remember where the file is and which history it holds (called once it is open)."""
        self._fingerprint = Fingerprint.take(self.path)

    def check_unchanged(self) -> None:
        """Raise StateFileChanged, with one line saying what changed, when the file (or its
        WAL) is not the one this store opened."""
        if self._fingerprint is None:
            return
        change = self._fingerprint.change()
        if change is None:
            return
        if self._fingerprint.database_gone():
            self._fingerprint.remove_orphans()
        raise StateFileChanged(change)

    @property
    def file_id(self) -> str | None:
        """The random name of this file's history (`state_identity.file_id`)."""
        row = self._db.execute("SELECT file_id FROM state_identity WHERE id = 1").fetchone()
        return None if row is None else str(row[0])
