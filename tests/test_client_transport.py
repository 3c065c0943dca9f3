"""Transport-level tests of the CLOB client on a scripted stdlib HTTP server on 127.0.0.1.

This is not a second fake exchange: the server answers whatever each test scripts (a status, a
header, a closed connection, a delay) so the client's handling of HTTP itself can be checked:
the exact bytes and headers sent, timeouts, resets, lost responses, 429/5xx mapping and the
rate-limit headers. Exchange behaviour is tested against paperclob in test_client_paper*.py.
The server is tests/support/loopback.py; its `server` and `client` fixtures are in conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
from decimal import Decimal

import pytest
import requests

from reconciler.clob.client import ClobClient, compact_json
from reconciler.clob.errors import (
    AuthenticationFailed,
    ExchangeRejected,
    NotFound,
    OrderVersionMismatch,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from reconciler.clob.signing import Wallet
from reconciler.clob.transport import build_query, parse_retry_after
from tests.support.loopback import FIXED_NOW, LoopbackServer, Scripted, make_creds


def expected_hmac(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """Recomputed independently of reconciler.clob.auth, from the raw request."""
    message = f"{timestamp}{method}{path}".encode() + body
    digest = hmac.new(base64.urlsafe_b64decode(secret), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


# --- bytes signed are bytes sent ---------------------------------------------------------------


def test_hmac_is_over_the_exact_bytes_sent(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(body={"canceled": [], "not_canceled": {}}))
    ids = ["0xab", "0x\u00e9t\u00e9"]  # a non-ASCII id checks ensure_ascii=False end to end
    client.cancel_orders(ids)
    seen = server.seen[-1]
    assert seen.method == "DELETE" and seen.path == "/orders"
    assert seen.body == json.dumps(ids, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {k.upper(): v for k, v in seen.headers.items()}
    assert headers["POLY_TIMESTAMP"] == str(int(FIXED_NOW))
    assert headers["POLY_API_KEY"] == make_creds().api_key
    assert headers["POLY_ADDRESS"] == client.wallet.address  # type: ignore[union-attr]
    want = expected_hmac(
        make_creds().secret, headers["POLY_TIMESTAMP"], "DELETE", "/orders", seen.body
    )
    assert headers["POLY_SIGNATURE"] == want


def test_hmac_matches_the_official_sdk(server: LoopbackServer, client: ClobClient) -> None:
    from py_clob_client_v2.signing.hmac import build_hmac_signature

    server.push(Scripted(body={"heartbeat_id": "hb-2"}))
    client.post_heartbeat("hb-1")
    seen = server.seen[-1]
    headers = {k.upper(): v for k, v in seen.headers.items()}
    sdk = build_hmac_signature(
        make_creds().secret, int(FIXED_NOW), "POST", "/v1/heartbeats", seen.body.decode()
    )
    assert seen.body == b'{"heartbeat_id":"hb-1"}'
    assert headers["POLY_SIGNATURE"] == sdk


def test_get_signs_the_path_without_the_query(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(body={"data": [], "next_cursor": "LTE=", "limit": 10, "count": 0}))
    assert client.get_open_orders(market="0xc0", asset_id="123") == []
    seen = server.seen[-1]
    assert seen.path == "/data/orders?market=0xc0&asset_id=123&next_cursor=MA=="
    assert seen.body == b""
    headers = {k.upper(): v for k, v in seen.headers.items()}
    assert headers["POLY_SIGNATURE"] == expected_hmac(
        make_creds().secret, headers["POLY_TIMESTAMP"], "GET", "/data/orders", b""
    )


def test_compact_json_is_what_the_sdk_sends() -> None:
    payload = {"order": {"salt": 1, "side": "BUY"}, "owner": "k", "postOnly": False}
    assert (
        compact_json(payload) == b'{"order":{"salt":1,"side":"BUY"},"owner":"k","postOnly":false}'
    )


def test_build_query_keeps_order_skips_empty_and_does_not_encode() -> None:
    assert build_query([("a", "x"), ("b", ""), ("c", None), ("next_cursor", "MA==")]) == (
        "a=x&next_cursor=MA=="
    )
    assert build_query([("ids", "1,2")]) == "ids=1,2"


# --- status mapping -------------------------------------------------------------------------------


def test_400_is_a_rejection_with_the_exchange_text(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(status=400, body={"error": "not enough balance / allowance"}))
    with pytest.raises(ExchangeRejected) as info:
        client.cancel_all()
    assert info.value.status == 400
    assert "not enough balance / allowance" in str(info.value)
    assert not info.value.outcome_unknown
    assert type(info.value) is ExchangeRejected


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_authentication_failures(
    server: LoopbackServer, client: ClobClient, status: int
) -> None:
    client.rederive_on_401 = False
    server.push(Scripted(status=status, body={"error": "Unauthorized/Invalid api key"}))
    with pytest.raises(AuthenticationFailed) as info:
        client.get_api_keys()
    message = str(info.value)
    assert "Unauthorized/Invalid api key" in message
    assert "reconciler keys list" in message and "PRIVATE_KEY" in message  # the CLI's terms
    assert not re.search(r"\w+\(\)|create_or_derive|derive_api_key", message)  # no Python name


def test_404_is_not_found(server: LoopbackServer, client: ClobClient) -> None:
    server.push(
        Scripted(status=404, body={"error": "No orderbook exists for the requested token id"})
    )
    with pytest.raises(NotFound):
        client.get_order_book("123")


def test_version_mismatch_is_its_own_rejection(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(status=400, body={"error": "order_version_mismatch"}))
    with pytest.raises(OrderVersionMismatch):
        client.cancel_order("0x01")


def test_429_carries_retry_after_and_is_recorded(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(
        Scripted(
            status=429,
            body={"error": "Too Many Requests"},
            headers={"Retry-After": "7", "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0"},
        )
    )
    with pytest.raises(RateLimited) as info:
        client.get_api_keys()
    assert info.value.retry_after == 7.0
    assert "7 s" in str(info.value)
    limit = client.last_rate_limit
    assert limit is not None and limit.status == 429
    assert limit.limit == 100 and limit.remaining == 0 and limit.retry_after == 7.0


def test_429_without_retry_after_waits_a_default(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(status=429, body={"error": "Too Many Requests"}))
    with pytest.raises(RateLimited) as info:
        client.get_api_keys()
    assert info.value.retry_after == 1.0


def test_rate_limit_headers_kept_from_a_success(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(body={"apiKeys": ["k"]}, headers={"X-RateLimit-Remaining": "41"}))
    assert client.get_api_keys() == ["k"]
    assert client.last_rate_limit is not None
    assert client.last_rate_limit.remaining == 41
    assert client.last_rate_limit.headers == {"X-RateLimit-Remaining": "41"}


def test_retry_after_as_http_date() -> None:
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=1_700_000_000.0) == 10.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now=1_700_000_000.0) == 0.0
    assert parse_retry_after("soon", now=0.0) is None
    assert parse_retry_after("2.5", now=0.0) == 2.5


def test_5xx_on_a_read_is_retryable(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(status=503, body={"error": "upstream connect error"}))
    with pytest.raises(ServerError) as info:
        client.get_api_keys()
    assert info.value.status == 503 and not info.value.outcome_unknown


def test_5xx_on_a_write_leaves_the_outcome_unknown(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(status=500, body={"error": "could not run the execution"}))
    with pytest.raises(ServerError) as info:
        client.cancel_orders(["0x01"])
    assert info.value.outcome_unknown
    assert "look it up" in str(info.value)


# --- transport failures ---------------------------------------------------------------------------


def test_lost_response_on_a_write_is_outcome_unknown(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(close=True))
    with pytest.raises(TransportError) as info:
        client.cancel_all()
    assert info.value.outcome_unknown
    assert server.seen[-1].path == "/cancel-all"  # it did reach the server


def test_lost_response_on_a_read_is_not_outcome_unknown(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(close=True))
    with pytest.raises(TransportError) as info:
        client.get_api_keys()
    assert not info.value.outcome_unknown


def test_timeout_is_a_transport_error(server: LoopbackServer, key: str) -> None:
    slow = ClobClient(
        server.url,
        chain_id=137,
        wallet=Wallet.from_private_key(key),
        creds=make_creds(),
        timeout=0.2,
    )
    server.push(Scripted(delay=5.0, body={"canceled": []}))
    with pytest.raises(TransportError) as info:
        slow.cancel_order("0x01")
    assert info.value.outcome_unknown  # the request was sent: the cancel may have happened


def test_refused_connection_never_sent_anything(key: str) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port now
    offline = ClobClient(
        f"http://127.0.0.1:{port}",
        chain_id=137,
        wallet=Wallet.from_private_key(key),
        creds=make_creds(),
        timeout=2.0,
    )
    with pytest.raises(TransportError) as info:
        offline.cancel_all()
    assert not info.value.outcome_unknown
    assert "never opened" in str(info.value)


def test_every_request_has_the_timeout(server: LoopbackServer, key: str) -> None:
    seen: list[object] = []

    class RecordingSession(requests.Session):
        def request(  # type: ignore[override]
            self, *args: object, **kwargs: object
        ) -> requests.Response:
            seen.append(kwargs.get("timeout"))
            return super().request(*args, **kwargs)  # type: ignore[arg-type]

    c = ClobClient(server.url, chain_id=137, session=RecordingSession(), timeout=3.5)
    server.push(Scripted(body={"version": 2}), Scripted(body=1700000000))
    assert c.get_version() == 2
    assert c.get_server_time() == 1700000000
    assert seen == [3.5, 3.5]


def test_zero_timeout_is_refused() -> None:
    with pytest.raises(ValueError):
        ClobClient("http://127.0.0.1:1", chain_id=137, timeout=0)


# --- answers we cannot trust ----------------------------------------------------------------------


def test_numbers_are_parsed_as_decimals_never_floats(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(raw=b'{"mid": 0.1}'))
    mid = client.get_midpoint("123")
    assert mid == Decimal("0.1") and isinstance(mid, Decimal)


def test_garbled_open_orders_page_raises(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(raw=b"<html>oops</html>"))
    with pytest.raises(ProtocolError):
        client.get_open_orders()


def test_page_without_cursor_is_the_last_page(server: LoopbackServer, client: ClobClient) -> None:
    # clob-v2-wire.md 2.9: stop on LTE=, "" or a missing cursor (the OpenAPI's OrdersResponse).
    server.push(Scripted(body={"data": []}))
    assert client.get_open_orders() == []
    assert len(server.seen) == 1


def test_page_without_data_raises(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(body={"next_cursor": "LTE="}))
    with pytest.raises(ProtocolError, match="no 'data'"):
        client.get_open_orders()


def test_repeating_cursor_raises_instead_of_looping(
    server: LoopbackServer, client: ClobClient
) -> None:
    page = {"data": [], "next_cursor": "MQ==", "limit": 1, "count": 0}
    server.push(Scripted(body=page), Scripted(body=page))
    with pytest.raises(ProtocolError, match="repeated"):
        client.get_open_orders()
    assert len(server.seen) == 2


def test_page_loop_is_bounded(server: LoopbackServer, key: str) -> None:
    bounded = ClobClient(
        server.url,
        chain_id=137,
        wallet=Wallet.from_private_key(key),
        creds=make_creds(),
        max_pages=3,
    )
    for n in range(1, 5):
        cursor = base64.b64encode(str(n).encode()).decode()
        server.push(Scripted(body={"data": [], "next_cursor": cursor}))
    with pytest.raises(ProtocolError, match="3 pages"):
        bounded.get_open_orders()
    assert len(server.seen) == 3
