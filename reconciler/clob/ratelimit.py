"""Per-signer rate limits (clob-v2-wire.md 2.13): what the answers say, and pacing before a 429.

The exchange charges every order and cancel request against two token buckets of the signer:
`POST /order` 1 and `POST /orders` one per order (order bucket); `DELETE /order` 1,
`DELETE /orders` one per id, `DELETE /cancel-all` and `/cancel-market-orders` 1 up front
(cancel bucket). A batch is admitted whole or not at all, so a batch dearer than the tier's
burst can never pass and must be split.

The client keeps a local estimate of each bucket (`TokenBucket`), sized by the tier table below
(a third-party transcription of the docs page, the only source of the figures) and assuming
Standard until a `Poly-RateLimit-Tier` header names another tier. Every answer refreshes it:
`Poly-RateLimit-Remaining` sets the tokens, a 429's `Retry-After` (seconds or an HTTP date) or
else its `Poly-RateLimit-Reset` (unix seconds) blocks the bucket until then. Before a request is
sent, `Pacer.acquire` waits until the estimate covers its cost. The clock and the sleep are
injected, so tests are deterministic and never sleep for real.
"""

from __future__ import annotations

import email.utils
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from reconciler.clob.errors import OverBurst

log = logging.getLogger(__name__)

#: At most this many ids in one DELETE /orders since 2026-06-15 (2.2).
MAX_CANCEL_IDS = 1000


class Bucket(StrEnum):
    ORDER = "order"
    CANCEL = "cancel"


@dataclass(frozen=True)
class TierLimits:
    name: str
    order_rate: float  # tokens per second
    order_burst: int  # the bucket's capacity
    cancel_rate: float
    cancel_burst: int
    negative_cancel_balance: bool

    def rate(self, bucket: Bucket) -> float:
        return self.order_rate if bucket is Bucket.ORDER else self.cancel_rate

    def burst(self, bucket: Bucket) -> int:
        return self.order_burst if bucket is Bucket.ORDER else self.cancel_burst


#: 2.13's table (third-party transcription, fetched 2026-08-05), keyed by lower-case name.
TIERS: dict[str, TierLimits] = {
    t.name.lower(): t
    for t in (
        TierLimits("Standard", 40, 60, 80, 120, True),
        TierLimits("Copper", 60, 90, 120, 180, True),
        TierLimits("Bronze", 80, 120, 160, 240, True),
        TierLimits("Silver", 200, 300, 400, 600, True),
        TierLimits("Gold", 400, 600, 800, 1200, True),
        TierLimits("Platinum", 450, 675, 900, 1350, False),
        TierLimits("Diamond", 525, 787, 1050, 1575, False),
        TierLimits("Elite", 600, 900, 1200, 1800, False),
    )
}
STANDARD = TIERS["standard"]


def bucket_of(method: str, path: str) -> Bucket | None:
    """Which bucket a request is charged to (None: not charged by the per-signer limiter)."""
    if method == "POST" and path in ("/order", "/orders"):
        return Bucket.ORDER
    if method == "DELETE" and path in ("/order", "/orders", "/cancel-all", "/cancel-market-orders"):
        return Bucket.CANCEL
    return None


@dataclass(frozen=True)
class RateLimitState:
    """What one answer said about its bucket (every field optional, as the headers are)."""

    bucket: Bucket | None
    status: int
    observed_at: float  # unix seconds of the injected clock
    remaining: float | None = None  # may be negative on deficit tiers
    reset: float | None = None  # unix seconds
    tier: str | None = None
    warning: bool = False  # warning mode: would have been refused under enforcement
    retry_after: float | None = None  # seconds, from Retry-After


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_headers(
    headers: Mapping[str, str], *, status: int, bucket: Bucket | None, now: float
) -> RateLimitState | None:
    """The `Poly-RateLimit-*` and `Retry-After` headers of one answer; None when it has none."""
    lower = {name.lower(): value for name, value in headers.items()}
    remaining = _number(lower.get("poly-ratelimit-remaining"))
    reset = _number(lower.get("poly-ratelimit-reset"))
    tier = (lower.get("poly-ratelimit-tier") or "").strip() or None
    warning = (lower.get("poly-ratelimit-warning") or "").strip().lower() == "true"
    retry_after = parse_retry_after(lower.get("retry-after"), now=now)
    if remaining is None and reset is None and tier is None and not warning and retry_after is None:
        return None
    return RateLimitState(
        bucket=bucket,
        status=status,
        observed_at=now,
        remaining=remaining,
        reset=reset,
        tier=tier,
        warning=warning,
        retry_after=retry_after,
    )


class TokenBucket:
    """A local estimate of one of the exchange's buckets."""

    def __init__(self, *, capacity: int, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.updated = now
        self.blocked_until = 0.0

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(float(self.capacity), self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until `cost` tokens are there (0 when they are now)."""
        self.refill(now)
        short = max(0.0, cost - self.tokens)
        return max(short / self.rate, self.blocked_until - now, 0.0)

    def spend(self, cost: int, now: float) -> None:
        self.refill(now)
        self.tokens -= cost

    def resize(self, *, capacity: int, rate: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens = min(self.tokens, float(capacity))


class Pacer:
    """Waits before order and cancel requests so the buckets are not overdrawn."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        tier: TierLimits = STANDARD,
        enabled: bool = True,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.tier = tier
        self.enabled = enabled
        now = clock()
        self.buckets = {
            b: TokenBucket(capacity=tier.burst(b), rate=tier.rate(b), now=now) for b in Bucket
        }
        self.states: dict[Bucket, RateLimitState] = {}
        self.waited = 0.0  # total seconds slept, for logs and tests
        #: Told the length of each wait just before it starts (the transport's progress report).
        self.on_wait: Callable[[float], None] | None = None
        self._warned = False

    def burst(self, bucket: Bucket) -> int:
        return self.tier.burst(bucket)

    def acquire(self, bucket: Bucket, cost: int, *, what: str = "a request") -> float:
        """Sleep until the bucket covers `cost`, then spend it. Returns the seconds waited.
        A wait is logged in one line: what waits (`what`, e.g. "DELETE /orders"), how long,
        and for which bucket, so an operator sees the pacing in the logs."""
        if not self.enabled or cost <= 0:
            return 0.0
        if cost > self.burst(bucket):
            method, _, path = what.partition(" ")
            raise OverBurst(
                f"{what}: a request costing {cost} {bucket.value} tokens can never pass the "
                f"{self.tier.name} tier's burst of {self.burst(bucket)}; not sent (split it)",
                method=method if path else "",
                path=path,
            )
        wait = self.buckets[bucket].wait_for(cost, self.clock())
        if wait > 0:
            log.info("pacing: %s (%d %s tokens) waits %.2f s for the %s bucket (%s tier)",
                     what, cost, bucket.value, wait, bucket.value, self.tier.name)
            if self.on_wait is not None:
                self.on_wait(wait)
            self.sleep(wait)
            self.waited += wait
        self.buckets[bucket].spend(cost, self.clock())
        return wait

    def observe(self, state: RateLimitState) -> None:
        """Refresh the estimate from an answer's headers."""
        if state.tier is not None:
            self._adopt_tier(state.tier)
        if state.warning and not self._warned:
            log.warning("the exchange reports Poly-RateLimit-Warning: under enforcement this "
                        "request would have been refused (%s bucket)", state.bucket or "?")
        self._warned = state.warning
        if state.bucket is None:
            return
        self.states[state.bucket] = state
        bucket = self.buckets[state.bucket]
        bucket.refill(state.observed_at)
        if state.remaining is not None:
            bucket.tokens = min(float(bucket.capacity), state.remaining)
            bucket.updated = state.observed_at
        if state.status == 429:
            if state.remaining is None:
                bucket.tokens = min(bucket.tokens, 0.0)
            if state.retry_after is not None:
                until = state.observed_at + state.retry_after
            elif state.reset is not None:
                until = state.reset
            else:
                until = state.observed_at
            bucket.blocked_until = max(bucket.blocked_until, until)

    def _adopt_tier(self, name: str) -> None:
        tier = TIERS.get(name.strip().lower())
        if tier is None:
            log.warning("unknown rate-limit tier %r; pacing stays at %s", name, self.tier.name)
            return
        if tier is not self.tier:
            log.info("rate-limit tier is %s (was %s)", tier.name, self.tier.name)
            self.tier = tier
            for b, bucket in self.buckets.items():
                bucket.resize(capacity=tier.burst(b), rate=tier.rate(b))


def cancel_chunks(ids: list[str], *, burst: int, max_ids: int = MAX_CANCEL_IDS) -> list[list[str]]:
    """`ids` in as few chunks as both limits allow: each at most min(max_ids, burst) long, and
    all chunks but the last exactly that long."""
    size = min(max_ids, burst)
    if size < 1:
        raise ValueError("a cancel chunk must hold at least one id")
    return [ids[i : i + size] for i in range(0, len(ids), size)]
