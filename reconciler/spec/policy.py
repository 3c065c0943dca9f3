"""The optional `policy:` section: rules checked against every plan before it moves money.

Like `limits:`, `policy:` may appear in one file of the directory only. Schema version 1 stays
valid: a file without it means no rule. Each rule has an `enforcement`, as in Sentinel:

- `advisory`: warn, and apply the plan unchanged;
- `soft` (the default): hold the tokens it names (nothing posted or cancelled there) until an
  operator overrides it once (`reconciler apply --override RULE --reason TEXT`);
- `hard`: hold them, and no override.

The rules (checked by the pure `reconciler.planner.policy`; the engine reads the book data and
balances they need):

- `price_band`: a post (BUY or SELL) more than `max_distance` (in price) or `max_ticks` (of the
  market's tick) from the book's midpoint (`reference: midpoint`, the default), or outside
  [best bid - X, best ask + X] (`reference: touch`). It catches "0.04" typed for "0.40". Without
  a book to compare with, the post could not be checked: that counts as a violation at
  `without_book` (default: the rule's own enforcement), so a price nobody could vet is never
  posted by surprise.
- `max_notional_change`: the pUSD posted plus cancelled by one pass (price x size).
- `max_position`: per token (`per_token`) or for every token (`shares` / `notional`): the shares
  held plus our resting buys, in shares or in pUSD. A pass that posts a buy beyond it is held, so
  a replenishing level stops there.
- `max_open_orders`: our resting orders in `total` and `per_token`, after the pass.
- `trading_windows`: UTC windows (one-off instants, or daily times on some `days` or `dates`)
  during which the listed tokens (or every token) post nothing; `cancel_orders: true` also
  cancels our orders there while the window is open.

This module holds the models and the checks that need only the file (`policy_issues`, called by
`models.file_issues`); it imports the field types of `models`, which imports it after defining
them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StrictBool, WithJsonSchema

from reconciler.spec.errors import excerpt
from reconciler.spec.models import (
    _PRICE_TEXT,
    _RFC3339,
    PRICE_GRID,
    Notional,
    TokenId,
    _decimal_schema,
    _Frozen,
    _on_grid,
    to_decimal,
)

Issue = tuple[tuple[str | int, ...], str]

#: Largest position cap in shares; bigger is a typo.
MAX_SHARES = Decimal("1000000000")
#: Largest band in ticks, and largest order count.
MAX_TICKS = 10_000
MAX_ORDERS = 100_000
_HHMM = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_SHARES_TEXT = r"^(0*[0-9]{1,9}(\.[0-9]{0,2}0*)?|\.[0-9]{1,2}0*|0*1000000000(\.0*)?)$"


class Enforcement(StrEnum):
    ADVISORY = "advisory"
    SOFT = "soft"
    HARD = "hard"


class Rule(StrEnum):
    """The rules, by the key that declares them (and the name `--override` takes)."""

    PRICE_BAND = "price_band"
    MAX_NOTIONAL_CHANGE = "max_notional_change"
    MAX_POSITION = "max_position"
    MAX_OPEN_ORDERS = "max_open_orders"
    TRADING_WINDOWS = "trading_windows"


class BandReference(StrEnum):
    MIDPOINT = "midpoint"  # |price - midpoint| <= X
    TOUCH = "touch"  # best bid - X <= price <= best ask + X


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as `datetime.weekday()`."""
        return list(Weekday).index(self)


# --- field parsers ---------------------------------------------------------------------------


def _distance(value: Any) -> Decimal:
    distance = to_decimal(value, what="max_distance")
    if not Decimal(0) < distance < Decimal(1):
        raise ValueError(f"max_distance {distance} must be between 0 and 1 (a price difference)")
    if not _on_grid(distance, PRICE_GRID):
        raise ValueError(f"max_distance {distance} has more than 4 decimals, finer than any tick")
    return distance


def _shares(value: Any) -> Decimal:
    shares = to_decimal(value, what="shares")
    if shares < 0:
        raise ValueError(f"shares {shares} must be 0 or more")
    if shares > MAX_SHARES:
        raise ValueError(f"shares {shares} is absurd (at most {MAX_SHARES})")
    if not _on_grid(shares, Decimal("0.01")):
        raise ValueError(f"shares {shares} has more than 2 decimals, the exchange's size precision")
    return shares


def _whole(what: str, low: int, high: int) -> Any:
    def parse(value: Any) -> int:
        # A YAML integer arrives as a Decimal built from its text: only a plain integer counts.
        if isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent == 0:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{what} must be a whole number from {low} to {high}")
        if not low <= value <= high:
            raise ValueError(f"{what} {value} must be from {low} to {high}")
        return value

    return parse


def _window_time(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            'a window time is "HH:MM" (UTC, in quotes) or an RFC 3339 time such as '
            '"2026-09-10T00:55:00Z"'
        )
    if re.fullmatch(_HHMM, value):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or not re.fullmatch(_RFC3339, value):
        raise ValueError(
            f'{excerpt(value)} is not "HH:MM" (UTC) nor an RFC 3339 time such as '
            '"2026-09-10T00:55:00Z"'
        )
    return value


def _window_date(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(_DATE, value):
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ValueError(f'{excerpt(value)} is not a date such as "2026-11-03" (in quotes)')


Distance = Annotated[
    Decimal,
    BeforeValidator(_distance),
    _decimal_schema(
        "Largest distance in price from the reference (0 < X < 1, at most 4 decimals)",
        number={"exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": float(PRICE_GRID)},
        text_pattern=_PRICE_TEXT,
    ),
]
Shares = Annotated[
    Decimal,
    BeforeValidator(_shares),
    _decimal_schema(
        "A position in shares (<= 2 decimals)",
        number={"minimum": 0, "maximum": int(MAX_SHARES), "multipleOf": 0.01},
        text_pattern=_SHARES_TEXT,
    ),
]


TickCount = Annotated[
    int,
    BeforeValidator(_whole("max_ticks", 1, MAX_TICKS)),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_TICKS,
                    "description": "Largest distance in ticks of the market"}),
]
OrderCount = Annotated[
    int,
    BeforeValidator(_whole("an order count", 1, MAX_ORDERS)),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ORDERS,
                    "description": "Most resting orders"}),
]
WindowTime = Annotated[
    str,
    BeforeValidator(_window_time),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _HHMM},
                {"type": "string", "pattern": _RFC3339, "format": "date-time"},
            ],
            "description": '"HH:MM" in UTC (a daily window; "24:00" ends at midnight), or an '
            "RFC 3339 time (a one-off window)",
        }
    ),
]
WindowDate = Annotated[
    str,
    BeforeValidator(_window_date),
    WithJsonSchema({"type": "string", "pattern": _DATE, "format": "date"}),
]
Label = Annotated[str, Field(max_length=100)]


# --- the rules -------------------------------------------------------------------------------


class _RuleSpec(_Frozen):
    enforcement: Enforcement = Enforcement.SOFT


class PriceBand(_RuleSpec):
    max_distance: Distance | None = None
    max_ticks: TickCount | None = None
    reference: BandReference = BandReference.MIDPOINT
    #: How a post is treated when there is no book to compare it with (an empty market); by
    #: default the rule's own enforcement.
    without_book: Enforcement | None = None

    def band(self, tick: Decimal) -> Decimal:
        """X in price, for a market of tick `tick`."""
        if self.max_distance is not None:
            return self.max_distance
        return tick * (self.max_ticks or 0)


class MaxNotionalChange(_RuleSpec):
    limit: Notional


class PositionLimit(_Frozen):
    token_id: TokenId
    shares: Shares | None = None
    notional: Notional | None = None


class MaxPosition(_RuleSpec):
    shares: Shares | None = None  # for every token without its own entry
    notional: Notional | None = None
    per_token: tuple[PositionLimit, ...] = ()

    def limit_for(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        """(shares, notional) cap for a token: its own entry, else the default."""
        for entry in self.per_token:
            if entry.token_id == token_id:
                return entry.shares, entry.notional
        return self.shares, self.notional


class MaxOpenOrders(_RuleSpec):
    total: OrderCount | None = None
    per_token: OrderCount | None = None


class Window(_Frozen):
    name: Label = ""
    tokens: tuple[TokenId, ...] = ()  # empty: every token
    start: WindowTime
    end: WindowTime
    days: tuple[Weekday, ...] = ()
    dates: tuple[WindowDate, ...] = ()
    cancel_orders: StrictBool = False

    @property
    def one_off(self) -> bool:
        return not re.fullmatch(_HHMM, self.start)

    def covers(self, token_id: str) -> bool:
        return not self.tokens or token_id in self.tokens

    def title(self, index: int) -> str:
        return repr(self.name) if self.name else f"windows[{index}]"


class TradingWindows(_RuleSpec):
    windows: Annotated[tuple[Window, ...], Field(min_length=1)]


class Policy(_Frozen):
    price_band: PriceBand | None = None
    max_notional_change: MaxNotionalChange | None = None
    max_position: MaxPosition | None = None
    max_open_orders: MaxOpenOrders | None = None
    trading_windows: TradingWindows | None = None

    def rules(self) -> Iterator[tuple[Rule, _RuleSpec]]:
        """The rules this policy sets, in a fixed order."""
        for rule in Rule:
            spec = getattr(self, rule.value)
            if spec is not None:
                yield rule, spec

    def enforcement(self, rule: Rule) -> Enforcement | None:
        """The rule's enforcement, or None when the policy does not set the rule."""
        spec = getattr(self, Rule(rule).value)
        return None if spec is None else spec.enforcement


#: The model of each mapping in the section, by its key (for "unknown key" hints).
SECTION_MODELS: dict[str, type[BaseModel]] = {
    "policy": Policy,
    "price_band": PriceBand,
    "max_notional_change": MaxNotionalChange,
    "max_position": MaxPosition,
    "per_token": PositionLimit,
    "max_open_orders": MaxOpenOrders,
    "trading_windows": TradingWindows,
    "windows": Window,
}


# --- checks across the fields of the section -------------------------------------------------


def policy_issues(policy: Policy) -> list[Issue]:
    """Every cross-field problem of a `policy:` section, with paths relative to the file."""
    issues: list[Issue] = []
    band = policy.price_band
    if band is not None and (band.max_distance is None) == (band.max_ticks is None):
        issues.append(
            (("policy", "price_band"),
             "price_band needs exactly one of max_distance (in price, e.g. \"0.05\") or "
             "max_ticks (e.g. 5)")
        )
    issues += _position_issues(policy.max_position)
    orders = policy.max_open_orders
    if orders is not None and orders.total is None and orders.per_token is None:
        issues.append(
            (("policy", "max_open_orders"), "max_open_orders needs total, per_token or both")
        )
    if policy.trading_windows is not None:
        for i, window in enumerate(policy.trading_windows.windows):
            issues += _window_issues(window, ("policy", "trading_windows", "windows", i))
    return issues


def _position_issues(rule: MaxPosition | None) -> list[Issue]:
    if rule is None:
        return []
    here: tuple[str | int, ...] = ("policy", "max_position")
    issues: list[Issue] = []
    if rule.shares is not None and rule.notional is not None:
        issues.append((here, "max_position takes shares or notional for every token, not both"))
    if rule.shares is None and rule.notional is None and not rule.per_token:
        issues.append(
            (here, "max_position needs shares or notional (every token), or per_token entries")
        )
    first: dict[str, int] = {}
    for i, entry in enumerate(rule.per_token):
        path = here + ("per_token", i)
        if (entry.shares is None) == (entry.notional is None):
            issues.append((path, "each per_token entry needs exactly one of shares or notional"))
        if entry.token_id in first:
            issues.append(
                (path + ("token_id",),
                 f"token {entry.token_id[:16]}... already has a limit in "
                 f"per_token[{first[entry.token_id]}]; keep one")
            )
        first.setdefault(entry.token_id, i)
    return issues


def _window_issues(window: Window, path: tuple[str | int, ...]) -> list[Issue]:
    start_daily = re.fullmatch(_HHMM, window.start) is not None
    end_daily = re.fullmatch(_HHMM, window.end) is not None
    if start_daily != end_daily:
        return [(path, 'start and end must both be times ("22:00") or both instants '
                       '("2026-09-10T00:55:00Z")')]
    issues: list[Issue] = []
    if start_daily:
        if window.start == "24:00":
            issues.append((path + ("start",), 'a window starts at "00:00" to "23:59"'))
        elif window.start == window.end:
            issues.append((path + ("end",), "the window is empty (start equals end); for a "
                                            'whole day write start "00:00", end "24:00"'))
        if window.days and window.dates:
            issues.append((path + ("dates",), "a window takes days or dates, not both"))
    else:
        if window.days or window.dates:
            where = path + ("days" if window.days else "dates",)
            issues.append((where, 'days and dates are for daily times ("22:00"); a window with '
                                  "instants needs neither"))
        if instant(window.end) <= instant(window.start):
            issues.append((path + ("end",), "the window ends before it starts"))
    return issues


def instant(text: str) -> int:
    """Unix seconds of an RFC 3339 time the parser accepted."""
    return int(datetime.fromisoformat(text).timestamp())


def minutes(text: str) -> int:
    """Minutes after midnight of an "HH:MM" the parser accepted ("24:00" is 1440)."""
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def token_references(policy: Policy) -> list[tuple[tuple[str | int, ...], str]]:
    """(path in the file, token id) of every token the policy names, for the check that each is
    declared in some file (a typo'd id in a safety rule would silently never apply)."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if policy.max_position is not None:
        for i, entry in enumerate(policy.max_position.per_token):
            found.append((("policy", "max_position", "per_token", i, "token_id"), entry.token_id))
    if policy.trading_windows is not None:
        for i, window in enumerate(policy.trading_windows.windows):
            for j, token in enumerate(window.tokens):
                found.append((("policy", "trading_windows", "windows", i, "tokens", j), token))
    return found


__all__ = [
    "SECTION_MODELS",
    "BandReference",
    "Enforcement",
    "MaxNotionalChange",
    "MaxOpenOrders",
    "MaxPosition",
    "Policy",
    "PositionLimit",
    "PriceBand",
    "Rule",
    "TradingWindows",
    "Weekday",
    "Window",
    "instant",
    "minutes",
    "policy_issues",
    "token_references",
]
