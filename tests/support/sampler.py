"""Watching the book DURING a run, not only at its end: the peak resting size of each level.

- `BookSampler`: an observer thread on an in-process paper exchange that reads one account's
  resting orders under the exchange lock every few milliseconds (and once more on demand, via
  `sample()`), and keeps, per level (token, side, price), the largest resting size and the
  largest number of resting orders it ever saw.
- `HttpBookSampler`: the same over HTTP for a paper exchange in another process (the e2e tests),
  reading the account's open orders through its own client.

A level above its target at any sampled moment is an over-fill, even if the run ends right.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from decimal import Decimal

from paperclob import PaperExchange
from reconciler.model import OpenOrder, Side

Level = tuple[str, Side, Decimal]
UNITS = Decimal(1_000_000)


class _Peaks:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.size: dict[Level, Decimal] = {}
        self.orders: dict[Level, int] = {}
        self.samples = 0

    def add(self, resting: Mapping[Level, tuple[Decimal, int]]) -> None:
        with self.lock:
            self.samples += 1
            for level, (size, count) in resting.items():
                self.size[level] = max(self.size.get(level, Decimal(0)), size)
                self.orders[level] = max(self.orders.get(level, 0), count)

    def over(self, targets: Mapping[Level, Decimal]) -> dict[Level, Decimal]:
        """Levels whose peak exceeded their target (a level not in `targets` has target 0)."""
        with self.lock:
            return {
                level: peak
                for level, peak in self.size.items()
                if peak > targets.get(level, Decimal(0))
            }


class _Thread:
    def __init__(self, sample: Callable[[], None], every: float) -> None:
        self._sample = sample
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="book-sampler", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception as exc:  # a sampler that stops sampling must fail the test
                self.error = exc
                return
            self._stop.wait(self._every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the book sampler failed: {self.error!r}")


class BookSampler(_Peaks):
    """Peaks of one account's resting orders on an in-process paper exchange."""

    def __init__(self, paper: PaperExchange, address: str, *, every: float = 0.002) -> None:
        super().__init__()
        self.paper = paper
        self.address = address.lower()
        self._thread = _Thread(self.sample, every)

    def sample(self) -> None:
        exchange = self.paper.exchange
        resting: dict[Level, tuple[Decimal, int]] = {}
        with exchange.lock:
            for order in exchange.engine.open_orders(self.address):
                level = (order.token_id, order.side, order.price.normalize())
                size, count = resting.get(level, (Decimal(0), 0))
                resting[level] = (size + Decimal(order.original - order.matched) / UNITS,
                                  count + 1)
        self.add(resting)

    def __enter__(self) -> BookSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop()
        self.sample()


class HttpBookSampler(_Peaks):
    """Peaks of an account's open orders read over HTTP (`read` returns them)."""

    def __init__(self, read: Callable[[], list[OpenOrder]], *, every: float = 0.02) -> None:
        super().__init__()
        self._read = read
        self._thread = _Thread(self.sample, every)

    def sample(self) -> None:
        resting: dict[Level, tuple[Decimal, int]] = {}
        for order in self._read():
            level = (order.token_id, order.side, order.price.normalize())
            size, count = resting.get(level, (Decimal(0), 0))
            resting[level] = (size + order.remaining, count + 1)
        self.add(resting)

    def __enter__(self) -> HttpBookSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop()
        self.sample()
