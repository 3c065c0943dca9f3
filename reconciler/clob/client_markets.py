"""The market-parameter half of `ClobClient`: tick size, neg-risk, fee, minimum size, status.

Orders need the market's tick size and neg-risk flag (which exchange contract signs them), the
planner needs the minimum order size and whether the market still accepts orders. They come from
the exchange and are cached per token for `market_cache_ttl` seconds of the injected clock: a
tick can change near the price extremes, so the cache expires, and `clear_market_cache` drops a
token at once (the client does so itself after a tick rejection). Neg-risk never changes for a
market and is cached for good.

`ClobClient` inherits `MarketMethods` and supplies the plumbing declared at the top of the class.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reconciler.clob.errors import (
    AuthenticationFailed,
    ExchangeRejected,
    NotFound,
    ProtocolError,
)
from reconciler.clob.transport import build_query
from reconciler.clob.types import require_dict, require_list, to_decimal, to_int
from reconciler.model import TICK_SIZES, MarketInfo

if TYPE_CHECKING:
    from reconciler.clob.types import OrderBook


def canonical_tick(value: Decimal, what: str) -> Decimal:
    for tick in TICK_SIZES:
        if tick == value:
            return tick
    raise ProtocolError(
        f"{what}: {value} is not a known tick size ({', '.join(map(str, TICK_SIZES))})"
    )


class MarketMethods:
    """Market parameters for `ClobClient`, cached (see the module docstring)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]

        def _public(self, path: str, *, query: str = "") -> Any: ...
        def get_order_book(self, token_id: str) -> OrderBook: ...

    def __init__(self, *, market_cache_ttl: float) -> None:
        self.market_cache_ttl = market_cache_ttl
        self._ticks: dict[str, tuple[Decimal, float]] = {}
        self._neg_risk: dict[str, bool] = {}  # fixed for a market's life: cached for good
        self._fee_bps: dict[str, int] = {}
        self._markets: dict[str, tuple[MarketInfo, float]] = {}

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
        data = require_dict(self._public(f"/clob-markets/{condition_id}"), "clob-markets")
        tokens = [str(t.get("t")) for t in require_list(data.get("t") or [], "t") if t]
        if token_id not in tokens:
            raise ProtocolError(f"/clob-markets/{condition_id} does not list token {token_id}")
        return MarketInfo(
            token_id=token_id,
            tick_size=canonical_tick(to_decimal(data.get("mts"), "mts"), token_id),
            min_order_size=to_decimal(data.get("mos", "0"), "mos"),
            neg_risk=bool(data.get("nr", False)),
            condition_id=condition_id,
            accepting_orders=self._market_status(condition_id),
        )

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
        )


def _accepting_orders(market: Any) -> bool:
    """From GET /markets/{condition_id}: open for orders unless it says closed or not accepting."""
    data = require_dict(market, "market")
    return bool(data.get("accepting_orders", True)) and not bool(data.get("closed", False))
