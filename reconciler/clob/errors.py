"""Every way a call to the CLOB can fail, sorted by what the caller should do next.

The client translates `requests` exceptions and non-2xx answers into this tree at one boundary
(`reconciler.clob.transport`), so nothing above `clob/` ever sees a `requests` exception or has to
parse a status code. The shape follows httpx's `_exceptions.py`: the tree is drawn here once.

    ClobError                     base; `.outcome_unknown`: may a write have happened?
    ├── TransportError            no usable answer: refused, timeout, reset, lost response
    ├── ServerError               5xx: the exchange failed (for a write: outcome unknown)
    ├── RateLimited               429: wait `.retry_after` seconds, then try again
    ├── OverBurst                 dearer than the tier's burst, so it could never pass (2.13):
    │                             refused before sending; split it
    ├── ProtocolError             an answer we cannot trust (a negative size, an unknown status,
    │                             a redirect, an oversized body, a looping cursor ...)
    ├── ExchangeRejected          4xx: the exchange understood and said no; do not retry
    │   ├── AuthenticationFailed  401/403: wrong or revoked API key, or bad L1 signature
    │   ├── NotFound              404: no such thing (order, market, endpoint)
    │   ├── OrderVersionMismatch  the exchange speaks another order protocol version
    │   └── TradingRestricted     a trading mode (2.13): disabled, cancel-only, post-only,
    │                             restarting (425), closed-only, banned; wait `.retry_after`
    └── CredentialsRequired       a method needs a wallet or API credentials it lacks

`outcome_unknown` is the one flag a journal needs: True means "a write was sent and we cannot
tell whether the exchange applied it" (an order may be resting, a cancel may have happened).
Never retry such a write blindly; look the order up by its hash first (DESIGN invariant 4).
Reads are never outcome-unknown: retrying them is always safe.

`partial` is set by the calls that split one request into several (`cancel_orders`,
`post_many`): the merged result of the parts that completed before this error, so the caller
records what did happen (None when nothing completed). A cancel's partial also names the ids no
request carried (`CancelResult.never_sent`), so they are not mistaken for ones whose answer was
lost.

No message built here contains a secret: errors carry the method, the path, the status and the
exchange's own error text, and the transport scrubs any credential out of that text first.
"""

from __future__ import annotations

from typing import Any

from reconciler.model import TradingRestriction


class ClobError(Exception):
    """Base of every error raised by the CLOB client."""

    outcome_unknown: bool = False
    partial: Any = None

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class TransportError(ClobError):
    """The request got no usable answer (connection refused or reset, timeout, lost response).

    For a read, retry after a pause. For a write, `outcome_unknown` is True unless the
    connection was never opened: the order may or may not rest on the book.
    """

    def __init__(
        self, message: str, *, method: str = "", path: str = "", outcome_unknown: bool = False
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.outcome_unknown = outcome_unknown


class ServerError(ClobError):
    """The exchange answered 5xx. Reads can be retried; a write's outcome is unknown."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        path: str = "",
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status = status
        self.outcome_unknown = outcome_unknown


class RateLimited(ClobError):
    """The exchange answered 429. Nothing was done; wait `retry_after` seconds and retry."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        method: str = "",
        path: str = "",
        stated: bool = True,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status = 429
        self.retry_after = retry_after
        # False when the answer named no Retry-After and `retry_after` is our default: 2.13
        # sends one only for a batch within the burst, so its absence hints "split".
        self.retry_after_stated = stated


class OverBurst(ClobError):
    """A request dearer than its bucket's burst under the tier now known: the exchange admits a
    batch whole or not at all (2.13), so it could never pass. Refused before it is sent, so
    nothing was done (`outcome_unknown` is False); send it in smaller parts."""


class ProtocolError(ClobError):
    """The exchange answered, but not in a shape we can trust (e.g. a page cursor that loops).

    For a write with a 2xx status the write probably happened; `outcome_unknown` is set so the
    caller checks before doing anything again.
    """

    def __init__(
        self, message: str, *, method: str = "", path: str = "", outcome_unknown: bool = False
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.outcome_unknown = outcome_unknown


class ExchangeRejected(ClobError):
    """The exchange refused the request (4xx). Do not retry unchanged; report it.

    `message` quotes the exchange's own text from `{"error": ...}` (e.g. "not enough balance /
    allowance", "invalid post-only order: order crosses book"); `payload` is the answer's parsed
    body, scrubbed of the client's secrets (e.g. the `heartbeat_id` of a heartbeat refusal).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        path: str = "",
        payload: Any = None,
        exchange_text: str = "",
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status = status
        self.payload = payload
        self.exchange_text = exchange_text  # the exchange's own words, scrubbed and shortened


class AuthenticationFailed(ExchangeRejected):
    """401/403: the API key, secret or passphrase is wrong or revoked, or the L1 signature
    (wallet, chain id, clock) is refused. Re-derive the API key; check the host's clock."""


class NotFound(ExchangeRejected):
    """404: the order, market or endpoint does not exist on this exchange."""


class OrderVersionMismatch(ExchangeRejected):
    """The exchange refused the order's protocol version (`order_version_mismatch`).

    The client re-reads /version and switches profile; an order built by hand must be rebuilt.
    """


class CredentialsRequired(ClobError):
    """The method needs a wallet (L1) or API credentials (L2) that this client was not given."""


class TradingRestricted(ExchangeRejected):
    """The exchange is in a trading mode that refuses this request (clob-v2-wire.md 2.13).

    A definite refusal: nothing was placed or cancelled, so `outcome_unknown` is False.
    `restriction` says what is still allowed (`TradingRestriction.allows_cancels`, ...);
    `retry_after` is the wait the exchange asked for, in seconds, or None when it named none
    (a 425 restart: back off from 1-2 s, doubling).
    """

    def __init__(
        self,
        message: str,
        *,
        restriction: TradingRestriction,
        retry_after: float | None,
        status: int,
        method: str = "",
        path: str = "",
        payload: Any = None,
    ) -> None:
        super().__init__(message, status=status, method=method, path=path, payload=payload)
        self.restriction = TradingRestriction(restriction)
        self.retry_after = retry_after
