"""A targeted pass (`Reconciler.tick(tokens=...)`, engine/targeted.py): the same pass as a
sweep over a few tokens, reading only their open orders; and trades the stream brings, recorded
through the same code as trades read over REST (a FAILED one reverses its fill, invariant 12).
Against the paper exchange on 127.0.0.1 and a real state file."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from reconciler.clob import TradeEvent, user_connection, ws_base_url
from reconciler.model import LevelKey, Side, TickOutcome
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, converge, level, new_account
from tests.support.exchange import admin
from tests.support.stream import wait_for

BUY = Side.BUY
D = Decimal
KEY_A = LevelKey(TOKEN_A, BUY, D("0.40"))


def sell(h: Harness, token: str, price: str, size: str) -> None:
    other = new_account(h.url)
    answer = other.client.create_and_post_order(token, Side.SELL, price, size)
    assert answer.ok, answer


def order_reads(h: Harness) -> list[dict[str, list[str]]]:
    """The query of each open-orders read sent since the last reset."""
    reads = [parse_qs(urlsplit(u).query) for u in h.me.session.urls
             if urlsplit(u).path == "/data/orders"]
    return [{k: v for k, v in q.items() if k != "next_cursor"} for q in reads]


def test_a_targeted_pass_reads_only_its_tokens_and_serves_the_level_again(
    harness: Harness,
) -> None:
    h = harness
    converge(h, {TOKEN_A: [level("BUY", "0.40", "10", replenish=True)],
                 TOKEN_B: [level("BUY", "0.30", "10", replenish=True)]})
    sell(h, TOKEN_A, "0.40", "10")  # fills A's level in full
    result = h.reconciler.tick(tokens=[TOKEN_A])
    assert result.outcome is TickOutcome.OK, result.run_summary
    assert result.run_summary["scope"] == [TOKEN_A]
    assert result.applied is not None and len(result.applied.posted) == 1
    reads = order_reads(h)
    condition = h.paper.exchange.markets.get(TOKEN_A).condition_id
    assert reads == [{"asset_id": [TOKEN_A], "market": [condition]}]
    assert h.resting(TOKEN_A) == {(BUY, D("0.40")): D("10")}
    assert h.store.level_states()[KEY_A].filled == 10


def test_other_tokens_orders_are_left_to_the_sweep(harness: Harness) -> None:
    h = harness
    converge(h, {TOKEN_A: [level("BUY", "0.40", "10", replenish=True)],
                 TOKEN_B: [level("BUY", "0.30", "10", replenish=True)]})
    sell(h, TOKEN_B, "0.30", "10")  # B's order is gone from the book
    targeted = h.reconciler.tick(tokens=[TOKEN_A])
    assert targeted.outcome is TickOutcome.NOOP, targeted.run_summary
    assert not any(p.startswith("/data/order/") for _, p in h.me.session.sent)  # no lookup
    assert h.resting(TOKEN_B) == {}
    sweep = h.reconciler.tick()
    assert "scope" not in sweep.run_summary
    assert sweep.applied is not None and len(sweep.applied.posted) == 1
    assert h.resting(TOKEN_B) == {(BUY, D("0.30")): D("10")}


def test_a_targeted_pass_is_a_sweep_before_any_sweep_and_under_a_global_cap(
    harness: Harness,
) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")], TOKEN_B: [level("BUY", "0.30", "10")]})
    first = h.reconciler.tick(tokens=[TOKEN_A])  # no spec in force yet: a sweep
    assert "scope" not in first.run_summary and h.resting(TOKEN_B) != {}
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")], TOKEN_B: [level("BUY", "0.30", "10")]},
                 limits={"max_total_buy_notional": "100"})
    h.reconciler.tick()
    h.me.session.reset()
    capped = h.reconciler.tick(tokens=[TOKEN_A])  # the cap counts every token's buys
    assert "scope" not in capped.run_summary
    assert order_reads(h) == [{}]


def test_a_stream_trade_counts_its_fill_and_a_failed_one_serves_the_level_again(
    harness: Harness,
) -> None:
    h = harness
    admin(h.url, "settlement", {"delay_s": 0.5, "fail_next": 1})
    converge(h, {TOKEN_A: [level("BUY", "0.40", "10")]})  # replenish: false
    creds = h.me.client.creds
    assert creds is not None
    stream = user_connection(ws_base_url(h.url), creds)
    stream.connect()
    wait_for(lambda: h.paper.exchange.stream.open_connections()["user"] == 1)
    sell(h, TOKEN_A, "0.40", "10")

    def next_trade() -> TradeEvent:
        while True:
            for event in stream.receive(timeout=5):
                if isinstance(event, TradeEvent):
                    return event

    matched = next_trade()
    assert matched.trade.status == "MATCHED"
    h.reconciler.learn_trades([matched.trade])
    assert h.store.level_states()[KEY_A].filled == 10  # counted: the level is done
    done = h.reconciler.tick(tokens=[TOKEN_A])
    assert done.plan is not None and done.plan.posts == ()

    assert next_trade().trade.status == "RETRYING"
    failed = next_trade()
    stream.close()
    assert failed.trade.status == "FAILED"
    h.reconciler.learn_trades([failed.trade])  # the trade did not settle: taken back
    assert h.store.level_states()[KEY_A].filled == 0
    again = h.reconciler.tick(tokens=[TOKEN_A])
    assert again.applied is not None and len(again.applied.posted) == 1
    assert h.resting(TOKEN_A) == {(BUY, D("0.40")): D("10")}


def test_a_targeted_pass_leaves_the_other_tokens_conditions_in_status(harness: Harness) -> None:
    # `status` takes a token's condition from the newest pass that planned it: a targeted pass
    # over A says nothing about B, which the last sweep skipped.
    from reconciler.cli.status_view import gather

    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")], TOKEN_B: [level("BUY", "0.30", "10")]},
                 token_options={TOKEN_B: {"tick_size": "0.001"}})  # the live tick is 0.01
    sweep = h.reconciler.tick()
    assert list(sweep.conditions) == [TOKEN_B] and sweep.conditions[TOKEN_B].startswith("skipped")
    targeted = h.reconciler.tick(tokens=[TOKEN_A])
    assert targeted.run_summary["scope"] == [TOKEN_A] and targeted.conditions == {}
    shown = {t["token_id"]: t["condition"] for t in gather(h.store)["tokens"]}
    assert shown == {TOKEN_A: "ready", TOKEN_B: sweep.conditions[TOKEN_B]}
