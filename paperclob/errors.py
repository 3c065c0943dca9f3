"""Errors the exchange answers with. Their text is the exchange's own wording (clob-v1-wire.md 6.3, 8)."""

from __future__ import annotations

UNAUTHORIZED = "Unauthorized/Invalid api key"
INVALID_L1 = "Invalid L1 Request headers"
NOT_ENOUGH_BALANCE = "not enough balance / allowance"
INVALID_SIGNATURE = "invalid signature"
INVALID_EXPIRATION = "invalid expiration"
DUPLICATED = (
    "order is invalid. Duplicated. Same order has already been placed, can't be placed again"
)
POST_ONLY_TYPE = "invalid post-only order: only GTC and GTD order types are allowed"
POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
FOK_NOT_FILLED = "order couldn't be fully filled, FOK orders are fully filled/killed"
FAK_NO_MATCH = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no "
    "match is found."
)
OWNER_MISMATCH = "the order owner has to be the owner of the API KEY"
SIGNER_MISMATCH = "the order signer address has to be the address of the API KEY"
VERSION_MISMATCH = "order_version_mismatch"
COULD_NOT_INSERT = "could not insert order"
# Not a documented text: the paper exchange's wording for an order on a resolved market.
MARKET_CLOSED = "market is closed: it no longer accepts orders"
INVALID_PAYLOAD = "Invalid payload"
ORDER_NOT_FOUND = "Order not found"
TOO_MANY_CANCELS = "Too many orders in payload, max allowed: 1000"
TOO_MANY_REQUESTS = "Too Many Requests"
INVALID_HEARTBEAT = "Invalid Heartbeat ID"
# Trading modes (clob-v2-wire.md 2.13).
TRADING_DISABLED = "Trading is currently disabled. Check polymarket.com for updates"
CANCEL_ONLY = (
    "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed."
)
POST_ONLY_MODE = "post-only mode: only post-only orders and cancels are allowed"
# The 425 body is not documented (clob-v2-wire.md 2.13): the paper exchange's own wording.
RESTARTING = "the matching engine is restarting"


def closed_only(address: str) -> str:
    return f"'{address}' address in closed only mode"


def banned(address: str) -> str:
    return f"'{address}' address banned"


class ApiError(Exception):
    """An HTTP error answer: `{"error": message}` with `status`, plus optional extra JSON keys.

    `key` names the message's JSON key (the heartbeat mismatch is sent under `error_msg` or
    `error`); `headers` are sent with the answer (Retry-After, Poly-RateLimit-*).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        key: str = "error",
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, object]:
        return {self.key: self.message, **self.extra}


class OrderRejected(Exception):
    """An order the exchange refuses; `message` is what the caller sees."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
