"""Help and first steps: --version, doctor, progress lines, --paper explained, keygen, the
paper exchange's own --help, errors that name their cause, a command's own usage, no
abbreviations, and grammar. Against the paper exchange and real state files."""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

import pytest
from eth_account import Account

from paperclob import PaperConfig, PaperExchange
from reconciler.cli.progress import Progress
from reconciler.model import Plan
from reconciler.store import Store
from tests.support.cli import Cli, spec


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_version(cli: Cli) -> None:
    code, out, _ = cli.run("--version")
    assert code == 0 and re.fullmatch(r"reconciler \d+\.\d+\.\d+\S*\n", out), out


def test_doctor_passes_on_a_healthy_setup(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10"), ("SELL", "0.60", "10")], label="Election, YES",
                   extra='tick_size: "0.01"'))
    assert cli.run("apply")[0] == 0
    code, out, _ = cli.run("doctor")
    assert code == 0, out
    names = [line.split()[1] for line in out.splitlines()[:8]]
    assert names == ["exchange", "signer", "credentials", "funds", "markets", "clock", "rate",
                     "state"]
    assert all(line.startswith("PASS") for line in out.splitlines()[:8]), out
    assert "accepts this key's L1 signature for chain 137" in out
    assert f"type 0 (EOA): the key's address {cli.address} holds the funds" in out
    assert "1 token takes orders; 1 with assertions, all matching" in out
    assert f"state/reconciler.db belongs to funder {cli.address} on chain 137" in out
    assert out.rstrip().endswith("8 checks: 0 failed, 0 with a warning")


def test_doctor_fails_each_problem_with_what_to_do(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "50000")], label="Election, YES",
                   extra='tick_size: "0.001"\nneg_risk: true'))
    code, out, _ = cli.run("doctor")
    assert code == 1
    lines = {line.split()[1]: line for line in out.splitlines() if line[:4] in ("PASS", "FAIL",
                                                                             "WARN")}
    assert lines["funds"].startswith("FAIL") and "less than the declared buys' 22500.00" in out
    assert lines["markets"].startswith("FAIL")
    assert "tick_size 0.001 asserted, the market's is 0.01" in lines["markets"]
    assert "neg_risk true asserted, the market's is false" in lines["markets"]
    assert lines["exchange"].startswith("PASS")
    assert "2 failed" in out.splitlines()[-1]


def test_a_chain_id_mismatch_says_so_rather_than_a_401(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PaperExchange(PaperConfig(chain_id=80002)) as amoy:
        monkeypatch.setenv("CLOB_HOST", amoy.url)
        code, _, err = cli.run("orders")
        assert code == 1
        assert err == (f"reconciler: chain id mismatch: the exchange at {amoy.url} signs for "
                       "chain 80002, not CHAIN_ID 137; set CHAIN_ID=80002 (--chain-id 80002) if "
                       "that is the network you mean\n")
        code, out, _ = cli.run("doctor")
        assert code == 1 and out.startswith("FAIL  exchange      chain id mismatch")
        assert cli.run("orders", "--chain-id", "80002")[0] == 0


def test_a_wrong_port_and_https_against_http_name_their_cause(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("CLOB_HOST", f"http://127.0.0.1:{port}")
    code, _, err = cli.run("orders")
    assert code == 1
    assert err == (f"reconciler: the host http://127.0.0.1:{port} did not answer: the connection "
                   "was refused (nothing listens on that port). Check --host / CLOB_HOST, the "
                   "port, and that the exchange is running.\n")
    https = cli.paper.url.replace("http://", "https://")
    monkeypatch.setenv("CLOB_HOST", https)
    code, _, err = cli.run("orders")
    assert code == 1
    assert err == (f"reconciler: {https} does not speak https: the server there answers plain "
                   f"http. Use {cli.paper.url} (or point --host at the TLS endpoint).\n")
    assert "the exchange said no" not in err


def test_apply_shows_progress_as_log_lines_without_a_terminal(cli: Cli) -> None:
    cli.write(spec([(side, f"0.{p}", "10") for side, p in [("BUY", n) for n in range(20, 40)]]))
    code, _, err = cli.run("apply")
    assert code == 0
    assert "reading open orders: page 1" in err
    assert "posting batch 1 of 2" in err and "posting batch 2 of 2" in err
    code, _, err = cli.run("apply", "--log-level", "WARNING")
    assert "reading open orders" not in err  # they are INFO lines


def test_progress_counts_lookups_against_the_unknown_outcomes() -> None:
    progress = Progress(draw=False)
    progress.stage("resolving", 2)
    progress.request("GET", "/data/order/0xab")
    progress.request("GET", "/data/order/0xcd")
    progress.stage("applying", Plan())
    progress.request("GET", "/data/orders")
    assert progress.lines == ["resolving 2 order(s) with an unknown outcome, by hash",
                              "looking up order 1 of 2 by hash",
                              "looking up order 2 of 2 by hash",
                              "reading open orders: page 1"]


def test_paper_commands_say_they_start_a_fresh_exchange(cli: Cli) -> None:
    code, _, err = cli.run("orders", "--paper")
    assert code == 0
    assert "--paper: started a fresh, empty paper exchange at http://127.0.0.1:" in err
    assert "with a new throwaway key; it stops when this command exits" in err
    assert "`reconciler paper-exchange --port 8080`" in err and "reconciler keygen" in err


def test_keygen_writes_a_key_to_a_file_or_a_pipe_never_a_terminal(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli.run("keygen")
    assert code == 0 and re.fullmatch(r"0x[0-9a-f]{64}\n", out)
    assert Account.from_key(out.strip()).address in err and out.strip() not in err
    code, _, err = cli.run("keygen", "--out", "key")
    assert code == 0 and stat.S_IMODE(os.stat("key").st_mode) == 0o600
    key = Path("key").read_text().strip()
    assert re.fullmatch(r"0x[0-9a-f]{64}", key) and key not in err
    code, _, err = cli.run("keygen", "--out", "key")
    assert code == 1 and "key exists; keygen never overwrites a key file" in err
    assert Path("key").read_text().strip() == key
    monkeypatch.setenv("PRIVATE_KEY", key)  # the new key works
    assert cli.run("orders")[0] == 0
    monkeypatch.setattr("reconciler.cli.output.is_terminal", lambda stream=None: True)
    code, out, err = cli.run("keygen")
    assert code == 1 and out == "" and "send it to a file, not the screen" in err


def test_paper_exchange_help_shows_its_own_flags(cli: Cli) -> None:
    code, out, _ = cli.run("paper-exchange", "--help")
    assert code == 0
    assert out.startswith("usage: reconciler paper-exchange")
    for flag in ("--port", "--markets", "--page-size", "--latency-ms", "--no-admin"):
        assert flag in out


def test_a_usage_error_shows_that_commands_usage_and_abbreviations_are_refused(
    cli: Cli,
) -> None:
    code, _, err = cli.run("plan", "--detailed")  # an abbreviation of --detailed-exitcode
    assert code == 1
    assert err.startswith("reconciler plan: error: unrecognized arguments: --detailed; usage: "
                          "reconciler plan [--json] [--detailed-exitcode] [--out FILE] "
                          "[--target TOKEN]")
    assert err.count("\n") == 1
    code, _, err = cli.run("history", "--lim", "3")
    assert code == 1 and "usage: reconciler history [--limit LIMIT]" in err


def test_grammar_one_file_one_error(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    code, out, _ = cli.run("validate")
    assert code == 0 and out.endswith("valid (1 file, 1 token, 1 level)\n")
    assert cli.run("apply")[0] == 0
    cli.write(spec([("BUY", "0.45", "-10")]))
    code, out, _ = cli.run("apply")
    assert code == 1 and "desired state invalid (1 error)" in out


def test_a_run_left_open_by_a_dead_process_is_closed_by_the_next_writer(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    assert cli.run("apply")[0] == 0
    with Store.open(cli.state) as store:  # a pass that started and never finished (SIGKILL)
        stale = store.start_run(None)
    (last_run,) = [line for line in cli.run("status")[1].splitlines()
                   if line.startswith("last run:")]
    assert "running at" in last_run
    code, _, err = cli.run("apply")
    assert code == 0
    assert f"closed 1 run(s) left open by a process that stopped mid-pass (#{stale})" in err
    with Store.open(cli.state, read_only=True) as store:
        row = next(r for r in store.recent_runs(10) if r["id"] == stale)
    assert row["outcome"] == "interrupted" and row["finished_ms"] is not None
