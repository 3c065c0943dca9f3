"""Per-signer token buckets for orders and cancels (clob-v2-wire.md 2.13, clob-v1-wire.md 8).

Every order and cancel request is charged against two buckets kept per signer address (the
address of the API credentials): one for orders, one for cancels; neither drains the other.

| request                         | bucket | tokens                                      |
|---------------------------------|--------|---------------------------------------------|
| POST /order                     | order  | 1                                           |
| POST /orders                    | order  | one per order in the batch                  |
| DELETE /order                   | cancel | 1                                           |
| DELETE /orders                  | cancel | one per id sent (duplicates included)       |
| DELETE /cancel-all              | cancel | 1 up front, then 1 per order cancelled      |
| DELETE /cancel-market-orders    | cancel | 1 up front, then 1 per order cancelled      |

Tokens refill continuously at the tier's rate up to its burst. A request is admitted only if the
bucket holds its whole cost; otherwise none of it runs (429). A cost above the burst can never
pass: it gets a 429 without `Retry-After`. The per-order charge of cancel-all / by-market is taken
after the cancels: tiers with a negative cancel balance go into deficit, the others stop at zero.

Modes (`--rate-limit-mode`, `POST /_admin/rate-limits`):

* ``enforce`` (default): over-budget requests get 429 Too Many Requests.
* ``warn``: the request runs anyway and carries ``Poly-RateLimit-Warning: true``; the bucket is
  accounted exactly as under enforcement (a request that would have been refused costs nothing).
* ``off``: no buckets, no ``Poly-RateLimit-*`` headers.

Headers when the limiter evaluated a request: ``Poly-RateLimit-Remaining`` (whole tokens left,
rounded down, may be negative), ``Poly-RateLimit-Reset`` (unix seconds: on a 429 within the
burst, when enough tokens exist for that request; on an accepted request, when the bucket is
full again, which is "now" for a full bucket), ``Poly-RateLimit-Tier``, and on a 429 within the
burst ``Retry-After`` (whole seconds, at least 1).

Tier figures: a third-party transcription of the docs page, as the reference gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from paperclob import errors


@dataclass(frozen=True)
class Tier:
    name: str
    order_rate: float
    order_burst: int
    cancel_rate: float
    cancel_burst: int
    negative_cancel_balance: bool


TIERS: dict[str, Tier] = {
    t.name.lower(): t
    for t in (
        Tier("Standard", 40, 60, 80, 120, True),
        Tier("Copper", 60, 90, 120, 180, True),
        Tier("Bronze", 80, 120, 160, 240, True),
        Tier("Silver", 200, 300, 400, 600, True),
        Tier("Gold", 400, 600, 800, 1200, True),
        Tier("Platinum", 450, 675, 900, 1350, False),
        Tier("Diamond", 525, 787, 1050, 1575, False),
        Tier("Elite", 600, 900, 1200, 1800, False),
    )
}


def tier_named(name: str) -> Tier:
    tier = TIERS.get(str(name).strip().lower())
    if tier is None:
        known = ", ".join(t.name for t in TIERS.values())
        raise ValueError(f"unknown rate-limit tier {name!r}; known: {known}")
    return tier


class LimitMode(StrEnum):
    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


class Bucket(StrEnum):
    ORDER = "order"
    CANCEL = "cancel"


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def seconds_until(self, tokens: float) -> float:
        return max(0.0, (tokens - self.tokens) / self.rate)


@dataclass(frozen=True)
class Admission:
    """The limiter's verdict on one request: headers to send, and whether it may run."""

    admitted: bool
    headers: dict[str, str]


class SignerLimiter:
    """The order and cancel buckets of every signer. Guarded by the exchange lock."""

    def __init__(self, *, tier: Tier, mode: LimitMode) -> None:
        self.default_tier = tier
        self.mode = mode
        self.tiers: dict[str, Tier] = {}  # signer -> tier, when not the default
        self._buckets: dict[tuple[str, Bucket], TokenBucket] = {}

    def tier_of(self, signer: str) -> Tier:
        return self.tiers.get(signer.lower(), self.default_tier)

    def set_tier(self, signer: str, tier: Tier) -> None:
        self.tiers[signer.lower()] = tier
        for bucket in (Bucket.ORDER, Bucket.CANCEL):
            self._buckets.pop((signer.lower(), bucket), None)  # a new tier starts full

    def reset(self) -> None:
        self._buckets.clear()

    def _bucket(self, signer: str, which: Bucket, now: float) -> TokenBucket:
        key = (signer.lower(), which)
        bucket = self._buckets.get(key)
        if bucket is None:
            tier = self.tier_of(signer)
            rate, burst = (
                (tier.order_rate, tier.order_burst)
                if which is Bucket.ORDER
                else (tier.cancel_rate, tier.cancel_burst)
            )
            bucket = self._buckets[key] = TokenBucket(rate, burst, float(burst), now)
        bucket.refill(now)
        return bucket

    def admit(self, signer: str, which: Bucket, cost: int, now: float) -> Admission:
        """Charge `cost` tokens if the bucket holds them; raise 429 (enforce) if not."""
        if self.mode is LimitMode.OFF:
            return Admission(True, {})
        bucket = self._bucket(signer, which, now)
        tier = self.tier_of(signer)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Admission(True, self._headers(bucket, tier, now))
        headers = self._headers(bucket, tier, now)
        if cost <= bucket.burst:
            wait = bucket.seconds_until(cost)
            headers["Poly-RateLimit-Reset"] = str(math.ceil(now + wait))
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        if self.mode is LimitMode.WARN:
            headers["Poly-RateLimit-Warning"] = "true"
            headers.pop("Retry-After", None)
            return Admission(True, headers)
        raise errors.ApiError(429, errors.TOO_MANY_REQUESTS, headers=headers)

    def charge_after(self, signer: str, cancelled: int, now: float) -> dict[str, str]:
        """The per-order charge of cancel-all / cancel-market-orders, taken after the cancels."""
        if self.mode is LimitMode.OFF:
            return {}
        bucket = self._bucket(signer, Bucket.CANCEL, now)
        tier = self.tier_of(signer)
        bucket.tokens -= cancelled
        if not tier.negative_cancel_balance:
            bucket.tokens = max(bucket.tokens, 0.0)
        return self._headers(bucket, tier, now)

    @staticmethod
    def _headers(bucket: TokenBucket, tier: Tier, now: float) -> dict[str, str]:
        full_at = now + bucket.seconds_until(bucket.burst)
        return {
            "Poly-RateLimit-Remaining": str(math.floor(bucket.tokens)),
            "Poly-RateLimit-Reset": str(math.ceil(full_at)),
            "Poly-RateLimit-Tier": tier.name,
        }

    def describe(self) -> dict[str, object]:
        return {
            "mode": self.mode.value,
            "tier": self.default_tier.name,
            "tiers": {signer: tier.name for signer, tier in self.tiers.items()},
        }
