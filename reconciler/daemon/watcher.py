"""Watching the desired directory for changes, surviving its removal and re-creation.

An inotify watch dies with the directory it watches: after `rm -rf desired && git clone ...
desired` (or a deploy that swaps a `desired` symlink) the old watch sees nothing, and edits wait
for the timer. So two watches are kept:

- the directory itself, recursively: changes to YAML files (and directory moves or deletes) poke;
- its parent, not recursively: when an entry with the directory's name appears, disappears or is
  replaced, the directory's watch is re-armed on whatever is there now, and the loop is poked.

When a watch cannot be set (no parent, the inotify limit, permissions), a warning says that
changes are then only seen on the timer; it is retried on the next event of the parent. The
watcher only brings the next tick forward: every tick re-reads the files itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("reconciler.daemon.watcher")

_WATCHED_SUFFIXES = (".yaml", ".yml")
_CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})


class ChangeHandler(FileSystemEventHandler):
    """Poke on changes to YAML files (and on directory moves/deletes); ignore reads."""

    def __init__(self, poke: Callable[[], None]) -> None:
        self._poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Every tick opens and reads the files: reacting to opens would tick forever.
        if event.event_type not in _CHANGE_EVENTS:
            return
        if event.is_directory:
            if event.event_type != "modified":
                self._poke()
            return
        paths = (str(event.src_path), str(getattr(event, "dest_path", "") or ""))
        if any(p.endswith(_WATCHED_SUFFIXES) for p in paths):
            self._poke()


class _ParentHandler(FileSystemEventHandler):
    """Re-arm when the directory's own name changes in its parent."""

    def __init__(self, name: str, rearm: Callable[[], None]) -> None:
        self._name = name
        self._rearm = rearm

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("created", "moved", "deleted"):
            return
        names = {os.path.basename(str(event.src_path)),
                 os.path.basename(str(getattr(event, "dest_path", "") or ""))}
        if self._name in names:
            self._rearm()


class DesiredWatcher:
    """Pokes `poke` on changes under `directory`; `start()`, then `stop()` and `join()`."""

    def __init__(self, directory: Path, poke: Callable[[], None], *,
                 observer_factory: Callable[[], Any] = Observer) -> None:
        self._directory = Path(os.path.abspath(directory))
        self._poke = poke
        self._observer = observer_factory()
        self._observer.daemon = True
        self._guard = threading.Lock()
        self._watch: Any = None  # the recursive watch on the directory, when armed
        self._warned = False

    @property
    def armed(self) -> bool:
        """Whether the directory itself is being watched now."""
        return self._watch is not None

    def start(self) -> None:
        parent = self._directory.parent
        try:
            self._observer.schedule(_ParentHandler(self._directory.name, self._rearm),
                                    str(parent), recursive=False)
        except OSError as exc:
            log.warning("cannot watch %s for the desired directory's re-creation (%s); if it is "
                        "removed and created again, changes are seen on the timer only",
                        parent, exc.strerror or exc)
        self._arm(poke=False)
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()

    def join(self, timeout: float | None = None) -> None:
        self._observer.join(timeout=timeout)

    def _rearm(self) -> None:
        self._arm(poke=True)

    def _arm(self, *, poke: bool) -> None:
        with self._guard:
            # Always afresh: a directory re-created at once may even reuse the old inode.
            if self._watch is not None:
                self._observer.unschedule(self._watch)
                self._watch = None
            if self._directory.is_dir():
                try:
                    # The target as it is now: a symlinked directory is watched where it
                    # points, and re-armed (from the parent's events) when the link changes.
                    target = os.path.realpath(self._directory)
                    self._watch = self._observer.schedule(
                        ChangeHandler(self._poke), target, recursive=True)
                    if self._warned:
                        log.info("watching the desired directory %s again", self._directory)
                    self._warned = False
                except OSError as exc:
                    self._warn(f"cannot watch it ({exc.strerror or exc})")
            else:
                self._warn("it does not exist")
        if poke:
            self._poke()

    def _warn(self, why: str) -> None:
        if not self._warned:
            log.warning("desired directory %s: %s; changes are seen on the timer only until it "
                        "can be watched again", self._directory, why)
        self._warned = True

