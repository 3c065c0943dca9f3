"""The watcher of the desired directory survives its removal and re-creation (a re-clone, a
deploy that swaps a symlink), and says so when it cannot watch.

Real directories, the real watchdog observer and the real daemon loop with a scripted ticker
(tests/support/daemon.py's helpers). The interval is an hour, so a tick after an edit can only
have come from the watcher. Waits are bounded, never asserted as durations.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from reconciler.daemon.watcher import DesiredWatcher
from tests.support.daemon import WAIT, Running, ScriptedTicker, make_daemon


class Pokes:
    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def after(self, count: int, timeout: float = WAIT) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count > count, timeout=timeout)


def test_an_edit_after_the_directory_is_removed_and_recreated_ticks_at_once(
    tmp_path: Path,
) -> None:
    desired = tmp_path / "desired"
    ticker = ScriptedTicker()
    with Running(make_daemon(ticker, desired)):
        assert ticker.wait_for(1)
        shutil.rmtree(desired)
        desired.mkdir()
        # The removal and re-creation may tick too; what matters is the edit after them.
        assert ticker.wait_for(2)
        seen = len(ticker.times)
        assert not ticker.wait_for(seen + 1, timeout=0.5)  # quiet again
        (desired / "a.yaml").write_text("version: 1\n")
        assert ticker.wait_for(seen + 1), "the edit after re-creation did not wake the loop"


def test_the_watch_follows_a_swapped_symlink(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    (releases / "one").mkdir(parents=True)
    (releases / "two").mkdir()
    link = tmp_path / "desired"
    link.symlink_to(releases / "one")
    pokes = Pokes()
    watcher = DesiredWatcher(link, pokes)
    watcher.start()
    try:
        swap = tmp_path / "desired.new"
        swap.symlink_to(releases / "two")
        os.replace(swap, link)  # an atomic deploy
        assert pokes.after(0)
        before = pokes.count
        (releases / "two" / "a.yaml").write_text("version: 1\n")
        assert pokes.after(before), "an edit in the new target was not seen"
    finally:
        watcher.stop()
        watcher.join(timeout=WAIT)


def test_a_missing_directory_is_watched_for_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    desired = tmp_path / "desired"
    pokes = Pokes()
    watcher = DesiredWatcher(desired, pokes)
    with caplog.at_level(logging.WARNING, logger="reconciler.daemon.watcher"):
        watcher.start()
    try:
        assert not watcher.armed
        assert any("does not exist" in r.getMessage() and "timer only" in r.getMessage()
                   for r in caplog.records), caplog.text
        desired.mkdir()
        assert pokes.after(0)
        before = pokes.count
        (desired / "a.yml").write_text("version: 1\n")
        assert pokes.after(before)
        assert watcher.armed
    finally:
        watcher.stop()
        watcher.join(timeout=WAIT)


def test_a_watch_that_cannot_be_set_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When the observer refuses (inotify's watch limit, permissions), one warning says that
    changes are seen on the timer only."""
    from watchdog.observers import Observer

    class Refusing(Observer):  # type: ignore[misc, valid-type]
        def schedule(self, handler, path, **kwargs):  # type: ignore[no-untyped-def]
            raise OSError(28, "inotify watch limit reached")

    (tmp_path / "desired").mkdir()
    watcher = DesiredWatcher(tmp_path / "desired", Pokes(), observer_factory=Refusing)
    with caplog.at_level(logging.WARNING, logger="reconciler.daemon.watcher"):
        watcher.start()
    try:
        messages = [r.getMessage() for r in caplog.records]
        assert any("inotify watch limit reached" in m and "timer only" in m for m in messages)
        assert not watcher.armed
    finally:
        watcher.stop()
        watcher.join(timeout=WAIT)
