"""The state file, on real SQLite files in tmp_path."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.lifecycle import Event
from reconciler.model import LevelGeneration, LevelKey, OrderType, Post, Side
from reconciler.store import StateFileError
from reconciler.store.schema import MIGRATIONS
from reconciler.store.store import OrderStatus, Store, decimal_text
from tests.support.clock import ManualClock

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OTHER = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def store_clock(clock: ManualClock) -> ManualClock:
    """The `store` fixture (conftest.py) runs on this module's clock."""
    return clock


def key(price: str, side: Side = Side.BUY, token: str = TOKEN) -> LevelKey:
    return LevelKey(token, side, Decimal(price))


def post(price: str, size: str, *, generation: int = 1, side: Side = Side.BUY) -> Post:
    return Post(
        key=key(price, side),
        size=Decimal(size),
        order_type=OrderType.GTC,
        post_only=True,
        expires_at=0,
        generation=generation,
        neg_risk=False,
        tick_size=Decimal("0.01"),
    )


# --- the file itself -----------------------------------------------------------------------


def test_open_creates_parent_dir_file_mode_0600_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    s = Store.open(path)
    s.record_revision(digest="d", git_commit=None, valid=True, errors=[], files=[])
    assert path.exists()
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    for suffix in ("-wal", "-shm"):
        sidecar = path.with_name(path.name + suffix)
        assert sidecar.exists(), suffix
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600, (suffix, oct(sidecar.stat().st_mode))
    s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_existing_file_with_loose_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_schema_version_and_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    s = Store.open(path)
    assert s.schema_version() == len(MIGRATIONS)
    rid = s.record_revision(digest="abc", git_commit="c0ffee", valid=True, errors=[], files=["a"])
    s.close()
    s2 = Store.open(path)
    rev = s2.last_valid_revision()
    assert rev is not None and rev.id == rid and rev.git_commit == "c0ffee"
    assert rev.files == ("a",)
    s2.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()  # a state file of ours, then a newer reconciler migrated it
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StateFileError, match="newer than this reconciler"):
        Store.open(path)


def test_intent_survives_a_hard_exit_of_the_writer(tmp_path: Path) -> None:
    """The intent is durable once the call returns: a process killed right after (no close,
    no atexit) leaves it in the file for the next start to resolve."""
    path = tmp_path / "state.db"
    code = f"""
import os
from decimal import Decimal
from reconciler.model import LevelKey, OrderType, Post, Side
from reconciler.store.store import Store
s = Store.open({str(path)!r})
p = Post(key=LevelKey({TOKEN!r}, Side.BUY, Decimal("0.45")), size=Decimal("10"),
         order_type=OrderType.GTC, post_only=True, expires_at=0, generation=1, neg_risk=False,
         tick_size=Decimal("0.01"))
with s.atomic():
    s.add_order_intent(order_id="0xabc", post=p, revision=None, run_id=None)
    s.journal_intent(run_id=None, kind="post", order_id="0xabc", payload={{"size": "10"}})
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    s = Store.open(path)
    unresolved = s.unresolved_orders()
    assert [o.order_id for o in unresolved] == ["0xabc"]
    assert unresolved[0].status is OrderStatus.INTENT
    assert [e["order_id"] for e in s.open_journal_entries()] == ["0xabc"]
    s.close()


# --- revisions -----------------------------------------------------------------------------


def test_revisions_valid_and_invalid(store: Store) -> None:
    assert store.latest_revision() is None and store.last_valid_revision() is None
    good = store.record_revision(digest="g", git_commit=None, valid=True, errors=[], files=["a"])
    bad = store.record_revision(
        digest="b", git_commit=None, valid=False, errors=["a.yaml:3:7: bad"], files=["a"]
    )
    assert bad != good
    latest = store.latest_revision()
    assert latest is not None and latest.id == bad and not latest.valid
    assert latest.errors == "a.yaml:3:7: bad"
    last_valid = store.last_valid_revision()
    assert last_valid is not None and last_valid.id == good
    assert store.status()["spec_error"] == "a.yaml:3:7: bad"


def test_repeating_the_newest_revision_is_not_recorded_twice(store: Store) -> None:
    a = store.record_revision(digest="x", git_commit=None, valid=True, errors=[], files=[])
    b = store.record_revision(digest="x", git_commit=None, valid=True, errors=[], files=[])
    c = store.record_revision(digest="y", git_commit=None, valid=True, errors=[], files=[])
    d = store.record_revision(digest="x", git_commit=None, valid=True, errors=[], files=[])
    assert a == b
    assert len({a, c, d}) == 3


# --- levels --------------------------------------------------------------------------------


def test_generations_start_fill_count_at_zero_and_same_generation_keeps_it(store: Store) -> None:
    k = key("0.45")
    store.record_generations([LevelGeneration(key=k, spec_digest="s1", generation=1)])
    store.add_order_intent(order_id="0x1", post=post("0.45", "10"), revision=None, run_id=None)
    assert store.observe_matched("0x1", Decimal("4")) == Decimal("4")
    assert store.level_states()[k].filled == Decimal("4")
    # Recording the same generation again (a replayed plan) must not reset the fills.
    store.record_generations([LevelGeneration(key=k, spec_digest="s1", generation=1)])
    assert store.level_states()[k].filled == Decimal("4")
    store.record_generations([LevelGeneration(key=k, spec_digest="s2", generation=2)])
    state = store.level_states()[k]
    assert (state.generation, state.spec_digest, state.filled) == (2, "s2", Decimal(0))


def test_prices_are_canonical_keys(store: Store) -> None:
    store.record_generations([LevelGeneration(key=key("0.40"), spec_digest="s", generation=1)])
    store.record_generations([LevelGeneration(key=key("0.4"), spec_digest="s", generation=1)])
    states = store.level_states()
    assert list(states) == [key("0.4")]
    assert decimal_text(Decimal("100")) == "100"
    assert decimal_text(Decimal("0.0500")) == "0.05"
    assert decimal_text(Decimal("-0.0")) == "0"
    with pytest.raises(ValueError):
        decimal_text(Decimal("NaN"))


def test_retire_levels_forgets_removed_ones(store: Store) -> None:
    store.record_generations(
        [
            LevelGeneration(key=key("0.45"), spec_digest="s", generation=3),
            LevelGeneration(key=key("0.44"), spec_digest="s", generation=1),
        ]
    )
    assert store.retire_levels(keep=[key("0.450")]) == 1
    assert list(store.level_states()) == [key("0.45")]


# --- inventory and fills -------------------------------------------------------------------


#: Events that bring a new intent to each status (an intent stays an intent with none).
REACH = {
    OrderStatus.INTENT: (),
    OrderStatus.LIVE: (Event.POST_ACCEPTED,),
    OrderStatus.FILLED: (Event.POST_ACCEPTED, Event.LOOKUP_FILLED),
    OrderStatus.CANCELED: (Event.POST_ACCEPTED, Event.CANCEL_CONFIRMED),
    OrderStatus.UNKNOWN: (Event.OUTCOME_LOST,),
    OrderStatus.VANISHED: (Event.POST_ACCEPTED, Event.VANISHED_LOOKUP_FAILED),
    OrderStatus.REJECTED: (Event.POST_REJECTED,),
    OrderStatus.VOID: (Event.NEVER_SENT,),
}


def test_inventory_holds_live_unknown_vanished_and_intent_only(
    store: Store, clock: ManualClock
) -> None:
    for i, status in enumerate(OrderStatus):
        clock.now += 1
        store.add_order_intent(order_id=f"0x{i}", post=post("0.45", "10"), revision=7, run_id=1)
        for event in REACH[status]:
            assert store.apply_event(f"0x{i}", event, error="why" if i else None)
        assert store.order(f"0x{i}").status is status  # type: ignore[union-attr]
    inv = {o.order_id for o in store.inventory()}
    expected = {
        f"0x{i}"
        for i, s in enumerate(OrderStatus)
        if s in (OrderStatus.LIVE, OrderStatus.UNKNOWN, OrderStatus.INTENT, OrderStatus.VANISHED)
    }
    assert inv == expected
    unresolved = {o.order_id for o in store.inventory() if o.unresolved}
    assert unresolved == {
        f"0x{i}"
        for i, s in enumerate(OrderStatus)
        if s in (OrderStatus.UNKNOWN, OrderStatus.INTENT, OrderStatus.VANISHED)
    }
    assert store.apply_event("0xnotours", Event.CANCEL_CONFIRMED) is None
    one = store.order("0x1")
    assert one is not None and one.revision == 7 and one.size == Decimal("10")
    assert one.key == key("0.45")


def test_fills_are_idempotent_per_fill_id_and_never_double_counted(store: Store) -> None:
    k = key("0.45")
    store.record_generations([LevelGeneration(key=k, spec_digest="s", generation=1)])
    store.add_order_intent(order_id="0x1", post=post("0.45", "10"), revision=None, run_id=None)
    assert store.add_fill(
        order_id="0x1", fill_id="t1", size=Decimal("3"), price=Decimal("0.45"), at_ms=1
    )
    assert not store.add_fill(
        order_id="0x1", fill_id="t1", size=Decimal("3"), price=Decimal("0.45"), at_ms=1
    )
    assert store.level_states()[k].filled == Decimal("3")
    # The exchange reports the same fill as a cumulative figure: nothing new.
    assert store.observe_matched("0x1", Decimal("3")) == 0
    # A second trade learned first from the cumulative figure, then from its notification.
    assert store.observe_matched("0x1", Decimal("5")) == Decimal("2")
    assert store.add_fill(
        order_id="0x1", fill_id="t2", size=Decimal("2"), price=Decimal("0.45"), at_ms=2
    )
    assert store.level_states()[k].filled == Decimal("5")
    # Not ours: ignored.
    assert not store.add_fill(
        order_id="0xother", fill_id="t9", size=Decimal("1"), price=Decimal("0.45"), at_ms=3
    )
    assert [f["fill_id"] for f in store.fills(order_id="0x1")] == ["t1", "t2"]


def test_same_trade_id_on_two_of_our_orders_counts_for_both(store: Store) -> None:
    k = key("0.45")
    store.record_generations([LevelGeneration(key=k, spec_digest="s", generation=1)])
    for oid in ("0xa", "0xb"):
        store.add_order_intent(order_id=oid, post=post("0.45", "10"), revision=None, run_id=None)
        assert store.add_fill(
            order_id=oid, fill_id="trade-1", size=Decimal("2"), price=Decimal("0.45"), at_ms=1
        )
    assert store.level_states()[k].filled == Decimal("4")


def test_atomic_rolls_back_everything_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic():
        store.add_order_intent(order_id="0x1", post=post("0.45", "10"), revision=None, run_id=None)
        store.journal_intent(run_id=None, kind="post", order_id="0x1", payload={})
        raise RuntimeError("crash before commit")
    assert store.orders() == []
    assert store.history() == []


# --- journal, runs, notifications, status --------------------------------------------------


def test_journal_intent_then_result_and_history_newest_first(
    store: Store, clock: ManualClock
) -> None:
    a = store.journal_intent(run_id=1, kind="post", order_id="0xa", payload={"size": "10"})
    clock.now += 1
    b = store.journal_intent(run_id=1, kind="cancel", order_id="0xb", payload={})
    assert [e["id"] for e in store.open_journal_entries()] == [a, b]
    store.journal_result(a, outcome="ok", result={"status": "live"})
    assert [e["id"] for e in store.open_journal_entries()] == [b]
    hist = store.history(10)
    assert [e["id"] for e in hist] == [b, a]
    assert hist[1]["payload"] == {"size": "10"} and hist[1]["outcome"] == "ok"
    with pytest.raises(ValueError):
        store.journal_intent(run_id=1, kind="launch", order_id=None, payload={})


def test_close_open_journal_resolves_post_intents_of_an_order(store: Store) -> None:
    a = store.journal_intent(run_id=1, kind="post", order_id="0xa", payload={})
    store.journal_intent(run_id=1, kind="post", order_id="0xz", payload={})
    assert store.close_open_journal("0xa", outcome="resolved", result="live") == 1
    assert [e["order_id"] for e in store.open_journal_entries()] == ["0xz"]
    assert store.history()[-1]["id"] == a and store.history()[-1]["result"] == "live"


def test_runs_and_status(store: Store, clock: ManualClock) -> None:
    rev = store.record_revision(digest="d", git_commit="abc", valid=True, errors=[], files=[])
    r1 = store.start_run(rev)
    clock.now += 2
    store.finish_run(r1, outcome="ok", summary={"posted": 2})
    r2 = store.start_run(rev)
    store.finish_run(r2, outcome="error", summary={}, error="open orders read failed")
    store.add_order_intent(order_id="0x1", post=post("0.45", "10"), revision=rev, run_id=r1)
    store.apply_event("0x1", Event.POST_ACCEPTED)
    store.add_order_intent(order_id="0x2", post=post("0.44", "10"), revision=rev, run_id=r1)
    store.apply_event("0x2", Event.OUTCOME_LOST)
    st = store.status()
    assert st["last_run"]["id"] == r2 and st["last_run"]["error"] == "open orders read failed"
    assert st["last_success"]["id"] == r1 and st["last_success"]["summary"] == {"posted": 2}
    assert st["last_success"]["finished_ms"] - st["last_success"]["started_ms"] == 2000
    assert st["applied_revision"]["git_commit"] == "abc"
    assert st["resting_orders"] == {TOKEN: 1}
    assert st["unresolved_intents"] == 1 and st["unresolved_order_ids"] == ["0x2"]
    assert st["spec_error"] is None
    assert [r["id"] for r in store.recent_runs(5)] == [r2, r1]


def test_notifications_processed_ids_and_cursor(store: Store) -> None:
    assert store.processed_notification_ids(["1", "2"]) == set()
    store.mark_notification_processed("1", type_=2)
    store.mark_notification_processed("1", type_=2)
    assert store.processed_notification_ids(["1", "2"]) == {"1"}
    assert store.cursor("notifications") is None
    store.set_cursor("notifications", "41")
    store.set_cursor("notifications", "42")
    assert store.cursor("notifications") == "42"
    many = [str(i) for i in range(1200)]
    for i in many[:700]:
        store.mark_notification_processed(i, type_=1)
    assert len(store.processed_notification_ids(many)) == 700


def test_prune_bounds_runs_and_old_notification_ids(store: Store, clock: ManualClock) -> None:
    for _ in range(5):
        store.finish_run(store.start_run(None), outcome="ok", summary={})
    store.mark_notification_processed("old", type_=2)
    clock.now += 40 * 86_400
    store.mark_notification_processed("new", type_=2)
    store.prune(keep_runs=2)
    assert len(store.recent_runs(10)) == 2
    assert store.processed_notification_ids(["old", "new"]) == {"new"}


def test_a_new_migration_upgrades_an_old_file_and_a_failing_one_leaves_it_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.store.opening as store_module

    path = tmp_path / "state.db"
    Store.open(path).close()
    good = "CREATE TABLE extra (id INTEGER PRIMARY KEY);\nCREATE INDEX extra_id ON extra (id);"
    bad = "CREATE TABLE extra2 (id INTEGER);\nTHIS IS NOT SQL;"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, good, bad))
    with pytest.raises(StateFileError, match="SQLite error"):
        Store.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "extra" in tables and "extra2" not in tables
    conn.close()


def test_a_file_from_before_signed_orders_were_kept_upgrades_with_its_rows(
    tmp_path: Path,
) -> None:
    from reconciler.store.schema import split_statements

    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        for statement in split_statements(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO orders (order_id, token_id, side, price, generation, size, status,"
        " posted_at_ms, updated_ms) VALUES ('0xold', ?, 'BUY', '0.45', 1, '10', 'unknown', 1, 1)",
        [TOKEN],
    )
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version() == len(MIGRATIONS)  # every migration since 2 ran
        old = store.order("0xold")
        assert old is not None and old.status is OrderStatus.UNKNOWN
        assert (old.signed_order, old.profile, old.neg_risk, old.unanswered_ms) == (
            None, None, None, None,
        )


def test_an_intent_keeps_its_signed_order_and_the_latest_unanswered_send(store: Store) -> None:
    wire = {"salt": 7, "maker": "0xm", "signature": "0xsig", "timestamp": "1"}
    store.add_order_intent(order_id="0xa", post=post("0.45", "10"), revision=None, run_id=None,
                           signed_order=wire, profile="v2")
    stored = store.order("0xa")
    assert stored is not None and json.loads(stored.signed_order or "") == wire
    assert (stored.profile, stored.neg_risk, stored.unanswered_ms) == ("v2", False, None)
    store.note_unanswered_send("0xa", at_ms=2000)
    store.note_unanswered_send("0xa", at_ms=1000)  # an older bound never moves it back
    assert store.order("0xa").unanswered_ms == 2000  # type: ignore[union-attr]


def test_closing_an_order_s_journal_keeps_what_each_row_said(store: Store) -> None:
    post_row = store.journal_intent(run_id=1, kind="post", order_id="0xa", payload={})
    store.journal_result(post_row, outcome="unknown", result="timed out")
    resend = store.journal_intent(run_id=2, kind="resend", order_id="0xa", payload={})
    lookup = store.journal_intent(run_id=2, kind="lookup", order_id="0xa", payload={})
    done = store.journal_intent(run_id=2, kind="lookup", order_id="0xa", payload={})
    store.journal_result(done, outcome="ok", result="absent")
    assert store.open_sends("0xa") == [resend]
    assert store.close_open_journal("0xa", outcome="resolved", result="live") == 3
    rows = {e["id"]: e for e in store.history()}
    assert rows[post_row]["result"] == "live (was: timed out)"
    assert (rows[resend]["outcome"], rows[resend]["result"]) == ("resolved", "live")
    assert rows[lookup]["outcome"] == "resolved"
    assert (rows[done]["outcome"], rows[done]["result"]) == ("ok", "absent")  # it had its answer
    assert store.open_journal_entries() == [] and store.open_sends("0xa") == []
