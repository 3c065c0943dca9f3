"""The market-parameter half of `ClobClient`: tick size, neg-risk, fee, minimum size, status.

Orders need the market's tick size and neg-risk flag (which exchange contract signs them), the
planner needs the minimum order size and whether the market still accepts orders. They come from
the exchange and are cached per token for `market_cache_ttl` seconds of the injected clock: a
tick can change near the price extremes, so the cache expires, and `clear_market_cache` drops a
token at once (the client does so itself after a tick rejection). Neg-risk never changes for a
market and is cached for good.

The order protocol is chosen per market (clob-v2-wire.md 2.4): `order_profile(token_id)` gives
ExchangeV3 for a Protocol-V2 market and CTFExchangeV2 for the others. The market's Gamma
`version` is the authority when the caller registers it (`set_market_version`); the CLOB's own
answers do not carry it, so without one the unified SDK's id test decides. `MarketInfo` carries
the choice (`order_profile`) for the engine's builder.

`/clob-markets` is read per the OpenAPI's `ClobMarketDetails` (2.2): every key optional, `oas`
an integer minimum order age in seconds, `itode` (absent when false), `gst`, `r`.

The public reads (`/`, `/time`, `/version`, `/book`, `/midpoint`) are here too: no key, no
account.

`ClobClient` inherits `MarketMethods` and supplies the plumbing declared at the top of the class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reconciler.clob.errors import (
    AuthenticationFailed,
    ExchangeRejected,
    NotFound,
    ProtocolError,
)
from reconciler.clob.parsing import (
    require_dict,
    require_list,
    to_decimal,
    to_int,
    to_price,
    to_size,
)
from reconciler.clob.profiles import Profile, market_profile
from reconciler.clob.transport import build_query
from reconciler.clob.types import OrderBook, parse_order_book
from reconciler.model import TICK_SIZES, MarketInfo


def canonical_tick(value: Decimal, what: str) -> Decimal:
    for tick in TICK_SIZES:
        if tick == value:
            return tick
    raise ProtocolError(
        f"{what}: {value} is not a known tick size ({', '.join(map(str, TICK_SIZES))})"
    )


@dataclass(frozen=True)
class ClobMarketDetails:
    """GET /clob-markets/{condition_id}, every key optional (OpenAPI `ClobMarketDetails`)."""

    condition_id: str
    tokens: tuple[str, ...] = ()
    min_tick: Decimal | None = None  # mts
    min_order_size: Decimal | None = None  # mos
    neg_risk: bool = False  # nr (read by the SDKs, not in the OpenAPI)
    maker_base_fee_bps: int | None = None  # mbf
    taker_base_fee_bps: int | None = None  # tbf
    rfq_enabled: bool = False  # rfqe
    taker_delay: bool = False  # itode: absent when false
    blockaid_check: bool = False  # ibce
    min_order_age_s: int | None = None  # oas: an integer, seconds (not an "accepting" flag)
    game_start_time: str | None = None  # gst
    rewards: Mapping[str, Any] = field(default_factory=dict)  # r, free-form
    fee_curve: Mapping[str, Any] = field(default_factory=dict)  # fd {r, e, to}


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ProtocolError(f"/clob-markets {key}: expected true or false, got {value!r}")
    return value


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None or value == "" or (key == "oas" and isinstance(value, bool)):
        # `oas` was once read as an "accepting orders" flag, and venues of that era send a
        # bool; the OpenAPI makes it an integer. A bool says nothing about a minimum age.
        return None
    number = to_int(value, f"/clob-markets {key}")
    if number < 0:
        raise ProtocolError(f"/clob-markets {key}: must not be negative, got {value!r}")
    return number


def parse_clob_market(condition_id: str, data: Any) -> ClobMarketDetails:
    item = require_dict(data, "clob-markets")
    tokens = require_list(item.get("t") or [], "clob-markets t")
    gst = item.get("gst")
    if gst is not None and not isinstance(gst, str):
        raise ProtocolError(f"/clob-markets gst: expected an ISO-8601 string, got {gst!r}")
    rewards = item.get("r") or {}
    fee = item.get("fd") or {}
    return ClobMarketDetails(
        condition_id=condition_id,
        tokens=tuple(str(require_dict(t, "clob-markets token").get("t")) for t in tokens if t),
        min_tick=None if item.get("mts") is None else to_size(item["mts"], "mts"),
        min_order_size=None if item.get("mos") is None else to_size(item["mos"], "mos"),
        neg_risk=_flag(item, "nr"),
        maker_base_fee_bps=_optional_int(item, "mbf"),
        taker_base_fee_bps=_optional_int(item, "tbf"),
        rfq_enabled=_flag(item, "rfqe"),
        taker_delay=_flag(item, "itode"),
        blockaid_check=_flag(item, "ibce"),
        min_order_age_s=_optional_int(item, "oas"),
        game_start_time=gst or None,
        rewards=require_dict(rewards, "clob-markets r"),
        fee_curve=require_dict(fee, "clob-markets fd"),
    )


class MarketMethods:
    """Market parameters for `ClobClient`, cached (see the module docstring)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]
        profile: Profile

        def _public(self, path: str, *, query: str = "") -> Any: ...

    def __init__(self, *, market_cache_ttl: float) -> None:
        self.market_cache_ttl = market_cache_ttl
        self._ticks: dict[str, tuple[Decimal, float]] = {}
        self._neg_risk: dict[str, bool] = {}  # fixed for a market's life: cached for good
        self._fee_bps: dict[str, int] = {}
        self._markets: dict[str, tuple[MarketInfo, float]] = {}
        self._market_versions: dict[str, str] = {}  # token id -> Gamma version ("v1"/"v2")

    def set_market_version(self, token_id: str, version: str) -> None:
        """Register a token's market `version` from Gamma ("v1": CTF, "v2": Protocol V2), the
        authority for which exchange its orders are signed for (2.4)."""
        market_profile(token_id, market_version=version, base=self.profile)  # refuse it now
        self._market_versions[token_id] = version.strip().lower()
        self._markets.pop(token_id, None)

    def order_profile(self, token_id: str) -> Profile:
        """The profile an order for this token is signed with (see the module docstring).
        A client constructed with `profile=Profile.V3` signs every order V3 (a V3-only venue)."""
        if self.profile is Profile.V3:
            return Profile.V3
        try:
            return market_profile(
                token_id, market_version=self._market_versions.get(token_id), base=self.profile
            )
        except ValueError as exc:
            raise ProtocolError(f"token {token_id}: {exc}") from None

    def _fresh(self, fetched_at: float) -> bool:
        return self.clock() - fetched_at < self.market_cache_ttl

    def clear_market_cache(self, token_id: str | None = None) -> None:
        """Forget cached market parameters (of one token, or all), e.g. after a tick rejection."""
        for cache in (self._ticks, self._neg_risk, self._fee_bps, self._markets):
            if token_id is None:
                cache.clear()
            else:
                cache.pop(token_id, None)

    def get_tick_size(self, token_id: str) -> Decimal:
        cached = self._ticks.get(token_id)
        if cached and self._fresh(cached[1]):
            return cached[0]
        data = require_dict(
            self._public("/tick-size", query=build_query([("token_id", token_id)])), "tick size"
        )
        tick = canonical_tick(
            to_decimal(data.get("minimum_tick_size"), "minimum_tick_size"), token_id
        )
        self._ticks[token_id] = (tick, self.clock())
        return tick

    def get_neg_risk(self, token_id: str) -> bool:
        if token_id not in self._neg_risk:
            data = require_dict(
                self._public("/neg-risk", query=build_query([("token_id", token_id)])), "neg risk"
            )
            self._neg_risk[token_id] = bool(data.get("neg_risk", False))
        return self._neg_risk[token_id]

    def get_fee_rate_bps(self, token_id: str) -> int:
        """The market's base fee, signed into V1 orders only (V2 orders carry no fee)."""
        if token_id not in self._fee_bps:
            data = require_dict(
                self._public("/fee-rate", query=build_query([("token_id", token_id)])), "fee rate"
            )
            self._fee_bps[token_id] = to_int(data.get("base_fee"), "base_fee", default=0)
        return self._fee_bps[token_id]

    def get_market_info(self, token_id: str) -> MarketInfo:
        """Tick, minimum size, neg-risk and status of a token: /markets-by-token, /clob-markets
        (as the V2 SDK reads them) and /markets/{condition_id} for the status; /tick-size +
        /neg-risk + /book if the first two are refused."""
        cached = self._markets.get(token_id)
        if cached and self._fresh(cached[1]):
            return cached[0]
        try:
            info = self._market_info_v2(token_id)
        except ExchangeRejected as exc:
            if isinstance(exc, AuthenticationFailed):
                raise
            info = self._market_info_legacy(token_id)
        now = self.clock()
        self._markets[token_id] = (info, now)
        self._ticks[token_id] = (info.tick_size, now)
        self._neg_risk[token_id] = info.neg_risk
        return info

    def _market_info_v2(self, token_id: str) -> MarketInfo:
        ref = require_dict(self._public(f"/markets-by-token/{token_id}"), "markets-by-token")
        condition_id = str(ref.get("condition_id") or "")
        if not condition_id:
            raise ProtocolError(f"/markets-by-token/{token_id} gave no condition_id")
        details = self.get_clob_market(condition_id)
        if token_id not in details.tokens:
            raise ProtocolError(f"/clob-markets/{condition_id} does not list token {token_id}")
        if details.min_tick is None:
            raise ProtocolError(f"/clob-markets/{condition_id} gives no tick size (mts)")
        return MarketInfo(
            token_id=token_id,
            tick_size=canonical_tick(details.min_tick, token_id),
            min_order_size=details.min_order_size or Decimal(0),
            neg_risk=details.neg_risk,
            condition_id=condition_id,
            accepting_orders=self._market_status(condition_id),
            order_profile=self.order_profile(token_id).value,
            min_order_age_s=details.min_order_age_s,
            taker_delay=details.taker_delay,
            game_start_time=details.game_start_time,
        )

    def get_clob_market(self, condition_id: str) -> ClobMarketDetails:
        """GET /clob-markets/{condition_id}: the compact market parameters (2.2)."""
        return parse_clob_market(condition_id, self._public(f"/clob-markets/{condition_id}"))

    def _market_status(self, condition_id: str) -> bool:
        # /clob-markets has no documented status field, so the full market object says whether
        # the market still accepts orders (closed and resolved markets do not).
        try:
            return _accepting_orders(self._public(f"/markets/{condition_id}"))
        except NotFound:
            return True  # no market object: the exchange itself will refuse orders if closed

    def _market_info_legacy(self, token_id: str) -> MarketInfo:
        self._ticks.pop(token_id, None)
        tick = self.get_tick_size(token_id)
        neg_risk = self.get_neg_risk(token_id)
        book = self.get_order_book(token_id)
        return MarketInfo(
            token_id=token_id,
            tick_size=tick,
            min_order_size=book.min_order_size,
            neg_risk=neg_risk,
            condition_id=book.market,
            order_profile=self.order_profile(token_id).value,
        )

    # --- public reads ---------------------------------------------------------------------------

    def get_ok(self) -> Any:
        return self._public("/")

    def get_server_time(self) -> int:
        data = self._public("/time")
        if isinstance(data, dict):
            data = data.get("time", data.get("timestamp"))
        return to_int(data, "server time")

    def get_version(self) -> int:
        """The CLOB order-protocol version (2 on production since 2026-04-28)."""
        data = require_dict(self._public("/version"), "GET /version")
        return to_int(data.get("version"), "version")

    def get_order_book(self, token_id: str) -> OrderBook:
        return parse_order_book(self._public("/book", query=build_query([("token_id", token_id)])))

    def get_midpoint(self, token_id: str) -> Decimal:
        """2.5/§5: the key is `mid` (SDKs, older docs) or `mid_price` (OpenAPI); both read."""
        data = require_dict(
            self._public("/midpoint", query=build_query([("token_id", token_id)])), "midpoint"
        )
        value = data.get("mid", data.get("mid_price"))
        return to_price(value, "mid")


def _accepting_orders(market: Any) -> bool:
    """From GET /markets/{condition_id}: open for orders unless it says closed or not accepting."""
    data = require_dict(market, "market")
    return bool(data.get("accepting_orders", True)) and not bool(data.get("closed", False))
