"""The fixtures shared by the suite. Helpers (classes, functions) live in tests/support/; a
fixture used by one module only stays in that module.

- `key`: a fresh private key, generated per test and never written anywhere.
- `clock`: a `ManualClock` at the current second; tests move it, nothing sleeps.
- `paper_config`, `paper_factory`, `paper`, `paper_url`: a real paper exchange on an ephemeral
  127.0.0.1 port, one per test (a thread and a socket: cheap). By default it runs on `clock`,
  with pages of 5 and seed 7 (the paper exchange tests); a module whose tests want other
  settings overrides `paper_config`. `paper_factory(**overrides)` starts more, with other
  settings, and stops them all at the end. `alice` and `bob` are two clients on `paper`, each with
  a fresh wallet and its API key (alice makes, bob takes).
- `store_clock`, `store`: a real SQLite state file in tmp_path (`store_clock` is real time unless
  a module overrides it).
- `harness`: the engine harness of tests/support/engine.py (its own paper exchange on real time
  with pages of 7, and `store`); `lossy_harness` the same with pages of 100 and a session that
  records statuses and loses or refuses chosen requests (tests/support/exchange.py).
- `notify_socket`: a datagram socket where $NOTIFY_SOCKET would point (systemd's), and its path.
- `stack`: the paper exchange as a process, a counting proxy in front of it, room for daemons
  as processes (tests/support/processes.py).
- `cli`: the `reconciler` command in-process on its own paper exchange, with a desired
  directory and a state file in tmp_path (tests/support/cli.py).
- `server`, `client`: the scripted loopback server of tests/support/loopback.py and a client
  of it with a fresh key, fixed credentials and a fixed clock.

The suite refuses to start while a module under tests/ imports a test module or a conftest
(tests/support/suite_shape.py): shared code goes to tests/support/, shared fixtures come here.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from paperclob import PaperConfig, PaperExchange
from reconciler.clob.client import ClobClient
from reconciler.clob.signing import Wallet
from reconciler.store.store import Store
from tests.support.accounts import new_client, new_key
from tests.support.cli import Cli
from tests.support.clock import ManualClock
from tests.support.engine import Harness, make_harness
from tests.support.exchange import LossySession
from tests.support.loopback import FIXED_NOW, LoopbackServer, make_creds
from tests.support.processes import CountingProxy, PaperProcess, Stack
from tests.support.suite_shape import foreign_imports


def pytest_sessionstart(session: pytest.Session) -> None:
    found = foreign_imports(Path(__file__).resolve().parent)
    if found:
        raise pytest.UsageError(
            "test modules import only tests.support (helpers) and get fixtures from "
            "tests/conftest.py; found: " + "; ".join(found)
        )


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# --- the paper exchange --------------------------------------------------------------------------


@pytest.fixture
def paper_config(clock: ManualClock) -> PaperConfig:
    return PaperConfig(clock=clock, page_size=5, seed=7)


@pytest.fixture
def paper_factory(paper_config: PaperConfig) -> Iterator[Callable[..., PaperExchange]]:
    started: list[PaperExchange] = []

    def start(**overrides: Any) -> PaperExchange:
        exchange = PaperExchange(replace(paper_config, **overrides))
        exchange.start()
        started.append(exchange)
        return exchange

    yield start
    for exchange in started:
        exchange.stop()


@pytest.fixture
def paper(paper_factory: Callable[..., PaperExchange]) -> PaperExchange:
    return paper_factory()


@pytest.fixture
def paper_url(paper: PaperExchange) -> str:
    return paper.url


@pytest.fixture
def alice(paper: PaperExchange) -> ClobClient:
    return new_client(paper.url)


@pytest.fixture
def bob(paper: PaperExchange) -> ClobClient:
    return new_client(paper.url)


# --- the state file and the engine ---------------------------------------------------------------


@pytest.fixture
def store_clock() -> Callable[[], float]:
    return time.time


@pytest.fixture
def store(tmp_path: Path, store_clock: Callable[[], float]) -> Iterator[Store]:
    opened = Store.open(tmp_path / "state" / "reconciler.db", clock=store_clock)
    yield opened
    opened.close()


@pytest.fixture
def harness(
    tmp_path: Path, paper_factory: Callable[..., PaperExchange], store: Store
) -> Iterator[Harness]:
    exchange = paper_factory(clock=time.time, page_size=7)
    h = make_harness(tmp_path, exchange, exchange.url, store=store)
    try:
        yield h
    finally:
        h.store.close()  # a restart may have replaced `store`


@pytest.fixture
def lossy_harness(
    tmp_path: Path, paper_factory: Callable[..., PaperExchange], store: Store
) -> Iterator[Harness]:
    """The engine harness with a `LossySession` (tests/support/exchange.py): it records every
    answer's status, and loses or refuses the requests a test names. Pages of 100."""
    exchange = paper_factory(clock=time.time, page_size=100)
    h = make_harness(tmp_path, exchange, exchange.url, store=store, session=LossySession())
    try:
        yield h
    finally:
        h.store.close()


# --- systemd's notify socket --------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket listening where $NOTIFY_SOCKET would point, and that path."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20.0)  # the bound of a wait for one message; normally milliseconds
    yield sock, str(path)
    sock.close()


# --- the scripted loopback server ----------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer, key: str) -> ClobClient:
    return ClobClient(
        server.url,
        chain_id=137,
        wallet=Wallet.from_private_key(key),
        creds=make_creds(),
        clock=lambda: FIXED_NOW,
        timeout=2.0,
    )


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    paper_factory: Callable[..., PaperExchange], key: str,
) -> Iterator[Cli]:
    """`reconciler` in-process on its own paper exchange (real time), with the key in the
    environment, cwd = tmp_path, `desired/` and `state/reconciler.db` there (tests/support/cli.py)."""
    import logging

    exchange = paper_factory(clock=time.time)
    for var in ("API_KEY", "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM",
                "NOTIFY_SOCKET", "RECONCILER_DESIRED", "RECONCILER_STATE", "CLOB_HOST",
                "PRIVATE_KEY", "CHAIN_ID", "SIGNATURE_TYPE", "FUNDER_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOB_HOST", exchange.url)
    monkeypatch.setenv("PRIVATE_KEY", key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desired").mkdir()
    yield Cli(capsys=capsys, paper=exchange, key=key, root=tmp_path)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "reconciler"]


# --- the daemon and the exchange as processes ----------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A paper exchange process, a counting proxy in front of it, and room for daemons
    (tests/support/processes.py); everything is stopped at the end."""
    paper = PaperProcess()
    proxy = CountingProxy(paper.url)
    desired = tmp_path / "desired"
    desired.mkdir()
    made = Stack(paper=paper, proxy=proxy, key=new_key(), desired=desired,
                 state=tmp_path / "state" / "reconciler.db", daemons=[])
    try:
        yield made
    finally:
        for daemon in made.daemons:
            daemon.stop()
        proxy.stop()
        paper.stop()
