"""`reconciler suspend [--cancel]` and `reconciler resume`: the kill switch that sticks.

The suspension is written to the state file (store/controls.py), so it holds across restarts,
and every pass reads it (engine/suspend.py): posts and cancels stop within one pass. When a
daemon holds the state file, it is also sent SIGHUP, so it looks now rather than at its next
tick (`daemon.tell_holder`: only a pid that /proc says is a reconciler is signalled).

`--cancel` asks for our orders to be cancelled once. With a daemon running, the daemon does it
on that pass and `suspend` waits a little for it to say so; with none, `suspend` runs the pass
itself (holding the locks, like `apply`).
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import time

from reconciler.cli.commands.common import say, setup_logging, writer
from reconciler.cli.settings import Settings, SettingsError
from reconciler.cli.wiring import make_reconciler
from reconciler.daemon import tell_holder
from reconciler.engine import describe_suspension
from reconciler.store import Store

#: How long `suspend --cancel` waits for a running daemon to report the cancel.
CANCEL_WAIT_SECONDS = 30.0


#: A suspension's reason is shown in status and the logs: one line, this long at most.
MAX_REASON = 200


def suspend(args: argparse.Namespace, settings: Settings) -> int:
    reason = " ".join((args.reason or "").split())  # one line: no newline or control layout
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise SettingsError(f"--reason must be one printable line of at most {MAX_REASON} "
                            "characters")
    with _writable_store(settings) as store:
        found = store.suspend(by=_who(), reason=reason, cancel=bool(args.cancel))
    print(f"{describe_suspension(found)}: nothing is posted or cancelled until "
          "`reconciler resume`" + ("; our orders are cancelled once" if args.cancel else ""))
    pid, told = tell_holder(settings.state_path)
    if pid:
        print(f"the daemon (pid {pid}) " + ("was told now (SIGHUP)" if told else
              "reads it at its next tick") + "; it keeps reading the exchange")
        if args.cancel:
            return _wait_for_cancel(settings, pid=pid)
        return 0
    if args.cancel:
        setup_logging(args, settings, default="WARNING")
        with writer(settings) as (conn, store):
            result = make_reconciler(conn, store).tick()
        print(result.status_line)
        return 0 if result.success else 1
    print("no daemon runs on this state file; the next `run` or `apply` starts suspended")
    return 0


def resume(args: argparse.Namespace, settings: Settings) -> int:
    with _writable_store(settings) as store:
        was = store.resume()
    if was is None:
        print("not suspended; nothing to resume")
        return 0
    print(f"resumed (was {describe_suspension(was)})")
    pid, told = tell_holder(settings.state_path)
    if pid:
        print(f"the daemon (pid {pid}) reconciles again " + ("now (told with SIGHUP)" if told
              else "at its next tick"))
    return 0


def _writable_store(settings: Settings) -> Store:
    """The existing state file, opened for one small write beside a daemon (SQLite serialises
    the writers); never created: a typo in --state must not start an empty one."""
    if not settings.state_path.exists():
        raise SettingsError(f"no state file at {settings.state_path}: nothing has run with this "
                            "--state yet; check --state or RECONCILER_STATE")
    return Store.open(settings.state_path)


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def _wait_for_cancel(settings: Settings, *, pid: int) -> int:
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while time.monotonic() < deadline:
        with Store.open(settings.state_path, read_only=True) as store:
            found = store.suspension()
        if found is None:
            say("resumed before the cancel was done")
            return 1
        if found.cancel_done_ms is not None:
            print(f"the daemon {found.cancel_result}")
            return 0
        time.sleep(0.2)
    print(f"the daemon (pid {pid}) has not reported the cancel yet; `reconciler status` shows "
          "when it is done")
    return 0
