"""Never trade blind (invariant 10), in the engine: a real paper exchange on 127.0.0.1, real state
files in tmp_path, and the engine as each process builds it.

A state file that does not know the account's open orders at declared levels (new, restored from
a backup, replaced) posts nothing on those tokens until they are adopted; a trader's manual order
the daemon watched appear is the trader's, now and after restarts; a state file changed under a
running engine stops it before anything is sent. The rule is planner/blind.py; its table tests
are in test_blind_rule.py; the daemon as a process is in tests/e2e/test_blind_e2e.py.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from reconciler.daemon import Daemon, DaemonOptions
from reconciler.engine import StateFileChanged, adopt, find_adoptable
from reconciler.engine.pass_steps import BLIND_REASON
from reconciler.model import OrderType, Side
from reconciler.store import JournalKind, OrderStatus, StateFileError, Store, backup_state_file
from tests.support.daemon import ScriptedTicker
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, converge, level

TEN = {TOKEN_A: [level("BUY", f"0.{40 + i}", "10") for i in range(10)]}
TEN_BOOK = {(Side.BUY, D(f"0.{40 + i}")): D(10) for i in range(10)}


def fresh_process(h: Harness, state: Path | None = None) -> None:
    """What a new process does: open the state file at `state` (default: the same path) and
    build its engine; nothing is remembered from before but the files."""
    path = h.store.path if state is None else state
    h.store.close()
    h.store = Store.open(path)
    h.reconciler = h.new_reconciler()
    h.me.session.reset()


def manual_order(h: Harness, price: str, token: str = TOKEN_A) -> str:
    """An order the trader places by hand, on the same account, outside the state file."""
    answer = h.me.client.create_and_post_order(token, Side.BUY, price, "5", post_only=True)
    assert answer.ok, answer
    h.me.session.reset()  # the trader's request is not the engine's
    return answer.order_id


def blind_ids(h: Harness) -> set[str]:
    report = h.reconciler.plan()
    assert report.plan is not None, report.error
    return {o.order_id for b in report.plan.blind for o in b.orders}


# --- a state file that does not know the book -------------------------------------------------


def test_a_new_state_file_beside_a_resting_book_posts_nothing_until_adopted(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    converge(harness, TEN)
    resting_ids = {o.order_id for o in harness.open_orders()}
    fresh_process(harness, harness.tmp / "other" / "new.db")  # the old file is lost

    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.me.session.order_writes() == []
    assert harness.resting(TOKEN_A) == TEN_BOOK  # 10 resting, not 20
    assert result.plan is not None and [b.token_id for b in result.plan.blind] == [TOKEN_A]
    assert "1 token blind" in result.status_line  # systemd's STATUS= line
    assert result.run_summary["blind"] == [{
        "token_id": TOKEN_A, "orders": 10,
        "levels": [{"side": "BUY", "price": str(D(f"0.{40 + i}").normalize()), "orders": 1,
                    "size": "10"}
                   for i in range(10)],
    }]
    # Said once, in one line: how many, which token, which levels, what to run.
    said = [r.getMessage() for r in caplog.records if "never trading blind" in r.getMessage()]
    assert len(said) == 1 and "\n" not in said[0]
    assert "10 open orders at declared levels on 1 token" in said[0]
    assert TOKEN_A in said[0] and "BUY 0.4 (1)" in said[0] and "BUY 0.49 (1)" in said[0]
    assert "reconciler adopt" in said[0]
    harness.reconciler.tick()
    assert len([r for r in caplog.records if "never trading blind" in r.getMessage()]) == 1

    # `plan` shows what adopting would take; adopting takes exactly those, journaled.
    assert blind_ids(harness) == resting_ids
    found = find_adoptable(harness.reconciler)
    assert not isinstance(found, str)
    adopted = adopt(found, store=harness.store)
    assert set(adopted) == resting_ids
    assert {o.order_id: o.status for o in harness.store.orders()} == {
        i: OrderStatus.LIVE for i in resting_ids}
    kinds = [e["kind"] for e in harness.store.history(50)]
    assert kinds.count(JournalKind.ADOPT.value) == 10

    # Then the engine trades normally: nothing to do, then an edit is served from them.
    harness.me.session.reset()
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == []
    smaller = {TOKEN_A: [level("BUY", f"0.{40 + i}", "10") for i in range(9)]}
    converge(harness, smaller)
    assert harness.resting(TOKEN_A) == {k: v for k, v in TEN_BOOK.items() if k[1] != D("0.49")}


def test_a_blind_token_is_not_converged_and_its_condition_says_what_to_run(
    harness: Harness,
) -> None:
    converge(harness, TEN)
    fresh_process(harness, harness.tmp / "other" / "new.db")
    result = harness.reconciler.tick()
    held = {TOKEN_A: f"posts held: {BLIND_REASON}"}
    assert result.conditions == held and "reconciler adopt" in BLIND_REASON
    assert result.run_summary["conditions"] == held  # what `status` shows per token
    assert harness.reconciler.plan().conditions == held  # `plan -detailed-exitcode` exits 2


def test_a_first_run_on_an_empty_account_posts_as_before(harness: Harness) -> None:
    harness.write_spec(TEN)
    result = harness.reconciler.tick()
    assert result.success and result.plan is not None and result.plan.blind == ()
    assert harness.resting(TOKEN_A) == TEN_BOOK
    assert harness.me.session.order_writes() == [("POST", "/orders")]  # 10 in one batch


def test_adopt_takes_one_token_when_asked_and_the_other_stays_blind(harness: Harness) -> None:
    both = {**TEN, TOKEN_B: [level("BUY", "0.30", "10")]}
    converge(harness, both)
    fresh_process(harness, harness.tmp / "new.db")
    found = find_adoptable(harness.reconciler, token_id=TOKEN_B)
    assert not isinstance(found, str) and [b.token_id for b in found] == [TOKEN_B]
    adopt(found, store=harness.store)
    result = harness.reconciler.tick()
    assert result.plan is not None and [b.token_id for b in result.plan.blind] == [TOKEN_A]
    assert harness.me.session.order_writes() == []
    assert find_adoptable(harness.reconciler, token_id="123") == (
        "token 123 is not declared in the desired state; only declared levels are adopted")


def test_adopted_orders_count_toward_their_level_and_an_excess_is_trimmed(
    harness: Harness
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    fresh_process(harness, harness.tmp / "new.db")
    manual_order(harness, "0.45")  # 15 rest at a level of 10 once both are adopted
    found = find_adoptable(harness.reconciler)
    assert not isinstance(found, str) and len(found[0].orders) == 2
    adopt(found, store=harness.store)
    assert harness.reconciler.tick().success
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D(10)}


# --- the trader's own orders ------------------------------------------------------------------


def test_a_manual_order_the_daemon_watched_appear_is_never_blind(harness: Harness) -> None:
    converge(harness, TEN)
    manual = manual_order(harness, "0.45")  # at a declared level, under unmanaged: ignore
    result = harness.reconciler.tick()
    assert result.success and result.plan is not None and result.plan.blind == ()
    assert harness.me.session.order_writes() == []
    assert manual in harness.store.foreign_order_ids()
    # A restart still knows it as the trader's: the state file remembers.
    fresh_process(harness)
    result = harness.reconciler.tick()
    assert result.success and result.plan is not None and result.plan.blind == ()
    assert harness.me.session.order_writes() == []
    # Once it leaves the book, the state file forgets it.
    harness.me.client.cancel_orders([manual])
    harness.reconciler.tick()
    assert manual not in harness.store.foreign_order_ids()


def test_a_manual_order_placed_while_nothing_watched_is_blind_until_adopted(
    harness: Harness
) -> None:
    # The documented limit of the rule: from the state file alone, an order placed while no
    # process of it ran cannot be told from one of ours that a rolled-back file forgot.
    converge(harness, TEN)
    harness.store.close()
    manual = manual_order(harness, "0.45")
    fresh_process(harness)
    result = harness.reconciler.tick()
    assert result.plan is not None and blind_ids(harness) == {manual}
    assert harness.me.session.order_writes() == []


def test_unmanaged_cancel_does_not_cancel_the_orders_that_make_a_token_blind(
    harness: Harness
) -> None:
    options = {"token_options": {TOKEN_A: {"unmanaged": "cancel"}}}
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]}, **options)
    ours = {o.order_id for o in harness.open_orders()}
    elsewhere = manual_order(harness, "0.33")  # not at a declared level: the policy's to cancel
    fresh_process(harness, harness.tmp / "new.db")
    result = harness.reconciler.tick()
    assert result.success and result.plan is not None
    assert [c.order_id for c in result.plan.cancels] == [elsewhere]
    assert blind_ids(harness) == ours
    open_ids = {o.order_id for o in harness.open_orders()}
    assert ours <= open_ids and elsewhere not in open_ids
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D(10)}


def test_unmanaged_adopt_counts_such_orders_already_and_is_not_blind(harness: Harness) -> None:
    options = {"token_options": {TOKEN_A: {"unmanaged": "adopt"}}}
    converge(harness, TEN, **options)
    fresh_process(harness, harness.tmp / "new.db")
    result = harness.reconciler.tick()
    assert result.success and result.plan is not None and result.plan.blind == ()
    assert harness.me.session.order_writes() == []
    assert harness.resting(TOKEN_A) == TEN_BOOK


def test_under_a_total_buy_cap_a_blind_buy_holds_every_buy(harness: Harness) -> None:
    limits = {"limits": {"max_total_buy_notional": 100}}
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]}, **limits)
    fresh_process(harness, harness.tmp / "new.db")
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")],
                        TOKEN_B: [level("BUY", "0.30", "10"), level("SELL", "0.70", "5")]},
                       **limits)
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert {(o.token_id, o.side) for o in harness.open_orders()} == {
        (TOKEN_A, Side.BUY), (TOKEN_B, Side.SELL)}


# --- a restored backup ------------------------------------------------------------------------


def test_a_restored_backup_doubles_nothing_and_adopting_converges(harness: Harness) -> None:
    converge(harness, TEN)
    backup = harness.tmp / "backup.db"
    backup_state_file(harness.store.path, backup)
    # Later: the levels move (the backup never learns the new orders), and a trader's order
    # appears while the daemon watches (the backup never learns that either).
    moved = {TOKEN_A: [level("BUY", f"0.{30 + i}", "10") for i in range(10)]}
    converge(harness, moved)
    moved_book = {(Side.BUY, D(f"0.{30 + i}")): D(10) for i in range(10)}
    assert harness.resting(TOKEN_A) == moved_book
    new_ids = {o.order_id for o in harness.open_orders()}

    # Restore: stop, copy the backup over the state file, start.
    path = harness.store.path
    harness.store.close()
    for sidecar in ("-wal", "-shm"):
        path.with_name(path.name + sidecar).unlink(missing_ok=True)
    shutil.copyfile(backup, path)
    fresh_process(harness)
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.me.session.order_writes() == []
    assert harness.resting(TOKEN_A) == moved_book  # not 20
    assert blind_ids(harness) == new_ids
    # The backup's own orders (cancelled since) were learnt as gone, not re-posted.
    assert {o.status for o in harness.store.orders()} == {OrderStatus.CANCELED}

    found = find_adoptable(harness.reconciler)
    assert not isinstance(found, str)
    adopt(found, store=harness.store)
    assert harness.reconciler.tick().success
    assert harness.resting(TOKEN_A) == moved_book
    assert harness.me.session.order_writes() == []


# --- the state file changed under a running engine ----------------------------------------------


def _changed_before_the_tick(harness: Harness, change: str) -> None:
    path = harness.store.path
    wal = path.with_name(path.name + "-wal")
    if change == "deleted":
        path.unlink()
    elif change == "replaced":
        other = Store.open(harness.tmp / "elsewhere.db")
        other.close()
        (harness.tmp / "elsewhere.db").replace(path)
    elif change == "wal deleted":
        wal.unlink()
    elif change == "wal replaced":
        copy = wal.with_name("copy-of-wal")
        shutil.copyfile(wal, copy)
        copy.replace(wal)
    else:
        raise AssertionError(change)


@pytest.mark.parametrize("change", ["deleted", "replaced", "wal deleted", "wal replaced"])
def test_a_state_file_changed_under_the_engine_stops_it_before_anything_is_sent(
    harness: Harness, change: str
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    harness.write_spec(TEN)  # nine levels to post: the next tick would send them
    _changed_before_the_tick(harness, change)
    with pytest.raises(StateFileChanged) as raised:
        harness.reconciler.tick()
    assert "\n" not in str(raised.value) and str(harness.store.path) in str(raised.value)
    assert harness.me.session.order_writes() == []
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D(10)}


def test_checkpoints_readers_and_backups_beside_the_engine_are_not_a_change(
    harness: Harness
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    path = harness.store.path
    # What Litestream or an sqlite3 shell does: a checkpoint that truncates the WAL in place.
    other = sqlite3.connect(path)
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other.close()
    reader = Store.open(path, read_only=True)  # `status`, `history`
    reader.status()
    reader.close()
    backup_state_file(path, harness.tmp / "copy.db")  # `state backup`
    harness.store.check_unchanged()
    converge(harness, TEN)
    assert harness.resting(TOKEN_A) == TEN_BOOK


def test_another_state_files_contents_at_the_same_path_are_noticed(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    other = Store.open(harness.tmp / "other.db")
    other_id = other.file_id
    other.close()
    # The same inode, another history: the contents copied over it, its WAL checkpointed away.
    path = harness.store.path
    harness.store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # noqa: SLF001
    path.write_bytes((harness.tmp / "other.db").read_bytes())
    with pytest.raises(StateFileChanged, match=f"file id {other_id}"):
        harness.store.check_unchanged()


def test_a_gtd_order_is_adopted_with_its_type_and_expiry(harness: Harness) -> None:
    expiry = int(harness.reconciler.clock()) + 86_400
    when = datetime.fromtimestamp(expiry, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    gtd = {TOKEN_A: [level("BUY", "0.45", "10", order_type="GTD", expires_at=when)]}
    converge(harness, gtd)
    fresh_process(harness, harness.tmp / "new.db")
    found = find_adoptable(harness.reconciler)
    assert not isinstance(found, str)
    adopt(found, store=harness.store)
    [order] = harness.store.orders()
    assert (order.order_type, order.expires_at) == (OrderType.GTD.value, expiry)
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == []


def test_an_empty_state_file_beside_a_leftover_wal_is_refused_in_one_line(tmp_path: Path) -> None:
    # What a SIGKILL leaves when the state file was deleted under the process: its WAL alone.
    first = Store.open(tmp_path / "a.db")
    first.set_cursor("some", "thing")
    shutil.copyfile(tmp_path / "a.db-wal", tmp_path / "b.db-wal")
    first.close()
    (tmp_path / "b.db").touch()
    with pytest.raises(StateFileError) as refused:
        Store.open(tmp_path / "b.db")
    message = str(refused.value)
    assert "\n" not in message and "b.db-wal" in message and "remove the -wal" in message
    assert (tmp_path / "b.db-wal").stat().st_size > 0  # left as it was


def test_a_state_file_that_can_no_longer_be_looked_at_counts_as_changed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    path = str(harness.store.path)
    real_stat = os.stat

    def failing_disk(target: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(target) == path:  # an I/O error on the state file only
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        return real_stat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", failing_disk)
    with pytest.raises(StateFileChanged, match="can no longer be checked"):
        harness.store.check_unchanged()
    monkeypatch.undo()
    assert harness.store.path.exists()  # nothing was removed
    harness.store.check_unchanged()


def test_the_daemon_stops_with_exit_1_and_no_shutdown_sweep_when_the_state_file_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def lost(count: int) -> None:
        raise StateFileChanged(f"the state file {tmp_path / 'x.db'} was deleted (or moved away)")

    swept: list[str] = []
    (tmp_path / "desired").mkdir()
    daemon = Daemon(ticker=ScriptedTicker(on_tick=lost), desired_dir=tmp_path / "desired",
                    options=DaemonOptions(interval_seconds=1.0),
                    on_shutdown=lambda: swept.append("swept") or "swept")
    assert daemon.run(install_signals=False) == 1
    assert swept == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors[0].startswith(f"stopped trading: the state file {tmp_path / 'x.db'} was deleted")
    assert any("on_shutdown cancel skipped" in e for e in errors)
