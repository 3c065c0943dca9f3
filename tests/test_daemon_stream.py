"""The daemon with the stream: a real Reconciler, a real paper exchange on 127.0.0.1 serving its
WebSocket channels, a real state file, the real loop. A second account sells into the daemon's
bid; the level must be served again: by a targeted pass when the stream brings the fill, by a
sweep when the stream loses it (a dropped connection, a garbled frame, an out-of-order event),
by the interval's sweep when there is no stream at all; and a FAILED settlement gives the fill
back and the level is served again. The interval is an hour unless a test says otherwise, so a
replenished level within the test's wait cannot be the interval's doing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from reconciler.cli.status_view import status_text
from reconciler.clob import (
    ApiCreds,
    ClobClient,
    market_connection,
    user_connection,
    ws_base_url,
)
from reconciler.daemon import (
    Daemon,
    DaemonOptions,
    Metrics,
    StreamOpeners,
    StreamSetup,
    StreamState,
)
from reconciler.model import LevelKey, Side
from reconciler.store import Store
from tests.support.daemon import WAIT, Result, Running
from tests.support.engine import TOKEN_A, Harness, level, sell_into
from tests.support.exchange import admin
from tests.support.stream import ScriptedServer, stream_admin

BUY = Side.BUY
D = Decimal
KEY = LevelKey(TOKEN_A, BUY, D("0.40"))


def wait_until(condition: Any, timeout: float = WAIT) -> Any:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("the condition did not come true in time")


def setup_for(h: Harness, *, base: str | None = None, market: bool = True) -> StreamSetup:
    base = base or ws_base_url(h.url)
    state = StreamState(("user", "market"))
    h.reconciler.annotate = lambda: {"stream": state.snapshot()}
    creds = h.me.client.creds
    assert creds is not None
    return StreamSetup(
        openers=StreamOpeners(
            user=lambda: user_connection(base, creds),
            market=(lambda tokens: market_connection(base, tokens)) if market else None,
        ),
        managed=lambda: h.reconciler.managed_tokens,
        state=state,
    )


@contextmanager
def daemon(h: Harness, setup: StreamSetup | None, **options: Any) -> Iterator[Daemon]:
    made = Daemon(ticker=h.reconciler, desired_dir=h.desired, metrics=Metrics(),
                  options=DaemonOptions(**{"interval_seconds": 3600.0, "debounce_seconds": 0.05,
                                           **options}), stream=setup)
    with Running(made):
        yield made


# The daemon's thread owns the harness's client and store while it runs: the test looks through
# its own client (same account) and its own read-only connection to the state file.


def book(h: Harness) -> dict[str, Any]:
    observer = ClobClient(h.url, chain_id=137, wallet=h.me.wallet, creds=h.me.client.creds)
    orders = [o for o in observer.get_open_orders() if o.token_id == TOKEN_A]
    return {"ids": {o.order_id for o in orders},
            "resting": sum((o.remaining for o in orders if o.price == D("0.40")), D(0))}


def stored(h: Harness) -> Store:
    return Store.open(h.store.path, read_only=True)


def filled(h: Harness) -> Decimal:
    with stored(h) as store:
        return store.level_states()[KEY].filled


def order_ids(h: Harness) -> set[str]:
    return set(book(h)["ids"])


def serving(h: Harness, setup: StreamSetup, d: Daemon) -> set[str]:
    """Wait until the level rests, the stream is up and the sweeps its connections asked for
    are done; the level's order ids."""
    wait_until(lambda: book(h)["resting"] == 10)
    wait_until(lambda: setup.state.connected("user"))
    if setup.openers.market is not None:
        wait_until(lambda: setup.state.connected("market"))
    wait_until(lambda: d.idle)
    return order_ids(h)


def served_again(h: Harness, before: set[str]) -> set[str]:
    """Wait until the level rests again in full, on another order than before."""
    def again() -> set[str]:
        now = book(h)
        return now["ids"] if now["resting"] == 10 and now["ids"] - before else set()
    return wait_until(again)


def posted_by(h: Harness, order_ids: set[str]) -> Any:
    """The scope of the pass that posted these orders: its tokens (targeted) or None (a
    sweep)."""
    with stored(h) as store:
        runs = {r["id"]: r for r in store.recent_runs(100)}
        posts = [e for e in store.history(200) if e["order_id"] in order_ids and e["run_id"]]
    (run_id,) = {e["run_id"] for e in posts}
    summary = wait_until(lambda: runs[run_id]["summary"] or stored_summary(h, run_id))
    return summary.get("scope")


def stored_summary(h: Harness, run_id: int) -> Any:
    with stored(h) as store:
        return next((r["summary"] for r in store.recent_runs(100) if r["id"] == run_id), None)


def last_pass_scope(h: Harness) -> Any:
    """The scope of the last finished pass: its tokens (targeted), or None (a sweep)."""
    with stored(h) as store:
        done = [r for r in store.recent_runs(5) if r["summary"] is not None]
    return done[0]["summary"].get("scope") if done else "no pass yet"


def test_a_fill_is_replenished_by_a_targeted_pass(harness: Harness) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    setup = setup_for(h)
    with daemon(h, setup) as d:
        before = serving(h, setup, d)
        sell_into(h, "0.40", "10")
        now = served_again(h, before)
        assert posted_by(h, now) == [TOKEN_A]  # a targeted pass, not a sweep
        assert filled(h) == 10
        text = d._metrics.render()
    assert 'reconciler_stream_connected{channel="user"} 1' in text
    assert 'reconciler_targeted_passes_total{outcome="success"}' in text


def test_a_connection_dropped_mid_fill_is_caught_by_a_sweep(harness: Harness) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    setup = setup_for(h, market=False)
    with daemon(h, setup) as d:
        before = serving(h, setup, d)
        # The fill's first event never leaves: the connection is cut in its place.
        stream_admin(h.url, rules=[{"action": "cut", "event_type": "order", "match": "UPDATE"}])
        sell_into(h, "0.40", "10")
        now = served_again(h, before)
        assert posted_by(h, now) is None  # a sweep did it, long before the hour's interval
        wait_until(lambda: setup.state.snapshot()["reconnects"] >= 1)
        assert setup.state.connected("user")


def test_a_failed_settlement_gives_the_fill_back_and_the_level_is_served_again(
    harness: Harness,
) -> None:
    h = harness
    admin(h.url, "settlement", {"delay_s": 0.3, "fail_next": 1})
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})  # replenish: false
    setup = setup_for(h, market=False)
    with daemon(h, setup) as d:
        before = serving(h, setup, d)
        sell_into(h, "0.40", "10")
        wait_until(lambda: filled(h) == 10)  # counted: done ...
        now = served_again(h, before)  # ... until the trade FAILED: then served again
        assert filled(h) == 0
        assert posted_by(h, now) == [TOKEN_A]


def test_a_garbled_frame_changes_no_order_drops_the_stream_and_sweeps(
    harness: Harness, caplog,
) -> None:
    h = harness
    caplog.set_level(logging.INFO, logger="reconciler.daemon.stream")
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    # A "fill" of 10 with a negative size: were it trusted, the level would count a fill.
    garbage = json.dumps({"event_type": "trade", "id": "t", "status": "MATCHED",
                          "taker_order_id": "0x" + "12" * 32, "market": "0xm",
                          "asset_id": TOKEN_A, "side": "SELL", "price": "0.40",
                          "owner": "k", "size": "-10"})
    with ScriptedServer(lambda conn: conn.send(garbage)) as server:
        setup = setup_for(h, base=server.url, market=False)
        with daemon(h, setup) as d:
            before = wait_until(lambda: order_ids(h))
            wait_until(lambda: setup.state.snapshot()["protocol_errors"] >= 1)
            wait_until(lambda: d.ticks_run >= 2 and d.idle)  # the first sweep, the resync
            assert order_ids(h) == before  # no order changed
    assert filled(h) == 0  # nothing of the frame was used
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert lines and all("sent a frame that cannot be trusted" in x for x in lines)
    assert "size: must not be negative" in lines[0]


def test_an_out_of_order_event_asks_for_a_sweep(harness: Harness, caplog) -> None:
    h = harness
    caplog.set_level(logging.INFO, logger="reconciler.daemon.stream")
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    setup = setup_for(h, market=False)
    with daemon(h, setup) as d:
        serving(h, setup, d)
        # The first partial fill's UPDATE comes late, after the second one's.
        stream_admin(h.url, rules=[{"action": "delay", "event_type": "order", "match": "UPDATE",
                                    "delay_ms": 400}])
        sell_into(h, "0.40", "5")
        sell_into(h, "0.40", "5")
        gap = "size_matched went down (10 -> 5)"
        wait_until(lambda: any(r.getMessage().startswith("sweep: ") and gap in r.getMessage()
                               for r in caplog.records))
        assert setup.state.connected("user")  # a gap sweeps; it does not reconnect
        served_again(h, set())


def test_without_a_stream_the_interval_sweep_still_serves_the_level(harness: Harness) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    setup = setup_for(h, base="ws://127.0.0.1:9", market=False)  # nothing listens there
    with daemon(h, setup, interval_seconds=0.5) as d:
        before = wait_until(lambda: order_ids(h))
        sell_into(h, "0.40", "10")
        now = served_again(h, before)
        assert not setup.state.connected("user") and posted_by(h, now) is None
        wait_until(lambda: d.ticks_run >= 2)


def test_status_shows_the_stream_as_the_last_pass_saw_it(harness: Harness) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10", replenish=True)]})
    setup = setup_for(h)
    with daemon(h, setup) as d:
        serving(h, setup, d)
        wait_until(lambda: setup.state.connected("market"))
        sell_into(h, "0.40", "10")
        wait_until(lambda: last_pass_scope(h) == [TOKEN_A])
    with stored(h) as store:
        text = status_text(store.status(), daemon_pid=None)
    line = next(x for x in text.splitlines() if x.startswith("stream:"))
    assert "market connected, user connected; last event " in line
    assert "none yet" not in line and "reconnects 0" in line


class StreamTicker:
    """A ticker that records each pass (monotonic time, tokens or None for a sweep) and
    answers the first targeted pass with a 429 asking for a one-second wait."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Any]] = []

    def tick(self, tokens: Any = None) -> Any:
        self.calls.append((time.monotonic(), None if tokens is None else sorted(tokens)))
        targeted = [c for c in self.calls if c[1] is not None]
        if tokens is not None and len(targeted) == 1:
            return Result(success=False, error="429 Too Many Requests", retry_after=1.0)
        return Result()

    def learn_trades(self, trades: Any) -> None:
        pass

    def forget_markets(self, token_ids: Any) -> None:
        pass


def test_no_pass_runs_before_the_wait_a_targeted_pass_was_told(tmp_path) -> None:
    def fills(conn: Any) -> None:  # an UPDATE of one order every 20 ms, each a little fuller
        for matched in range(1, 60):
            conn.send(json.dumps({
                "event_type": "order", "id": "0x" + "ab" * 32, "owner": "k", "market": "0xm",
                "asset_id": TOKEN_A, "side": "BUY", "price": "0.40", "original_size": "100",
                "size_matched": str(matched), "type": "UPDATE", "timestamp": "1",
                "created_at": "1"}))
            time.sleep(0.02)

    ticker = StreamTicker()
    with ScriptedServer(fills) as server:
        state = StreamState(("user",))
        setup = StreamSetup(openers=StreamOpeners(user=lambda: user_connection(
            server.url, ApiCreds("k", "c2VjcmV0c2VjcmV0", "passphrase"))),
            managed=lambda: frozenset({TOKEN_A}), state=state)
        desired = tmp_path / "desired"
        desired.mkdir()
        made = Daemon(ticker=ticker, desired_dir=desired, stream=setup,
                      options=DaemonOptions(interval_seconds=3600.0, debounce_seconds=0.05))
        with Running(made):
            wait_until(lambda: sum(1 for c in ticker.calls if c[1] is not None) >= 2)
    first_targeted = next(i for i, c in enumerate(ticker.calls) if c[1] is not None)
    refused_at = ticker.calls[first_targeted][0]
    after = ticker.calls[first_targeted + 1:]
    assert after and all(at - refused_at >= 1.0 for at, _ in after)
