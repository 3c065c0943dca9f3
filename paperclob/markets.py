"""Markets of the paper exchange: what each token trades at (tick, minimum size, neg-risk).

A first run needs no setup: a token the exchange has never heard of is *listed on first use* with
the defaults (tick 0.01, minimum size 5, not neg-risk) and a synthetic condition id derived from
the token id, so two servers agree on it. A markets file (YAML or JSON) or the admin API can set
any of these up front or while running, and can resolve a market (it then stops accepting orders).

File format, either a mapping under ``markets`` or a list of entries::

    markets:
      "71321045679252212594626385532706912750332728571942532289631379312455583992563":
        tick_size: "0.01"
        min_order_size: 5
        neg_risk: false
        condition_id: "0xabc..."   # optional; tokens sharing one are outcomes of one market
        outcome: "Yes"              # optional
        version: "v2"               # optional: a Protocol-V2 market (ExchangeV3 orders only)
        min_order_age_s: 0          # optional: /clob-markets `oas` (shown, not enforced)
        taker_delay: false          # optional: /clob-markets `itode`
        game_start_time: null       # optional: /clob-markets `gst` (ISO-8601)
        rewards: null               # optional: /clob-markets `r` (free-form object)

The tick changes on its own (`--no-auto-tick` turns it off): when a token of the market trades
above 0.96 or below 0.04 the market's tick becomes ten times finer (0.01 -> 0.001), and when a
trade comes back inside [0.04, 0.96] it returns to the tick it was defined with. The reference
has this rule from a third-party transcription of the market-channel page only (clob-v2-wire.md
2.14); which price triggers it is not stated: the paper exchange uses the last trade price.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from reconciler.model import TICK_SIZES

DEFAULT_TICK = Decimal("0.01")
DEFAULT_MIN_SIZE = Decimal("5")
MAX_TOKEN_ID = 2**256 - 1
TICK_HIGH = Decimal("0.96")
TICK_LOW = Decimal("0.04")
VERSIONS = ("v1", "v2")


class MarketError(ValueError):
    """A market definition or a token id the exchange cannot accept (the text is for the caller)."""


@dataclass(frozen=True)
class Market:
    """One outcome token and the rules its orders must follow."""

    token_id: str
    condition_id: str
    tick_size: Decimal = DEFAULT_TICK
    min_order_size: Decimal = DEFAULT_MIN_SIZE
    neg_risk: bool = False
    outcome: str = "Yes"
    resolved: bool = False
    winner: bool = False
    base_fee_bps: int = 0
    question: str = ""
    version: str = "v1"  # Gamma `version`: "v2" = Protocol-V2 market, ExchangeV3 orders
    base_tick: Decimal | None = None  # the tick it was defined with (auto tick returns to it)
    min_order_age_s: int = 0
    taker_delay: bool = False
    game_start_time: str | None = None
    rewards: dict[str, Any] | None = None

    @property
    def accepting_orders(self) -> bool:
        return not self.resolved

    @property
    def defined_tick(self) -> Decimal:
        return self.base_tick if self.base_tick is not None else self.tick_size


def check_token_id(token_id: str) -> str:
    """The token id as the canonical decimal string, or MarketError("Invalid token id")."""
    text = str(token_id).strip()
    if not text.isdigit() or len(text) > 78 or int(text) > MAX_TOKEN_ID:
        raise MarketError("Invalid token id")
    return str(int(text))


def synthetic_condition_id(token_id: str) -> str:
    """A stable 0x bytes32 condition id for a token listed without one."""
    return "0x" + hashlib.sha256(f"paperclob:condition:{token_id}".encode()).hexdigest()


def parse_tick(value: Any) -> Decimal:
    tick = _decimal(value, what="tick_size")
    if tick not in TICK_SIZES:
        allowed = ", ".join(str(t) for t in TICK_SIZES)
        raise MarketError(f"invalid tick_size {value!r}: must be one of {allowed}")
    return tick


def _decimal(value: Any, *, what: str) -> Decimal:
    if isinstance(value, float):
        # YAML turns `0.01` into a float; its repr is the shortest text that round-trips,
        # which is exactly what the person wrote for every tick and size we accept.
        value = repr(value)
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise MarketError(f"invalid {what} {value!r}: not a decimal number") from None
    if not result.is_finite() or result <= 0:
        raise MarketError(f"invalid {what} {value!r}: must be a positive number")
    return result


@dataclass
class MarketBook:
    """Every listed market, by token id. Not thread-safe: the exchange lock guards it."""

    default_tick: Decimal = DEFAULT_TICK
    default_min_size: Decimal = DEFAULT_MIN_SIZE
    markets: dict[str, Market] = field(default_factory=dict)

    def get(self, token_id: str) -> Market:
        """The market of `token_id`, listing it with the defaults on first use."""
        token = check_token_id(token_id)
        market = self.markets.get(token)
        if market is None:
            market = Market(
                token_id=token,
                condition_id=synthetic_condition_id(token),
                tick_size=self.default_tick,
                min_order_size=self.default_min_size,
            )
            self.markets[token] = market
        return market

    def find(self, token_id: str) -> Market | None:
        return self.markets.get(token_id)

    def by_condition(self, condition_id: str) -> list[Market]:
        wanted = condition_id.lower()
        return [m for m in self.markets.values() if m.condition_id.lower() == wanted]

    def define(self, token_id: str, spec: dict[str, Any]) -> Market:
        """Create or change a market from a spec (file entry or admin call)."""
        market = self.get(token_id)
        changes: dict[str, Any] = {}
        if "tick_size" in spec:
            changes["tick_size"] = changes["base_tick"] = parse_tick(spec["tick_size"])
        if "version" in spec:
            if spec["version"] not in VERSIONS:
                raise MarketError(f"invalid version {spec['version']!r}: must be v1 or v2")
            changes["version"] = spec["version"]
        if "min_order_age_s" in spec:
            changes["min_order_age_s"] = _whole(spec["min_order_age_s"], what="min_order_age_s")
        if "taker_delay" in spec:
            changes["taker_delay"] = _bool(spec["taker_delay"], what="taker_delay")
        if "game_start_time" in spec:
            gst = spec["game_start_time"]
            changes["game_start_time"] = None if gst is None else str(gst)
        if "rewards" in spec:
            if spec["rewards"] is not None and not isinstance(spec["rewards"], dict):
                raise MarketError("invalid rewards: must be an object or null")
            changes["rewards"] = spec["rewards"]
        if "min_order_size" in spec:
            changes["min_order_size"] = _decimal(spec["min_order_size"], what="min_order_size")
        if "neg_risk" in spec:
            changes["neg_risk"] = _bool(spec["neg_risk"], what="neg_risk")
        if spec.get("condition_id"):
            changes["condition_id"] = _condition_id(spec["condition_id"])
        for key in ("outcome", "question"):
            if key in spec:
                changes[key] = str(spec[key])
        if "base_fee_bps" in spec:
            changes["base_fee_bps"] = int(spec["base_fee_bps"])
        unknown = set(spec) - _SPEC_KEYS
        if unknown:
            raise MarketError(f"unknown market keys: {', '.join(sorted(unknown))}")
        market = replace(market, **changes)
        self.markets[market.token_id] = market
        return market

    def after_trade(self, token_id: str, price: Decimal) -> list[Market]:
        """Move the market's tick by the 0.96 / 0.04 rule; returns the tokens that changed."""
        market = self.markets.get(token_id)
        if market is None:
            return []
        finer = market.defined_tick / 10
        wanted = market.defined_tick
        if (price > TICK_HIGH or price < TICK_LOW) and finer in TICK_SIZES:
            wanted = finer
        changed = []
        for token in self.by_condition(market.condition_id):
            if token.tick_size != wanted:
                self.markets[token.token_id] = replace(
                    token, tick_size=wanted, base_tick=token.defined_tick
                )
                changed.append(self.markets[token.token_id])
        return changed

    def resolve(self, condition_id: str, winning_token: str | None) -> list[Market]:
        """Mark every token of a condition resolved (they stop accepting orders)."""
        tokens = self.by_condition(condition_id)
        if not tokens:
            raise MarketError(f"unknown condition id {condition_id}")
        for market in tokens:
            self.markets[market.token_id] = replace(
                market, resolved=True, winner=market.token_id == winning_token
            )
        return [self.markets[m.token_id] for m in tokens]

    def load_file(self, path: Path) -> int:
        """Define the markets of a YAML or JSON file; returns how many were defined."""
        entries = _entries(_read_structured(path))
        for token_id, spec in entries:
            try:
                self.define(token_id, spec)
            except MarketError as exc:
                raise MarketError(f"{path}: token {token_id}: {exc}") from None
        return len(entries)


_SPEC_KEYS = {
    "tick_size",
    "min_order_size",
    "neg_risk",
    "condition_id",
    "outcome",
    "question",
    "base_fee_bps",
    "token_id",
    "version",
    "min_order_age_s",
    "taker_delay",
    "game_start_time",
    "rewards",
}


def _whole(value: Any, *, what: str) -> int:
    if isinstance(value, bool) or not str(value).isdigit():
        raise MarketError(f"invalid {what} {value!r}: must be a whole number of seconds")
    return int(value)


def _bool(value: Any, *, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise MarketError(f"invalid {what} {value!r}: must be true or false")


def _condition_id(value: Any) -> str:
    text = str(value)
    body = text[2:] if text.startswith("0x") else ""
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise MarketError(f"invalid condition_id {value!r}: must be 0x and 64 hex digits")
    return text


def _read_structured(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    import yaml  # only needed for YAML files

    return yaml.safe_load(text)


def _entries(document: Any) -> list[tuple[str, dict[str, Any]]]:
    """(token id, spec) pairs from `{markets: {id: spec}}`, `{markets: [..]}` or a bare mapping."""
    if isinstance(document, dict) and "markets" in document:
        document = document["markets"]
    if isinstance(document, dict):
        pairs = [(str(k), v) for k, v in document.items()]
    elif isinstance(document, list):
        pairs = []
        for item in document:
            if not isinstance(item, dict) or "token_id" not in item:
                raise MarketError("each market in a list needs a token_id")
            pairs.append((str(item["token_id"]), {k: v for k, v in item.items()}))
    else:
        raise MarketError("a markets file holds a mapping of token id to market, or a list")
    for token_id, spec in pairs:
        if not isinstance(spec, dict):
            raise MarketError(f"token {token_id}: the market must be a mapping")
        spec.pop("token_id", None)
    return pairs
