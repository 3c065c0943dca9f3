"""Trading modes: the answers by which the exchange says "not now" or "not you" (2.13).

| Status | Body                                                                  | Restriction |
|--------|-----------------------------------------------------------------------|-------------|
| 503    | `{"error": "Trading is currently disabled. ..."}`                     | DISABLED    |
| 503    | `{"error": "Trading is currently cancel-only. ..."}` (no `code`)      | CANCEL_ONLY |
| 503    | `{"error": "post-only mode: ...", "code": "post_only_mode", ...}`     | POST_ONLY   |
| 200    | a POST /orders entry whose `errorMsg` is "post-only mode: ..."        | POST_ONLY   |
| 425    | anything (the body is not documented)                                 | RESTARTING  |
| 400    | `{"error": "'0x...' address in closed only mode"}`                    | CLOSED_ONLY |
| 400    | `{"error": "'0x...' address banned"}`                                 | BANNED      |

Each is a definite refusal (the order was not taken, the cancel not run), so it is never an
"outcome unknown". A 503 or other 5xx without one of these bodies (a proxy page, an overload)
still is. The wait comes from `Retry-After` (seconds or an HTTP date) or the body's
`retry_after_seconds`; when both are given the longer one is kept (the reference does not say
which wins, and waiting longer is the side that never sends too early).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from reconciler.model import TradingRestriction

_POST_ONLY_TEXT = re.compile(r"\bpost[- ]only mode\b", re.IGNORECASE)
_CLOSED_ONLY_TEXT = re.compile(r"\baddress in closed[- ]only mode\b", re.IGNORECASE)
_BANNED_TEXT = re.compile(r"\baddress banned\b", re.IGNORECASE)
_DISABLED_TEXT = re.compile(r"\btrading is currently disabled\b", re.IGNORECASE)
_CANCEL_ONLY_TEXT = re.compile(r"\bcancel-only\b", re.IGNORECASE)


def restriction_in_text(text: str) -> TradingRestriction | None:
    """The restriction an error text names (a batch entry's `errorMsg`), if any."""
    if _POST_ONLY_TEXT.search(text):
        return TradingRestriction.POST_ONLY
    if _CLOSED_ONLY_TEXT.search(text):
        return TradingRestriction.CLOSED_ONLY
    if _BANNED_TEXT.search(text):
        return TradingRestriction.BANNED
    return None


def classify(status: int, body: Any) -> TradingRestriction | None:
    """The restriction an HTTP answer states, or None when it is not one of 2.13's modes."""
    if status == 425:
        return TradingRestriction.RESTARTING
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    text = error if isinstance(error, str) else ""
    if status == 503:
        if body.get("code") == "post_only_mode" or _POST_ONLY_TEXT.search(text):
            return TradingRestriction.POST_ONLY
        if _CANCEL_ONLY_TEXT.search(text):
            return TradingRestriction.CANCEL_ONLY
        if _DISABLED_TEXT.search(text):
            return TradingRestriction.DISABLED
        return None
    if status == 400:
        found = restriction_in_text(text)
        return found if found is not TradingRestriction.POST_ONLY else None
    return None


def body_retry_after(body: Any) -> float | None:
    """`retry_after_seconds` of a trading-mode body, when it is a non-negative number."""
    if not isinstance(body, Mapping):
        return None
    value = body.get("retry_after_seconds")
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        seconds = float(Decimal(str(value).strip()))
    except ArithmeticError:
        return None
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
