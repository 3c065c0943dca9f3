"""`reconciler adopt`, and what `plan` and `status` show of blind tokens (invariant 10): the CLI
in-process against a real paper exchange on 127.0.0.1 and real state files in tmp_path.

The account's book is placed through one state file (`apply`); the commands then run against a
second, new one, beside that book: the case of a lost or replaced state file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperclob import PaperConfig, PaperExchange
from reconciler.cli.main import main
from reconciler.store import Store

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
SPEC = f"""\
version: 1
tokens:
  - token_id: "{TOKEN}"
    label: "Example, YES"
    orders:
      - {{side: BUY, price: "0.45", size: 10}}
      - {{side: BUY, price: "0.44", size: 20}}
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
def placed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paper: PaperExchange, key: str,
           capsys: pytest.CaptureFixture[str]) -> Path:
    """The book placed through `old.db`; returns the path of a new state file beside it."""
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM",
                "NOTIFY_SOCKET", "RECONCILER_DESIRED", "RECONCILER_STATE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOB_HOST", paper.url)
    monkeypatch.setenv("PRIVATE_KEY", key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "book.yaml").write_text(SPEC)
    assert main(["apply", "--state", "old.db"]) == 0
    capsys.readouterr()
    return tmp_path / "new.db"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def terminal(monkeypatch: pytest.MonkeyPatch, answer: str) -> list[str]:
    """Stdin as a terminal that answers `answer`; returns the questions asked."""
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def reply(question: str) -> str:
        asked.append(question)
        return answer

    monkeypatch.setattr("builtins.input", reply)
    return asked


def test_adopt_on_a_terminal_shows_the_orders_and_asks_first(
    placed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = terminal(monkeypatch, "n")
    code, out, _ = run_cli(capsys, "adopt", "--state", str(placed))
    assert code == 1 and asked == ["Adopt these 2 order(s) as the daemon's? [y/N] "]
    assert f"token {TOKEN}  (Example, YES)" in out
    assert "? BUY  0.44 x 20" in out and "? BUY  0.45 x 10" in out
    assert "Nothing adopted." in out
    with Store.open(placed, read_only=True) as store:
        assert store.orders() == []

    terminal(monkeypatch, "y")
    code, out, _ = run_cli(capsys, "adopt", "--state", str(placed))
    assert code == 0 and "Adopted 2 order(s) on 1 token(s)" in out
    with Store.open(placed, read_only=True) as store:
        assert len(store.orders()) == 2
        assert [e["kind"] for e in store.history(10)] == ["adopt", "adopt"]
    # Now a pass has nothing to do: the orders are the daemon's.
    code, out, _ = run_cli(capsys, "apply", "--state", str(placed))
    assert code == 0 and "Plan: 0 to post, 0 to cancel, 2 unchanged." in out


def test_plan_and_status_show_the_blind_token_and_its_orders(
    placed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "plan", "--json", "--state", str(placed))
    assert code == 0
    shown = json.loads(out)
    assert shown["plan"]["summary"]["post"] == 0
    [blind] = shown["plan"]["blind"]
    assert blind["token_id"] == TOKEN
    assert sorted((o["side"], o["price"], o["remaining"]) for o in blind["orders"]) == [
        ("BUY", "0.44", "20"), ("BUY", "0.45", "10")]
    code, out, _ = run_cli(capsys, "apply", "--state", str(placed))  # the pass a daemon makes
    assert code == 0 and "posts held: 2 open orders this state file has no record of" in out
    code, out, _ = run_cli(capsys, "status", "--state", str(placed))
    assert code == 0
    assert "blind tokens:      1 (2 open orders not in this state file" in out
    assert f"  {TOKEN}: 2 at BUY 0.44 (1), BUY 0.45 (1)" in out
    code, out, _ = run_cli(capsys, "status", "--json", "--state", str(placed))
    state = json.loads(out)
    assert state["identity"]["chain_id"] == 137 and state["identity"]["funder"].startswith("0x")
    assert len(state["identity"]["file_id"]) == 32
    assert state["blind"] == [{"token_id": TOKEN, "orders": 2, "levels": [
        {"side": "BUY", "price": "0.44", "orders": 1, "size": "20"},
        {"side": "BUY", "price": "0.45", "orders": 1, "size": "10"}]}]


def test_adopt_refuses_a_token_that_is_not_declared_in_one_line(
    placed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "adopt", "--yes", "--token", "12345", "--state", str(placed))
    assert code == 1
    assert err == ("reconciler: token 12345 is not declared in the desired state; only declared "
                   "levels are adopted\n")


def test_adopt_with_nothing_blind_says_so(placed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "adopt", "--yes", "--state", "old.db")  # it knows them all
    assert code == 0 and out.startswith("Nothing to adopt")
