"""Signals, on real processes: SIGHUP reloads and never kills (closing a terminal used to kill
the daemon with 129 and skip `--on-shutdown cancel`); SIGTERM and SIGINT stop it cleanly;
`run` and `apply` both exit 130 on SIGINT; Ctrl-C mid-apply says what was posted and what is
left unknown, closes its run row, and the next pass resolves the rest without a duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.store import Store
from tests.support.processes import DEADLINE, REPO, Stack, spec, wait_until, write_yaml

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
TWO = {A: [("BUY", "0.45", "10"), ("BUY", "0.44", "10")]}


def test_sighup_reloads_and_the_daemon_keeps_running_then_cancels_on_sigterm(
    stack: Stack,
) -> None:
    write_yaml(stack.desired / "book.yaml", spec(TWO))
    daemon = stack.start_daemon("--interval", "86400", "--on-shutdown", "cancel")
    daemon.wait_for_log("first tick done")
    observer = stack.observer()
    assert len(observer.open_orders(A)) == 2
    mark = stack.proxy.mark()
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for_log("reloading (SIGHUP)")
    # The reload ticks at once: it reads the exchange again.
    wait_until(lambda: stack.proxy.count_since(mark, "GET", "/data/orders") >= 1,
               what="the tick after the reload")
    assert daemon.proc.poll() is None  # alive: SIGHUP never kills
    daemon.proc.send_signal(signal.SIGHUP)  # again, as a terminal closing twice would
    assert daemon.stop(signal.SIGTERM) == 0
    assert any("on_shutdown: cancelled 2 of 2" in str(r.get("msg")) for r in daemon.records())
    assert observer.open_orders(A) == []


def test_sighup_reopens_the_log_file_after_a_rotation(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "reconciler.log"
    write_yaml(stack.desired / "book.yaml", spec(TWO))
    daemon = stack.start_daemon("--interval", "86400", "--log-file", str(log))
    wait_until(lambda: log.exists() and "first tick done" in log.read_text(), what="the log")
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    rotated = log.with_name("reconciler.log.1")
    log.rename(rotated)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: log.exists() and "reloading (SIGHUP)" in log.read_text(),
               what="lines in the re-opened log")
    assert "reloading" not in rotated.read_text()
    assert daemon.stop(signal.SIGTERM) == 0


def test_run_exits_130_on_sigint_like_apply(stack: Stack) -> None:
    write_yaml(stack.desired / "book.yaml", spec(TWO))
    daemon = stack.start_daemon("--interval", "86400")
    daemon.wait_for_log("first tick done")
    assert daemon.stop(signal.SIGINT) == 130
    assert any("stopping: received SIGINT" in str(r.get("msg")) for r in daemon.records())
    assert len(stack.observer().open_orders(A)) == 2  # --on-shutdown leave (the default)


def test_ctrl_c_mid_apply_says_what_is_unknown_and_the_next_pass_resolves_it(
    stack: Stack,
) -> None:
    write_yaml(stack.desired / "book.yaml", spec(TWO))
    env = {k: v for k, v in os.environ.items()
           if k not in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY")}
    env.update({"CLOB_HOST": stack.proxy.url, "PRIVATE_KEY": stack.key})
    argv = [sys.executable, "-m", "reconciler", "apply", "--desired", str(stack.desired),
            "--state", str(stack.state)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)

    def interrupt(method: str, path: str) -> None:
        # The batch reached the exchange; Ctrl-C arrives before its answer does.
        if (method, path) == ("POST", "/orders"):
            os.kill(proc.pid, signal.SIGINT)
            time.sleep(0.3)

    stack.proxy.after_forward = interrupt
    out, err = proc.communicate(timeout=DEADLINE)
    stack.proxy.after_forward = None
    assert proc.returncode == 130, (out, err)
    assert ("reconciler: interrupted: posted 0, cancelled 0, 2 with an unknown outcome" in err), err
    assert "asks the exchange about each unknown one before posting" in err
    with Store.open(stack.state, read_only=True) as store:
        (last,) = store.recent_runs(1)
        assert last["outcome"] == "interrupted" and last["finished_ms"] is not None
        assert len(store.unresolved_orders()) == 2
    observer = stack.observer()
    placed = {o.order_id for o in observer.open_orders(A)}
    assert len(placed) == 2  # they did land
    again = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=DEADLINE)
    assert again.returncode == 0, again.stderr
    assert {o.order_id for o in observer.open_orders(A)} == placed  # resolved, not doubled
    with Store.open(stack.state, read_only=True) as store:
        assert store.unresolved_orders() == []
