"""How the CLI prints things: plain tables for people, JSON for scripts, one number format.

Presentation only: every function takes values the library already computed and returns text.

- Amounts (prices and sizes) print in ONE format everywhere, `amount()`: at least two decimals,
  more when the value has them (`0.40`, `60.00`, `0.455`), exactly, never through float.
- JSON (`dumps`) carries Decimals as strings, and never JSON inside a string: a value that is
  JSON text (a journal result, a run summary) is parsed before it is printed (`to_jsonable`).
- Tables: `table()` is plain text (tests, pipes, systemd). On a terminal, the commands draw the
  same rows with `rich` (`print_table`); `rich` is imported only then, so a pipe or a unit never
  pays its import.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import IO, Any

#: Ids longer than this are shortened in tables unless `--wide`.
SHORT_ID = 14


def to_jsonable(value: Any) -> Any:
    """Dataclasses, Decimals, enums, paths, sets and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Decimal, Path)):
        return str(value)
    return value


def parsed(text: Any) -> Any:
    """A value that is JSON object or array text, parsed; anything else as it is."""
    if isinstance(text, str) and text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, sort_keys=True, ensure_ascii=False)


# --- one format for numbers, times and ids ---------------------------------------------------


def amount(value: Any) -> str:
    """A price or a size: at least two decimals, more when it has them; exact."""
    if value is None or value == "":
        return "-"
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(number)
    exponent = number.normalize().as_tuple().exponent
    places = max(2, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return format(number.quantize(Decimal(1).scaleb(-places)), "f")


def when(ms: int | None) -> str:
    """Unix milliseconds as a UTC time; `-` for none."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def when_seconds(seconds: int | None) -> str:
    """Unix seconds (or milliseconds, as some answers carry them) as a UTC time."""
    if not seconds:
        return "-"
    return when(seconds if seconds >= 10**12 else seconds * 1000)


def short_token(token_id: str, *, wide: bool = False) -> str:
    if wide or len(token_id) <= SHORT_ID:
        return token_id
    return f"{token_id[:6]}…{token_id[-6:]}"


def short_id(order_id: str, *, wide: bool = False) -> str:
    return order_id if wide or len(order_id) <= SHORT_ID else f"{order_id[:10]}…"


def token_cell(token_id: str, labels: Mapping[str, str], *, wide: bool = False) -> str:
    """A token as tables show it: its id (short unless `wide`), and its label beside it."""
    label = labels.get(token_id)
    shown = short_token(token_id, wide=wide)
    return f"{shown} ({label})" if label else shown


def plural(count: int, noun: str) -> str:
    """`1 token`, `2 tokens`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- tables ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A left-aligned text table; an empty table says so."""
    body = [[str(cell) for cell in row] for row in rows]
    if not body:
        return "(none)"
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def is_terminal(stream: IO[str] | None = None) -> bool:
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A table on stdout: drawn with rich on a terminal, `table()` text otherwise."""
    if not rows or not is_terminal():
        print(table(headers, rows))
        return
    from rich.console import Console
    from rich.table import Table

    drawn = Table(header_style="bold", show_edge=False, pad_edge=False)
    for header in headers:  # a narrow terminal folds a cell rather than cut an id short
        drawn.add_column(header, overflow="fold")
    for row in rows:
        drawn.add_row(*(str(cell) for cell in row))
    Console().print(drawn)
