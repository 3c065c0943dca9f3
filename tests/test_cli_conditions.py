"""A skipped token is not success: `plan`, `apply`, `status` and the daemon say so.

Against the paper exchange and a real state file. A token whose asserted tick (0.001) is not the
live one (0.01) is skipped and left untouched; an order of ours that left the book without the
state file knowing has its level held until a pass resolves it.
"""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.cli import OTHER, TOKEN, Cli, DaemonThread, spec

WRONG_TICK = spec([("BUY", "0.45", "10")], label="Election, YES", extra='tick_size: "0.001"')
REASON = "the live tick size is 0.01 but the spec asserts tick_size 0.001; update the spec"
TWO_TOKENS = WRONG_TICK + spec([("BUY", "0.30", "10")], token=OTHER).split("tokens:\n", 1)[1]


def test_plan_lists_a_skipped_token_with_its_reason_and_exits_2(cli: Cli) -> None:
    cli.write(TWO_TOKENS)
    assert cli.run("apply")[0] == 0  # the other token converges
    code, out, _ = cli.run("plan", "--detailed-exitcode")
    assert code == 2, out  # nothing to post, yet not converged
    assert "Plan: 0 to post, 0 to cancel, 1 unchanged." in out
    assert "Not converged (1 token;" in out
    assert f"  ! token {TOKEN} (Election, YES): skipped: {REASON}" in out, out
    # Terraform's single-dash spelling works the same.
    assert cli.run("plan", "-detailed-exitcode")[0] == 2
    # Without the flag, plan itself succeeds.
    assert cli.run("plan")[0] == 0
    code, out, _ = cli.run("plan", "--json", "--detailed-exitcode")
    assert code == 2
    assert json.loads(out)["conditions"] == [{"token_id": TOKEN,
                                              "condition": f"skipped: {REASON}"}]


def test_plan_exits_0_only_when_every_token_is_converged(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    assert cli.run("plan", "--detailed-exitcode")[0] == 2  # changes pending
    assert cli.run("apply")[0] == 0
    code, out, _ = cli.run("plan", "--detailed-exitcode")
    assert code == 0, out
    assert "Not converged" not in out


def test_apply_lists_the_skipped_token_and_status_shows_its_condition(cli: Cli) -> None:
    cli.write(TWO_TOKENS)
    code, out, _ = cli.run("apply")
    assert code == 0
    assert f"  ! token {TOKEN} (Election, YES): skipped: {REASON}" in out
    assert "ok; posted 1, cancelled 0; 1 token skipped" in out
    code, out, _ = cli.run("status")
    assert code == 0
    assert f"  713210…992563 (Election, YES): skipped: {REASON}" in out
    lines = out.splitlines()
    other = next(i for i, line in enumerate(lines) if line.startswith("  521143…222426"))
    assert lines[other] == "  521143…222426: ready"
    assert lines[other + 1] == ("    BUY  0.30  target 10.00 of 10.00, resting 10.00, filled "
                                "0.00 this generation")
    view = json.loads(cli.run("status", "--json")[1])
    conditions = {t["token_id"]: t["condition"] for t in view["tokens"]}
    assert conditions[OTHER] == "ready"
    assert conditions[TOKEN] == f"skipped: {REASON}"
    assert f"{TOKEN} (Election, YES)" in cli.run("status", "--wide")[1]


def test_a_vanished_order_holds_its_level_in_plan_until_a_pass_resolves_it(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "10")]))
    assert cli.run("apply")[0] == 0
    (order,) = cli.client().get_open_orders()
    cli.client().cancel_orders([order.order_id])  # behind the state file's back
    code, out, err = cli.run("plan", "--detailed-exitcode")
    assert code == 2
    assert "Plan: 0 to post, 0 to cancel, 0 unchanged." in out  # held: nothing posted again
    assert f"posts held: order {order.order_id} has an unknown outcome" in out
    assert "the next `reconciler apply` or daemon pass resolves them" in err
    code, out, _ = cli.run("apply")  # looks the order up (cancelled) and posts the level again
    assert code == 0 and "posted 1" in out
    assert cli.run("plan", "--detailed-exitcode")[0] == 0


def test_the_daemon_warns_once_per_cause_and_once_when_converged_again(
    cli: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    cli.write(WRONG_TICK)
    with caplog.at_level(logging.INFO, logger="reconciler.daemon.daemon"), \
            DaemonThread(cli) as running:
        running.wait_ticks(4)
        cli.write(spec([("BUY", "0.45", "10")], label="Election, YES"))
        running.wait_ticks(3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and "is not converged" in r.getMessage()]
    assert warnings == [f"token {TOKEN} is not converged: skipped: {REASON}"]
    again = [r.getMessage() for r in caplog.records if "converged again" in r.getMessage()]
    assert again == [f"token {TOKEN} is converged again"]
    first = next(r.getMessage() for r in caplog.records if "first tick done" in r.getMessage())
    assert first == "first tick done: noop; 0 orders resting as desired; 1 token skipped"


def test_status_keeps_a_tokens_condition_from_the_last_pass_that_planned_it(cli: Cli) -> None:
    cli.write(TWO_TOKENS)
    assert cli.run("apply")[0] == 0  # TOKEN skipped, OTHER posted
    assert cli.run("apply", "--target", OTHER)[0] == 0  # a pass that plans OTHER only
    view = json.loads(cli.run("status", "--json")[1])
    conditions = {t["token_id"]: t["condition"] for t in view["tokens"]}
    assert conditions == {TOKEN: f"skipped: {REASON}", OTHER: "ready"}
    assert view["last_run"]["summary"]["targets"] == [OTHER]
