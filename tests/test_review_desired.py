"""Review tests: a desired directory that cannot be read whole must change no order.

The loader promises all-or-nothing (spec/loader.py: "A partial spec is never returned, because
applying half a directory would cancel the other half's orders"). These tests hold it to that
when part of the directory cannot be read. `os.walk` ignores a directory it cannot list unless
given `onerror`, and `is_file()` is False for a dangling symlink: before commit 7320f98 such a
directory's or file's tokens vanished from the spec and their orders were cancelled as
TOKEN_REMOVED (these tests were strict xfails until then).

As root (as in CI here) a chmod does not stop a read, so the denial is injected at the one call
that lists a directory (`os.scandir`, which `os.walk` uses); as another user a real chmod does it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.engine import load_desired
from reconciler.model import Side
from tests.test_reconcile_kit import TOKEN_A, TOKEN_B, Harness, harness, level, paper, write_spec

__all__ = ["harness", "paper"]

D = Decimal


@pytest.fixture
def deny_listing(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Path]]:
    """Directories added to the yielded set cannot be listed (PermissionError)."""
    denied: set[Path] = set()
    real_scandir = os.scandir
    chmodded: list[Path] = []

    def scandir(path: object = ".") -> object:
        if Path(os.fsdecode(path)).resolve() in denied:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fsdecode(path))  # type: ignore[arg-type]
        return real_scandir(path)  # type: ignore[arg-type]

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "scandir", scandir)
        yield denied
        return

    class Chmod(set[Path]):
        def add(self, path: Path) -> None:
            path.chmod(0)
            chmodded.append(path)

    try:
        yield Chmod()
    finally:
        for path in chmodded:
            path.chmod(stat.S_IRWXU)


def _two_files(desired: Path) -> Path:
    write_spec(desired, {TOKEN_A: [level("BUY", "0.45", "10")]}, name="a.yaml")
    sub = desired / "more"
    write_spec(sub, {TOKEN_B: [level("BUY", "0.30", "10")]}, name="b.yaml")
    return sub


def test_both_files_load_when_readable(tmp_path: Path) -> None:
    """The baseline of the tests below: the two files make one spec with both tokens."""
    _two_files(tmp_path)
    result = load_desired(tmp_path)
    assert result.spec is not None
    assert {t.token_id for t in result.spec.tokens} == {TOKEN_A, TOKEN_B}


def test_an_unreadable_subdirectory_is_an_error_not_an_absent_token(
    tmp_path: Path, deny_listing: set[Path]
) -> None:
    sub = _two_files(tmp_path)
    deny_listing.add(sub.resolve())
    result = load_desired(tmp_path)
    assert result.spec is None, "a spec without the unreadable directory's tokens was returned"
    assert any("more" in str(e) for e in result.errors)


def test_an_unreadable_subdirectory_cancels_no_order(
    harness: Harness, deny_listing: set[Path]
) -> None:
    sub = _two_files(harness.desired)
    assert harness.reconciler.tick().success
    before = harness.resting()
    assert before == {(Side.BUY, D("0.45")): D("10"), (Side.BUY, D("0.3")): D("10")}
    deny_listing.add(sub.resolve())
    harness.me.session.reset()
    harness.reconciler.tick()
    assert harness.me.session.order_writes() == [], (
        "the unreadable directory's token lost its orders"
    )
    assert harness.resting() == before


def test_a_dangling_yaml_symlink_is_an_error_not_an_absent_token(tmp_path: Path) -> None:
    write_spec(tmp_path, {TOKEN_A: [level("BUY", "0.45", "10")]}, name="a.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "elsewhere" / "b.yaml")
    result = load_desired(tmp_path)
    assert result.spec is None, "b.yaml cannot be read, yet a spec without it was returned"
