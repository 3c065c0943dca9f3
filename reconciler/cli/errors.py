"""One line per failure that names its cause, and what to do, for the errors of the exchange.

A wrong port is not "the exchange said no": nothing answered. https against a plain-http server
is said as such. A refusal is the exchange's own words. (A chain id that the exchange does not
sign for is diagnosed where the key is derived: wiring.py.)
"""

from __future__ import annotations

from typing import Any

from reconciler.clob import ClobError, ExchangeRejected, RateLimited, TransportError


def describe_exchange_error(exc: ClobError, settings: Any) -> str:
    host = getattr(settings, "host", None) or "the exchange"
    if isinstance(exc, TransportError):
        cause = getattr(exc, "cause", "")
        if cause == "refused":
            return (f"the host {host} did not answer: the connection was refused (nothing "
                    "listens on that port). Check --host / CLOB_HOST, the port, and that the "
                    "exchange is running.")
        if cause == "tls":
            plain = host.replace("https://", "http://", 1)
            return (f"{host} does not speak https: the server there answers plain http. Use "
                    f"{plain} (or point --host at the TLS endpoint).")
        if cause == "dns":
            return f"the host name of {host} does not resolve; check --host / CLOB_HOST."
        return f"the exchange at {host} did not answer: {exc}"
    if isinstance(exc, RateLimited):
        return f"the exchange rate-limited this request: {exc}"
    if isinstance(exc, ExchangeRejected):
        return f"the exchange said no: {type(exc).__name__}: {exc}"
    return f"exchange error: {type(exc).__name__}: {exc}"
