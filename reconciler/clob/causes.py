"""Why a request got no answer, for an error that names its cause (a wrong port, https to a
plain-http server, a name that does not resolve) rather than "no answer from the exchange"."""

from __future__ import annotations

import socket
import ssl

import requests


def connection_cause(exc: BaseException) -> str:
    """Why a request got no answer, from the exception chain: "refused" (nothing listens on
    the port), "tls" (https to a plain-http server: SSL's WRONG_VERSION_NUMBER), "dns" (the
    name does not resolve), "timeout", or "" when it does not say."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(current, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(current).upper():
            return "tls"
        if isinstance(current, socket.gaierror):
            return "dns"
        text = str(current)
        if "Connection refused" in text or "Errno 111" in text:
            return "refused"
        if "WRONG_VERSION_NUMBER" in text.upper() or "wrong version number" in text:
            return "tls"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "dns"
        todo += [c for c in (current.__cause__, current.__context__) if c is not None]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    if isinstance(exc, requests.Timeout):
        return "timeout"
    return ""
