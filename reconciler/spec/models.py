"""Schema version 1 of a desired-state file, as frozen pydantic models.

These models describe ONE file exactly as written (defaults not yet applied); `state.py` merges
validated files into the normalised `DesiredState` the planner reads. Every check that can be
made from one file lives here, so a model that exists is valid (STYLE.md 10):

- field checks (price in (0, 1) and on the 0.0001 grid, size > 0 with at most 2 decimals, bounds
  against absurd numbers, token ids of digits, RFC 3339 expiries with a timezone);
- file checks in `DesiredFile._check_file` (GTD needs an expiry and GTC must not have one,
  prices on the asserted tick, duplicate levels and tokens, expiries in the past when the
  validation context carries `now`). The context key `file_rules: False` skips them, leaving
  exactly what the JSON Schema describes (tests hold the two to agreeing).

The JSON Schema of every field says exactly what its parser accepts, so an editor and
`reconciler validate` agree on one file: numbers by range and grid (`multipleOf`), quoted decimals
by a pattern that encodes the same range and grid (decimal text in quotes is plain: digits and one
point, no sign, exponent or spaces; an unquoted YAML number may have an exponent).

File checks report all problems at once: they raise one `PydanticCustomError` of type
`spec_rules` whose context holds `issues`, a list of (relative path, message) pairs, which the
loader expands into one `SpecError` each at the right line and column.

Money never passes through float: a float input is refused outright (the YAML loader builds
Decimals from the source text, and Python callers must pass Decimal, int or str).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)
from pydantic import ValidationInfo as _Info
from pydantic_core import PydanticCustomError

from reconciler.model import TICK_SIZES, Side
from reconciler.spec.errors import excerpt, looks_secret

#: No level is this big; a bigger number is a typo (an extra zero or two), so we refuse it.
MAX_SIZE = Decimal("10000000")
#: Caps above this (in pUSD) are typos too.
MAX_NOTIONAL = Decimal("1000000000")
#: Prices are multiples of the smallest tick the CLOB has.
PRICE_GRID = Decimal("0.0001")
#: The exchange's size precision: sizes are rounded down to 2 decimals when orders are built.
SIZE_GRID = Decimal("0.01")
_DIGITS = re.compile(r"[0-9]{1,78}")  # a uint256 has at most 78 decimal digits
#: Quoted decimal text: plain digits with an optional point; no sign, exponent or spaces.
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
#: The longest quoted decimal accepted.
MAX_DECIMAL_TEXT = 40
#: RFC 3339 with a timezone, whole seconds (the schema's pattern, and the parser's first check).
_RFC3339 = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
#: The example expiry used in messages: far enough ahead to stay in the future.
EXAMPLE_EXPIRY = "2099-12-31T00:00:00Z"


class SpecOrderType(StrEnum):
    """Resting order types a spec may ask for (FOK/FAK never rest, so they are not offered)."""

    GTC = "GTC"
    GTD = "GTD"


class Unmanaged(StrEnum):
    """What to do with open orders on a token that we did not place."""

    IGNORE = "ignore"
    ADOPT = "adopt"
    CANCEL = "cancel"


# --- field parsers ---------------------------------------------------------------------------


def to_decimal(value: Any, *, what: str) -> Decimal:
    """Decimal from a Decimal, int or decimal text; never from float or bool."""
    if isinstance(value, (bool, float)):
        raise ValueError(f'{what} must be written as a decimal such as "0.45", not a float')
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) or (
        isinstance(value, str)
        and len(value) <= MAX_DECIMAL_TEXT
        and _DECIMAL_TEXT.fullmatch(value)
    ):
        result = Decimal(value)
    else:
        raise ValueError(
            f'{what} must be a decimal number such as "0.45" (in quotes: digits and a point '
            f"only); got {excerpt(value)}"
        )
    if not result.is_finite():
        raise ValueError(f"{what} must be a finite decimal number")
    # Exponents far outside what money needs would make Decimal arithmetic round to 0 or
    # overflow the context, so a tick check could pass on a nonsense value.
    if result and not -12 <= result.adjusted() <= 15:
        raise ValueError(f"{what} {_shown(result)} is out of any sensible range")
    return result


def _shown(number: Decimal) -> str:
    """A number for a message: as written when short, else only its magnitude (a long run of
    digits may be a key in decimal)."""
    text = str(number)
    if len(text) <= 24 and not looks_secret(text):
        return text
    return f"of magnitude 1E{number.adjusted():+d}"


def _on_grid(value: Decimal, grid: Decimal) -> bool:
    return value % grid == 0


def _price(value: Any) -> Decimal:
    price = to_decimal(value, what="price")
    if not Decimal(0) < price < Decimal(1):
        raise ValueError(f"price {price} is outside (0, 1); write a probability such as 0.45")
    if not _on_grid(price, PRICE_GRID):
        raise ValueError(
            f"price {price} has more than 4 decimals, finer than any tick size; round it"
        )
    return price


def _size(value: Any) -> Decimal:
    size = to_decimal(value, what="size")
    if size <= 0:
        raise ValueError(f"size {size} must be greater than 0; remove the level to stop quoting")
    if size > MAX_SIZE:
        raise ValueError(f"size {size} is absurd (at most {MAX_SIZE} shares per level)")
    if not _on_grid(size, SIZE_GRID):
        raise ValueError(f"size {size} has more than 2 decimals, the exchange's size precision")
    return size


def _notional(value: Any) -> Decimal:
    cap = to_decimal(value, what="a notional cap")
    if cap < 0:
        raise ValueError(f"cap {cap} must be 0 or more (pUSD)")
    if cap > MAX_NOTIONAL:
        raise ValueError(f"cap {cap} is absurd (at most {MAX_NOTIONAL} pUSD)")
    if not _on_grid(cap, Decimal("0.000001")):
        raise ValueError(f"cap {cap} has more than 6 decimals (pUSD has 6)")
    return cap


def _tick(value: Any) -> Decimal:
    tick = to_decimal(value, what="tick_size")
    if tick not in TICK_SIZES:
        allowed = ", ".join(str(t) for t in sorted(TICK_SIZES))
        raise ValueError(f"tick_size {tick} is not a CLOB tick size; use one of {allowed}")
    return tick


def _token_id(value: Any) -> str:
    # An unquoted id arrives as a Decimal built from its exact text; only a plain integer (no
    # point, no exponent: what the schema calls an integer) is accepted.
    if isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent == 0:
        value = format(value.copy_abs(), "f") if value >= 0 else "a negative number"
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError(
            'token_id must be the token\'s decimal id in quotes, e.g. token_id: "7132104567..."'
        )
    return value


def _expiry(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f'expires_at must be an RFC 3339 time such as "{EXAMPLE_EXPIRY}"')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f'expires_at {excerpt(value)} is not an RFC 3339 time; write e.g. "{EXAMPLE_EXPIRY}"'
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"expires_at {excerpt(value)} has no timezone; append Z (UTC) or +02:00")
    if parsed.microsecond:
        raise ValueError(f"expires_at {excerpt(value)} must be a whole second")
    if not re.fullmatch(_RFC3339, value):
        raise ValueError(
            f'expires_at {excerpt(value)} is not in RFC 3339 form; write e.g. "{EXAMPLE_EXPIRY}"'
        )
    return parsed


def _version(value: Any) -> int:
    if isinstance(value, bool) or value != 1:
        raise ValueError("version must be 1, the schema version this program reads")
    return 1


def _decimal_schema(
    description: str, *, number: dict[str, Any], text_pattern: str
) -> WithJsonSchema:
    """A decimal is a YAML number (checked by range and `multipleOf`) or quoted text (checked by
    a pattern encoding the same range and grid). Floats are never suggested."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", **number},
                {"type": "string", "maxLength": MAX_DECIMAL_TEXT, "pattern": text_pattern},
            ],
            "description": description,
        }
    )


# Each pattern: plain decimal text, nonzero where zero is refused, in range, on the grid (any
# number of trailing zeros after the grid's decimals).
_PRICE_TEXT = r"^0*\.(?=0*[1-9])[0-9]{1,4}0*$"
_SIZE_TEXT = (
    r"^(?!0*\.?0*$)(0*[0-9]{1,7}(\.[0-9]{0,2}0*)?|\.[0-9]{1,2}0*|0*10000000(\.0*)?)$"
)
_NOTIONAL_TEXT = r"^(0*[0-9]{1,9}(\.[0-9]{0,6}0*)?|\.[0-9]{1,6}0*|0*1000000000(\.0*)?)$"
_TICK_TEXT = r"^0*\.(0{0,3}1|00(25|5))0*$"

Price = Annotated[
    Decimal,
    BeforeValidator(_price),
    _decimal_schema(
        "Price in (0, 1), at most 4 decimals; checked against the market's tick",
        number={"exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": float(PRICE_GRID)},
        text_pattern=_PRICE_TEXT,
    ),
]
Size = Annotated[
    Decimal,
    BeforeValidator(_size),
    _decimal_schema(
        "Total resting size wanted at this level, in shares (<= 2 decimals)",
        number={"exclusiveMinimum": 0, "maximum": int(MAX_SIZE), "multipleOf": float(SIZE_GRID)},
        text_pattern=_SIZE_TEXT,
    ),
]
Notional = Annotated[
    Decimal,
    BeforeValidator(_notional),
    _decimal_schema(
        "A cap in pUSD (<= 6 decimals)",
        number={"minimum": 0, "maximum": int(MAX_NOTIONAL), "multipleOf": 0.000001},
        text_pattern=_NOTIONAL_TEXT,
    ),
]
Tick = Annotated[
    Decimal,
    BeforeValidator(_tick),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "enum": sorted(float(t) for t in TICK_SIZES)},
                {"type": "string", "maxLength": MAX_DECIMAL_TEXT, "pattern": _TICK_TEXT},
            ],
            "description": "Asserted tick size, checked against the live market",
        }
    ),
]
TokenId = Annotated[
    str,
    BeforeValidator(_token_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]{1,78}$"},
                {"type": "integer", "minimum": 0, "maximum": 10**78 - 1},
            ],
            "description": "The outcome token's decimal id; quote it, so that no other tool "
            "reads it as a float and drops digits",
        }
    ),
]
Expiry = Annotated[
    datetime,
    BeforeValidator(_expiry),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _RFC3339,
            "format": "date-time",
            "description": "RFC 3339 time with a timezone, whole seconds (a GTD order's expiry "
            "must be in the future when the file is first loaded)",
        }
    ),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LevelSpec(_Frozen):
    """One level: the total resting size wanted at (side, price). Unset fields take defaults."""

    side: Side
    price: Price
    size: Size
    order_type: SpecOrderType | None = None
    expires_at: Expiry | None = None
    post_only: StrictBool | None = None
    replenish: StrictBool | None = None


class Defaults(_Frozen):
    order_type: SpecOrderType = SpecOrderType.GTC
    post_only: StrictBool = True
    replenish: StrictBool = False
    expires_at: Expiry | None = None


class TokenSpec(_Frozen):
    token_id: TokenId
    label: Annotated[str, Field(max_length=200)] = ""
    tick_size: Tick | None = None
    neg_risk: StrictBool | None = None
    max_buy_notional: Notional | None = None
    unmanaged: Unmanaged = Unmanaged.IGNORE
    orders: tuple[LevelSpec, ...] = ()


# The `policy:` section (policy.py) is built from the field types above, so it is imported here.
from reconciler.spec.policy import Policy, policy_issues  # noqa: E402


class Limits(_Frozen):
    """Global limits. Only one file of a directory may carry a `limits:` block."""

    max_total_buy_notional: Notional | None = None
    allow_empty: StrictBool = False


class DesiredFile(_Frozen):
    version: Annotated[int, BeforeValidator(_version)]
    defaults: Defaults = Defaults()
    limits: Limits | None = None
    policy: Policy | None = None
    tokens: tuple[TokenSpec, ...] = ()

    @model_validator(mode="after")
    def _check_file(self, info: _Info) -> DesiredFile:
        context = info.context or {}
        if context.get("file_rules") is False:
            return self
        issues = file_issues(self, now=context.get("now"))
        if issues:
            raise PydanticCustomError(
                "spec_rules", "{summary}", {"summary": issues[0][1], "issues": issues}
            )
        return self


# --- checks across the fields of one file ----------------------------------------------------

Issue = tuple[tuple[str | int, ...], str]


def effective_order_type(level: LevelSpec, defaults: Defaults) -> SpecOrderType:
    return level.order_type or defaults.order_type


def effective_expiry(level: LevelSpec, defaults: Defaults) -> datetime | None:
    if effective_order_type(level, defaults) is SpecOrderType.GTC:
        return None
    return level.expires_at or defaults.expires_at


def file_issues(spec: DesiredFile, *, now: float | None) -> list[Issue]:
    """Every cross-field problem of one file, as (path relative to the file, message)."""
    issues: list[Issue] = []
    first_token: dict[str, int] = {}
    for t, token in enumerate(spec.tokens):
        if token.token_id in first_token:
            issues.append(
                (
                    ("tokens", t, "token_id"),
                    f"token {token.token_id[:16]}... is already declared by tokens[{first_token[token.token_id]}] "
                    "of this file; declare each token once",
                )
            )
        first_token.setdefault(token.token_id, t)
        for o, level in enumerate(token.orders):
            issues.extend(
                _level_issues(
                    spec, token=token, level=level, path=("tokens", t, "orders", o), now=now
                )
            )
        issues.extend(_duplicate_levels(token, path=("tokens", t)))
    if spec.policy is not None:
        issues.extend(policy_issues(spec.policy))
    return issues


def _level_issues(
    spec: DesiredFile,
    *,
    token: TokenSpec,
    level: LevelSpec,
    path: tuple[str | int, ...],
    now: float | None,
) -> list[Issue]:
    issues: list[Issue] = []
    kind = effective_order_type(level, spec.defaults)
    expiry = effective_expiry(level, spec.defaults)
    if kind is SpecOrderType.GTC and level.expires_at is not None:
        issues.append(
            (
                path + ("expires_at",),
                "expires_at is only for GTD orders; remove it or add `order_type: GTD`",
            )
        )
    if kind is SpecOrderType.GTD and expiry is None:
        where = path + ("order_type",) if level.order_type else path
        issues.append(
            (
                where,
                f'a GTD order needs an expiry; add `expires_at: "{EXAMPLE_EXPIRY}"` or '
                "use order_type: GTC",
            )
        )
    if expiry is not None and now is not None and expiry.timestamp() <= now:
        where = path + ("expires_at",) if level.expires_at else ("defaults", "expires_at")
        issues.append(
            (
                where,
                f"expires_at {expiry.isoformat()} is in the past; move it to the future or "
                "remove the level",
            )
        )
    if token.tick_size is not None and not _on_grid(level.price, token.tick_size):
        below = (level.price - level.price % token.tick_size).quantize(token.tick_size)
        issues.append(
            (
                path + ("price",),
                f"price {level.price} is not on the token's tick_size "
                f"{token.tick_size}; use {below} or {below + token.tick_size}",
            )
        )
    return issues


def _duplicate_levels(token: TokenSpec, *, path: tuple[str | int, ...]) -> list[Issue]:
    issues: list[Issue] = []
    first: dict[tuple[Side, Decimal], int] = {}
    for o, level in enumerate(token.orders):
        key = (level.side, level.price)
        if key in first:
            issues.append(
                (
                    path + ("orders", o),
                    f"duplicate level {level.side.value} {level.price}: "
                    f"orders[{first[key]}] of this token has the same side and price; merge them "
                    "into one level with the total size",
                )
            )
        first.setdefault(key, o)
    return issues
