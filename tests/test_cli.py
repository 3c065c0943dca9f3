"""The CLI in-process against a real paper exchange on 127.0.0.1 and a real state file.

Money is printed exactly, never through a float. The paper exchange grants unlimited
allowances; one test gives it a finite allowance (its module constant) to see how it prints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

import paperclob.routes_private
from paperclob import PaperConfig, PaperExchange
from reconciler.cli.main import build_parser, main
from reconciler.daemon.lock import StateLock

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
SPEC = f"""\
version: 1
tokens:
  - token_id: "{TOKEN}"
    orders:
      - {{side: BUY, price: "0.45", size: 10}}
      - {{side: BUY, price: "0.44", size: 20}}
"""


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    return sorted(sub.choices)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _detach_our_log_handler() -> Iterator[None]:
    yield
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "reconciler"]


@pytest.fixture
def paper_config() -> PaperConfig:
    return PaperConfig()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paper: PaperExchange,
        key: str) -> Path:
    """Connection settings in the environment, as systemd would pass them; returns the cwd."""
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM",
                "NOTIFY_SOCKET", "RECONCILER_DESIRED", "RECONCILER_STATE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOB_HOST", paper.url)
    monkeypatch.setenv("PRIVATE_KEY", key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "book.yaml").write_text(SPEC)
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", commands())
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: reconciler {command}" in text
    assert len(text.splitlines()) > 5


def test_the_command_list() -> None:
    assert set(commands()) == {
        "validate", "schema", "plan", "apply", "adopt", "run", "status", "history", "state",
        "paper-exchange",
        "orders", "order", "trades", "balance", "keys", "notifications", "cancel", "cancel-all",
        "cancel-market", "policy-check",
    }


def test_no_flag_takes_a_secret() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    for sub_parser in [parser, *sub.choices.values()]:  # type: ignore[union-attr]
        for action in sub_parser._actions:  # noqa: SLF001
            for option in action.option_strings:
                assert option in ("--private-key-file", "--api-key-file") or not any(
                    word in option for word in ("private-key", "secret", "passphrase")
                ), option


def test_usage_errors_exit_1_and_a_key_flag_is_refused(
    capsys: pytest.CaptureFixture[str], key: str
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["orders", "--private-key", key])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err
    with pytest.raises(SystemExit) as done:
        main(["no-such-command"])
    assert done.value.code == 1


def test_validate_and_schema(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate")
    assert code == 0 and "valid (1 files, 1 tokens, 2 levels)" in out
    (env / "broken").mkdir()
    (env / "broken" / "b.yaml").write_text("version: 1\ntokens:\n  - token_id: [\n")
    code, out, _ = run_cli(capsys, "validate", "broken")
    assert code == 1
    assert out.startswith("broken/b.yaml:") or "b.yaml:" in out.splitlines()[0]
    code, out, _ = run_cli(capsys, "schema")
    assert code == 0 and json.loads(out)["type"] == "object"


def test_offline_commands_ignore_a_broken_connection_environment(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRIVATE_KEY", "not-a-key")
    monkeypatch.setenv("SIGNATURE_TYPE", "1")  # no funder: refused where it matters
    assert run_cli(capsys, "validate")[0] == 0
    assert run_cli(capsys, "schema")[0] == 0
    code, _, err = run_cli(capsys, "orders")
    assert code == 1 and "private key is not 32 bytes" in err


def test_commands_that_need_a_key_say_use_paper(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for var in ("CLOB_HOST", "PRIVATE_KEY", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    for argv in (["orders"], ["plan"], ["apply"], ["run"], ["cancel-all", "--yes"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 1 and "--paper" in err, argv
    monkeypatch.setenv("CLOB_HOST", "http://127.0.0.1:9")
    code, _, err = run_cli(capsys, "balance")
    assert code == 1 and "no private key" in err and "--paper" in err


def test_plan_apply_plan_status_history(env: Path, capsys: pytest.CaptureFixture[str],
                                        key: str) -> None:
    code, out, _ = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 2
    assert "Plan: 2 to post, 0 to cancel, 0 unchanged." in out
    code, out, _ = run_cli(capsys, "plan", "--json")
    assert code == 0 and json.loads(out)["has_changes"] is True
    code, out, err = run_cli(capsys, "apply")
    assert code == 0, err
    assert "posted 2" in out
    code, out, _ = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 0 and "Plan: 0 to post, 0 to cancel, 2 unchanged." in out
    code, out, _ = run_cli(capsys, "status")
    assert code == 0
    assert "resting orders:    2" in out and "daemon:            not running" in out
    code, out, _ = run_cli(capsys, "status", "--json")
    state = json.loads(out)
    assert state["resting_orders"] == {TOKEN: 2} and state["daemon_pid"] is None
    code, out, _ = run_cli(capsys, "history", "--json")
    assert [e["kind"] for e in json.loads(out)].count("post") == 2
    code, out, _ = run_cli(capsys, "history")
    assert code == 0 and "post" in out
    assert key not in out and key[2:] not in out


def test_broken_yaml_changes_nothing_and_status_shows_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "apply")[0] == 0
    (env / "desired" / "book.yaml").write_text(SPEC.replace('size: 20}', 'size: -20}'))
    code, out, _ = run_cli(capsys, "apply")
    assert code == 1 and "invalid" in out
    code, out, _ = run_cli(capsys, "plan", "--detailed-exitcode")
    assert code == 1 and "book.yaml:" in out
    code, out, _ = run_cli(capsys, "status")
    assert "INVALID (revision #1 stays in force)" in out and "book.yaml:" in out
    assert "in force:          #1 " in out
    code, out, _ = run_cli(capsys, "orders")
    assert out.count(" BUY ") == 2  # still the two orders of the last valid spec


def test_state_lock_refuses_a_second_writer(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    with StateLock(env / "state" / "reconciler.db"):
        code, _, err = run_cli(capsys, "apply")
        assert code == 1
        assert "state/reconciler.db is in use by pid" in err and str(os.getpid()) in err
        code, _, err = run_cli(capsys, "plan")
        assert code == 1 and "cannot run beside the daemon" in err
        code, out, _ = run_cli(capsys, "status")  # status reads alongside a running daemon
    assert code == 1  # no state file yet: nothing has run


def test_balance_prints_an_allowance_exactly(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,234,567,891,234.567891 pUSD: a float keeps ~16 digits and would print ...234.5679.
    monkeypatch.setattr(paperclob.routes_private, "MAX_UINT256", "1234567891234567891")
    assert main(["balance"]) == 0
    out = capsys.readouterr().out
    allowances = [line for line in out.splitlines() if "allowance" in line]
    assert allowances, out
    assert all(line.endswith(": 1234567891234.567891") for line in allowances), out


def test_balance_prints_an_unlimited_allowance_as_such(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["balance"]) == 0
    out = capsys.readouterr().out
    allowances = [line for line in out.splitlines() if "allowance" in line]
    assert allowances and all(line.endswith(": unlimited") for line in allowances), out


def test_client_commands(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "apply")[0] == 0
    code, out, _ = run_cli(capsys, "orders", "--json")
    found = json.loads(out)
    assert code == 0 and len(found) == 2
    order_id = found[0]["order_id"]
    code, out, _ = run_cli(capsys, "orders", "--token", TOKEN)
    assert code == 0 and out.count("GTC") == 2
    code, out, _ = run_cli(capsys, "order", order_id)
    assert code == 0 and f"order_id: {order_id}" in out
    code, _, err = run_cli(capsys, "order", "0x" + "ab" * 32)
    assert code == 1 and "no order" in err
    code, out, _ = run_cli(capsys, "trades")
    assert code == 0 and out.strip() == "(none)"
    code, out, _ = run_cli(capsys, "balance")
    assert code == 0 and out.startswith("collateral (pUSD): ")
    code, out, _ = run_cli(capsys, "balance", "--token", TOKEN, "--update")
    assert code == 0 and "shares" in out
    code, out, _ = run_cli(capsys, "keys")
    assert code == 0 and len(out.split()) == 1
    code, out, _ = run_cli(capsys, "notifications", "--json")
    assert code == 0 and isinstance(json.loads(out), list)
    code, out, _ = run_cli(capsys, "cancel", order_id)
    assert code == 0 and f"cancelled {order_id}" in out
    code, out, _ = run_cli(capsys, "notifications")
    assert code == 0 and "cancelled" in out
    code, _, err = run_cli(capsys, "cancel-market")
    assert code == 1 and "--market" in err
    code, out, _ = run_cli(capsys, "cancel-market", "--token", TOKEN)
    assert code == 0 and out.count("cancelled 0x") == 1
    code, _, err = run_cli(capsys, "cancel-all")
    assert code == 1 and "--yes" in err
    code, out, _ = run_cli(capsys, "cancel-all", "--yes")
    assert code == 0
    code, _, err = run_cli(capsys, "keys", "delete")
    assert code == 1 and "--yes" in err
    code, out, _ = run_cli(capsys, "keys", "delete", "--yes")
    assert code == 0 and "deleted" in out


def test_run_once_and_show_on_paper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "book.yaml").write_text(SPEC)
    argv = ["run", "--paper", "--desired", "d", "--state", "s/demo.db", "--once-and-show"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "Plan: 2 to post" in out
    table = out.split("== open orders on the exchange ==")[1]
    assert table.count(" BUY ") == 2
    # Again, on the same state file: a fresh paper exchange, the old orders are gone from it.
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert out.split("== open orders on the exchange ==")[1].count(" BUY ") == 2


def test_paper_exchange_command_runs_paperclob(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["paper-exchange", "--", "--help"])
    assert done.value.code == 0
    assert "--port" in capsys.readouterr().out


def test_paper_exchange_takes_paperclobs_options_directly_and_stops_on_sigterm() -> None:
    """`reconciler paper-exchange --port N` (no `--` needed) serves on N until SIGTERM."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "paper-exchange", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first, (first, proc.stderr.read() if proc.stderr else "")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_second_state_file_on_the_same_account_is_refused(
    env: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two reconcilers on one wallet, each with its own state file, would post every level
    twice: the account lock refuses the second, whichever --state it was given."""
    from reconciler.daemon.lock import AccountLock

    address = Account.from_key(key).address
    with AccountLock(account=address, chain_id=137):  # another reconciler holds the account
        for command in ("apply", "plan"):
            code, out, err = run_cli(capsys, command, "--state", str(env / "other.db"))
            assert code == 1, (command, out)
            assert f"account {address.lower()} (chain 137) is already managed" in err
        code, out, _ = run_cli(capsys, "orders")
        assert code == 0 and "BUY" not in out  # nothing was posted by the refused ones
    assert run_cli(capsys, "apply", "--state", str(env / "other.db"))[0] == 0
