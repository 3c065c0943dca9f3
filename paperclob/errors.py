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
TOO_MANY_ORDERS = "Payload exceeds the limit"


class ApiError(Exception):
    """An HTTP error answer: `{"error": message}` with `status`, plus optional extra JSON keys."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class OrderRejected(Exception):
    """An order the exchange refuses; `message` is what the caller sees."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
