"""Failed fills (DESIGN invariant 12; clob-v2-wire.md 2.8, 2.12): a trade that goes RETRYING ->
FAILED, or an ORDER_FILL_FAILED notification, takes back the fill the engine recorded, once per
trade, and the level is served again. Against the paper exchange on 127.0.0.1, whose admin route
chooses the trades that fail and whose clock is moved past settlement (nothing sleeps); then the
store's rule by itself, table by table.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.clob import ClobClient
from reconciler.engine.settlement import SettlementWatch
from reconciler.lifecycle import OrderStatus
from reconciler.model import LevelGeneration, LevelKey, OrderType, Post, Side, TickOutcome
from reconciler.store import Store
from tests.support.engine import TOKEN_A, Harness, level, sell_into, set_faults
from tests.support.exchange import LossySession, admin
from tests.support.loopback import FIXED_NOW, LoopbackServer, Scripted

BUY = Side.BUY
D = Decimal
KEY = LevelKey(TOKEN_A, BUY, D("0.40"))
SETTLED_S = 3  # past MATCHED -> RETRYING -> FAILED at the paper exchange's 1 s per step


def _filled(h: Harness) -> Decimal:
    return h.store.level_states()[KEY].filled


def _session(h: Harness) -> LossySession:
    assert isinstance(h.me.session, LossySession)
    return h.me.session


def _post_level(h: Harness, size: str = "10") -> str:
    h.write_spec({TOKEN_A: [level("BUY", "0.40", size)]})  # replenish: false (the default)
    first = h.reconciler.tick()
    assert first.outcome is TickOutcome.OK and first.applied is not None, first.run_summary
    (order_id,) = first.applied.posted
    return order_id


def test_a_fill_failed_notification_reverses_and_a_done_level_is_posted_again(
    lossy_harness: Harness,
) -> None:
    h = lossy_harness
    first_order = _post_level(h)
    admin(h.url, "settlement", {"fail_next": 1})
    sell_into(h, "0.40", "10")  # fills the level in full; the trade will fail to settle

    done = h.reconciler.tick()
    assert done.success and _filled(h) == 10 and h.resting(TOKEN_A) == {}
    assert done.plan is not None and done.plan.posts == ()  # a filled level is done

    admin(h.url, "clock", {"advance_s": SETTLED_S})  # the trade is FAILED, the fill taken back
    set_faults(h, error_5xx_rate=1.0, paths=["/data/trades"])  # notification 8 alone tells
    again = h.reconciler.tick()

    assert again.success, again.run_summary
    assert _filled(h) == 0
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10}  # served again
    assert again.applied is not None and len(again.applied.posted) == 1
    fills = {f["fill_id"]: D(f["size"]) for f in h.store.fills(order_id=first_order)}
    (trade_id,) = [k for k in fills if not k.startswith("failed:")]
    assert fills == {trade_id: 10, f"failed:{trade_id}": -10}


def test_a_failed_trade_is_taken_back_without_its_notification(lossy_harness: Harness) -> None:
    h = lossy_harness
    _post_level(h)
    admin(h.url, "settlement", {"fail_next": 1})
    sell_into(h, "0.40", "10")
    assert h.reconciler.tick().success and _filled(h) == 10

    set_faults(h, error_5xx_rate=1.0, paths=["/notifications"])  # no notification 8 arrives
    admin(h.url, "clock", {"advance_s": SETTLED_S})
    _session(h).reset()
    again = h.reconciler.tick()

    assert again.success, again.run_summary
    assert _session(h).count("GET", "/data/trades") == 1  # the watched trade, read back
    assert _filled(h) == 0 and h.resting(TOKEN_A) == {(BUY, D("0.4")): 10}


def test_a_failed_fill_is_taken_back_once_across_repeats_and_restarts(
    lossy_harness: Harness,
) -> None:
    # 6 fill by a trade that fails, 5 by one that settles: 5 filled, 15 resting, nothing to
    # post. A failure taken back twice would count 0 filled and post 5 more.
    h = lossy_harness
    order_id = _post_level(h, "20")
    admin(h.url, "settlement", {"fail_next": 1})
    sell_into(h, "0.40", "6")
    sell_into(h, "0.40", "5")
    assert h.reconciler.tick().success and _filled(h) == 11

    admin(h.url, "clock", {"advance_s": SETTLED_S})
    _session(h).refuse_nth("DELETE", "/notifications")  # processed, but not dropped
    h.reconciler.tick()
    assert _filled(h) == 5 and h.store.order(order_id).size_matched == 5  # type: ignore[union-attr]
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 15}

    _session(h).reset()
    repeat = h.reconciler.tick()  # notification 8 comes again: it was committed, so skipped
    assert repeat.success and _filled(h) == 5
    h.restart()  # a new process: the trades of the last hour are read back, all final
    _session(h).reset()
    after = h.reconciler.tick()
    assert after.success and _filled(h) == 5
    assert _session(h).count("GET", "/data/trades") == 1  # watched again after the restart
    assert _session(h).count("POST", "/orders") == 0
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 15}


# --- the store's rule by itself ------------------------------------------------------------


def _store_with_order(tmp_path: Path, order_id: str = "0x1") -> Store:
    store = Store.open(tmp_path / "fills.db")
    post = Post(key=KEY, size=D(10), order_type=OrderType.GTC, post_only=True, expires_at=0,
                generation=1, neg_risk=False, tick_size=D("0.01"))
    store.record_generations([LevelGeneration(KEY, "d", 1)])
    store.add_order_intent(order_id=order_id, post=post, revision=None, run_id=None)
    return store


def test_a_reversal_counts_once_whichever_way_it_is_reported(tmp_path: Path) -> None:
    with _store_with_order(tmp_path) as store:
        assert store.add_fill(order_id="0x1", fill_id="t1", size=D(4), price=D("0.4"), at_ms=1)
        assert store.add_fill(order_id="0x1", fill_id="t2", size=D(3), price=D("0.4"), at_ms=2)
        assert store.level_states()[KEY].filled == 7
        # Notification 8 and the FAILED trade both report t1; only the first counts.
        assert store.reverse_fill(order_id="0x1", trade_id="t1", size=D(4), price=D("0.4"),
                                  at_ms=3) == 4
        assert store.reverse_fill(order_id="0x1", trade_id="t1", size=D(4), price=D("0.4"),
                                  at_ms=4) is None
        # A late fill report of the failed trade is not counted again.
        assert not store.add_fill(order_id="0x1", fill_id="t1", size=D(4), price=D("0.4"),
                                  at_ms=5)
        # A read of the exchange's matched size (which no longer counts t1) changes nothing.
        assert store.observe_matched("0x1", D(3)) == 0
        assert store.level_states()[KEY].filled == 3
        assert store.order("0x1").size_matched == 3  # type: ignore[union-attr]


def test_a_fill_first_learnt_from_its_failure_never_takes_other_fills_with_it(
    tmp_path: Path,
) -> None:
    with _store_with_order(tmp_path) as store:
        store.observe_matched("0x1", D(9))  # learnt from a read: no trade ids
        assert store.add_fill(order_id="0x1", fill_id="t2", size=D(5), price=D("0.4"), at_ms=1)
        # t1's failure names 4 (its fill was never recorded by id): 9 - 4 = 5, not below t2.
        assert store.reverse_fill(order_id="0x1", trade_id="t1", size=D(4), price=D("0.4"),
                                  at_ms=2) == 4
        assert store.order("0x1").size_matched == 5  # type: ignore[union-attr]
        # A failure reporting more than was counted stops at the fills still on record.
        assert store.reverse_fill(order_id="0x1", trade_id="t9", size=D(8), price=D("0.4"),
                                  at_ms=3) == 0
        assert store.order("0x1").size_matched == 5  # type: ignore[union-attr]
        assert store.level_states()[KEY].filled == 5
        assert store.order("0x1").status is OrderStatus.INTENT  # fills never move the status


def test_an_unreadable_trades_answer_records_nothing_and_says_so(
    tmp_path: Path, server: LoopbackServer, client: ClobClient, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = "0x" + "ab" * 32
    garbage = {"id": "t1", "taker_order_id": "0x" + "cd" * 32, "side": "SELL", "size": "-4",
               "price": "0.4", "status": "TRADE_STATUS_FAILED", "maker_orders": [
                   {"order_id": order_id, "matched_amount": "4", "price": "0.4"}]}
    server.push(Scripted(body={"data": [garbage], "next_cursor": "LTE="}))
    with _store_with_order(tmp_path, order_id) as store:
        store.observe_matched(order_id, D(4))
        watch = SettlementWatch()
        watch.watch([order_id], store=store, now=FIXED_NOW)
        with caplog.at_level(logging.WARNING, logger="reconciler.engine.settlement"):
            watch.check(client=client, store=store, now=FIXED_NOW)
        assert store.fills() == [] and store.level_states()[KEY].filled == 4
        assert watch.watched == {order_id}  # read again next pass
    (line,) = [r.getMessage() for r in caplog.records]
    assert "could not read trades" in line and "t1 size" in line, line


def test_the_fill_log_records_what_a_reversal_took_off_and_nothing_for_one_that_took_none(
    tmp_path: Path,
) -> None:
    with _store_with_order(tmp_path) as store:
        store.observe_matched("0x1", D(9))
        assert store.reverse_fill(order_id="0x1", trade_id="t1", size=D(4), price=D("0.4"),
                                  at_ms=2) == 4
        # More than the fills on record can take off: nothing comes off, no row is written.
        assert store.add_fill(order_id="0x1", fill_id="t2", size=D(5), price=D("0.4"), at_ms=3)
        assert store.reverse_fill(order_id="0x1", trade_id="t9", size=D(8), price=D("0.4"),
                                  at_ms=4) == 0
        rows = [(r["kind"], r["size"], r["matched"]) for r in store.recent_fills()]
        assert rows == [("reversed", "4", "5"), ("fill", "9", "9")]
