"""The shell around the engine: the scheduler, the file watcher, the stream listener, signals,
locks, sd_notify, metrics.

Only this package owns threads, timers, the sockets it serves, and signal handlers. The stream
(stream.py, stream_work.py): threads that hold the exchange's WebSocket channels open and turn
their events into targeted passes and sweeps, run by the daemon's one tick job.
"""

from reconciler.daemon.daemon import MAX_DEFERRED_TICKS, Daemon, DaemonOptions
from reconciler.daemon.lock import (
    AccountInUse,
    AccountLock,
    LockHeld,
    StateLock,
    holder_pid,
    tell_holder,
)
from reconciler.daemon.metrics import Metrics, check_port_free, make_metrics_server
from reconciler.daemon.sdnotify import SystemdNotifier
from reconciler.daemon.stream import StreamOpeners, StreamSetup, StreamState
from reconciler.daemon.support import git_commit_of

__all__ = [
    "MAX_DEFERRED_TICKS",
    "AccountInUse",
    "AccountLock",
    "Daemon",
    "DaemonOptions",
    "LockHeld",
    "Metrics",
    "StateLock",
    "StreamOpeners",
    "StreamSetup",
    "StreamState",
    "SystemdNotifier",
    "check_port_free",
    "git_commit_of",
    "holder_pid",
    "make_metrics_server",
    "tell_holder",
]
