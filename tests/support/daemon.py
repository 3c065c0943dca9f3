"""A scripted ticker and a daemon in a thread: the daemon's tests drive the real loop with these."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.daemon.daemon import Daemon, DaemonOptions
from reconciler.engine import TickResult
from reconciler.model import TickOutcome

WAIT = 20.0  # upper bound for anything the test waits for; normally milliseconds


def Result(  # noqa: N802 (read as the result it builds)
    success: bool = True, error: str | None = None, retry_after: float | None = None
) -> TickResult:
    """A scripted tick's result: a quiet success, a failure, or a rate limit (retry_after)."""
    if success:
        return TickResult(outcome=TickOutcome.NOOP)
    failed = TickOutcome.ERROR if retry_after is None else TickOutcome.RATE_LIMITED
    return TickResult(outcome=failed, error=error, retry_after=retry_after)


class ScriptedTicker:
    """Returns scripted results (then successes); records when each tick ran."""

    def __init__(self, script: list[TickResult] | None = None,
                 on_tick: Callable[[int], None] | None = None) -> None:
        self.script = list(script or [])
        self.on_tick = on_tick
        self.times: list[float] = []
        self.changed = threading.Condition()

    def tick(self) -> TickResult:
        if self.on_tick is not None:
            self.on_tick(len(self.times))
        result = self.script.pop(0) if self.script else Result()
        with self.changed:
            self.times.append(time.monotonic())
            self.changed.notify_all()
        return result

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.times) >= count, timeout=timeout)


class Running:
    """A daemon running in a background thread, stopped and joined on exit."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.exit_code = self.daemon.run(install_signals=False)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.stop("test done")
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive()


def make_daemon(ticker: ScriptedTicker, desired: Path, **options: object) -> Daemon:
    desired.mkdir(exist_ok=True)
    defaults: dict[str, object] = {"interval_seconds": 3600.0, "debounce_seconds": 0.05}
    return Daemon(ticker=ticker, desired_dir=desired,
                  options=DaemonOptions(**{**defaults, **options}))  # type: ignore[arg-type]


def save_like_an_editor(path: Path, text: str) -> None:
    """Write a temp file, then rename it over the target (what vim, VS Code, git do)."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)
