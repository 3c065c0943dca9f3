"""`reconciler plan` beside a running daemon on the same state file: it works, writes nothing to
the state file (its bytes are unchanged), sends no write to the exchange (a counting proxy sees
only GETs), resolves nothing, and says that the daemon owns resolution."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.support.processes import Stack, spec, write_yaml

pytestmark = pytest.mark.e2e

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def state_bytes(state: Path) -> dict[str, str | None]:
    # The database and its WAL (the -shm index is shared memory that readers lock in).
    return {name: digest(state.with_name(state.name + suffix))
            for name, suffix in (("db", ""), ("wal", "-wal"))}


def test_plan_beside_a_running_daemon_reads_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_yaml(stack.desired / "book.yaml", spec({A: [("BUY", "0.45", "10"), ("BUY", "0.44", "10")]}))
    daemon = stack.start_daemon("--interval", "86400")  # ticks once, then only on a change
    daemon.wait_for_log("first tick done")
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOB_HOST", stack.proxy.url)
    monkeypatch.setenv("PRIVATE_KEY", stack.key)
    argv = ["plan", "--detailed-exitcode", "--desired", str(stack.desired),
            "--state", str(stack.state)]

    before, mark = state_bytes(stack.state), stack.proxy.mark()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    assert "Plan: 0 to post, 0 to cancel, 2 unchanged." in out
    assert f"a daemon (pid {daemon.pid}) runs on this state file; it owns resolution" in err
    assert [r for r in stack.proxy.since(mark) if r[0] != "GET"] == []
    assert state_bytes(stack.state) == before

    # An order of ours leaves the book behind the daemon's back: plan does not judge it.
    observer = stack.observer()
    gone = observer.open_orders(A)[0].order_id
    observer.client.cancel_orders([gone])
    before, mark = state_bytes(stack.state), stack.proxy.mark()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert f"posts held: order {gone} has an unknown outcome" in out
    assert f"the daemon (pid {daemon.pid}) resolves them on its next pass" in err
    requests = stack.proxy.since(mark)
    assert [r for r in requests if r[0] != "GET"] == []
    assert not any(path.startswith("/data/order/") for _, path in requests)  # no lookup
    assert state_bytes(stack.state) == before
    assert daemon.proc.poll() is None  # the daemon was not disturbed
