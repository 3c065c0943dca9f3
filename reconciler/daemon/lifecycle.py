"""The daemon's start and stop: running until told to stop, signals (signals.py: SIGTERM and
SIGINT stop, SIGHUP reloads), the watcher and the metrics server it starts, and the shutdown
sequence (daemon.py's docstring says what each step is for). A mixin of `Daemon`, whose state
it uses; it owns none of its own."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconciler.daemon.metrics import Metrics, make_metrics_server
from reconciler.daemon.signals import SignalHandlers, reload_parts
from reconciler.daemon.watcher import DesiredWatcher

if TYPE_CHECKING:
    from pathlib import Path

    from apscheduler.schedulers.background import BackgroundScheduler

    from reconciler.daemon.sdnotify import SystemdNotifier
    from reconciler.daemon.stream import StreamPasses
    from reconciler.daemon.support import Debouncer

log = logging.getLogger("reconciler.daemon.daemon")


class Lifecycle:
    # Provided by the Daemon.
    _desired_dir: Path
    _options: Any
    _notifier: SystemdNotifier
    _metrics: Metrics
    _metrics_port: int | None
    _on_shutdown: Callable[[], str] | None
    _heartbeat: Callable[[str], str] | None
    _on_reload: Callable[[], None] | None
    _ticker: Any
    _wake: threading.Event
    _reload_pending: bool
    stopped_by: str | None
    reloads: int
    _scheduler: BackgroundScheduler
    _stop: threading.Event
    _lock: threading.Lock
    _running: bool
    _exit_code: int
    _state_lost: bool
    _debouncer: Debouncer
    _observer: Any
    _metrics_server: Any
    _stream: StreamPasses | None
    ticks_run: int

    def _start(self) -> None:
        raise NotImplementedError

    def request_tick(self) -> None:
        raise NotImplementedError

    def run(self, *, install_signals: bool = True) -> int:
        """Start everything, wait for a stop (signal, `stop()`, or once-mode done), shut down;
        a SIGHUP meanwhile reloads (`reload`)."""
        handlers = SignalHandlers(stop=self._stop_by_signal, stopping=self._stop.is_set,
                                  hangup=self._hangup)
        with handlers.installed(install_signals):
            self._start()
            while not self._stop.is_set():
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                if self._reload_pending and not self._stop.is_set():
                    self._reload_pending = False
                    self.reload()
            return self._shutdown()

    def stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            log.info("stopping: %s", reason)
        self._stop.set()
        self._wake.set()

    def reload(self) -> None:
        """SIGHUP: re-open the logs (the hook), forget cached reads, re-read everything now."""
        self.reloads += 1
        reload_parts(self._on_reload, self._ticker)
        self.request_tick()

    def _stop_by_signal(self, name: str) -> None:
        self.stopped_by = name
        self.stop(f"received {name}")

    def _hangup(self) -> None:
        # Only a flag: the main loop reloads (a handler must not take locks or log).
        self._reload_pending = True
        self._wake.set()

    def _start_watcher(self) -> None:
        # It also watches the parent, to re-arm when the directory is removed and re-created
        # (and warns when it cannot watch); see watcher.py.
        watcher = DesiredWatcher(self._desired_dir, self._debouncer.poke)
        watcher.start()
        self._observer = watcher

    def _start_metrics(self) -> None:
        if self._metrics_port is None:
            return
        server = make_metrics_server(self._metrics, port=self._metrics_port)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self._metrics_server = server
        log.info("metrics on http://127.0.0.1:%d/metrics", server.server_address[1])

    def _shutdown(self) -> int:
        self._notifier.stopping(status="stopping")
        if self._stream is not None:
            self._stream.listener.stop()
        if self._observer is not None:
            self._observer.stop()
        self._debouncer.stop()
        self._scheduler.shutdown(wait=False)  # no new ticks; the one in flight goes on
        idle = self._wait_idle(timeout=self._options.stop_timeout_seconds)
        if not idle:
            log.error(
                "a tick was still running after %.0f s; exiting anyway (its journal entries "
                "are resolved on the next start)", self._options.stop_timeout_seconds,
            )
            self._exit_code = self._exit_code or 1
        if self._heartbeat is not None and self._options.heartbeat_seconds:
            log.warning("heartbeats stopped: the exchange will cancel this key's orders in ~10 s")
        if idle and not self._state_lost:
            self._run_shutdown_hook()
        elif self._on_shutdown is not None:
            # A hung tick may still post after a cancel sweep, and it holds the state file: a
            # sweep now would race it; a changed state file could not journal one. Say so.
            why = ("the state file changed, so the sweep could not be journaled" if idle
                   else "a tick is still running")
            log.error("on_shutdown cancel skipped: %s; cancel by hand with `reconciler cancel` / "
                      "`reconciler cancel-market` if needed", why)
        if self._observer is not None:
            self._observer.join(timeout=5)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        log.info("stopped after %d ticks (exit %d)", self.ticks_run, self._exit_code)
        return self._exit_code

    def _wait_idle(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.02)
        return False

    def _run_shutdown_hook(self) -> None:
        if self._on_shutdown is None:
            return
        try:
            log.info("on_shutdown: %s", self._on_shutdown())
        except Exception as exc:  # the stop must complete; the orders stay as they are
            log.error("on_shutdown failed, orders left as they are: %s", exc)
            self._exit_code = self._exit_code or 1


__all__ = ["Lifecycle"]
