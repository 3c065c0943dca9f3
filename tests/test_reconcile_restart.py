"""The last valid desired state survives a restart (DESIGN invariant 2).

Real paper exchange on 127.0.0.1, real SQLite file: a "restart" closes the store, discards the
Reconciler and opens both again on the same state file, exactly as a new process does.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.cli.render import report_text
from reconciler.engine import load_desired
from reconciler.engine.reconcile import Reconciler
from reconciler.model import Side
from reconciler.spec import MAX_FILE_BYTES, load_files
from reconciler.store.schema import MIGRATIONS, split_statements
from reconciler.store.store import Store
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, level, sell_into

D = Decimal
COMMIT = "c0ffee" + "0" * 34
BROKEN = "version: 1\ntokens:\n  - token_id: [\n"


def converge(h: Harness, tokens: dict, **options: object) -> None:
    h.write_spec(tokens, **options)
    result = h.reconciler.tick()
    assert result.success and not result.spec_errors, (result.error, result.run_summary)
    h.me.session.reset()


@contextmanager
def restarted(h: Harness) -> Iterator[Reconciler]:
    """Discard the daemon's objects and build new ones on the same state file."""
    path = h.store.path
    h.store.close()
    with Store.open(path) as store:
        yield h.new_reconciler(store=store, git_commit_of=lambda _: COMMIT)


def write_state_file(h: Harness, sql: str) -> None:
    """Change the state file behind the store's back, as another process would (committed)."""
    with sqlite3.connect(h.store.path) as conn:
        conn.execute(sql)
    conn.close()


# --- the scenario of the brief ---------------------------------------------------------------


def test_after_a_restart_with_broken_yaml_the_kept_revision_replenishes_a_fill(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10", replenish=True)]})
    valid = harness.store.last_valid_revision()
    assert valid is not None
    (harness.desired / "orders.yaml").write_text(BROKEN)
    with restarted(harness) as fresh:
        sell_into(harness, "0.45", "10")
        assert harness.resting(TOKEN_A) == {}
        caplog.set_level(logging.INFO, logger="reconciler")
        result = fresh.tick()
        # The kept revision is in force: the fill is re-posted, and the errors are reported.
        assert result.success and result.outcome == "ok", result.run_summary
        assert result.revision_id == valid.id
        assert result.applied is not None and len(result.applied.posted) == 1
        assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}
        assert result.spec_errors and "orders.yaml:4:" in result.spec_errors[0]
        assert "desired state invalid" in result.status_line
        status = fresh.store.status()
        assert status["revision_in_force"]["id"] == valid.id
        assert status["desired_files_valid"] is False
        assert "orders.yaml:4:" in status["spec_error"]
        latest = fresh.store.latest_revision()
        assert latest is not None and not latest.valid and latest.git_commit == COMMIT
    restored = [r.getMessage() for r in caplog.records if "rebuilt from the files" in r.message]
    assert len(restored) == 1 and f"revision {valid.id} from " in restored[0], restored
    assert "UTC" in restored[0]


def test_the_kept_revision_names_its_git_commit_and_keeps_serving_until_fixed(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with restarted(harness) as first:  # a daemon whose desired dir is a git checkout
        harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10", replenish=True)]})
        assert first.tick().success
        kept = first.store.latest_revision()
    assert kept is not None and kept.git_commit == COMMIT
    (harness.desired / "orders.yaml").write_text(BROKEN)
    harness.store = Store.open(harness.store.path)  # `restarted` closes the harness's store
    with restarted(harness) as fresh:
        caplog.set_level(logging.INFO, logger="reconciler")
        for size in ("5", "5"):  # two fills, two ticks: still in force on the second
            sell_into(harness, "0.45", size)
            result = fresh.tick()
            assert result.revision_id == kept.id and result.spec_errors
            assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}
        harness.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})  # fixed: the files win
        result = fresh.tick()
        assert result.success and not result.spec_errors
        assert result.revision_id != kept.id
        assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.4")): D("10")}
        status = fresh.store.status()
        assert status["revision_in_force"]["id"] == result.revision_id
        assert status["desired_files_valid"] is True and status["spec_error"] is None
    restored = [r.getMessage() for r in caplog.records if "rebuilt from the files" in r.message]
    assert len(restored) == 1 and f"(git commit {COMMIT})" in restored[0], restored


def test_a_kept_revision_never_overrides_valid_files(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    old = harness.store.last_valid_revision()
    assert old is not None
    harness.write_spec({TOKEN_B: [level("BUY", "0.30", "10")]})  # valid, never seen before
    with restarted(harness) as fresh:
        report = fresh.plan()
        assert report.error is None and not report.spec_errors
        result = fresh.tick()
        assert result.success and not result.spec_errors, result.run_summary
        assert result.revision_id is not None and result.revision_id != old.id
        assert harness.resting() == {(Side.BUY, D("0.3")): D("10")}  # TOKEN_A's bid cancelled
        assert fresh.store.status()["revision_in_force"]["id"] == result.revision_id
        # Broken now: the newest valid revision is the one in force, not the older kept one.
        (harness.desired / "orders.yaml").write_text(BROKEN)
        broken = fresh.tick()
        assert broken.revision_id == result.revision_id and broken.spec_errors
        assert harness.resting() == {(Side.BUY, D("0.3")): D("10")}


def test_plan_after_a_restart_shows_what_the_kept_revision_would_do(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10", replenish=True)]})
    (harness.desired / "orders.yaml").write_text(BROKEN)
    sell_into(harness, "0.45", "10")
    with restarted(harness) as fresh:
        report = fresh.plan()
        assert harness.me.session.writes() == []
        assert report.error == "invalid desired state" and report.spec_errors
        assert report.plan is not None and len(report.plan.posts) == 1
        assert "The desired files are invalid" in report_text(report)
        assert "stays in force; with it:" in report_text(report) and "orders.yaml:4:" in report_text(report)
        assert report.git_commit == COMMIT
        assert fresh.store.latest_revision().valid  # type: ignore[union-attr]  # plan records none
        result = fresh.tick()  # the same plan is what a tick applies
        assert result.plan is not None
        assert [(p.key, p.size) for p in result.plan.posts] == [
            (p.key, p.size) for p in report.plan.posts
        ]


# --- when nothing can be kept in force: nothing changes, and the logs say why ----------------


def test_a_valid_revision_recorded_without_its_files_is_not_guessed(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A state file written before migration 2 knows the revision but not its files."""
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10", replenish=True)]})
    write_state_file(harness, "DELETE FROM revision_files")
    (harness.desired / "orders.yaml").write_text(BROKEN)
    sell_into(harness, "0.45", "10")
    with restarted(harness) as fresh:
        caplog.set_level(logging.INFO, logger="reconciler")
        result = fresh.tick()
        assert result.outcome == "invalid_spec" and not result.success
        assert result.revision_id is None and result.spec_errors
        assert harness.me.session.sent == []
        assert fresh.store.status()["revision_in_force"] is None
        fresh.tick()
    refused = [r.getMessage() for r in caplog.records if "were not kept" in r.message]
    assert len(refused) == 1, refused  # said once, not on every tick


def test_the_first_valid_read_after_an_upgrade_keeps_the_files(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    revision = harness.store.last_valid_revision()
    assert revision is not None
    write_state_file(harness, "DELETE FROM revision_files")
    assert harness.store.revision_files(revision.id) == {}
    assert harness.reconciler.tick().revision_id == revision.id  # same files, same revision
    on_disk = (harness.desired / "orders.yaml").read_bytes()
    assert harness.store.revision_files(revision.id) == {"orders.yaml": on_disk}


def test_kept_files_that_no_longer_match_their_digest_are_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10", replenish=True)]})
    # Still a valid spec, but not the bytes the revision was recorded with.
    write_state_file(
        harness, "UPDATE revision_files SET content = replace(content, '0.45', '0.44')"
    )
    (harness.desired / "orders.yaml").write_text(BROKEN)
    with restarted(harness) as fresh:
        caplog.set_level(logging.INFO, logger="reconciler")
        result = fresh.tick()
        assert result.outcome == "invalid_spec" and harness.me.session.sent == []
    assert any("do not match its digest" in r.getMessage() for r in caplog.records)


def test_kept_files_that_the_loader_now_refuses_are_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    write_state_file(harness, "UPDATE revision_files SET content = 'version: 1\ntokens: [\n'")
    (harness.desired / "orders.yaml").write_text(BROKEN)
    with restarted(harness) as fresh:
        caplog.set_level(logging.INFO, logger="reconciler")
        assert fresh.tick().outcome == "invalid_spec"
        assert harness.me.session.sent == []
    lines = [r.getMessage() for r in caplog.records if "no longer load" in r.message]
    assert lines and "orders.yaml:" in lines[0]


# --- the store: exact bytes, migration, pruning ----------------------------------------------


def test_the_kept_files_are_the_exact_bytes_and_rebuild_the_same_spec(harness: Harness) -> None:
    sub = harness.desired / "markets"
    sub.mkdir()
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]}, name="00-a.yaml")
    text = (harness.desired / "00-a.yaml").read_text()
    (harness.desired / "00-a.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())  # a BOM
    (sub / "b.yml").write_text(
        f'version: 1\ntokens:\n  - token_id: "{TOKEN_B}"\n    label: "Élection ✓"\n'
        '    orders:\n      - {side: BUY, price: "0.30", size: 10}\n'
    )
    (harness.desired / ".hidden.yaml").write_text(BROKEN)  # not a desired file: not kept
    result = harness.reconciler.tick()
    assert result.success and result.revision_id is not None
    kept = harness.store.revision_files(result.revision_id)
    assert kept == {
        "00-a.yaml": (harness.desired / "00-a.yaml").read_bytes(),
        "markets/b.yml": (sub / "b.yml").read_bytes(),
    }
    from_disk = load_desired(harness.desired)
    rebuilt = load_files(kept, base=harness.desired)
    assert rebuilt.spec is not None and rebuilt.spec == from_disk.spec
    assert rebuilt.digest == from_disk.digest
    assert rebuilt.files == from_disk.files


def test_an_invalid_revision_keeps_no_files(harness: Harness) -> None:
    (harness.desired / "orders.yaml").write_text(BROKEN)
    result = harness.reconciler.tick()
    latest = harness.store.latest_revision()
    assert result.outcome == "invalid_spec" and latest is not None and not latest.valid
    assert harness.store.revision_files(latest.id) == {}


def test_a_version_1_state_file_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    for statement in split_statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO revisions (digest, git_commit, valid, errors, files, created_ms)"
        " VALUES ('d', NULL, 1, '', '[\"a.yaml\"]', 1)"
    )
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
        old = store.last_valid_revision()
        assert old is not None and store.revision_files(old.id) == {}
        same = store.record_revision(
            digest="d", git_commit=None, valid=True, errors=[], files=["a.yaml"],
            contents={"a.yaml": b"version: 1\n"},
        )
        assert same == old.id and store.revision_files(old.id) == {"a.yaml": b"version: 1\n"}


def test_status_names_the_revision_of_the_newest_pass(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        assert store.status()["revision_in_force"] is None
        good = store.record_revision(digest="g", git_commit="abc", valid=True, errors=[], files=[])
        store.finish_run(store.start_run(good), outcome="ok", summary={})
        bad = store.record_revision(digest="b", git_commit=None, valid=False, errors=["e"], files=[])
        store.finish_run(store.start_run(good), outcome="error", summary={})  # kept in force
        status = store.status()
        assert status["revision_in_force"]["id"] == good and status["desired_files_valid"] is False
        assert status["revision_in_force"]["git_commit"] == "abc"
        # A cancel-all at shutdown is no pass: it does not hide the revision in force.
        store.finish_run(store.start_run(None), outcome="shutdown_ok", summary={})
        assert store.status()["revision_in_force"]["id"] == good
        store.finish_run(store.start_run(None), outcome="invalid_spec", summary={})
        assert store.status()["revision_in_force"] is None  # a pass with no valid spec at all
        assert store.latest_revision().id == bad  # type: ignore[union-attr]


def test_prune_keeps_the_files_of_the_newest_valid_revisions(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        ids = []
        for i in range(5):
            ids.append(
                store.record_revision(
                    digest=f"v{i}", git_commit=None, valid=True, errors=[], files=["a.yaml"],
                    contents={"a.yaml": f"# {i}\n".encode()},
                )
            )
            store.record_revision(  # an invalid one between each: it never counts
                digest=f"x{i}", git_commit=None, valid=False, errors=["bad"], files=["a.yaml"],
                contents={"a.yaml": b"[\n"},
            )
        store.prune(keep_revision_files=2)
        assert [bool(store.revision_files(i)) for i in ids] == [False, False, False, True, True]
        assert store.revision_files(ids[-1]) == {"a.yaml": b"# 4\n"}
        assert store.last_valid_revision().id == ids[-1]  # type: ignore[union-attr]


# --- load_files: the directory loader's code path, from memory -------------------------------


def test_load_files_reports_like_the_directory_loader(tmp_path: Path) -> None:
    empty = load_files({})
    assert empty.spec is None and "no *.yaml or *.yml files" in str(empty.errors[0])
    broken = load_files({"x.yaml": BROKEN.encode()}, base=tmp_path)
    assert broken.spec is None and str(broken.errors[0]).startswith(f"{tmp_path}/x.yaml:4:")
    assert str(load_files({"x.yaml": b"\xff"}).errors[0]).startswith("x.yaml:1:1: byte 0xff")
    huge = load_files({"big.yaml": b"#" * (MAX_FILE_BYTES + 1)})
    assert huge.spec is None and "larger than" in str(huge.errors[0])


DOCS = [
    f'version: 1\ntokens:\n  - token_id: "{TOKEN_A}"\n    orders:\n'
    '      - {side: BUY, price: "0.45", size: 10}\n',
    f'version: 1\ntokens:\n  - token_id: "{TOKEN_B}"\n    orders:\n'
    '      - {side: SELL, price: 0.6, size: 5, replenish: true}\n',
    "version: 1\nlimits:\n  max_total_buy_notional: 100\ntokens: []\n",
    BROKEN,
    "version: 2\ntokens: []\n",
    "\ufeffversion: 1\ntokens: []\n",
]


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a.yaml", "b.yml", "sub/c.yaml", "sub/deeper/d.yaml", "z.yaml"]),
        st.sampled_from(DOCS),
        max_size=4,
    )
)
def test_load_files_equals_load_desired_on_the_same_files(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name, text in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(text.encode())
        from_disk = load_desired(directory)
        from_memory = load_files(
            {name: text.encode() for name, text in files.items()}, base=directory
        )
        assert from_memory.spec == from_disk.spec
        assert [str(e) for e in from_memory.errors] == [str(e) for e in from_disk.errors]
        assert from_memory.digest == from_disk.digest
        assert dict(from_memory.contents) == dict(from_disk.contents)
