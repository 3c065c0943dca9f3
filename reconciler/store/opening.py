"""Opening the state file: proving it is ours and this account's before touching it.

A state file decides which open orders are ours (invariant 3), so the wrong file is as dangerous
as no file (invariant 10). Before anything is written, a file is identified from its bytes and
through a read-only connection:

- it is ours when its SQLite `application_id` (header offset 68) is `APPLICATION_ID`, 0x52434F4E,
  "RCON" in ASCII, which every state file gets in the same transaction that creates its tables;
- it belongs to one account: the `state_identity` row written at creation holds the chain id and
  the funder address (or "paper" for the embedded paper exchange), and a file of another account
  or chain is refused;
- a file with `application_id` 0 is accepted only when it is a state file from before identities
  (every table of schema 1, at a schema version this program knows, no identity yet). It is
  adopted once: stamped with the application id and the account that opened it, with a log line;
- anything else (another program's database, an empty-looking file with a header, random bytes,
  a truncated file, a directory) is refused with one line naming the file, and the file is left
  exactly as it was: no migration, no chmod, no journal-mode switch, no sidecar file created.

A file created without an identity (tools and tests that name no account) has an unbound identity
row; the first open that names an account binds it. Production always names one.

`read_only=True` (`status`, `history`, `state backup`) opens through `mode=ro` (or `immutable=1`
when no writer has the file open, so not even -wal/-shm files appear): it never creates, migrates
or chmods the file. Every SQLite failure while opening becomes a `StateFileError` whose message is
one line saying what to do (locked, read-only, full disk, corrupt, not a file).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from reconciler.store.schema import MIGRATIONS, SchemaTooNew, split_statements

log = logging.getLogger(__name__)

#: PRAGMA application_id of every reconciler state file: "RCON" in ASCII.
APPLICATION_ID = 0x52434F4E
#: The tables of schema version 1: an application_id-0 file must hold all of them to be adopted.
LEGACY_TABLES = frozenset(
    {"revisions", "levels", "orders", "journal", "runs", "cursors", "processed_notifications",
     "fills"}
)
IDENTITY_TABLE = "state_identity"
#: The funder recorded for a state file of the embedded paper exchange (`--paper`).
PAPER_FUNDER = "paper"
_SQLITE_MAGIC = b"SQLite format 3\x00"


_READ_ONLY = ("{path} is read-only here (the file, its directory, or the file system); make "
              "both writable by this user, or run `reconciler status`, which only reads")


class StateFileError(Exception):
    """The state file cannot be used; the message is one line naming it and what to do."""


@dataclass(frozen=True)
class StateIdentity:
    """The account a state file belongs to: the chain and the address holding the funds."""

    chain_id: int
    funder: str  # 0x-address (compared case-insensitively), or PAPER_FUNDER

    def describe(self) -> str:
        if self.funder == PAPER_FUNDER:
            return f"the paper exchange (chain {self.chain_id})"
        return f"funder {self.funder} on chain {self.chain_id}"

    def same_account(self, other: StateIdentity) -> bool:
        return self.chain_id == other.chain_id and self.funder.lower() == other.funder.lower()


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
        with _transaction(conn):
            # Statement by statement: executescript() would COMMIT first and leave the
            # transaction.
            for statement in split_statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return len(MIGRATIONS)


def open_state_file(
    path: Path,
    *,
    identity: StateIdentity | None,
    read_only: bool = False,
    busy_timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> sqlite3.Connection:
    """A connection to the state file at `path`, after proving it is ours (see the module doc).
    Raises StateFileError."""
    path = Path(path)
    try:
        if read_only:
            return _open_read_only(path, busy_timeout=busy_timeout)
        return _open_for_writing(path, identity=identity, busy_timeout=busy_timeout, clock=clock)
    except sqlite3.Error as exc:
        raise StateFileError(describe_sqlite_error(exc, path)) from None
    except SchemaTooNew as exc:
        raise StateFileError(f"{path}: {exc}") from None


def read_identity(conn: sqlite3.Connection) -> StateIdentity | None:
    """The account a state file belongs to; None when unbound or from before identities."""
    if not _has_table(conn, IDENTITY_TABLE):
        return None
    row = conn.execute(f"SELECT chain_id, funder FROM {IDENTITY_TABLE} WHERE id = 1").fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return StateIdentity(chain_id=int(row[0]), funder=str(row[1]))


def backup_state_file(source: Path, destination: Path, *, overwrite: bool = False) -> None:
    """A consistent copy of the state file through SQLite's online backup API, mode 0600.
    The source is opened read-only and must be ours. Raises StateFileError."""
    source, destination = Path(source), Path(destination)
    if destination.resolve() == source.resolve():
        raise StateFileError(f"{destination} is the state file itself; name another file")
    if destination.is_dir():
        raise StateFileError(f"{destination} is a directory; name the backup file, e.g. "
                             f"{destination / source.name}")
    if destination.exists() and not overwrite:
        raise StateFileError(f"{destination} already exists; remove it or pass --force to "
                             "overwrite it")
    src = open_state_file(source, identity=None, read_only=True)
    try:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            os.close(os.open(destination, flags, 0o600))
            os.chmod(destination, 0o600)
        except OSError as exc:
            raise StateFileError(f"cannot create {destination}: {exc.strerror}") from None
        for suffix in ("-wal", "-shm", "-journal"):  # stale sidecars of an overwritten file
            destination.with_name(destination.name + suffix).unlink(missing_ok=True)
        try:
            dst = sqlite3.connect(str(destination))
            try:
                src.backup(dst)
                check = dst.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                dst.close()
        except sqlite3.Error as exc:
            raise StateFileError(describe_sqlite_error(exc, destination)) from None
        if check != "ok":
            raise StateFileError(f"the copy at {destination} failed its integrity check "
                                 f"({check}); do not rely on it")
        _restrict_sidecar_files(destination)
    finally:
        src.close()


def describe_sqlite_error(exc: BaseException, path: Path) -> str:
    """One line: what went wrong with the state file at `path`, and what to do."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc)
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
        return (f"{path} is locked by another process (a running reconciler, or an open sqlite3 "
                "shell?); stop it or wait for it, then retry")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return _READ_ONLY.format(path=path)
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return (f"the disk holding {path} is full; free some space, then retry (the last "
                "transaction was rolled back)")
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "malformed" in text \
            or "not a database" in text:
        return _corrupt(path)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return _READ_ONLY.format(path=path)  # e.g. WAL's -shm cannot be created beside it
        return (f"cannot open {path}: check that its directory exists and that this user may "
                "read and write both")
    if name.startswith("SQLITE_IOERR"):
        return f"I/O error on {path} ({text}); check the disk, then retry"
    return f"{path}: SQLite error: {text}"


# --- the two ways in -----------------------------------------------------------------------


def _open_read_only(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    _check_is_file(path, must_exist=True)
    header = _read_header(path)
    conn = _inspect(path)
    try:
        _identify(path, header=header, conn=conn)
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) > len(MIGRATIONS):
            raise SchemaTooNew(
                f"it has schema version {conn.execute('PRAGMA user_version').fetchone()[0]}, "
                f"newer than this reconciler understands ({len(MIGRATIONS)}); upgrade reconciler"
            )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_for_writing(
    path: Path, *, identity: StateIdentity | None, busy_timeout: float,
    clock: Callable[[], float],
) -> sqlite3.Connection:
    _check_is_file(path, must_exist=False)
    created = _make_parent_and_file(path)
    header = _read_header(path)
    new = _is_new(path, header)
    adopt = False
    if not new:
        probe = _inspect(path)
        try:
            adopt = _identify(path, header=header, conn=probe)
            if not adopt:
                _check_account(path, recorded=read_identity(probe), wanted=identity)
        finally:
            probe.close()
    # Ours (or new): from here on the file is ours to write.
    _restrict_mode(path)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=busy_timeout)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if new:
            _create(conn, identity=identity, clock=clock)
        else:
            migrate(conn)
            if adopt:
                _adopt(path, conn, identity=identity, clock=clock)
            else:
                _bind_if_unbound(path, conn, identity=identity)
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed intent must survive a power cut, or exactly-once is lost.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        _probe_write(conn)
    except BaseException:
        conn.close()
        if created and new:
            _remove_new_file(path)
        raise
    _restrict_sidecar_files(path)
    return conn


# --- identifying a file ----------------------------------------------------------------------


def _check_is_file(path: Path, *, must_exist: bool) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if must_exist:
            raise StateFileError(f"no state file at {path} (nothing has run with this --state "
                                 "yet); check --state or RECONCILER_STATE") from None
        return
    except OSError as exc:
        raise StateFileError(f"cannot reach {path}: {exc.strerror}; check the path and the "
                             "permissions of its directories") from None
    if stat.S_ISDIR(mode):
        raise StateFileError(f"{path} is a directory; --state takes the path of a file, e.g. "
                             f"{path / 'reconciler.db'}")
    if not stat.S_ISREG(mode):
        raise StateFileError(f"{path} is not a regular file; --state takes the path of an "
                             "SQLite file")


def _make_parent_and_file(path: Path) -> bool:
    """Create the directory and an empty file with mode 0600 (SQLite would use 0644 minus the
    umask, and gives the -wal and -shm files the mode of the database file). True when the
    file was created here."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        where = path if path.parent.is_dir() else path.parent
        raise StateFileError(f"cannot create {where}: {exc.strerror}; create it, or make its "
                             "directory writable by this user") from None
    os.close(fd)
    return True


def _restrict_mode(path: Path) -> None:
    """Mode 0600: the state file says which orders are ours and holds the journal."""
    if stat.S_IMODE(path.stat().st_mode) == 0o600:
        return
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise StateFileError(_READ_ONLY.format(path=path)) from None
        log.warning("cannot restrict %s to mode 0600 (%s); restrict it by hand", path,
                    exc.strerror)


def _remove_new_file(path: Path) -> None:
    for name in (path.name, path.name + "-journal", path.name + "-wal", path.name + "-shm"):
        with contextlib.suppress(OSError):
            path.with_name(name).unlink(missing_ok=True)


def _read_header(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(100)
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror}; make it readable by this "
                             "user") from None


def _is_new(path: Path, header: bytes) -> bool:
    """An empty file that no connection has written to: created here, or by a crash of ours
    before the first transaction."""
    if header:
        return False
    wal = path.with_name(path.name + "-wal")
    return not (wal.exists() and wal.stat().st_size > 0)


def _inspect(path: Path) -> sqlite3.Connection:
    """A read-only connection that writes nothing at all, to the file or beside it."""
    uri_path = quote(str(path.absolute()))
    has_wal = path.with_name(path.name + "-wal").exists()
    # With no -wal file no connection is writing, and immutable=1 creates no -wal/-shm (mode=ro
    # would); with one, mode=ro reads the frames still in the WAL.
    mode = "mode=ro" if has_wal else "mode=ro&immutable=1"
    return sqlite3.connect(f"file:{uri_path}?{mode}", uri=True, check_same_thread=False)


def _identify(path: Path, *, header: bytes, conn: sqlite3.Connection) -> bool:
    """Refuse a file that is not ours. Returns True for a state file from before identities,
    which is to be adopted."""
    if not header:  # not new (_is_new): a WAL file with frames is beside an empty file
        raise StateFileError(f"{path} is empty but its WAL file {path.name}-wal is not (left "
                             "by a state file deleted while a reconciler had it open?); if the "
                             "state file was deleted on purpose, remove the -wal and -shm files "
                             "beside it, else restore it from a backup")
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StateFileError(_corrupt(path))
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid_count = header[24:28] == header[92:96]  # the size at 28 is valid when these agree
    if valid_count and pages and path.stat().st_size < page_size * pages:
        raise StateFileError(_corrupt(path, why="truncated"))
    app_id = int.from_bytes(header[68:72], "big", signed=True)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id == APPLICATION_ID:
        if IDENTITY_TABLE not in tables:
            raise StateFileError(f"{path} carries reconciler's application id but no identity "
                                 "record; it is damaged: restore it from a backup")
        return False
    if app_id != 0:
        raise StateFileError(f"{path} belongs to another program (SQLite application_id "
                             f"{app_id & 0xFFFFFFFF:#010x}); reconciler leaves it alone: point "
                             "--state at reconciler's own file")
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    bound = IDENTITY_TABLE in tables and conn.execute(
        f"SELECT COUNT(*) FROM {IDENTITY_TABLE}").fetchone()[0]
    if tables >= LEGACY_TABLES and 1 <= version <= len(MIGRATIONS) and not bound:
        return True
    if not tables and version == 0:
        raise StateFileError(f"{path} is an empty SQLite database that reconciler did not "
                             "create; delete it, or point --state at a new path")
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    raise StateFileError(f"{path} is not a reconciler state file (it holds tables {shown}); "
                         "reconciler leaves it alone: point --state at reconciler's own file")


def _check_account(
    path: Path, *, recorded: StateIdentity | None, wanted: StateIdentity | None
) -> None:
    if recorded is None or wanted is None or recorded.same_account(wanted):
        return
    raise StateFileError(f"{path} belongs to {recorded.describe()}, not to "
                         f"{wanted.describe()}; use that account's state file, or another "
                         "--state for this one")


# --- writing identities ----------------------------------------------------------------------


def _create(conn: sqlite3.Connection, *, identity: StateIdentity | None,
            clock: Callable[[], float]) -> None:
    """Every table, the schema version, the application id and the identity: one transaction,
    so a crash leaves an empty file (new again) or a whole one."""
    with _transaction(conn):
        for script in MIGRATIONS:
            for statement in split_statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        _stamp(conn, identity=identity, clock=clock)


def _adopt(path: Path, conn: sqlite3.Connection, *, identity: StateIdentity | None,
           clock: Callable[[], float]) -> None:
    with _transaction(conn):
        _stamp(conn, identity=identity, clock=clock)
    whose = identity.describe() if identity is not None else "no account yet"
    log.warning("state file %s was written by an older reconciler without an identity; it is "
                "now marked as reconciler's (application id %#x) and as belonging to %s",
                path, APPLICATION_ID, whose)


def _stamp(conn: sqlite3.Connection, *, identity: StateIdentity | None,
           clock: Callable[[], float]) -> None:
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        f"INSERT INTO {IDENTITY_TABLE} (id, chain_id, funder, file_id, created_ms)"
        " VALUES (1, ?, ?, ?, ?)",
        [identity.chain_id if identity else None, identity.funder if identity else None,
         secrets.token_hex(16), int(clock() * 1000)],
    )


def _bind_if_unbound(path: Path, conn: sqlite3.Connection, *,
                     identity: StateIdentity | None) -> None:
    if identity is None or read_identity(conn) is not None:
        return
    with _transaction(conn):
        conn.execute(f"UPDATE {IDENTITY_TABLE} SET chain_id = ?, funder = ? WHERE id = 1",
                     [identity.chain_id, identity.funder])
    log.info("state file %s had no account yet; it now belongs to %s", path,
             identity.describe())


def _probe_write(conn: sqlite3.Connection) -> None:
    """Fail now, with a clear message, if the file cannot be written (locked, read-only file or
    directory, full disk), rather than on the first write of a pass."""
    with _transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute(f"PRAGMA user_version = {version}")


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def _corrupt(path: Path, *, why: str = "corrupt, truncated, or another kind of file") -> str:
    return (f"{path} is not a readable SQLite database ({why}); restore it from a backup "
            "(`reconciler state backup` makes one), or point --state at a new path")


def _restrict_sidecar_files(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            os.chmod(sidecar, 0o600)
