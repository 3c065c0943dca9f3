"""Tables people can use: labels beside token ids, full ids with --wide, order ids by unique
prefix, one decimal format, a remaining column, times as times; `status` names the revision in
force with its git commit (dirty when uncommitted) and `revisions` lists them."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.cli.commands.client import resolve_order_ids
from reconciler.cli.settings import SettingsError, load_settings
from reconciler.model import OpenOrder, Side
from tests.support.cli import TOKEN, Cli, spec


def test_orders_show_labels_one_decimal_format_remaining_and_times(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.4", "60"), ("BUY", "0.45", "20")], label="Election, YES"))
    assert cli.run("apply")[0] == 0
    code, out, _ = cli.run("orders")
    assert code == 0
    header, _, *rows = out.splitlines()
    assert header.split() == ["TOKEN", "SIDE", "PRICE", "SIZE", "MATCHED", "REMAINING", "TYPE",
                              "CREATED", "ORDER"]
    assert rows[0].startswith("713210…992563 (Election, YES)  BUY   0.40   60.00  0.00     "
                              "60.00      GTC   20"), rows
    assert " UTC  0x" in rows[0] and rows[0].endswith("…")
    wide = cli.run("orders", "--wide")[1]
    ids = [o.order_id for o in cli.client().get_open_orders()]
    assert f"{TOKEN} (Election, YES)" in wide and all(i in wide for i in ids)
    assert all(i not in out for i in ids)  # shortened without --wide
    code, out, _ = cli.run("order", ids[0][:12])  # a unique prefix
    assert code == 0 and f"order_id: {ids[0]}" in out
    assert "created_at: 20" in out and " UTC (" in out
    shown = next(o for o in cli.client().get_open_orders() if o.order_id == ids[0])
    assert f"price: {'0.40' if shown.price == Decimal('0.4') else '0.45'}" in out


def test_cancel_takes_a_unique_prefix_and_refuses_a_bad_one(cli: Cli) -> None:
    cli.write(spec([("BUY", "0.45", "20")]))
    assert cli.run("apply")[0] == 0
    (order_id,) = [o.order_id for o in cli.client().get_open_orders()]
    code, _, err = cli.run("cancel", "0x")
    assert code == 1 and err == "reconciler: 0x is too short to name one order: give at least 4 hex digits\n"
    code, _, err = cli.run("cancel", "0xzz12")
    assert code == 1 and "is not an order id (0x and 64 hex digits) nor the start of one" in err
    other = "0x" + ("0" if order_id[2] != "0" else "1") * 6
    code, _, err = cli.run("cancel", other)
    assert code == 1 and f"no order we know starts with {other}" in err
    code, out, _ = cli.run("cancel", order_id[:10].upper().replace("0X", "0x"))
    assert code == 0 and out.splitlines()[0] == f"cancelled {order_id}"
    assert cli.client().get_open_orders() == []


class _Book:
    """The open orders an exchange answers (two ids sharing a prefix)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def get_open_orders(self) -> list[OpenOrder]:
        return [OpenOrder(order_id=i, token_id=TOKEN, side=Side.BUY, price=Decimal("0.4"),
                          original_size=Decimal(5), size_matched=Decimal(0), created_at=0)
                for i in self.ids]


def test_an_ambiguous_prefix_is_refused_with_the_candidates(tmp_path: Path) -> None:
    a, b = "0xabcd1" + "0" * 59, "0xabcd2" + "0" * 59
    conn = type("Conn", (), {"client": _Book([a, b])})()
    settings = load_settings(flags={"state": str(tmp_path / "none.db")}, env={})
    with pytest.raises(SettingsError) as refused:
        resolve_order_ids(["0xabcd"], settings=settings, conn=conn)  # type: ignore[arg-type]
    assert str(refused.value) == ("0xabcd matches 2 orders (0xabcd1000…, 0xabcd2000…); give "
                                  "more digits")
    assert resolve_order_ids(["abcd2"], settings=settings, conn=conn) == [b]  # type: ignore[arg-type]


def test_status_names_the_git_commit_and_revisions_lists_them(cli: Cli) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(cli.desired), "-c", "user.email=t@t", "-c",
                               "user.name=t", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    cli.write(spec([("BUY", "0.45", "20")], label="Election, YES"))
    git("add", ".")
    git("commit", "-qm", "one level")
    head = git("rev-parse", "HEAD")
    assert cli.run("apply")[0] == 0
    status = cli.run("status")[1]
    assert "in force:          #1 digest " in status and f"(git {head[:10]}) at " in status
    cli.write(spec([("BUY", "0.45", "25")], label="Election, YES"))  # not committed
    assert cli.run("apply")[0] == 0
    status = cli.run("status")[1]
    assert "in force:          #2 digest " in status
    assert f"(git {head[:10]}, dirty: uncommitted changes) at " in status
    cli.write("version: 1\ntokens: [\n")  # broken: #2 stays in force
    assert cli.run("apply")[0] == 1
    code, out, _ = cli.run("revisions")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["REVISION", "TIME", "GIT", "VALID", "FILES", "FIRST", "ERROR"]
    assert lines[2].startswith("#3 ") and "INVALID (1 error)" in lines[2]
    assert "book.yaml:" in lines[2]
    assert lines[3].startswith("#2 *") and f"{head[:10]}, dirty: uncommitted changes" in lines[3]
    assert "  valid  " in lines[3] and "1 file" in lines[3]
    assert lines[4].startswith("#1 ") and head[:10] in lines[4]
    assert lines[-1] == "* in force: revision #2"
    found = json.loads(cli.run("revisions", "--json")[1])
    assert [(r["id"], r["valid"], r["in_force"]) for r in found] == [
        (3, False, False), (2, True, True), (1, True, False)]
    assert found[1]["git_commit"] == f"{head}-dirty" and found[2]["git_commit"] == head


def test_on_a_terminal_tables_are_drawn_with_rich(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.write(spec([("BUY", "0.4", "60")], label="Election, YES"))
    assert cli.run("apply")[0] == 0
    plain = cli.run("orders")[1]
    assert "-----" in plain  # the plain table's rule
    monkeypatch.setattr("reconciler.cli.output.is_terminal", lambda stream=None: True)
    drawn = cli.run("orders")[1]
    assert "┃" in drawn and "━" in drawn  # rich's rules, not the plain table's
    assert "60.00" in drawn and "0.40" in drawn
