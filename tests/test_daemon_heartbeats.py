"""The daemon's exchange heartbeats (clob-v2-wire.md 2.2): `/v1/heartbeats` chains ids, and an
answer lost after the exchange took the send leaves the daemon's id stale. The exchange refuses
the stale id with a 400 naming the one it expects; the client adopts it and sends again at once,
so the dead-man switch never lapses and the exchange never cancels the key's orders.

A real daemon (in a thread) drives the engine against the paper exchange on 127.0.0.1 with a
short heartbeat timeout; the session loses one heartbeat answer after the exchange carried it out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from paperclob import PaperExchange
from reconciler.cli.settings import Settings
from reconciler.cli.wiring import Connection, heartbeat_sender
from reconciler.daemon import Daemon, DaemonOptions
from reconciler.model import Side
from reconciler.store import Store
from tests.support.engine import TOKEN_A, Harness, level, make_harness
from tests.support.exchange import LossySession

HEARTBEAT_TIMEOUT_S = 1.5  # the paper exchange cancels every order of the key after this
SEND_EVERY_S = 0.3
WAIT_S = 30.0  # the bound of every wait below; normally a few seconds


@pytest.fixture
def h(tmp_path: Path, paper_factory: Callable[..., PaperExchange], store: Store) -> Iterator[Harness]:
    exchange = paper_factory(clock=time.time, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)
    made = make_harness(tmp_path, exchange, exchange.url, store=store, session=LossySession())
    try:
        yield made
    finally:
        made.store.close()


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_lost_heartbeat_answer_resumes_the_chain_and_no_cancel_all_follows(h: Harness) -> None:
    session = h.me.session
    assert isinstance(session, LossySession)
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})
    conn = Connection(settings=Settings(host=h.url), client=h.me.client, wallet=h.me.wallet,
                      builder=h.me.builder)
    session.lose_nth("POST", "/v1/heartbeats", 3)  # taken by the exchange, its answer lost
    daemon = Daemon(
        ticker=h.reconciler, desired_dir=h.desired,
        options=DaemonOptions(interval_seconds=3600, heartbeat_seconds=SEND_EVERY_S),
        heartbeat=heartbeat_sender(conn),
    )
    runner = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        sends = lambda: session.count("POST", "/v1/heartbeats")  # noqa: E731
        _wait(lambda: sends() >= 3, "the lost heartbeat")
        lost_at = time.monotonic()
        # Well past the exchange's timeout after the loss, sends still chained and accepted.
        _wait(lambda: time.monotonic() - lost_at > 3 * HEARTBEAT_TIMEOUT_S, "three timeouts")
        resting = h.resting(TOKEN_A)
    finally:
        daemon.stop("test done")
        runner.join(timeout=WAIT_S)
    assert not runner.is_alive()
    assert resting == {(Side.BUY, Decimal("0.4")): 10}  # no cancel-all happened
    # The stale id was refused once and the chain went on with the exchange's id.
    assert session.count("POST", "/v1/heartbeats", 400) == 1
    statuses = [s for m, p, s in session.statuses if p == "/v1/heartbeats"]
    refused = statuses.index(400)
    assert statuses[refused + 1] == 200 and set(statuses[refused + 1 :]) == {200}
    assert sends() > 3 + 2 * HEARTBEAT_TIMEOUT_S / SEND_EVERY_S
