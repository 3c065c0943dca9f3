"""HTTP to the CLOB: one request in, parsed JSON or one `ClobError` out.

This is the single boundary where `requests` exceptions and status codes become the error tree of
`reconciler.clob.errors`; nothing above it sees a `requests` type.

Rules it enforces:
- every request has ONE total deadline (`timeout` seconds for connect, headers and body
  together: `deadline`), and a body larger than `max_body` bytes is cut off and refused;
- redirects are never followed: the L2 headers (key, passphrase, signature) must not go to
  another host, so a 3xx is a `ProtocolError` naming the status, and nothing is sent to its
  Location;
- the body is sent as the exact bytes the caller gives (the caller signed those bytes);
- query strings are built by hand, unencoded, in the caller's order (the exchange and the SDK
  write `next_cursor=MA==` and `ids=a,b` literally);
- JSON is parsed with `parse_float=Decimal`, so a number never becomes a float;
- error text from the exchange is scrubbed of the credentials the client holds BEFORE it is cut
  to length (`redact`), and headers are never logged;
- order and cancel requests are paced against the per-signer buckets (`ratelimit.Pacer`), and
  every answer's rate-limit headers refresh the estimate;
- 2.13's trading modes become `TradingRestricted` (a definite refusal), not "outcome unknown";
- progress is reported (`on_progress`, for the daemon's liveness): after every request, with 0,
  and before every pacing wait, with its length, so a long paced pass is not taken for a hung one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from reconciler.clob import modes
from reconciler.clob.deadline import BodyTooLarge, DeadlineAdapter, deadline, read_capped
from reconciler.clob.errors import (
    AuthenticationFailed,
    ClobError,
    ExchangeRejected,
    NotFound,
    OrderVersionMismatch,
    ProtocolError,
    RateLimited,
    ServerError,
    TradingRestricted,
    TransportError,
)
from reconciler.clob.ratelimit import (
    Pacer,
    RateLimitState,
    bucket_of,
    parse_headers,
    parse_retry_after,
)
from reconciler.clob.redact import Redactor, scrub_then_cut

log = logging.getLogger(__name__)

__all__ = ["RateLimitInfo", "Transport", "build_query", "parse_retry_after"]

USER_AGENT = "reconciler/0.1"
#: Used when a 429 carries no usable Retry-After header: wait at least this long.
DEFAULT_RETRY_AFTER = 1.0
#: Longest piece of an exchange error body quoted in an exception.
MAX_ERROR_TEXT = 300
#: The largest answer read (a page of 500 open orders is about 300 kB).
DEFAULT_MAX_BODY = 16 * 1024 * 1024
VERSION_MISMATCH_MARKERS = ("order_version_mismatch", "invalid order version")
AUTH_ADVICE = (
    "Check that the private key (PRIVATE_KEY or --private-key-file) is the wallet that owns the "
    "API key, that --host and --chain-id are right and that this machine's clock is correct; "
    "if API_KEY, SECRET and PASSPHRASE are set, unset them so reconciler derives the key from "
    "the wallet, and run `reconciler keys list` to check that it is accepted."
)


@dataclass(frozen=True)
class RateLimitInfo:
    """The rate-limit headers of the last response that carried any (Cloudflare's
    X-RateLimit-*/RateLimit-*, the exchange's Poly-RateLimit-*, Retry-After)."""

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


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes


class Transport:
    """Sends requests to one exchange host and maps every failure to a `ClobError`."""

    def __init__(
        self,
        host: str,
        *,
        session: requests.Session | None,
        timeout: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None] = time.sleep,
        max_body: int = DEFAULT_MAX_BODY,
        pacing: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive: a request without one can hang forever")
        if max_body < 1:
            raise ValueError("max_body must be at least 1 byte")
        self.host = host.rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.session.mount(self.host + "/", DeadlineAdapter())
        self.timeout = timeout
        self.max_body = max_body
        self.clock = clock
        self.pacer = Pacer(clock=clock, sleep=sleep, enabled=pacing)
        self.pacer.on_wait = self._progressed
        self.last_rate_limit: RateLimitInfo | None = None
        #: Called with 0 when a request is over (answered or failed), and with the seconds a
        #: pacing wait will take just before it starts: the caller is busy, not hung.
        self.on_progress: Callable[[float], None] | None = None
        # The API secret and passphrase: never in an exception (see `redact` for the rule).
        self.redactor = Redactor()

    def add_redactions(self, secrets: Iterable[str]) -> int:
        """Secrets to scrub from any error text; returns how many were too short to use."""
        return self.redactor.add(secrets)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cost: int = 1,
        empty_ok: bool = True,
    ) -> Any:
        """Send one request; return the parsed JSON body (None when empty, text when not JSON).

        `cost` is what an order or cancel request takes from its bucket (2.13). With
        `empty_ok=False` an empty 2xx body is a `ProtocolError`: where the JSON literal `null`
        means something (an order lookup: "no such order"), a body cut to nothing must not be
        read as that `null`."""
        bucket = bucket_of(method, path)
        if bucket is not None:
            self.pacer.acquire(bucket, cost, what=f"{method} {path}")
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
            answer = self._exchange(method, path, url, body, all_headers, write=write)
        finally:
            self._progressed(0.0)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %s in %.1f ms", method, path, answer.status, elapsed_ms)
        self._record_rate_limit(answer, bucket)
        if 200 <= answer.status < 300:
            if not empty_ok and not answer.content.strip():
                raise ProtocolError(
                    f"{method} {path}: the exchange answered {answer.status} with an empty body "
                    "(not JSON, not even null); cannot tell what it means",
                    method=method,
                    path=path,
                    outcome_unknown=write,
                )
            return _parse_body(answer.content)
        raise self._status_error(answer, method=method, path=path, write=write)

    def _progressed(self, ahead_seconds: float) -> None:
        if self.on_progress is not None:
            self.on_progress(ahead_seconds)

    def _exchange(
        self,
        method: str,
        path: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        write: bool,
    ) -> _Answer:
        try:
            with deadline(self.timeout):
                response = self.session.request(
                    method,
                    url,
                    data=body,
                    headers=dict(headers),
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    content = read_capped(response, self.max_body)
                finally:
                    response.close()
        except BodyTooLarge as exc:
            raise ProtocolError(
                f"{method} {path}: the answer is larger than {exc.limit} bytes; refused unread"
                + (". The write may have been applied: look it up before sending again" if write
                   else ""),
                method=method,
                path=path,
                outcome_unknown=write,
            ) from None
        except requests.RequestException as exc:
            raise self._transport_error(exc, method=method, path=path, write=write) from None
        return _Answer(response.status_code, response.reason or "", response.headers, content)

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
            f"{method} {path}: no answer from the exchange within {self.timeout:g} s ({kind}). "
            f"{advice}",
            method=method,
            path=path,
            outcome_unknown=unknown,
        )

    def _status_error(self, answer: _Answer, *, method: str, path: str, write: bool) -> ClobError:
        status = answer.status
        where = f"{method} {path}"
        if 300 <= status < 400:
            return ProtocolError(
                f"{where}: the exchange answered a redirect ({status}); redirects are never "
                "followed, so nothing was sent to its Location. Check --host."
                + (" The write may have been applied: look it up." if write else ""),
                method=method,
                path=path,
                outcome_unknown=write,
            )
        scrubbed = self.redactor.scrub(answer.content.decode("utf-8", errors="replace"))
        payload = _parse_text(scrubbed)
        text = scrub_then_cut(self.redactor, _error_text(payload) or answer.reason, MAX_ERROR_TEXT)
        restriction = modes.classify(status, payload)
        if restriction is not None:
            return self._restricted(restriction, answer, payload, text, method=method, path=path)
        if status == 429:
            stated = parse_retry_after(answer.headers.get("Retry-After"), now=self.clock())
            wait = DEFAULT_RETRY_AFTER if stated is None else stated
            return RateLimited(
                f"{where}: rate limited by the exchange ({text}); nothing was done. "
                f"Wait {wait:g} s before sending again.",
                retry_after=wait,
                method=method,
                path=path,
                stated=stated is not None,
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
        return _rejection(status, text, payload, method=method, path=path)

    def _restricted(
        self,
        restriction: modes.TradingRestriction,
        answer: _Answer,
        payload: Any,
        text: str,
        *,
        method: str,
        path: str,
    ) -> TradingRestricted:
        waits = [
            w
            for w in (
                parse_retry_after(answer.headers.get("Retry-After"), now=self.clock()),
                modes.body_retry_after(payload),
            )
            if w is not None
        ]
        retry_after = max(waits) if waits else None
        when = f" Retry after {retry_after:g} s." if retry_after is not None else ""
        return TradingRestricted(
            f"{method} {path}: the exchange refuses this now ({restriction.value}, "
            f"{answer.status}: {text}); nothing was done.{when}",
            restriction=restriction,
            retry_after=retry_after,
            status=answer.status,
            method=method,
            path=path,
            payload=payload,
        )

    def _record_rate_limit(self, answer: _Answer, bucket: Any) -> None:
        now = self.clock()
        state: RateLimitState | None = parse_headers(
            answer.headers, status=answer.status, bucket=bucket, now=now
        )
        if state is not None:
            self.pacer.observe(state)
        wanted = {
            name: value
            for name, value in answer.headers.items()
            if name.lower().startswith(("x-ratelimit", "ratelimit", "poly-ratelimit"))
            or name.lower() == "retry-after"
        }
        if not wanted and answer.status != 429:
            return
        lower = {name.lower(): value for name, value in wanted.items()}
        self.last_rate_limit = RateLimitInfo(
            observed_at=now,
            status=answer.status,
            headers=wanted,
            limit=_int_or_none(lower.get("x-ratelimit-limit", lower.get("ratelimit-limit"))),
            remaining=_int_or_none(
                lower.get(
                    "x-ratelimit-remaining",
                    lower.get("ratelimit-remaining", lower.get("poly-ratelimit-remaining")),
                )
            ),
            reset=lower.get(
                "x-ratelimit-reset", lower.get("ratelimit-reset", lower.get("poly-ratelimit-reset"))
            ),
            retry_after=parse_retry_after(lower.get("retry-after"), now=now),
        )


def _rejection(
    status: int, text: str, payload: Any, *, method: str, path: str
) -> ExchangeRejected:
    where = f"{method} {path}"
    if status in (401, 403):
        return AuthenticationFailed(
            f"{where}: authentication refused ({status}: {text}). {AUTH_ADVICE}",
            status=status,
            method=method,
            path=path,
            payload=payload,
            exchange_text=text,
        )
    if status == 404:
        return NotFound(
            f"{where}: not found ({text}). Check the id or token, and that --host is a CLOB.",
            status=status,
            method=method,
            path=path,
            payload=payload,
        )
    if any(marker in text for marker in VERSION_MISMATCH_MARKERS):
        return OrderVersionMismatch(
            f"{where}: the exchange refused the order protocol version ({text}). Rebuild the "
            "order with the profile that GET /version reports.",
            status=status,
            method=method,
            path=path,
            payload=payload,
        )
    return ExchangeRejected(
        f"{where}: rejected by the exchange ({status}): {text}. Not retried: change the request.",
        status=status,
        method=method,
        path=path,
        payload=payload,
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


def _parse_text(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text


def _error_text(parsed: Any) -> str:
    """The exchange's message: `{"error": ...}` (or `error_msg`) when present, else the body."""
    if isinstance(parsed, dict) and ("error" in parsed or "error_msg" in parsed):
        error = parsed.get("error", parsed.get("error_msg"))
        return error if isinstance(error, str) else json.dumps(error, default=str)
    if parsed is None:
        return ""
    if isinstance(parsed, str):
        return parsed
    return json.dumps(parsed, default=str)
