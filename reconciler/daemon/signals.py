"""The daemon's signal handlers, installed for the life of `Daemon.run()` (main thread only).

- SIGTERM, SIGINT: stop after the tick in flight (a second one while stopping only says that
  it is still waiting). The signal's name is passed on: `reconciler run` exits 130 after SIGINT.
- SIGHUP: reload, never stop. The handler only sets a flag and wakes the main loop, which then
  calls `reload_parts` (the CLI's hook re-opens the log file; the ticker forgets its cached
  reads) and brings the next tick forward. Without this handler SIGHUP's default action would
  kill the daemon (exit 129) and skip `--on-shutdown cancel`: closing a terminal did that.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger("reconciler.daemon.daemon")


class SignalHandlers:
    def __init__(self, *, stop: Callable[[str], None], stopping: Callable[[], bool],
                 hangup: Callable[[], None]) -> None:
        self._stop = stop
        self._stopping = stopping
        self._hangup = hangup

    @contextmanager
    def installed(self, install: bool = True) -> Iterator[None]:
        """Install the handlers (when asked, and on the main thread); restore the old ones."""
        previous: dict[int, Any] = {}
        if install and threading.current_thread() is threading.main_thread():
            for stop in (signal.SIGTERM, signal.SIGINT):
                previous[stop] = signal.signal(stop, self._on_stop)
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stopping():
            log.warning("%s again while stopping: still waiting for the tick in flight", name)
            return
        self._stop(name)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self._hangup()


def reload_parts(hook: Callable[[], None] | None, ticker: object) -> None:
    """What a reload does besides ticking now: the hook (re-open logs), the ticker's reload."""
    log.info("reloading (SIGHUP): re-opening logs, re-reading the desired and state files")
    if hook is not None:
        try:
            hook()
        except Exception as exc:  # a reload must never stop the daemon
            log.error("reload hook failed: %s", exc)
    reset = getattr(ticker, "reload", None)
    if callable(reset):
        reset()
