"""The status vocabularies of the exchange, normalised (clob-v2-wire.md 2.12).

The same status is spelt several ways depending on where it is read: REST order objects say
`ORDER_STATUS_LIVE`, the user stream and older fixtures say `LIVE`, a place answer says `live`,
REST trades say `TRADE_STATUS_MATCHED` and the stream `MATCHED`. The normalisers here accept
every spelling the reference lists (an optional prefix, any case, surrounding blanks) and
return one enum member. Every `CANCELED*` value is cancelled, and its suffix is kept as the
reason (expired GTD, balance gone, market resolved ...). Anything else is a `ProtocolError`:
2.12 says an unknown status is "read again later", never cancelled, and an error that aborts
the tick is exactly that.
"""

from __future__ import annotations

import re
from enum import StrEnum

from reconciler.clob.errors import ProtocolError

ORDER_PREFIX = "ORDER_STATUS_"
TRADE_PREFIX = "TRADE_STATUS_"
_REASON = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)*")


class ExchangeOrderStatus(StrEnum):
    """An order's status on the exchange. The values are the plain upper-case spellings, so a
    member compares equal to "LIVE", "MATCHED" ... as older callers expect."""

    LIVE = "LIVE"
    MATCHED = "MATCHED"
    DELAYED = "DELAYED"
    UNMATCHED = "UNMATCHED"  # a place answer only: not a resting state (the SDK: a rejection)
    CANCELED = "CANCELED"  # every CANCELED_<reason> too; the reason is kept beside it
    INVALID = "INVALID"  # terminal and not live

    @property
    def is_terminal(self) -> bool:
        """No further change will come: the order does not rest and will not fill."""
        return self in (ExchangeOrderStatus.CANCELED, ExchangeOrderStatus.INVALID)

    @property
    def may_rest(self) -> bool:
        """The order is (or may soon be) on the book and can still fill."""
        return self in (ExchangeOrderStatus.LIVE, ExchangeOrderStatus.DELAYED)


class TradeStatus(StrEnum):
    """A trade's settlement status: MATCHED -> MINED -> CONFIRMED, or RETRYING -> FAILED."""

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"
    MATCHED_NOT_BROADCASTED = "MATCHED_NOT_BROADCASTED"  # REST trade listings only

    @property
    def is_final(self) -> bool:
        """Only CONFIRMED and FAILED are terminal (2.12)."""
        return self in (TradeStatus.CONFIRMED, TradeStatus.FAILED)

    @property
    def settled(self) -> bool:
        """The fill is a fact (invariant 12): only a CONFIRMED trade."""
        return self is TradeStatus.CONFIRMED

    @property
    def failed(self) -> bool:
        """The fill did not settle: its size must not stay counted as filled."""
        return self is TradeStatus.FAILED


def _canonical(raw: object, prefix: str, what: str) -> str:
    if not isinstance(raw, str):
        raise ProtocolError(f"{what}: expected a status string, got {raw!r}")
    text = raw.strip().upper()
    return text[len(prefix) :] if text.startswith(prefix) else text


def order_status(raw: object, what: str = "order status") -> tuple[ExchangeOrderStatus, str]:
    """(status, cancel reason) from any spelling of 2.12's order statuses.

    The reason is "" except for `CANCELED_<REASON>`, where it is `<REASON>` as sent (upper case).
    """
    text = _canonical(raw, ORDER_PREFIX, what)
    if text.startswith("CANCELED_") and _REASON.fullmatch(text[len("CANCELED_") :]):
        return ExchangeOrderStatus.CANCELED, text[len("CANCELED_") :]
    try:
        return ExchangeOrderStatus(text), ""
    except ValueError:
        raise ProtocolError(
            f"{what}: unknown order status {raw!r}; not acting on it until it is read again"
        ) from None


def place_status(raw: object, what: str = "place answer status") -> ExchangeOrderStatus | None:
    """The `status` of a POST /order(s) answer: live, matched, delayed, unmatched, or "" (None)
    on a refused entry."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    status, _reason = order_status(raw, what)
    return status


def trade_status(raw: object, what: str = "trade status") -> TradeStatus:
    """A trade status from any spelling in 2.12 (`TRADE_STATUS_` prefix optional, any case)."""
    text = _canonical(raw, TRADE_PREFIX, what)
    try:
        return TradeStatus(text)
    except ValueError:
        raise ProtocolError(f"{what}: unknown trade status {raw!r}") from None
