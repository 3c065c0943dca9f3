"""Fills, everywhere: a counterparty sells into our bid on the paper exchange (partly, then the
rest), and `apply`, `status`, `history`, `trades` and the daemon's log each show it: size,
price, our side (BUY, though the taker sold), maker or taker, and the level's progress. A fill
whose trade fails to settle is shown taken back (invariant 12)."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from reconciler.clob.client import ClobClient
from reconciler.clob.signing import Wallet
from reconciler.daemon.ticklog import TickLog
from reconciler.engine import TickResult
from reconciler.model import OrderType, Side, TickOutcome
from tests.support.accounts import new_key
from tests.support.cli import TOKEN, Cli, DaemonThread, spec
from tests.support.exchange import admin

BID = spec([("BUY", "0.45", "20")], label="Election, YES")
SETTLED_S = 3  # past MATCHED -> RETRYING -> FAILED at the paper exchange's 1 s per step


def sell_into_bid(taker: ClobClient, size: str) -> None:
    order = taker.create_order(TOKEN, Side.SELL, "0.45", size)
    assert taker.post_order(order, OrderType.GTC).ok


def test_a_partial_then_full_fill_shows_in_apply_status_and_history(cli: Cli) -> None:
    cli.write(BID)
    assert cli.run("apply")[0] == 0
    taker = cli.counterparty()
    sell_into_bid(taker, "8")
    code, out, _ = cli.run("apply")
    assert code == 0, out
    assert "fill: BUY 8.00 at 0.45 on 713210…992563 (Election, YES), order 0x" in out
    assert "(maker); 8.00 of 20.00 matched" in out
    status = cli.run("status")[1]
    assert ("    BUY  0.45  target 12.00 of 20.00, resting 12.00, filled 8.00 this generation"
            in status), status
    sell_into_bid(taker, "12")
    assert cli.run("apply")[0] == 0
    status = cli.run("status")[1]
    assert ("    BUY  0.45  target 0.00 of 20.00, resting 0.00, filled 20.00 this generation: "
            "done") in status, status
    history = cli.run("history")[1]
    fills = [line for line in history.splitlines() if "  fill  " in line]
    assert len(fills) == 2, history
    assert all("713210…992563 (Election, YES)  BUY   0.45" in line for line in fills), fills
    assert "12.00" in fills[0] and "maker" in fills[0] and "20.00 of 20.00 matched" in fills[0]
    assert "8.00" in fills[1] and "8.00 of 20.00 matched" in fills[1]
    entries = json.loads(cli.run("history", "--json")[1])
    as_json = [e for e in entries if e["kind"] == "fill"]
    assert [(e["payload"]["size"], e["outcome"]) for e in as_json] == [("12", "maker"),
                                                                        ("8", "maker")]
    assert as_json[0]["result"] == {"matched": "20", "order_size": "20", "role": "maker"}
    post = next(e for e in entries if e["kind"] == "post")
    assert isinstance(post["result"], dict) and post["result"]["status"] == "live"  # not a str


def test_trades_show_our_side_and_role(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.write(BID)
    assert cli.run("apply")[0] == 0
    taker_key = new_key()
    taker = ClobClient(cli.paper.url, chain_id=137, wallet=Wallet.from_private_key(taker_key))
    taker.creds = taker.create_or_derive_api_key()
    sell_into_bid(taker, "8")
    code, out, _ = cli.run("trades")
    assert code == 0
    (row,) = [line for line in out.splitlines() if "713210…992563" in line]
    assert "(Election, YES)  BUY   0.45   8.00  maker" in row, out
    found = json.loads(cli.run("trades", "--json")[1])
    assert [(t["side"], t["role"], t["size"], t["price"]) for t in found] == [
        ("BUY", "maker", "8", "0.45")]
    # The same trade seen by the taker: its side (SELL), as taker.
    monkeypatch.setenv("PRIVATE_KEY", taker_key)
    found = json.loads(cli.run("trades", "--json")[1])
    assert [(t["side"], t["role"], t["size"]) for t in found] == [("SELL", "taker", "8")]


def test_the_daemon_logs_a_line_per_fill(cli: Cli, caplog: pytest.LogCaptureFixture) -> None:
    cli.write(BID)
    taker = cli.counterparty()
    with caplog.at_level(logging.INFO, logger="reconciler.daemon.daemon"), \
            DaemonThread(cli, interval=3600) as running:
        running.wait_ticks(1)
        sell_into_bid(taker, "8")
        cli.write(BID + "\n")  # a save: the next tick now
        running.wait_ticks(1)
        sell_into_bid(taker, "5.5")
        cli.write(BID)
        running.wait_ticks(1)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fill: ")]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"fill: BUY 8 at 0.45 on token {TOKEN}, order 0x")
    assert lines[0].endswith("(maker); 8 of 20 matched")
    assert lines[1].startswith("fill: BUY 5.5 at 0.45") and lines[1].endswith("13.5 of 20 matched")
    assert Decimal("13.5") == Decimal(lines[1].split("; ")[1].split(" of")[0])


def test_a_fill_whose_trade_fails_is_shown_reversed_in_apply_and_history(cli: Cli) -> None:
    # Invariant 12: the fill of a trade that does not settle is taken back, and the fill log
    # says so next to the fill (what came off the count, and the matched size after it).
    cli.write(BID)
    assert cli.run("apply")[0] == 0
    admin(cli.paper.url, "settlement", {"fail_next": 1})
    sell_into_bid(cli.counterparty(), "20")
    code, out, _ = cli.run("apply")
    assert code == 0 and "(maker); 20.00 of 20.00 matched" in out, out
    admin(cli.paper.url, "clock", {"advance_s": SETTLED_S})  # MATCHED -> RETRYING -> FAILED
    code, out, _ = cli.run("apply")
    assert code == 0, out
    assert ("fill reversed: BUY 20.00 at 0.45 on 713210…992563 (Election, YES), order 0x"
            in out), out
    assert "(maker); 0.00 of 20.00 matched" in out
    history = cli.run("history")[1]
    rows = [line for line in history.splitlines() if "  fill_reversed  " in line]
    assert len(rows) == 1, history
    assert "713210…992563 (Election, YES)  BUY   0.45   20.00" in rows[0], rows
    assert "0.00 of 20.00 matched" in rows[0]
    entries = json.loads(cli.run("history", "--json")[1])
    fills = [(e["kind"], e["payload"]["size"], e["result"]["matched"]) for e in entries
             if e["kind"] in ("fill", "fill_reversed")]
    assert fills == [("fill_reversed", "20", "0"), ("fill", "20", "20")]


def test_the_daemon_logs_a_reversed_fill_as_such() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("test.ticklog")
    log.addHandler(Keep())
    log.setLevel(logging.INFO)
    row = {"order_id": "0xab", "token_id": TOKEN, "side": "BUY", "price": "0.45", "size": "8",
           "matched": "0", "order_size": "20", "role": "maker", "kind": "reversed"}
    TickLog(log).fills(TickResult(outcome=TickOutcome.OK, fills=(row,)))
    (line,) = [r.getMessage() for r in records]
    assert line == (f"fill reversed (its trade did not settle): BUY 8 at 0.45 on token {TOKEN}, "
                    "order 0xab (maker); 0 of 20 matched")
    assert records[0].fill["kind"] == "reversed"  # type: ignore[attr-defined]
