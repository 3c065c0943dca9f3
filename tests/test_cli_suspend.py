"""`reconciler suspend [--cancel]` and `resume` without a daemon: recorded in the state file,
honoured by every pass (`apply` posts and cancels nothing), shown by `plan` and `status`, and
`--cancel` cancels our orders once (never another account's)."""

from __future__ import annotations

import json
from decimal import Decimal

from reconciler.model import OrderType, Side
from reconciler.store import Store
from tests.support.cli import TOKEN, Cli, spec

BOOK = spec([("BUY", "0.45", "10"), ("BUY", "0.44", "20")], label="Election, YES")


def test_a_suspended_apply_posts_nothing_and_resume_brings_it_back(cli: Cli) -> None:
    cli.write(BOOK)
    assert cli.run("apply")[0] == 0
    code, out, _ = cli.run("suspend", "--reason", "market news")
    assert code == 0
    assert "nothing is posted or cancelled until `reconciler resume`" in out
    assert "the next `run` or `apply` starts suspended" in out
    cli.write(spec([("BUY", "0.40", "10")], label="Election, YES"))  # a change: would cancel 2
    code, out, err = cli.run("apply")
    assert code == 1
    assert "nothing posted or cancelled" in out and "market news" in out
    assert "this apply posted and cancelled nothing; `reconciler resume`" in err
    assert sorted(o.price for o in cli.client().get_open_orders()) == [Decimal("0.44"),
                                                                       Decimal("0.45")]
    code, out, _ = cli.run("plan", "--detailed-exitcode")
    assert code == 2
    assert "Plan: 1 to post, 2 to cancel" in out
    assert "SUSPENDED: suspended by " in out and "(market news)" in out
    code, out, _ = cli.run("status")
    assert "suspended:         YES, by " in out and "(market news)" in out
    assert "  713210…992563 (Election, YES): suspended by " in out
    view = json.loads(cli.run("status", "--json")[1])
    assert view["suspension"]["reason"] == "market news"
    assert "@" in view["suspension"]["by"] and view["suspension"]["cancel_requested"] is False
    code, out, _ = cli.run("resume")
    assert code == 0 and out.startswith("resumed (was suspended by ")
    assert cli.run("resume")[1] == "not suspended; nothing to resume\n"
    code, out, _ = cli.run("apply")
    assert code == 0 and "posted 1, cancelled 2" in out
    assert "suspended:         no" in cli.run("status")[1]


def test_suspend_cancel_cancels_our_orders_once_and_never_another_accounts(cli: Cli) -> None:
    cli.write(BOOK)
    assert cli.run("apply")[0] == 0
    # An order of ours placed by hand (not in the state file) is not ours to cancel.
    mine = cli.client()
    stranger = mine.create_order(TOKEN, Side.BUY, "0.30", "10")
    mine.post_order(stranger, OrderType.GTC)
    code, out, err = cli.run("suspend", "--cancel")
    assert code == 0, (out, err)
    assert "our orders are cancelled once" in out
    assert "only our orders cancelled once (--cancel); posted 0, cancelled 2" in out
    left = cli.client().get_open_orders()
    assert [o.order_id for o in left] == [stranger.order_id]
    with Store.open(cli.state, read_only=True) as store:
        suspension = store.suspension()
    assert suspension is not None and suspension.cancel_done_ms is not None
    assert suspension.cancel_result == "cancelled 2 of 2 of our orders"
    assert "--cancel done at " in cli.run("status")[1]
    code, out, _ = cli.run("apply")  # once: nothing more is cancelled, nothing posted
    assert code == 1
    assert [o.order_id for o in cli.client().get_open_orders()] == [stranger.order_id]
    history = json.loads(cli.run("history", "--json")[1])
    assert sum(1 for e in history if e["kind"] == "cancel") == 2


def test_suspend_first_and_cancel_all_is_not_undone(cli: Cli) -> None:
    cli.write(BOOK)
    assert cli.run("apply")[0] == 0
    code, _, err = cli.run("cancel-all", "--yes")
    assert code == 0 and "run `reconciler suspend` first" in err
    assert cli.run("suspend")[0] == 0
    assert cli.run("cancel-all", "--yes")[0] == 0
    assert cli.run("apply")[0] == 1
    assert cli.client().get_open_orders() == []  # not re-posted


def test_suspend_needs_an_existing_state_file(cli: Cli) -> None:
    code, _, err = cli.run("suspend")
    assert code == 1
    assert err == (f"reconciler: no state file at {cli.state.relative_to(cli.root)}: nothing "
                   "has run with this --state yet; check --state or RECONCILER_STATE\n")
    assert not cli.state.exists()



def test_a_reason_must_be_one_short_printable_line(cli: Cli) -> None:
    cli.write(BOOK)
    assert cli.run("apply")[0] == 0
    for bad in ("x" * 201, "bell\x07"):
        code, _, err = cli.run("suspend", "--reason", bad)
        assert code == 1 and err == ("reconciler: --reason must be one printable line of at "
                                     "most 200 characters\n")
    with Store.open(cli.state, read_only=True) as store:
        assert store.suspension() is None
    assert cli.run("suspend", "--reason", "two\nlines")[0] == 0
    with Store.open(cli.state, read_only=True) as store:
        found = store.suspension()
    assert found is not None and found.reason == "two lines"
