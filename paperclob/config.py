"""Settings of a paper exchange instance (from code, or from the command line via `cli`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from paperclob.markets import DEFAULT_MIN_SIZE, DEFAULT_TICK


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` per `window_s` seconds per signer address (a sliding window)."""

    requests: int
    window_s: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`"100/10"` = 100 requests per 10 s; `"50"` = 50 per second."""
        count, _, window = text.partition("/")
        try:
            limit = cls(requests=int(count), window_s=float(window or "1"))
        except ValueError:
            raise ValueError(
                f"invalid rate limit {text!r}: use N or N/SECONDS, e.g. 100/10"
            ) from None
        if limit.requests <= 0 or limit.window_s <= 0:
            raise ValueError(f"invalid rate limit {text!r}: both numbers must be positive")
        return limit


@dataclass
class WireForms:
    """Where the sources disagree on a form (clob-v2-wire.md 5), which one the exchange sends.

    Each default is the form the reference reports as seen live, or the one both official SDKs
    expect where nothing was seen live. Changeable while running by `POST /_admin/wire`.
    """

    heartbeat_error_key: str = "error_msg"  # "error_msg" (both SDKs) | "error" (OpenAPI)
    unknown_order: str = "404"  # "404" {"error": "Order not found"} (OpenAPI) | "null" (200 null)
    order_status: str = "plain"  # "plain" LIVE (seen live) | "prefixed" ORDER_STATUS_LIVE
    trade_status: str = "prefixed"  # "prefixed" TRADE_STATUS_MATCHED (REST) | "plain"
    orders_end_cursor: str = "LTE="  # "LTE=" (every SDK) | "" (OpenAPI OrdersResponse)
    stream_frames: str = "object"  # one event per frame | "array": a JSON array (2.14: both)
    stream_timestamp: str = "s"  # user-channel `timestamp`: "s" (examples) | "ms" (schema)

    CHOICES = {
        "heartbeat_error_key": ("error_msg", "error"),
        "unknown_order": ("404", "null"),
        "order_status": ("plain", "prefixed"),
        "trade_status": ("prefixed", "plain"),
        "orders_end_cursor": ("LTE=", ""),
        "stream_frames": ("object", "array"),
        "stream_timestamp": ("s", "ms"),
    }

    def __post_init__(self) -> None:
        for name, allowed in self.CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")

    def update(self, changes: Mapping[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.CHOICES:
                raise ValueError(f"unknown wire form {name!r}; known: {', '.join(self.CHOICES)}")
            if value not in self.CHOICES[name]:
                raise ValueError(f"{name} must be one of {self.CHOICES[name]}, not {value!r}")
            setattr(self, name, value)

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.CHOICES}


@dataclass(frozen=True)
class PaperConfig:
    """How a paper exchange behaves. Every field has a default that needs no setup.

    Balances are in human units (pUSD and shares); the exchange keeps them as integer base units.
    `clock` returns unix seconds and is injectable so tests can move time (GTD expiry, heartbeats).
    """

    host: str = "127.0.0.1"
    port: int = 0
    chain_id: int = 137
    protocol: str = "v2"  # what /version reports and the profile assumed for ambiguous orders
    strict_version: bool = False  # reject orders of the other protocol with order_version_mismatch
    page_size: int = 100
    markets_file: Path | None = None
    markets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default_tick: Decimal = DEFAULT_TICK
    default_min_size: Decimal = DEFAULT_MIN_SIZE
    initial_collateral: Decimal = Decimal("10000")
    initial_shares: Decimal = Decimal("10000")
    gtd_security_s: int = 60
    heartbeat_timeout_s: float = 10.0
    latency_ms: int = 0
    fail_5xx_rate: float = 0.0
    rate_limit: RateLimit | None = None  # the Cloudflare-like request window (a fault)
    rate_limit_tier: str = "Standard"  # per-signer token buckets: the default tier
    rate_limit_mode: str = "enforce"  # enforce | warn | off
    settle_delay_s: float = 1.0  # MATCHED -> MINED -> CONFIRMED, seconds per step
    auto_tick: bool = True  # tick goes finer beyond 0.96 / below 0.04 and back (markets.py)
    wire: WireForms = field(default_factory=WireForms)
    admin: bool = True
    seed: int | None = None  # fixes API-key derivation and fault randomness across runs
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.protocol not in ("v1", "v2"):
            raise ValueError(f"protocol must be v1 or v2, not {self.protocol!r}")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if not 0 <= self.fail_5xx_rate <= 1:
            raise ValueError("fail_5xx_rate must be between 0 and 1")
        if self.rate_limit_mode not in ("enforce", "warn", "off"):
            raise ValueError(
                f"rate_limit_mode must be enforce, warn or off, not {self.rate_limit_mode!r}"
            )
        if self.settle_delay_s < 0:
            raise ValueError("settle_delay_s must not be negative")
