"""The policy through the CLI, in-process against a real paper exchange on 127.0.0.1: `validate`
and `schema` know the section, `plan` prints the verdicts (and `--json` carries them for CI),
`apply --override RULE --reason TEXT` lets a soft one through once, `history` and `status` show
it. An empty paper market has no book, so a soft price band holds its posts."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperclob import PaperConfig, PaperExchange
from reconciler.cli.main import main
from tests.support.engine import new_account

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
SPEC = f"""\
version: 1
policy:
  price_band: {{max_distance: "0.05"}}
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
def paper_config() -> PaperConfig:
    return PaperConfig()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paper: PaperExchange,
        key: str) -> Path:
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
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["apply", "--override", "price_band"], "--override needs --reason"),
        (["apply", "--reason", "because"], "--reason goes with --override"),
        (["apply", "--override", "price_bands", "--reason", "x"], "invalid choice"),
        (["apply", "--override", "price_band", "--reason", "  "], "--reason must say why"),
    ],
)
def test_malformed_overrides_are_refused_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 1 and out == ""
    assert says in err and len(err.strip().splitlines()) == 1
    assert not (env / "state" / "reconciler.db").exists()  # refused before anything ran


def test_plan_apply_override_history_status(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plan", "--json")
    assert code == 0
    shown = json.loads(out)["policy"]
    assert [(v["rule"], v["effect"], v["checked"]) for v in shown["verdicts"]] == [
        ("price_band", "held", False)]
    code, out, _ = run_cli(capsys, "plan")
    assert "policy price_band (soft)" in out and "--override price_band" in out
    code, out, _ = run_cli(capsys, "apply")
    assert code == 0 and "policy holds 1 token(s)" in out
    code, out, _ = run_cli(capsys, "apply", "--override", "price_band", "--reason",
                           "seeding an empty market")
    assert code == 0 and "posted 1" in out
    code, out, _ = run_cli(capsys, "history", "--json")
    [row] = [e for e in json.loads(out) if e["kind"] == "override"]
    assert row["payload"]["reason"] == "seeding an empty market"
    assert row["payload"]["user"] == getpass.getuser()
    assert row["payload"]["plan_digest"] == shown["plan_digest"]
    code, out, _ = run_cli(capsys, "history")
    assert "override" in out and "price_band overridden by" in out
    code, out, _ = run_cli(capsys, "status")
    assert "price_band (soft, overridden)" in out


def test_an_override_of_a_rule_the_policy_does_not_set_fails_apply(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "apply", "--override", "max_position", "--reason", "x")
    assert code == 1
    assert "the policy sets no max_position rule" in out + err


def test_validate_reports_policy_errors_with_positions(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "desired" / "book.yaml").write_text(SPEC.replace('max_distance: "0.05"',
                                                            "max_distance: 5"))
    code, out, _ = run_cli(capsys, "validate")
    assert code == 1
    assert "desired/book.yaml:3:30: max_distance 5 must be between 0 and 1" in out


def test_the_schema_describes_the_policy(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and "policy" in schema["properties"]
    assert {"Policy", "PriceBand", "TradingWindows", "Window"} <= set(schema["$defs"])


# --- policy-check: the files against the public book, no key, no state file ------------------


def _quotes(paper: PaperExchange, bid: str, ask: str) -> None:
    """Another account gives TOKEN a book (bid / ask)."""
    other = new_account(paper.url)
    for side, price in (("BUY", bid), ("SELL", ask)):
        assert other.client.create_and_post_order(TOKEN, side, price, "20", post_only=True).ok


@pytest.mark.parametrize(("bid", "ask", "code"), [("0.44", "0.46", 0), ("0.04", "0.06", 1)])
def test_policy_check_needs_no_key_and_fails_on_a_held_verdict(
    env: Path, paper: PaperExchange, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], bid: str, ask: str, code: int,
) -> None:
    monkeypatch.delenv("PRIVATE_KEY")
    _quotes(paper, bid, ask)
    got, out, _ = run_cli(capsys, "policy-check", "--json")
    report = json.loads(out)
    assert got == code and report["ok"] is (code == 0)
    assert [v["rule"] for v in report["verdicts"]] == ([] if code == 0 else ["price_band"])
    assert not (env / "state").exists()
    got, out, _ = run_cli(capsys, "policy-check")
    assert got == code
    assert ("no verdict would hold a token" in out) is (code == 0)


def test_policy_check_sees_an_open_trading_window(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PRIVATE_KEY")
    (env / "desired" / "book.yaml").write_text(SPEC.replace(
        'price_band: {max_distance: "0.05"}',
        'trading_windows: {windows: [{name: all day, start: "00:00", end: "24:00"}]}\n'
        "  max_position: {shares: 10}"))
    got, out, _ = run_cli(capsys, "policy-check")
    assert got == 1
    assert "trading window 'all day' is open" in out
    assert "not checked here (they need the account: `reconciler plan`): max_position" in out


def test_policy_check_refuses_invalid_files_and_a_missing_host(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLOB_HOST")
    got, _, err = run_cli(capsys, "policy-check")
    assert got == 1 and "set CLOB_HOST or --host" in err
    (env / "desired" / "book.yaml").write_text("version: 2\n")
    got, out, _ = run_cli(capsys, "policy-check")
    assert got == 1 and "book.yaml:1:10: version must be 1" in out
