"""Never trade blind (invariant 10), with the daemon and the paper exchange as real processes.

Each case is one a user meets: the state file deleted under the running daemon, its WAL file lost
or replaced after a crash, a new state file beside a book the daemon placed, a restored backup, a
first run, and a trader's manual order. Every observation is made on the exchange itself, and
every request the daemon sends is counted by a proxy in between. `plan`, `adopt` and `status` run
as `python -m reconciler` processes too.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.model import Side
from tests.support.accounts import new_key
from tests.support.processes import (
    DEADLINE,
    REPO,
    CountingProxy,
    DaemonProcess,
    PaperProcess,
    Stack,
    spec,
    wait_until,
    write_yaml,
)

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
B = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
D = Decimal
TEN = {A: [("BUY", f"0.{40 + i}", "10") for i in range(10)]}
MOVED = {A: [("BUY", f"0.{30 + i}", "10") for i in range(10)]}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A paper exchange process, a counting proxy in front of it, and room for daemons."""
    paper = PaperProcess()
    proxy = CountingProxy(paper.url)
    desired = tmp_path / "desired"
    desired.mkdir()
    made = Stack(paper=paper, proxy=proxy, key=new_key(), desired=desired,
                 state=tmp_path / "state" / "reconciler.db", daemons=[])
    try:
        yield made
    finally:
        for daemon in made.daemons:
            daemon.stop()
        proxy.stop()
        paper.stop()


def book_of(levels: dict[str, list[tuple[str, str, str]]]) -> dict[tuple[str, Side, D], D]:
    return {(t, Side(s), D(p)): D(z) for t, rows in levels.items() for s, p, z in rows}


def converge(stack: Stack, levels: dict[str, list[tuple[str, str, str]]]) -> DaemonProcess:
    """Save the desired state, start a daemon, and wait until the exchange shows it."""
    write_yaml(stack.desired / "book.yaml", spec(levels))
    daemon = stack.start_daemon("--interval", "60")
    observer = stack.observer()
    wait_until(lambda: observer.book() == book_of(levels), what=f"the book to be {levels}")
    return daemon


def cli(stack: Stack, *args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler ARGS` against the stack's exchange, the key in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "PRIVATE_KEY")}
    env.update({"CLOB_HOST": stack.proxy.url, "PRIVATE_KEY": stack.key})
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--desired", str(stack.desired),
         "--state", str(state or stack.state)],
        capture_output=True, text=True, timeout=DEADLINE, cwd=REPO, env=env,
        stdin=subprocess.DEVNULL,
    )


def blind_lines(daemon: DaemonProcess) -> list[str]:
    return [str(r.get("msg")) for r in daemon.records()
            if "never trading blind" in str(r.get("msg"))]


def restart_holds_the_book(stack: Stack, wanted: dict[tuple[str, Side, D], D]) -> DaemonProcess:
    """Start a daemon, let it finish a first pass, and check that it sent no order write and
    that the book is still exactly `wanted` (not doubled)."""
    mark = stack.proxy.mark()
    daemon = stack.start_daemon("--interval", "60")
    daemon.wait_for_log("first tick done")
    assert stack.proxy.order_writes_since(mark) == []
    assert stack.observer().book() == wanted
    return daemon


# --- the state file changed under the running daemon ---------------------------------------------


def test_the_state_file_deleted_under_the_daemon_stops_it_with_one_line(stack: Stack) -> None:
    daemon = converge(stack, {A: [("BUY", "0.45", "10")]})
    daemon.wait_for_log("first tick done")
    book = stack.observer().book()
    stack.state.unlink()
    mark = stack.proxy.mark()
    write_yaml(stack.desired / "book.yaml", spec(TEN))  # nine more levels: a pass would post
    assert daemon.wait(timeout=DEADLINE) == 1
    errors = [r for r in daemon.records() if r.get("level") in ("error", "critical", "raw")]
    assert len(errors) == 1, errors
    line = str(errors[0].get("msg"))
    assert "stopped trading" in line and str(stack.state) in line and "deleted" in line
    assert stack.proxy.order_writes_since(mark) == []
    assert stack.observer().book() == book
    # The restart opens a new file: the order it placed is blind, and nothing is doubled.
    restarted = restart_holds_the_book(stack, book)
    assert len(blind_lines(restarted)) == 1


@pytest.mark.parametrize("loss", ["deleted", "replaced by an older copy"])
def test_a_wal_file_lost_after_a_kill_doubles_nothing(stack: Stack, loss: str) -> None:
    daemon = converge(stack, {B: [("BUY", "0.30", "10")]})
    daemon.wait_for_log("first tick done")
    wal = stack.state.with_name(stack.state.name + "-wal")
    older = wal.with_name("older-wal")
    shutil.copyfile(wal, older)  # before the ten posts
    observer = stack.observer()
    write_yaml(stack.desired / "book.yaml", spec({**TEN, B: [("BUY", "0.30", "10")]}))
    wanted = book_of({**TEN, B: [("BUY", "0.30", "10")]})
    wait_until(lambda: observer.book() == wanted, what="the ten posts")
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    # The posts were committed to the WAL only: the database file alone does not know them.
    assert _orders_in_database_file_alone(stack.state) < 11
    if loss == "deleted":
        wal.unlink()
    else:
        older.replace(wal)
    stack.state.with_name(stack.state.name + "-shm").unlink(missing_ok=True)
    restarted = restart_holds_the_book(stack, wanted)
    [line] = blind_lines(restarted)
    # Without its WAL the file forgot every order; with the older WAL, the ten after it.
    forgotten = "11 open orders at declared levels on 2 tokens" if loss == "deleted" else \
        "10 open orders at declared levels on 1 token"
    assert forgotten in line


def _orders_in_database_file_alone(path: Path) -> int:
    copy = path.with_name("without-wal.db")
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
    finally:
        conn.close()
        copy.unlink()


# --- a state file that does not know the book ---------------------------------------------------


def test_a_new_state_file_beside_ten_resting_orders_holds_until_adopt(
    stack: Stack, tmp_path: Path
) -> None:
    first = converge(stack, TEN)
    assert first.stop() == 0
    placed = {o.order_id for o in stack.observer().open_orders()}
    assert len(placed) == 10

    stack.state = tmp_path / "new" / "reconciler.db"  # the old file is lost
    second = restart_holds_the_book(stack, book_of(TEN))  # 10 resting, not 20
    [line] = blind_lines(second)
    assert "10 open orders at declared levels on 1 token" in line and A in line
    assert "BUY 0.4 (1)" in line and "BUY 0.49 (1)" in line and "reconciler adopt" in line
    shown = cli(stack, "status")
    assert shown.returncode == 0, shown.stderr
    assert "blind tokens:      1 (10 open orders" in shown.stdout
    assert "identity:          chain 137, funder 0x" in shown.stdout
    assert "file id " in shown.stdout
    assert second.stop() == 0

    planned = cli(stack, "plan")
    assert planned.returncode == 0, planned.stderr
    assert "Blind: 10 open order(s) at declared levels on 1 token(s)" in planned.stdout
    assert "Adopting would take these 10 order(s)" in planned.stdout
    assert "reconciler adopt" in planned.stdout
    assert all(order_id in planned.stdout for order_id in placed)
    assert "Plan: 0 to post, 0 to cancel" in planned.stdout

    refused = cli(stack, "adopt")  # no terminal to ask on, and no --yes
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    adopted = cli(stack, "adopt", "--yes")
    assert adopted.returncode == 0, adopted.stderr
    assert "Adopted 10 order(s) on 1 token(s)" in adopted.stdout
    again = cli(stack, "adopt", "--yes")
    assert again.returncode == 0 and "Nothing to adopt" in again.stdout

    third = restart_holds_the_book(stack, book_of(TEN))
    assert blind_lines(third) == []
    assert {o.order_id for o in stack.observer().open_orders()} == placed
    # It trades normally: a resized level is topped up with one post, nothing else.
    mark = stack.proxy.mark()
    grown = {A: [("BUY", "0.40", "15"), *TEN[A][1:]]}
    write_yaml(stack.desired / "book.yaml", spec(grown))
    wait_until(lambda: stack.observer().book() == book_of(grown), what="the top-up")
    assert stack.proxy.order_writes_since(mark) == [("POST", "/orders")]


def test_a_restored_backup_doubles_nothing(stack: Stack, tmp_path: Path) -> None:
    daemon = converge(stack, TEN)
    backup = tmp_path / "backup.db"
    done = cli(stack, "state", "backup", str(backup))  # beside the running daemon
    assert done.returncode == 0, done.stderr
    write_yaml(stack.desired / "book.yaml", spec(MOVED))  # the backup never learns these
    wait_until(lambda: stack.observer().book() == book_of(MOVED), what="the moved levels")
    assert daemon.stop() == 0
    for sidecar in ("-wal", "-shm"):
        stack.state.with_name(stack.state.name + sidecar).unlink(missing_ok=True)
    shutil.copyfile(backup, stack.state)  # the restore

    restarted = restart_holds_the_book(stack, book_of(MOVED))
    [line] = blind_lines(restarted)
    assert "10 open orders at declared levels on 1 token" in line


def test_a_first_run_on_an_empty_account_posts_as_before(stack: Stack) -> None:
    mark = stack.proxy.mark()
    daemon = converge(stack, TEN)
    daemon.wait_for_log("first tick done")
    assert stack.proxy.order_writes_since(mark) == [("POST", "/orders")]
    assert blind_lines(daemon) == []


def test_a_manual_order_the_daemon_watched_appear_is_not_blind_after_a_restart(
    stack: Stack
) -> None:
    daemon = converge(stack, TEN)
    daemon.wait_for_log("first tick done")
    observer = stack.observer()
    manual = observer.client.create_and_post_order(A, Side.BUY, "0.45", "5", post_only=True)
    assert manual.success, manual.error_msg
    book = stack.desired / "book.yaml"
    write_yaml(book, book.read_text())  # a save brings the next pass forward
    daemon.wait_for_log("while the daemon watched")  # that pass saw it appear
    assert daemon.stop() == 0
    wanted = observer.book()
    assert wanted[(A, Side.BUY, D("0.45"))] == D(15)  # ours 10 + the trader's 5 (ignore)
    restarted = restart_holds_the_book(stack, wanted)
    assert blind_lines(restarted) == []
