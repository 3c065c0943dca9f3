"""Fault injection and per-signer rate limiting, for reliability tests.

Faults are switched on by flags at start or by `POST /_admin/faults` (or `exchange.faults`
in-process) while running. Counted faults (`*_next`) hit the next N matching requests, which keeps
tests deterministic; `error_5xx_rate` draws from a seeded random generator.

* `latency_ms`: every request waits this long before it is handled.
* `error_5xx_rate` / `error_5xx_next`: answer 500 (or `error_status`) without doing anything.
* `throttle_next`: answer 429 `Too Many Requests` with `Retry-After: retry_after_s`.
* `lose_response_next`: POST /order(s) IS carried out, then the connection is closed without a
  response (the client cannot know whether the order was placed).
* `hold_next` + `hold_ms`: the next N POST /order(s) are received, then HELD inside the exchange
  for `hold_ms` before they are processed (outside the exchange lock, so every other request,
  a re-send of the same order included, is served meanwhile). A hold longer than the client's
  timeout makes a late landing: the client gives up, and the order is placed (or refused, e.g.
  as a duplicate of its own re-send) afterwards. `exchange.holds` counts the requests held right
  now, received and released (processed) so far; GET /_admin/faults shows them.
* `reject_order_ids` / `reject_batch_positions`: those orders of a POST /orders are refused with
  `reject_message`; the others in the batch go through.
* `fail_open_orders_next`: GET /data/orders answers 500 (-1 = until switched off).
* `paths`: when not empty, the request faults above apply only to these paths.
* `rate_limit`: per signer address (POLY_ADDRESS), a sliding window over every request, like the
  Cloudflare layer; over it -> 429 + Retry-After. The per-signer token buckets of 2026 are
  another thing (ratelimit.py).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from paperclob.config import RateLimit


@dataclass
class Faults:
    latency_ms: int = 0
    error_5xx_rate: float = 0.0
    error_5xx_next: int = 0
    error_status: int = 500
    throttle_next: int = 0
    retry_after_s: int = 1
    lose_response_next: int = 0
    hold_next: int = 0
    hold_ms: int = 0
    reject_order_ids: set[str] = field(default_factory=set)
    reject_batch_positions: set[int] = field(default_factory=set)
    reject_message: str = "could not insert order"
    fail_open_orders_next: int = 0
    paths: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, set):
                data[key] = sorted(value)
        return data

    def update(self, changes: dict[str, Any]) -> None:
        """Apply an admin change; unknown keys or wrong types raise ValueError."""
        known = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, key)
            if isinstance(current, set):
                if not isinstance(value, list | tuple | set):
                    raise ValueError(f"fault {key!r} takes a list")
                setattr(self, key, set(value))
            elif isinstance(current, float):
                setattr(self, key, float(value))
            elif isinstance(current, int):
                setattr(self, key, int(value))
            else:
                setattr(self, key, str(value))
        if not 0 <= self.error_5xx_rate <= 1:
            raise ValueError("error_5xx_rate must be between 0 and 1")

    def reset(self) -> None:
        fresh = Faults()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def applies_to(self, path: str) -> bool:
        return not self.paths or path in self.paths

    @staticmethod
    def take(count: int) -> tuple[bool, int]:
        """(fire?, new count) for a counted fault; -1 means always."""
        if count == 0:
            return False, 0
        return True, count if count < 0 else count - 1


class HeldPosts:
    """The POSTs the `hold_next` fault holds inside the exchange: how many were received (held)
    and released (processed) since start, and how many are held right now, so a test can wait
    for a POST to be held, or for its late landing, instead of sleeping."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.received = 0
        self.released = 0

    @contextmanager
    def hold(self, seconds: float) -> Iterator[None]:
        """Wait `seconds` (the caller holds no lock), then run the body (the request's
        processing); the request counts as held until the body is done."""
        with self._cond:
            self.received += 1
            self._cond.notify_all()
        try:
            time.sleep(seconds)
            yield
        finally:
            with self._cond:
                self.released += 1
                self._cond.notify_all()

    @property
    def holding(self) -> int:
        with self._cond:
            return self.received - self.released

    def wait(self, *, holding: int | None = None, received: int | None = None,
             released: int | None = None, timeout: float = 30.0) -> bool:
        """Wait (bounded) until exactly `holding` requests are held, at least `received` were
        received, and at least `released` were released (each when given)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: (holding is None or self.received - self.released == holding)
                and (received is None or self.received >= received)
                and (released is None or self.released >= released),
                timeout=timeout,
            )

    def to_json(self) -> dict[str, int]:
        with self._cond:
            return {"holding": self.received - self.released, "received": self.received,
                    "released": self.released}


class RateLimiter:
    """Sliding-window request counter per signer address."""

    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._seen: dict[str, deque[float]] = {}

    def check(self, signer: str, now: float) -> float | None:
        """None if allowed (and counted); else seconds until the next request may pass."""
        if self.limit is None or not signer:
            return None
        window = self._seen.setdefault(signer.lower(), deque())
        while window and window[0] <= now - self.limit.window_s:
            window.popleft()
        if len(window) >= self.limit.requests:
            return max(window[0] + self.limit.window_s - now, 0.0)
        window.append(now)
        return None

    def remaining(self, signer: str) -> int | None:
        if self.limit is None:
            return None
        return max(self.limit.requests - len(self._seen.get(signer.lower(), ())), 0)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def draw(rng: random.Random, rate: float) -> bool:
    return rate > 0 and rng.random() < rate
