"""Review tests of the CLI's money output: amounts are printed exactly, never through a float.

In-process against a real paper exchange on 127.0.0.1. The paper exchange grants unlimited
allowances; one test gives it a finite allowance (its module constant) to see how it prints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

import paperclob.routes_private
from paperclob import PaperConfig, PaperExchange
from reconciler.cli.main import main


@pytest.fixture(autouse=True)
def _detach_our_log_handler() -> Iterator[None]:
    yield
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "reconciler"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PaperExchange]:
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM"):
        monkeypatch.delenv(var, raising=False)
    with PaperExchange(PaperConfig()) as paper:
        monkeypatch.setenv("CLOB_HOST", paper.url)
        monkeypatch.setenv("PRIVATE_KEY", "0x" + bytes(Account.create().key).hex())
        monkeypatch.chdir(tmp_path)
        yield paper


def test_balance_prints_an_allowance_exactly(
    env: PaperExchange, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,234,567,891,234.567891 pUSD: a float keeps ~16 digits and would print ...234.5679.
    monkeypatch.setattr(paperclob.routes_private, "MAX_UINT256", "1234567891234567891")
    assert main(["balance"]) == 0
    out = capsys.readouterr().out
    allowances = [line for line in out.splitlines() if "allowance" in line]
    assert allowances, out
    assert all(line.endswith(": 1234567891234.567891") for line in allowances), out


def test_balance_prints_an_unlimited_allowance_as_such(
    env: PaperExchange, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["balance"]) == 0
    out = capsys.readouterr().out
    allowances = [line for line in out.splitlines() if "allowance" in line]
    assert allowances and all(line.endswith(": unlimited") for line in allowances), out
