"""The shell around the engine: the scheduler, the file watcher, signals, locks, sd_notify, metrics.

Only this package owns threads, timers, the sockets it serves, and signal handlers.
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
    "SystemdNotifier",
    "check_port_free",
    "git_commit_of",
    "holder_pid",
    "make_metrics_server",
    "tell_holder",
]
