"""The small strict readers every parser of an exchange answer is built from.

Each takes a value from parsed JSON and a `what` that names it in the error, and returns a typed
value or raises `ProtocolError`. Nothing here guesses: a missing required field, a negative size,
a price above 1, an order id that is not a 32-byte hash, a side other than BUY or SELL is an
error, never a default (DESIGN invariant 9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from reconciler.clob.errors import ProtocolError
from reconciler.clob.numbers import exact_decimal
from reconciler.model import Side

INITIAL_CURSOR = "MA=="
END_CURSOR = "LTE="

_ORDER_HASH = re.compile(r"0x[0-9a-f]{64}")
_MAX_PRICE = Decimal(1)


def require_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object for {what}, got {type(data).__name__}")
    return data


def require_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError(f"expected a JSON array for {what}, got {type(data).__name__}")
    return data


def require_key(data: Mapping[str, Any], key: str, what: str) -> Any:
    """A field the answer must carry (null counts as missing)."""
    value = data.get(key)
    if value is None:
        raise ProtocolError(f"{what}: the answer has no {key!r}")
    return value


def to_decimal(value: Any, what: str) -> Decimal:
    return exact_decimal(value, what, invalid=ProtocolError, wrong_type=ProtocolError)


def to_size(value: Any, what: str) -> Decimal:
    """A size or an amount: a finite decimal >= 0."""
    return exact_decimal(
        value, what, invalid=ProtocolError, wrong_type=ProtocolError, non_negative=True
    )


def to_price(value: Any, what: str) -> Decimal:
    """A price: a probability, so a decimal in [0, 1]."""
    price = to_size(value, what)
    if price > _MAX_PRICE:
        raise ProtocolError(f"{what}: a price must be at most 1, got {value!r}")
    return price


def optional_decimal(value: Any, what: str) -> Decimal | None:
    return None if value is None or value == "" else to_size(value, what)


def to_int(value: Any, what: str, *, default: int | None = None) -> int:
    if (value is None or value == "") and default is not None:
        return default
    number = to_decimal(value, what)
    if number != number.to_integral_value():
        raise ProtocolError(f"{what}: expected an integer, got {value!r}")
    return int(number)


def to_side(value: Any, what: str) -> Side:
    if not isinstance(value, str):
        raise ProtocolError(f"{what}: expected BUY or SELL, got {value!r}")
    try:
        return Side(value.strip().upper())
    except ValueError:
        raise ProtocolError(f"{what}: expected BUY or SELL, got {value!r}") from None


def opt_str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    return default if value is None else str(value)


def strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def order_id_key(value: Any) -> str:
    """An order id in the one form we compare: order ids are 0x hex hashes, and hex is not
    case-sensitive, so an exchange that answered in upper case must not look like a stranger."""
    text = "" if value is None else str(value).strip()
    return text.lower() if text[:2] in ("0x", "0X") else text


def order_hash(value: Any, what: str) -> str:
    """An order id read from the exchange: a 32-byte hash, 0x + 64 hex, returned lower-case."""
    text = order_id_key(value) if isinstance(value, str) else ""
    if not _ORDER_HASH.fullmatch(text):
        raise ProtocolError(f"{what}: not an order hash (0x + 64 hex digits): {value!r}")
    return text


def optional_order_hash(value: Any, what: str) -> str:
    """An order hash, or "" when the field is empty or absent (a refused entry)."""
    return "" if value is None or value == "" else order_hash(value, what)


def is_end_cursor(cursor: str | None) -> bool:
    """2.9: the last page says `LTE=`, an empty cursor, or none at all; stop on each."""
    return cursor is None or cursor == "" or cursor == END_CURSOR


