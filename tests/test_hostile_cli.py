"""Hostile values and files at the CLI: each is refused with exit 1 and exactly one line on
stderr, before anything is sent to the exchange, and nothing resting changes.

The real CLI in-process (`main`, captured output) against a real paper exchange on 127.0.0.1,
real state files and real directories. Keys are generated here.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from paperclob import PaperConfig, PaperExchange
from reconciler.cli.main import main
from reconciler.cli.settings import SECP256K1_N

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
SPEC = f"""\
version: 1
tokens:
  - token_id: "{TOKEN}"
    orders:
      - {{side: BUY, price: "0.45", size: 10}}
"""


@pytest.fixture(autouse=True)
def _detach_our_log_handler() -> Iterator[None]:
    yield
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "reconciler"]


@pytest.fixture
def exchange() -> Iterator[PaperExchange]:
    with PaperExchange(PaperConfig()) as paper:
        yield paper


@pytest.fixture
def key() -> str:
    return "0x" + bytes(Account.create().key).hex()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exchange: PaperExchange,
        key: str) -> Path:
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM",
                "NOTIFY_SOCKET", "RECONCILER_DESIRED", "RECONCILER_STATE", "RECONCILER_INTERVAL",
                "RECONCILER_LOG_LEVEL", "RECONCILER_METRICS_PORT", "CHAIN_ID", "SIGNATURE_TYPE",
                "FUNDER_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOB_HOST", exchange.url)
    monkeypatch.setenv("PRIVATE_KEY", key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "book.yaml").write_text(SPEC)
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own refusals
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def resting(exchange: PaperExchange, key: str) -> list[tuple[str, str]]:
    address = Account.from_key(key).address
    return sorted((o.order_id, str(o.price)) for o in exchange.exchange.open_orders_of(address))


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run, expect exit 1 and exactly one line on stderr; return that line."""
    code, out, err = run_cli(capsys, *argv)
    assert code == 1, (argv, out, err)
    assert err.endswith("\n") and err.count("\n") == 1, (argv, err)
    return err.rstrip("\n")


# --- the state file through `apply`: refused, and no order changed ----------------------------


def test_apply_refuses_an_unrelated_sqlite_file_and_trades_nothing(
    env: Path, exchange: PaperExchange, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    history = env / "places.sqlite"
    conn = sqlite3.connect(history)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.commit()
    conn.close()
    before = history.read_bytes()
    line = refused(capsys, "apply", "--state", str(history))
    assert line == (f"reconciler: {history} is not a reconciler state file (it holds tables "
                    "moz_places); reconciler leaves it alone: point --state at reconciler's own "
                    "file")
    assert history.read_bytes() == before
    assert resting(exchange, key) == []


def test_a_state_file_of_another_account_is_refused_and_its_orders_stay(
    env: Path, exchange: PaperExchange, key: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run_cli(capsys, "apply")[0] == 0
    mine = resting(exchange, key)
    assert len(mine) == 1
    other = "0x" + bytes(Account.create().key).hex()
    monkeypatch.setenv("PRIVATE_KEY", other)
    line = refused(capsys, "apply")
    state = Path("state/reconciler.db")
    assert line == (f"reconciler: {state} belongs to funder {Account.from_key(key).address} on "
                    f"chain 137, not to funder {Account.from_key(other).address} on chain 137; "
                    "use that account's state file, or another --state for this one")
    assert resting(exchange, key) == mine and resting(exchange, other) == []
    monkeypatch.setenv("PRIVATE_KEY", key)
    # Paper fills must never count toward real levels.
    line = refused(capsys, "apply", "--paper", "--state", str(state), "--log-level", "WARNING")
    assert line == (f"reconciler: {state} belongs to funder {Account.from_key(key).address} on "
                    "chain 137, not to the paper exchange (chain 137); use that account's state "
                    "file, or another --state for this one")
    with PaperExchange(PaperConfig(chain_id=80002)) as amoy:  # the same key on another chain
        line = refused(capsys, "apply", "--host", amoy.url, "--chain-id", "80002")
        assert line.endswith(f"not to funder {Account.from_key(key).address} on chain 80002; "
                             "use that account's state file, or another --state for this one")
        assert resting(amoy, key) == []
    assert resting(exchange, key) == mine


def test_history_limits_are_checked(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad, why in (("1e20", "'1e20' is not a whole number"), ("-1", "must be from 1 to 100000"),
                     ("0", "must be from 1 to 100000")):
        line = refused(capsys, "history", "--limit", bad)
        assert line == (f"reconciler history: error: argument --limit: {why}; usage: reconciler "
                        "history [--limit LIMIT] [--json] [--wide] (see `reconciler history "
                        "--help`)")


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["run", "--interval", "1e308"], "--interval must be from 1 to 86400 seconds"),
        (["run", "--interval", "inf"], "--interval must be a number of seconds greater than "
                                        "zero, from 1 to 86400"),
        (["run", "--interval", "nan"], "--interval must be a number of seconds greater than "
                                        "zero, from 1 to 86400"),
        (["run", "--interval", "1e12"], "--interval must be from 1 to 86400 seconds"),
        (["run", "--interval", "1e-9"], "--interval must be from 1 to 86400 seconds"),
        (["run", "--debounce", "1e9"], "--debounce must be from 0.01 to 60 seconds"),
        (["run", "--stop-timeout", "-5"], "--stop-timeout must be a number of seconds greater "
                                          "than zero, from 1 to 3600"),
        (["apply", "--request-timeout", "1e308"], "--request-timeout must be from 0.5 to 600 "
                                                  "seconds"),
        (["apply", "--chain-id", "-1"], "CHAIN_ID (--chain-id) must be a positive chain id, e.g. "
                                        "137 for Polygon or 80002 for Amoy"),
        (["apply", "--log-level", "NOPE"], "--log-level must be one of: DEBUG, INFO, WARNING, "
                                           "ERROR, CRITICAL"),
        (["status", "--log-level", "NOPE"], "--log-level must be one of: DEBUG, INFO, WARNING, "
                                            "ERROR, CRITICAL"),
        (["run", "--ws-url", "http://127.0.0.1:9/ws"], "--ws-url (CLOB_WS_URL) must be a ws:// "
                                                        "or wss:// URL, e.g. "
                                                        "wss://ws-subscriptions-clob.polymarket."
                                                        "com/ws"),
    ],
)
def test_out_of_range_values_are_one_line(
    env: Path, exchange: PaperExchange, key: str, capsys: pytest.CaptureFixture[str],
    argv: list[str], line: str,
) -> None:
    assert refused(capsys, *argv) == f"reconciler: {line}"
    assert resting(exchange, key) == []
    assert not Path("state/reconciler.db").exists()


@pytest.mark.parametrize("value", [0, 1, SECP256K1_N - 1, SECP256K1_N, 2**256 - 1])
def test_a_private_key_out_of_range_is_refused_unquoted(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: int
) -> None:
    text = f"0x{value:064x}"
    monkeypatch.setenv("PRIVATE_KEY", text)
    if 0 < value < SECP256K1_N:
        assert run_cli(capsys, "orders")[0] == 0  # the edges of the range are keys
        return
    line = refused(capsys, "orders")
    assert line == ("reconciler: the private key is out of range for secp256k1 (it must be "
                    "between 1 and the curve order minus 1); it is not a usable key: check it")
    assert text[2:10] not in line


@pytest.mark.parametrize("secret", ["not base64 at all!", "abc", "====", "YWJj\n"[:3]])
def test_an_api_secret_that_is_not_base64_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("API_KEY", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("SECRET", secret)
    monkeypatch.setenv("PASSPHRASE", "x" * 64)
    line = refused(capsys, "orders")
    assert line == ("reconciler: the API secret (SECRET, or the credential 'api_secret') is not "
                    "base64 text as the exchange issues it; copy it again")


def test_a_metrics_port_in_use_is_refused_before_the_daemon_starts(
    env: Path, exchange: PaperExchange, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = refused(capsys, "run", "--metrics-port", str(port))
    assert line == (f"reconciler: --metrics-port {port} cannot be served on 127.0.0.1 (Address "
                    "already in use); choose a free port")
    assert resting(exchange, key) == []  # no tick ran
    assert not Path("state/reconciler.db").exists()


# --- the private key file ----------------------------------------------------------------------


def _key_file(path: Path, key: str, mode: int) -> Path:
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused_with_the_chmod_to_run(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str,
    mode: int,
) -> None:
    monkeypatch.delenv("PRIVATE_KEY")
    path = _key_file(env / "key", key, mode)
    line = refused(capsys, "orders", "--private-key-file", str(path))
    assert line == (f"reconciler: --private-key-file at {path} can be read by other users (mode "
                    f"{mode:04o}); run `chmod 600 {path}`")
    assert key[2:18] not in line
    path.chmod(0o600)
    assert run_cli(capsys, "orders", "--private-key-file", str(path))[0] == 0


def test_a_key_file_that_is_not_a_regular_file_is_refused_at_once(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PRIVATE_KEY")
    fifo = env / "fifo"
    os.mkfifo(fifo, 0o600)  # nobody writes: a blocking open would hang forever
    link = env / "zero-link"
    link.symlink_to("/dev/zero")  # a link is followed, and what it points at is checked
    for path in (Path("/dev/zero"), link, fifo, env / "desired"):
        line = refused(capsys, "orders", "--private-key-file", str(path))
        assert line == (f"reconciler: --private-key-file at {path} is not a regular file; point "
                        "it at the file holding the key")


def test_a_key_file_larger_than_a_few_kilobytes_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str,
) -> None:
    monkeypatch.delenv("PRIVATE_KEY")
    path = env / "big"
    path.write_text((key + "\n") * 100)
    path.chmod(0o600)
    line = refused(capsys, "orders", "--private-key-file", str(path))
    assert line == (f"reconciler: --private-key-file at {path} is 6700 bytes, more than the 4096 "
                    "a key file can be; point it at the file holding only the key")
