"""The error tree: what each error means to the caller, and that no secret ever leaks into one.

The leak tests make real requests fail on a loopback server that behaves as badly as a server
can (it echoes every request header, including the passphrase, into its error text) and then
search the exception's str, repr, full traceback and every log record for the API secret, the
passphrase and the private key.
"""

from __future__ import annotations

import json
import logging
import traceback

import pytest

from reconciler.clob.client import ClobClient
from reconciler.clob.errors import (
    AuthenticationFailed,
    ClobError,
    CredentialsRequired,
    ExchangeRejected,
    NotFound,
    OrderVersionMismatch,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from reconciler.clob.signing import Wallet
from tests.support.accounts import new_wallet
from tests.support.loopback import LoopbackServer, Scripted, make_creds


def test_tree_sorts_errors_by_what_to_do_next() -> None:
    # Rejections (do not retry) are one branch; waiting, retrying and unknown outcomes are not
    # rejections, so `except ExchangeRejected` can never swallow a 429 or a lost response.
    for cls in (AuthenticationFailed, NotFound, OrderVersionMismatch):
        assert issubclass(cls, ExchangeRejected)
    for cls in (TransportError, ServerError, RateLimited, ProtocolError, CredentialsRequired):
        assert issubclass(cls, ClobError)
        assert not issubclass(cls, ExchangeRejected)


def test_outcome_unknown_defaults() -> None:
    assert not ExchangeRejected("x", status=400).outcome_unknown
    assert not RateLimited("x", retry_after=1.0).outcome_unknown
    assert TransportError("x", outcome_unknown=True).outcome_unknown
    assert ServerError("x", status=500, outcome_unknown=True).outcome_unknown
    assert not ServerError("x", status=500).outcome_unknown


def test_repr_names_the_class_and_message() -> None:
    err = NotFound(
        "GET /data/order/0x1: not found", status=404, method="GET", path="/data/order/0x1"
    )
    assert repr(err) == "NotFound('GET /data/order/0x1: not found')"
    assert err.method == "GET" and err.path == "/data/order/0x1" and err.status == 404


def test_missing_credentials_say_what_to_do() -> None:
    bare = ClobClient("http://127.0.0.1:9", chain_id=137)
    with pytest.raises(CredentialsRequired, match="private key"):
        bare.create_api_key()
    wallet_only = ClobClient(
        "http://127.0.0.1:9",
        chain_id=137,
        wallet=new_wallet(),
    )
    with pytest.raises(CredentialsRequired, match="create_or_derive_api_key"):
        wallet_only.get_open_orders()


# --- no secret in errors, reprs or logs -----------------------------------------------------------


def _secrets(key: str) -> list[str]:
    creds = make_creds()
    return [creds.secret, creds.passphrase, key, key[2:], key[2:].upper()]


def _assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
def test_no_secret_in_exchange_errors_even_if_the_server_echoes_them(
    server: LoopbackServer,
    client: ClobClient,
    key: str,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = make_creds()  # the client's own (conftest.py)
    # The "server" quotes our passphrase and secret back, as a careless proxy might.
    echoed = {"error": f"bad request: passphrase={creds.passphrase} secret={creds.secret}"}
    server.push(Scripted(status=status, body=echoed))
    with pytest.raises(ClobError) as info:
        client.cancel_orders(["0x01"])
    exc = info.value
    assert "[redacted]" in str(exc)
    texts = [
        str(exc),
        repr(exc),
        "".join(traceback.format_exception(exc)),
        caplog.text,
        json.dumps([r.getMessage() for r in caplog.records]),
        repr(client),
        repr(client.creds),
        repr(client.wallet),
    ]
    for text in texts:
        _assert_clean(text, _secrets(key))


def test_no_secret_in_transport_errors(
    server: LoopbackServer, client: ClobClient, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.push(Scripted(close=True))
    with pytest.raises(TransportError) as info:
        client.post_heartbeat("")
    text = "".join(traceback.format_exception(info.value)) + caplog.text + repr(info.value)
    _assert_clean(text, _secrets(key))


def test_no_secret_in_l1_failures(
    server: LoopbackServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = ClobClient(
        server.url, chain_id=137, wallet=Wallet.from_private_key(key), timeout=2.0
    )
    server.push(Scripted(status=401, body={"error": "Invalid L1 Request headers"}))
    with pytest.raises(AuthenticationFailed) as info:
        client.derive_api_key()
    text = "".join(traceback.format_exception(info.value)) + caplog.text + repr(client)
    _assert_clean(text, _secrets(key))
