"""Fixtures: a real paper exchange on an ephemeral 127.0.0.1 port, a movable clock, SDK clients.

`paper` starts one server per test (it is cheap: a thread and a socket) with a `ManualClock`, so
tests move time explicitly (GTD expiry, heartbeats) and never sleep. `paper_factory(**config)`
starts more, with other settings. Keys are generated per test, never committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account

from paperclob import PaperConfig, PaperExchange

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OTHER_TOKEN = "123456789"


class ManualClock:
    """Unix seconds that move only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


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


def new_key() -> str:
    """A fresh random private key (0x hex), never written anywhere."""
    return "0x" + bytes(Account.create().key).hex()
