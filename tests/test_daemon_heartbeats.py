"""The daemon's exchange heartbeats (clob-v2-wire.md 2.2): `/v1/heartbeats` chains ids, and an
answer lost after the exchange took the send leaves the daemon's id stale. The exchange refuses
the stale id with a 400 naming the one it expects; the client adopts it and sends again at once,
so the dead-man switch never lapses and the exchange never cancels the key's orders.

A real daemon (in a thread) drives the engine against the paper exchange on 127.0.0.1 with a
short heartbeat timeout; the session loses one heartbeat answer after the exchange carried it out.

Heartbeats go out only while the loop is healthy, and a tick that runs long is healthy while it
keeps making requests: a pass pacing thousands of cancels is not a hung one (else the exchange
cancels every order of the key mid-pass). That is checked with a real client pacing against a
hostile server on 127.0.0.1, the heartbeat pulse driven from the injected sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account

from paperclob import PaperExchange
from reconciler.cli.settings import Settings
from reconciler.cli.wiring import Connection, heartbeat_sender
from reconciler.clob import ClobClient, Wallet
from reconciler.daemon import Daemon, DaemonOptions
from reconciler.daemon.pulses import Pulses
from reconciler.daemon.sdnotify import SystemdNotifier
from reconciler.daemon.support import Health
from reconciler.model import Side
from reconciler.store import Store
from tests.support.engine import TOKEN_A, Harness, level, make_harness
from tests.support.exchange import LossySession
from tests.support.hostile_http import Answer, FakeTime, Seen, hostile
from tests.support.loopback import make_creds

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


# --- a long paced tick is not a hung one ------------------------------------------------------


PULSE_S = 5.0  # the heartbeat pulse; the exchange cancels all after ~10 s without one


def _echo_cancels(seen: Seen) -> Answer:
    return Answer(body={"canceled": seen.json() or [], "not_canceled": {}})


class _PacedPass:
    """A daemon's health, its heartbeat pulse, and a real client whose pacing waits run the
    pulse every 5 s of fake time (as the scheduler's thread would meanwhile)."""

    def __init__(self, url: str) -> None:
        self.time = FakeTime()
        self.health = Health(clock=self.time.clock)
        self.health.tick_started_now()
        self.health.tick_finished(ok=True)  # the daemon has been doing its job
        self.sent: list[float] = []
        self.pulses = Pulses(
            notifier=SystemdNotifier(env={}), health=self.health, heartbeat=self._send,
            interval_seconds=10.0, heartbeat_seconds=PULSE_S, ready=lambda: True,
        )
        self.started = self.time.now
        self._next_pulse = self.time.now + PULSE_S
        wallet = Wallet.from_private_key("0x" + bytes(Account.create().key).hex())
        self.client = ClobClient(url, chain_id=137, wallet=wallet, creds=make_creds(),
                                 clock=self.time.clock, sleep=self.wait, timeout=5.0)

    def _send(self, previous: str) -> str:
        self.sent.append(self.time.now)
        return "hb-next"

    def wait(self, seconds: float) -> None:
        end = self.time.now + seconds
        while self._next_pulse <= end:
            self.time.now = self._next_pulse
            self.pulses.heartbeat()
            self._next_pulse += PULSE_S
        self.time.now = end

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip([self.started, *self.sent], self.sent, strict=False)]


def test_a_tick_that_is_pacing_its_requests_keeps_the_heartbeats_going() -> None:
    with hostile(_echo_cancels) as srv:
        run = _PacedPass(srv.url)
        run.client.on_progress = run.health.progress  # as `reconciler run` wires it
        run.health.tick_started_now()
        # 5,000 cancels paced to Standard's cancel bucket (burst 120, 80/s): about a minute,
        # twice the daemon's grace of max(3 x interval, 30 s).
        answer = run.client.cancel_orders([f"0x{n:064x}" for n in range(1, 5001)])
        run.health.tick_finished(ok=True)
        run.wait(PULSE_S)
    assert len(answer.canceled) == 5000
    assert run.time.now - run.started > 60.0
    assert len(run.sent) >= 12
    assert max(run.gaps()) <= 2 * PULSE_S, f"a {max(run.gaps()):g} s gap: the exchange cancels all"


def test_a_tick_that_makes_no_progress_stops_the_heartbeats_after_the_grace() -> None:
    with hostile(_echo_cancels) as srv:
        run = _PacedPass(srv.url)
        run.client.on_progress = run.health.progress
        run.health.tick_started_now()
        run.client.cancel_orders(["0x" + "ab" * 32])  # one request, then the tick hangs
        run.wait(25.0)
        # A request from another thread on the same client (as the heartbeat pulse's own) is
        # no sign of the tick's life.
        beside = threading.Thread(target=run.client.get_ok)
        beside.start()
        beside.join(timeout=WAIT_S)
        run.wait(35.0)
    grace = 30.0  # max(3 x 10 s interval, 30 s)
    assert [t - run.started for t in run.sent] == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    assert run.time.now - run.started == 60.0 and grace < 60.0
