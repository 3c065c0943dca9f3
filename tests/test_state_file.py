"""The state file proves it is ours and this account's, and every way it can be unusable is one
line that says what to do. On real SQLite files in tmp_path, through `Store.open` and through the
real CLI (in-process `main`, captured output).

"Untouched" is checked byte for byte: the file's bytes, its mtime, its mode, and that no sidecar
file (-wal, -shm, -journal) appeared beside it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.store import (
    APPLICATION_ID,
    PAPER_FUNDER,
    StateFileError,
    StateIdentity,
    Store,
    backup_state_file,
)
from reconciler.store.schema import MIGRATIONS

ACCOUNT = StateIdentity(chain_id=137, funder="0x" + "11" * 20)
OTHER_FUNDER = StateIdentity(chain_id=137, funder="0x" + "22" * 20)
OTHER_CHAIN = StateIdentity(chain_id=80002, funder="0x" + "11" * 20)


def snapshot(path: Path) -> tuple[object, ...]:
    """Everything about a file (and its directory's sidecars) that opening it could change."""
    info = path.stat()
    sidecars = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-"))
    return (hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns,
            stat.S_IMODE(info.st_mode), sidecars)


def browser_history(path: Path, *, wal: bool = False) -> Path:
    """An unrelated SQLite file, as a browser keeps its history (app id 0, its own tables)."""
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, place_id INTEGER)")
    conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org/')")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    path.chmod(0o644)
    return path


def legacy_state_file(path: Path, *, version: int = 2) -> Path:
    """A state file as reconciler wrote it before identities: application_id 0, schema 1..2."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    from reconciler.store.schema import split_statements

    for script in MIGRATIONS[:version]:
        for statement in split_statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO cursors (name, value, updated_ms) VALUES ('n', 'kept', 1)")
    conn.close()
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("RECONCILER_STATE", "RECONCILER_DESIRED", "RECONCILER_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    yield
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "reconciler"]


# --- identity --------------------------------------------------------------------------------


def test_a_new_state_file_carries_the_application_id_and_its_account(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, identity=ACCOUNT) as store:
        assert store.identity() == ACCOUNT
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID == 0x52434F4E
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
    assert path.read_bytes()[68:72] == b"RCON"


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_an_unrelated_sqlite_file_is_refused_and_left_untouched(tmp_path: Path, wal: bool) -> None:
    path = browser_history(tmp_path / "places.sqlite", wal=wal)
    before = snapshot(path)
    with pytest.raises(StateFileError) as refused:
        Store.open(path, identity=ACCOUNT)
    assert str(refused.value) == (
        f"{path} is not a reconciler state file (it holds tables moz_historyvisits, moz_places); "
        "reconciler leaves it alone: point --state at reconciler's own file"
    )
    assert snapshot(path) == before
    with pytest.raises(StateFileError):
        Store.open(path, read_only=True)
    assert snapshot(path) == before


def test_a_file_of_another_program_is_refused_by_its_application_id(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE orders (x)")  # even with a table name of ours
    conn.commit()
    conn.close()
    before = snapshot(path)
    with pytest.raises(StateFileError, match=r"belongs to another program \(SQLite "
                                            r"application_id 0x000004d2\)"):
        Store.open(path, identity=ACCOUNT)
    assert snapshot(path) == before


@pytest.mark.parametrize("wanted", [OTHER_FUNDER, OTHER_CHAIN], ids=["funder", "chain"])
def test_a_state_file_of_another_account_is_refused_untouched(
    tmp_path: Path, wanted: StateIdentity
) -> None:
    path = tmp_path / "state.db"
    Store.open(path, identity=ACCOUNT).close()
    before = snapshot(path)
    with pytest.raises(StateFileError) as refused:
        Store.open(path, identity=wanted)
    assert str(refused.value) == (
        f"{path} belongs to funder {ACCOUNT.funder} on chain 137, not to {wanted.describe()}; "
        "use that account's state file, or another --state for this one"
    )
    assert snapshot(path) == before


def test_the_funder_is_compared_without_regard_to_case(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    mixed = StateIdentity(chain_id=137, funder="0x" + "aB" * 20)
    Store.open(path, identity=mixed).close()
    Store.open(path, identity=StateIdentity(137, mixed.funder.lower())).close()


def test_paper_and_real_accounts_never_share_a_state_file(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    Store.open(path, identity=StateIdentity(137, PAPER_FUNDER)).close()
    with pytest.raises(StateFileError, match="belongs to the paper exchange"):
        Store.open(path, identity=ACCOUNT)


def test_a_state_file_from_before_identities_is_adopted_once_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = legacy_state_file(tmp_path / "state.db")
    with caplog.at_level(logging.WARNING, logger="reconciler.store.opening"), \
            Store.open(path, identity=ACCOUNT) as store:
        assert store.identity() == ACCOUNT
        assert store.cursor("n") == "kept"
        assert store.schema_version() == len(MIGRATIONS)
    adopted = [r.getMessage() for r in caplog.records]
    assert adopted == [
        f"state file {path} was written by an older reconciler without an identity; it is now "
        f"marked as reconciler's (application id 0x52434f4e) and as belonging to "
        f"{ACCOUNT.describe()}"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="reconciler.store.opening"):
        Store.open(path, identity=ACCOUNT).close()
    assert caplog.records == []
    with pytest.raises(StateFileError, match="belongs to funder"):
        Store.open(path, identity=OTHER_FUNDER)


def test_a_legacy_looking_file_missing_one_of_our_tables_is_not_adopted(tmp_path: Path) -> None:
    path = legacy_state_file(tmp_path / "state.db")
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE fills")
    conn.commit()
    conn.close()
    before = snapshot(path)
    with pytest.raises(StateFileError, match="is not a reconciler state file"):
        Store.open(path, identity=ACCOUNT)
    assert snapshot(path) == before


def test_an_unbound_file_is_bound_by_the_first_account_that_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()  # a tool that names no account
    with Store.open(path, identity=ACCOUNT) as store:
        assert store.identity() == ACCOUNT
    with pytest.raises(StateFileError, match="belongs to funder"):
        Store.open(path, identity=OTHER_FUNDER)


# --- unusable files: one line, what to do ----------------------------------------------------


def test_random_bytes_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(os.urandom(8192))
    before = snapshot(path)
    with pytest.raises(StateFileError) as refused:
        Store.open(path, identity=ACCOUNT)
    assert str(refused.value) == (
        f"{path} is not a readable SQLite database (corrupt, truncated, or another kind of "
        "file); restore it from a backup (`reconciler state backup` makes one), or point "
        "--state at a new path"
    )
    assert snapshot(path) == before


def test_a_truncated_state_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, identity=ACCOUNT) as store:
        for i in range(300):
            store.set_cursor(f"c{i}", "x" * 200)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = snapshot(path)
    with pytest.raises(StateFileError, match=r"is not a readable SQLite database \(truncated\)"):
        Store.open(path, identity=ACCOUNT)
    assert snapshot(path) == before


def test_a_directory_given_as_the_state_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateFileError) as refused:
        Store.open(tmp_path, identity=ACCOUNT)
    assert str(refused.value) == (
        f"{tmp_path} is a directory; --state takes the path of a file, e.g. "
        f"{tmp_path / 'reconciler.db'}"
    )


def test_a_state_file_locked_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path, identity=ACCOUNT).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # an sqlite3 shell in the middle of a write
    try:
        with pytest.raises(StateFileError) as refused:
            Store.open(path, identity=ACCOUNT, busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(refused.value) == (
        f"{path} is locked by another process (a running reconciler, or an open sqlite3 "
        "shell?); stop it or wait for it, then retry"
    )


def test_a_full_disk_is_a_clear_error_and_the_transaction_is_rolled_back(tmp_path: Path) -> None:
    """SQLITE_FULL, produced for real: the file may not grow past its current page count."""
    path = tmp_path / "state.db"
    store = Store.open(path, identity=ACCOUNT)
    try:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]  # noqa: SLF001
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # noqa: SLF001
        with pytest.raises(sqlite3.OperationalError) as full:
            for i in range(1000):
                store.set_cursor(f"c{i}", "x" * 1000)
        from reconciler.store import describe_sqlite_error

        assert describe_sqlite_error(full.value, path) == (
            f"the disk holding {path} is full; free some space, then retry (the last "
            "transaction was rolled back)"
        )
    finally:
        store.close()


def _can_mount() -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    probe = Path("/tmp") / f"reconciler-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


CAN_MOUNT = _can_mount()


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real, tiny file system (root only); unmounted afterwards."""
    if not CAN_MOUNT:
        pytest.skip("needs root and mount(8) for a real tiny or read-only file system")
    where = tmp_path / "mnt"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_full_disk_at_creation_is_one_line_and_leaves_nothing(small_tmpfs: Path) -> None:
    filler = small_tmpfs / "filler"
    with open(filler, "wb", buffering=0) as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    path = small_tmpfs / "state.db"
    with pytest.raises(StateFileError) as refused:
        Store.open(path, identity=ACCOUNT)
    assert str(refused.value) == (
        f"the disk holding {path} is full; free some space, then retry (the last transaction "
        "was rolled back)"
    )
    assert not path.exists()


def _read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


def test_a_read_only_file_system_is_a_clear_error(small_tmpfs: Path) -> None:
    path = small_tmpfs / "state.db"
    Store.open(path, identity=ACCOUNT).close()
    _read_only(small_tmpfs)
    with pytest.raises(StateFileError) as refused:
        Store.open(path, identity=ACCOUNT)
    assert str(refused.value) == (
        f"{path} is read-only here (the file, its directory, or the file system); make both "
        "writable by this user, or run `reconciler status`, which only reads"
    )
    with Store.open(path, read_only=True) as store:  # reading still works
        assert store.identity() == ACCOUNT


def test_a_new_file_in_a_read_only_directory_is_a_clear_error(small_tmpfs: Path) -> None:
    _read_only(small_tmpfs)
    path = small_tmpfs / "state.db"
    with pytest.raises(StateFileError) as refused:
        Store.open(path, identity=ACCOUNT)
    assert str(refused.value) == (
        f"cannot create {path}: Read-only file system; create it, or make its directory "
        "writable by this user"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the mode says")
def test_a_read_only_file_is_a_clear_error_for_a_normal_user(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path, identity=ACCOUNT).close()
    path.chmod(0o400)
    with pytest.raises(StateFileError, match="is read-only here"):
        Store.open(path, identity=ACCOUNT)


# --- status and history only read -----------------------------------------------------------


def test_status_and_history_never_create_migrate_or_chmod(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = legacy_state_file(tmp_path / "state.db", version=1)
    path.chmod(0o644)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    (tmp_path / "state.db-wal").unlink(missing_ok=True)
    (tmp_path / "state.db-shm").unlink(missing_ok=True)
    before = snapshot(path)
    code, out, err = run_cli(capsys, "status", "--state", str(path))
    assert (code, err) == (0, "")
    assert "schema" in out or out
    code, out, err = run_cli(capsys, "history", "--state", str(path))
    assert (code, err) == (0, "")
    assert snapshot(path) == before  # still version 1, mode 0644, no -wal/-shm


def test_status_of_a_missing_file_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere" / "state.db"
    for command in ("status", "history"):
        code, out, err = run_cli(capsys, command, "--state", str(path))
        assert (code, out) == (1, "")
        assert err == (f"reconciler: no state file at {path} (nothing has run with this --state "
                       "yet); check --state or RECONCILER_STATE\n")
    assert not (tmp_path / "nowhere").exists()


def test_status_refuses_a_foreign_file_in_one_line_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = browser_history(tmp_path / "places.sqlite")
    before = snapshot(path)
    code, out, err = run_cli(capsys, "status", "--state", str(path))
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "is not a reconciler state file" in err
    assert snapshot(path) == before


# --- backup ----------------------------------------------------------------------------------


def test_state_backup_is_a_consistent_private_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, identity=ACCOUNT) as store:
        store.set_cursor("notifications", "42")
        # The daemon keeps the file open in WAL mode: the copy must include what is in the WAL.
        copy = tmp_path / "backup" / "copy.db"
        copy.parent.mkdir()
        code, out, err = run_cli(capsys, "state", "backup", str(copy), "--state", str(path))
        assert (code, err) == (0, "")
        assert out == f"backed up {path} to {copy}\n"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    with Store.open(copy, identity=ACCOUNT) as restored:
        assert restored.cursor("notifications") == "42"
        assert restored.identity() == ACCOUNT


def test_state_backup_refuses_to_overwrite_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    Store.open(path, identity=ACCOUNT).close()
    copy = tmp_path / "copy.db"
    copy.write_text("precious")
    code, out, err = run_cli(capsys, "state", "backup", str(copy), "--state", str(path))
    assert (code, out) == (1, "")
    assert err == (f"reconciler: {copy} already exists; remove it or pass --force to "
                   "overwrite it\n")
    assert copy.read_text() == "precious"
    code, _, err = run_cli(capsys, "state", "backup", str(copy), "--force", "--state", str(path))
    assert (code, err) == (0, "")
    with Store.open(copy, read_only=True) as restored:
        assert restored.identity() == ACCOUNT


def test_state_backup_of_a_foreign_file_is_refused(tmp_path: Path) -> None:
    path = browser_history(tmp_path / "places.sqlite")
    with pytest.raises(StateFileError, match="is not a reconciler state file"):
        backup_state_file(path, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()
