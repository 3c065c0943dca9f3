"""HTTP to the CLOB: one request in, parsed JSON or one `ClobError` out.

This is the single boundary where `requests` exceptions and status codes become the error tree of
`reconciler.clob.errors`; nothing above it sees a `requests` type. It also keeps what the last
response said about rate limits (`last_rate_limit`), so a caller can slow down before a 429.

Rules it enforces:
- every request has a timeout; the session and the clock are injected (tests pass their own);
- the body is sent as the exact bytes the caller gives (the caller signed those bytes);
- query strings are built by hand, unencoded, in the caller's order (the exchange and the SDK
  write `next_cursor=MA==` and `ids=a,b` literally);
- JSON is parsed with `parse_float=Decimal`, so a number never becomes a float;
- error text from the exchange is scrubbed of the credentials the client holds before it is put
  in an exception, and headers are never logged.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from reconciler.clob.errors import (
    AuthenticationFailed,
    ClobError,
    ExchangeRejected,
    NotFound,
    OrderVersionMismatch,
    RateLimited,
    ServerError,
    TransportError,
)

log = logging.getLogger(__name__)

USER_AGENT = "reconciler/0.1"
#: Used when a 429 carries no usable Retry-After header: wait at least this long.
DEFAULT_RETRY_AFTER = 1.0
#: Longest piece of an exchange error body quoted in an exception.
MAX_ERROR_TEXT = 300
VERSION_MISMATCH_MARKERS = ("order_version_mismatch", "invalid order version")


@dataclass(frozen=True)
class RateLimitInfo:
    """What the last response said about rate limits (any X-RateLimit-*/RateLimit-*/Retry-After)."""

    observed_at: float
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    limit: int | None = None
    remaining: int | None = None
    reset: str | None = None
    retry_after: float | None = None


def build_query(pairs: Iterable[tuple[str, object]]) -> str:
    """`a=1&b=x` from (name, value) pairs in the given order, skipping None and "" values.

    Not URL-encoded on purpose: the exchange expects `next_cursor=MA==` and `ids=a,b` as the
    official clients write them; every value we pass is a decimal, hex id, enum or cursor.
    """
    parts = [f"{name}={value}" for name, value in pairs if value is not None and value != ""]
    return "&".join(parts)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Transport:
    """Sends requests to one exchange host and maps every failure to a `ClobError`."""

    def __init__(
        self,
        host: str,
        *,
        session: requests.Session | None,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive: a request without one can hang forever")
        self.host = host.rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.clock = clock
        self.last_rate_limit: RateLimitInfo | None = None
        # Strings that must never appear in an exception (the API secret and passphrase).
        self._redact: tuple[str, ...] = ()

    def add_redactions(self, secrets: Iterable[str]) -> None:
        """Strings to replace by "[redacted]" in any error text (longest first)."""
        merged = set(self._redact) | {s for s in secrets if s}
        self._redact = tuple(sorted(merged, key=len, reverse=True))

    def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON body (None when empty, text when not JSON)."""
        url = f"{self.host}{path}?{query}" if query else f"{self.host}{path}"
        all_headers = {
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        write = method != "GET"
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, url, data=body, headers=all_headers, timeout=self.timeout
            )
            content = response.content  # read fully here: a reset mid-body is a transport error
        except requests.RequestException as exc:
            raise self._transport_error(exc, method=method, path=path, write=write) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %s in %.1f ms", method, path, response.status_code, elapsed_ms)
        self._record_rate_limit(response)
        if 200 <= response.status_code < 300:
            return _parse_body(content)
        raise self._status_error(response, content, method=method, path=path, write=write)

    # --- error mapping ------------------------------------------------------------------------

    def _transport_error(
        self, exc: requests.RequestException, *, method: str, path: str, write: bool
    ) -> TransportError:
        never_sent = _never_sent(exc)
        unknown = write and not never_sent
        kind = type(exc).__name__
        if unknown:
            advice = (
                "The write may or may not have been applied: look the order up by its hash "
                "before sending it again."
            )
        elif write:
            advice = "The connection was never opened, so nothing was applied; retry later."
        else:
            advice = "Nothing was changed; the read can be retried."
        return TransportError(
            f"{method} {path}: no answer from the exchange ({kind}). {advice}",
            method=method,
            path=path,
            outcome_unknown=unknown,
        )

    def _status_error(
        self, response: requests.Response, content: bytes, *, method: str, path: str, write: bool
    ) -> ClobError:
        status = response.status_code
        text = self._scrub(_error_text(content) or response.reason or "")
        where = f"{method} {path}"
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"), now=self.clock())
            wait = DEFAULT_RETRY_AFTER if wait is None else wait
            return RateLimited(
                f"{where}: rate limited by the exchange ({text}); nothing was done. "
                f"Wait {wait:g} s before sending again.",
                retry_after=wait,
                method=method,
                path=path,
            )
        if status >= 500:
            advice = (
                "The write may or may not have been applied: look it up before sending again."
                if write
                else "Retry the read later."
            )
            return ServerError(
                f"{where}: exchange error {status}: {text}. {advice}",
                status=status,
                method=method,
                path=path,
                outcome_unknown=write,
            )
        return _rejection(status, text, method=method, path=path)

    def _record_rate_limit(self, response: requests.Response) -> None:
        wanted = {
            name: value
            for name, value in response.headers.items()
            if name.lower().startswith(("x-ratelimit", "ratelimit"))
            or name.lower() == "retry-after"
        }
        if not wanted and response.status_code != 429:
            return
        lower = {name.lower(): value for name, value in wanted.items()}
        self.last_rate_limit = RateLimitInfo(
            observed_at=self.clock(),
            status=response.status_code,
            headers=wanted,
            limit=_int_or_none(lower.get("x-ratelimit-limit", lower.get("ratelimit-limit"))),
            remaining=_int_or_none(
                lower.get("x-ratelimit-remaining", lower.get("ratelimit-remaining"))
            ),
            reset=lower.get("x-ratelimit-reset", lower.get("ratelimit-reset")),
            retry_after=parse_retry_after(lower.get("retry-after"), now=self.clock()),
        )

    def _scrub(self, text: str) -> str:
        for secret in self._redact:
            text = text.replace(secret, "[redacted]")
        return text


def _rejection(status: int, text: str, *, method: str, path: str) -> ExchangeRejected:
    where = f"{method} {path}"
    if status in (401, 403):
        return AuthenticationFailed(
            f"{where}: authentication refused ({status}: {text}). Check the API key, secret and "
            "passphrase (re-derive them with create_or_derive_api_key), the wallet and the clock.",
            status=status,
            method=method,
            path=path,
        )
    if status == 404:
        return NotFound(
            f"{where}: not found ({text}). Check the id or token, and that the host is a CLOB.",
            status=status,
            method=method,
            path=path,
        )
    if any(marker in text for marker in VERSION_MISMATCH_MARKERS):
        return OrderVersionMismatch(
            f"{where}: the exchange refused the order protocol version ({text}). Rebuild the "
            "order with the profile that GET /version reports.",
            status=status,
            method=method,
            path=path,
        )
    return ExchangeRejected(
        f"{where}: rejected by the exchange ({status}): {text}. Not retried: change the request.",
        status=status,
        method=method,
        path=path,
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never opened, so the request cannot have been applied."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False


def _parse_body(content: bytes) -> Any:
    if not content.strip():
        return None
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        return content.decode("utf-8", errors="replace")


def _error_text(content: bytes) -> str:
    """The exchange's message: `{"error": ...}` when present, else the body text, shortened."""
    parsed = _parse_body(content)
    if isinstance(parsed, dict) and "error" in parsed:
        error = parsed["error"]
        text = error if isinstance(error, str) else json.dumps(error, default=str)
    elif parsed is None:
        text = ""
    elif isinstance(parsed, str):
        text = parsed
    else:
        text = json.dumps(parsed, default=str)
    return text[:MAX_ERROR_TEXT]
