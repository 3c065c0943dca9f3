"""Saved plans, `--target`, and the question before an interactive apply.

`plan -out FILE` writes the plan with the digests of what it was computed from; `apply FILE`
applies exactly it, and refuses (applying nothing) when the desired files, the open orders or
the market info changed since. On a terminal, `apply` shows the plan and asks; `-auto-approve`
does not ask; without a terminal it acts as before.
"""

from __future__ import annotations

import builtins
import io
import json
import sys
from decimal import Decimal

import pytest
import requests

from reconciler.model import OrderType, Side
from tests.support.cli import OTHER, TOKEN, Cli, spec

TWO_TOKENS = spec([("BUY", "0.45", "10")], label="Election, YES") + spec(
    [("BUY", "0.30", "10")], token=OTHER, label="Other").split("tokens:\n", 1)[1]


def prices(cli: Cli) -> list[Decimal]:
    return sorted(o.price for o in cli.client().get_open_orders())


def test_plan_out_then_apply_file_applies_exactly_that_plan(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10"), ("BUY", "0.44", "10")]))
    code, out, err = cli.run("plan", "-out", "plan.json")
    assert code == 0 and "Plan: 2 to post" in out
    assert "Saved this plan to plan.json. `reconciler apply plan.json` applies exactly it" in err
    saved = json.loads((cli.root / "plan.json").read_text())
    assert saved["format"] == "reconciler-plan" and saved["plan"]["summary"]["post"] == 2
    assert set(saved["digests"]) == {"desired", "open_orders", "markets", "plan"}
    assert not cli.state.exists()  # plan wrote no state file
    code, out, _ = cli.run("apply", "plan.json")
    assert code == 0, out
    assert "posted 2, cancelled 0" in out
    assert prices(cli) == [Decimal("0.44"), Decimal("0.45")]
    # The same plan a second time: the open orders changed (by it), so it is refused.
    code, _, err = cli.run("apply", "plan.json")
    assert code == 1
    assert err.splitlines()[-1] == (
        "reconciler: the open orders changed since plan.json was planned (an order was placed, "
        "filled or cancelled); run `reconciler plan -out plan.json` again, review it, and apply "
        "that; nothing was applied")
    assert len(prices(cli)) == 2


def test_apply_file_refuses_changed_desired_files(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    assert cli.run("plan", "--out", "plan.json")[0] == 0
    cli.write(spec([("BUY", "0.40", "10")]))
    code, _, err = cli.run("apply", "plan.json")
    assert code == 1
    assert err.splitlines()[-1].startswith(
        "reconciler: the desired files changed since plan.json was planned")
    assert prices(cli) == []


def test_apply_file_refuses_changed_open_orders_and_market_info(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    assert cli.run("plan", "-out", "plan.json")[0] == 0
    mine = cli.client()
    mine.post_order(mine.create_order(TOKEN, Side.BUY, "0.20", "10"), OrderType.GTC)
    code, _, err = cli.run("apply", "plan.json")
    assert code == 1 and "the open orders changed since plan.json" in err
    assert prices(cli) == [Decimal("0.20")]
    assert cli.run("plan", "-out", "plan.json")[0] == 0
    answer = requests.post(cli.paper.url + "/_admin/market",
                           json={"token_id": TOKEN, "min_order_size": "2"}, timeout=10)
    assert answer.status_code == 200, answer.text
    code, _, err = cli.run("apply", "plan.json")
    assert code == 1 and "the market info (tick size, minimum size, neg-risk, status) changed" in err
    assert prices(cli) == [Decimal("0.20")]


def test_apply_file_refuses_a_plan_for_another_state_file_or_a_damaged_one(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    assert cli.run("plan", "-out", "plan.json")[0] == 0
    code, _, err = cli.run("apply", "plan.json", "--state", "elsewhere.db")
    assert code == 1 and "plan.json was planned for state file " in err
    assert "elsewhere.db; plan again here" in err
    (cli.root / "bad.json").write_text('{"format": "reconciler-plan", "version": 1}')
    code, _, err = cli.run("apply", "bad.json")
    assert code == 1 and err == ("reconciler: bad.json is a damaged plan file (a field is "
                                 "missing or of the wrong type); plan again\n")
    (cli.root / "junk.json").write_text("not json")
    code, _, err = cli.run("apply", "junk.json")
    assert code == 1 and "junk.json is not a plan file (not JSON)" in err
    code, _, err = cli.run("apply", "plan.json", "--target", TOKEN)
    assert code == 1 and "keeps the --target it was made with" in err
    assert prices(cli) == []


def test_target_limits_plan_and_apply_to_some_tokens(cli: Cli) -> None:
    cli.write(TWO_TOKENS)
    code, out, _ = cli.run("plan", "--target", "Other")  # by label
    assert code == 0
    assert f"token {OTHER}  (Other)" in out and TOKEN not in out
    assert "Plan: 1 to post, 0 to cancel, 0 unchanged." in out
    code, out, _ = cli.run("apply", "-target", TOKEN)  # by id
    assert code == 0 and "posted 1" in out
    assert prices(cli) == [Decimal("0.45")]
    code, _, err = cli.run("plan", "--target", "no-such-token")
    assert code == 1 and "--target 'no-such-token' is neither a token of the desired files" in err
    # A saved plan keeps its targets.
    assert cli.run("plan", "--target", OTHER, "-out", "other.json")[0] == 0
    assert json.loads((cli.root / "other.json").read_text())["targets"] == [OTHER]
    assert cli.run("apply", "other.json")[0] == 0
    assert prices(cli) == [Decimal("0.30"), Decimal("0.45")]


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin and stdout are a terminal (as far as the CLI asks)."""
    monkeypatch.setattr("reconciler.cli.output.is_terminal", lambda stream=None: True)


def test_an_interactive_apply_shows_the_plan_and_asks(
    cli: Cli, terminal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    monkeypatch.setattr(sys, "stdin", io.StringIO("no\n"))
    code, out, _ = cli.run("apply")
    assert code == 1
    assert "Plan: 1 to post" in out and "Do you want to apply this plan?" in out
    assert "Apply cancelled: nothing was changed." in out
    assert prices(cli) == []
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    code, out, _ = cli.run("apply")
    assert code == 0 and "ok; posted 1, cancelled 0" in out
    assert out.count("Plan: 1 to post") == 1  # shown once, before the question
    assert prices(cli) == [Decimal("0.45")]


def test_auto_approve_does_not_ask(cli: Cli, terminal: None,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a question would read EOF: cancelled
    code, out, _ = cli.run("apply", "-auto-approve")
    assert code == 0 and "Do you want" not in out and "posted 1" in out
    assert cli.run("apply", "--auto-approve")[0] == 0


def test_a_change_between_the_question_and_the_answer_is_refused(
    cli: Cli, terminal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    mine = cli.client()

    def answer_after_a_change(prompt: str = "") -> str:
        mine.post_order(mine.create_order(TOKEN, Side.BUY, "0.20", "10"), OrderType.GTC)
        return "yes"

    monkeypatch.setattr(builtins, "input", answer_after_a_change)
    code, _, err = cli.run("apply")
    assert code == 1
    assert "the open orders changed since the plan shown was planned" in err
    assert "nothing was applied" in err
    assert prices(cli) == [Decimal("0.20")]


def test_without_a_terminal_apply_does_not_ask(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, _ = cli.run("apply")
    assert code == 0 and "Do you want" not in out and "posted 1" in out
