"""Request/response types, the route table, and the authentication every private route needs.

Routes are plain functions `(exchange, request) -> Response`, registered by method and path (or
path prefix, for ids in the path). L2 routes get the authenticated `ApiKey` as a third argument.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paperclob import errors
from paperclob.exchange import Exchange
from paperclob.state import ApiKey
from reconciler.clob.auth import AuthError, verify_hmac, verify_l1


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names upper-cased
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.upper(), "")

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise errors.ApiError(400, errors.INVALID_PAYLOAD) from None


@dataclass
class Response:
    payload: Any = None
    status: int = 200
    raw: bytes | None = None  # sent as is instead of JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (fault injection)


Handler = Callable[[Exchange, Request], Response]
L2Handler = Callable[[Exchange, Request, ApiKey], Response]


class Router:
    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], Handler] = {}
        self.prefixed: list[tuple[str, str, Handler]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        if path.endswith("/") and path != "/":
            self.prefixed.append((method, path, handler))
        else:
            self.exact[(method, path)] = handler

    def route(self, method: str, path: str) -> Handler | None:
        handler = self.exact.get((method, path))
        if handler is not None:
            return handler
        for want_method, prefix, candidate in self.prefixed:
            if method == want_method and path.startswith(prefix) and len(path) > len(prefix):
                return candidate
        return None

    def knows_path(self, path: str) -> bool:
        return any(p == path for _, p in self.exact) or any(
            path.startswith(prefix) for _, prefix, _ in self.prefixed
        )


ROUTER = Router()


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTER.add(method, path, handler)
        return handler

    return register


def private(method: str, path: str) -> Callable[[L2Handler], L2Handler]:
    """Register an L2 route: the API key is checked before the handler runs."""

    def register(handler: L2Handler) -> L2Handler:
        def authenticated(exchange: Exchange, request: Request) -> Response:
            return handler(exchange, request, authenticate(exchange, request))

        ROUTER.add(method, path, authenticated)
        return handler

    return register


def authenticate(exchange: Exchange, request: Request) -> ApiKey:
    """The API key of an L2 request, or 401 for a missing/unknown key or a wrong HMAC."""
    key = exchange.keys.lookup(request.header("POLY_API_KEY"))
    if (
        key is None
        or request.header("POLY_ADDRESS").lower() != key.address
        or not hmac.compare_digest(
            request.header("POLY_PASSPHRASE").encode(), key.passphrase.encode()
        )
        or not verify_hmac(key.secret, request.headers, request.method, request.path, request.body)
    ):
        raise errors.ApiError(401, errors.UNAUTHORIZED)
    return key


def l1_identity(exchange: Exchange, request: Request) -> tuple[str, int]:
    """(address, nonce) proven by L1 headers, or 401."""
    try:
        address = verify_l1(request.headers, exchange.config.chain_id)
    except AuthError:
        raise errors.ApiError(401, errors.INVALID_L1) from None
    nonce_text = request.header("POLY_NONCE") or "0"
    return address.lower(), int(nonce_text)


def query_token(exchange: Exchange, request: Request, *, key: str = "token_id") -> str:
    """The token named in the query, listed on first use; 400 "Invalid token id" otherwise."""
    from paperclob.markets import MarketError

    try:
        return exchange.markets.get(request.query.get(key, "")).token_id
    except MarketError:
        raise errors.ApiError(400, "Invalid token id") from None
