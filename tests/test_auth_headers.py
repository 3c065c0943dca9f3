"""L1 and L2 headers equal the official SDKs' for random inputs; the server-side verifiers accept
exactly those and reject every tampered variant; secrets stay out of reprs and errors."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client.signer import Signer as V1Signer
from py_clob_client.signing.eip712 import sign_clob_auth_message as v1_sign_clob_auth
from py_clob_client.signing.hmac import build_hmac_signature as v1_hmac
from py_clob_client_v2.clob_types import ApiCreds as SdkCreds
from py_clob_client_v2.clob_types import RequestArgs
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.signer import Signer as V2Signer

from reconciler.clob.auth import (
    ApiCreds,
    AuthError,
    hmac_signature,
    l1_headers,
    l2_headers,
    verify_hmac,
    verify_l1,
)
from reconciler.clob.signing import Wallet

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

private_keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(
    lambda k: "0x" + k.to_bytes(32, "big").hex()
)
secrets_b64 = st.binary(min_size=16, max_size=48).map(
    lambda b: base64.urlsafe_b64encode(b).decode()
)
methods = st.sampled_from(["GET", "POST", "DELETE", "PUT"])
paths = st.from_regex(r"\A/[a-z0-9\-/_]{0,40}\Z")
bodies = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=200),  # anything, incl. apostrophes and non-ASCII
    st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20))).map(
        lambda d: json.dumps(d, separators=(",", ":"), ensure_ascii=False)
    ),
)
timestamps = st.integers(min_value=0, max_value=2**40)


@settings(max_examples=60, deadline=None)
@given(key=private_keys, chain_id=st.sampled_from([137, 80002]), ts=timestamps,
       nonce=st.integers(0, 2**64))
def test_l1_headers_equal_sdks(key: str, chain_id: int, ts: int, nonce: int) -> None:
    wallet = Wallet.from_private_key(key)
    ours = l1_headers(wallet, chain_id=chain_id, timestamp=ts, nonce=nonce)
    assert ours == create_level_1_headers(V2Signer(key, chain_id), nonce=nonce, timestamp=ts)
    assert ours["POLY_SIGNATURE"] == v1_sign_clob_auth(V1Signer(key, chain_id), ts, nonce)
    assert list(ours) == ["POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_NONCE"]
    assert verify_l1(ours, chain_id) == wallet.address


@settings(max_examples=150, deadline=None)
@given(secret=secrets_b64, ts=timestamps, method=methods, path=paths, body=bodies,
       api_key=st.uuids().map(str), passphrase=st.text(min_size=1, max_size=30))
def test_l2_headers_equal_sdks(
    secret: str, ts: int, method: str, path: str, body: str | None, api_key: str,
    passphrase: str,
) -> None:
    key = "0x" + "33" * 32
    wallet = Wallet.from_private_key(key)
    creds = ApiCreds(api_key=api_key, secret=secret, passphrase=passphrase)
    ours = l2_headers(creds, address=wallet.address, timestamp=ts, method=method, path=path,
                      body=body)
    sdk = create_level_2_headers(
        V2Signer(key, 137),
        SdkCreds(api_key=api_key, api_secret=secret, api_passphrase=passphrase),
        RequestArgs(method=method, request_path=path, body=None, serialized_body=body),
        timestamp=ts,
    )
    assert ours == sdk
    assert list(ours) == list(sdk)
    assert ours["POLY_SIGNATURE"] == v1_hmac(secret, ts, method, path, body)
    # The server side accepts exactly these bytes ...
    raw = (body or "").encode("utf-8")
    assert verify_hmac(secret, ours, method, path, raw)
    # ... and nothing else.
    assert not verify_hmac(secret, ours, method, path, raw + b" ")
    assert not verify_hmac(secret, ours, method, path + "x", raw)
    assert not verify_hmac(secret, ours, "PATCH", path, raw)
    assert not verify_hmac(secret, {**ours, "POLY_TIMESTAMP": str(ts + 1)}, method, path, raw)
    other_secret = base64.urlsafe_b64encode(b"\x01" + base64.urlsafe_b64decode(secret)).decode()
    assert not verify_hmac(other_secret, ours, method, path, raw)


def test_hmac_apostrophe_quirk_is_reproduced() -> None:
    secret = base64.urlsafe_b64encode(bytes(range(32))).decode()
    assert hmac_signature(secret, 1, "POST", "/x", "{'a': 1}") == hmac_signature(
        secret, 1, "POST", "/x", '{"a": 1}'
    )
    assert verify_hmac(
        secret,
        {"POLY_TIMESTAMP": "1", "POLY_SIGNATURE": hmac_signature(secret, 1, "POST", "/x", "{'a'}")},
        "POST", "/x", b'{"a"}',
    )


def test_hmac_refuses_objects_and_bad_secrets_without_echoing() -> None:
    with pytest.raises(TypeError, match="serialised"):
        hmac_signature("AAAA", 1, "POST", "/x", {"a": 1})  # type: ignore[arg-type]
    bad_secret = "not*base64*secret"
    with pytest.raises(ValueError) as info:
        hmac_signature(bad_secret, 1, "GET", "/x", None)
    assert bad_secret not in str(info.value)
    # A server given a broken secret or missing headers says no, it does not crash.
    assert not verify_hmac(bad_secret, {"POLY_TIMESTAMP": "1", "POLY_SIGNATURE": "x"}, "GET",
                           "/x", b"")
    assert not verify_hmac("AAAA", {}, "GET", "/x", b"")
    assert not verify_hmac("AAAA", {"POLY_TIMESTAMP": "1", "POLY_SIGNATURE": "x"}, "GET", "/x",
                           b"\xff\xfe")


# --- L1 verification ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_l1() -> tuple[Wallet, dict[str, str]]:
    wallet = Wallet.from_private_key("0x" + "44" * 32)
    return wallet, l1_headers(wallet, chain_id=137, timestamp=1700000000, nonce=5)


def test_verify_l1_accepts_lowercase_names_and_address(
    signed_l1: tuple[Wallet, dict[str, str]],
) -> None:
    wallet, headers = signed_l1
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered["poly_address"] = wallet.address.lower()
    assert verify_l1(lowered, 137) == wallet.address


@pytest.mark.parametrize(
    "change",
    [
        {"POLY_TIMESTAMP": "1700000001"},
        {"POLY_NONCE": "6"},
        {"POLY_ADDRESS": "0x" + "12" * 20},
        {"POLY_SIGNATURE": "0x" + "00" * 65},
        {"POLY_SIGNATURE": "0x1234"},
        {"POLY_SIGNATURE": "zz"},
        {"POLY_NONCE": "-1"},
        {"POLY_ADDRESS": "not an address"},
        {"POLY_SIGNATURE": ""},
    ],
)
def test_verify_l1_rejects_tampering(
    signed_l1: tuple[Wallet, dict[str, str]], change: dict[str, str]
) -> None:
    _, headers = signed_l1
    with pytest.raises(AuthError):
        verify_l1({**headers, **change}, 137)


def test_verify_l1_is_bound_to_the_chain(signed_l1: tuple[Wallet, dict[str, str]]) -> None:
    _, headers = signed_l1
    with pytest.raises(AuthError, match="not by POLY_ADDRESS"):
        verify_l1(headers, 80002)


def test_verify_l1_missing_header() -> None:
    with pytest.raises(AuthError, match="missing header POLY_SIGNATURE"):
        verify_l1({"POLY_ADDRESS": "0x" + "12" * 20, "POLY_TIMESTAMP": "1"}, 137)


# --- secrets stay secret ------------------------------------------------------------------------


def test_creds_repr_hides_secret_and_passphrase() -> None:
    creds = ApiCreds(api_key="key-123", secret="c2VjcmV0LXNlY3JldA==", passphrase="pass-phrase")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "key-123" in text
        assert "c2VjcmV0" not in text and "pass-phrase" not in text


def test_wallet_never_shows_its_key() -> None:
    key_hex = "55" * 32
    wallet = Wallet.from_private_key("0x" + key_hex)
    for text in (repr(wallet), str(wallet), f"{wallet}", repr({"w": wallet})):
        assert key_hex not in text and wallet.address in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(wallet)
    with pytest.raises(AttributeError):
        wallet.address = "0x" + "00" * 20  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad_key",
    ["0x" + "zz" * 32, "0x" + "66" * 31, "66" * 33, "0x" + "00" * 32, "0x" + "ff" * 32],
)
def test_bad_keys_are_refused_without_echo(bad_key: str) -> None:
    with pytest.raises(ValueError) as info:
        Wallet.from_private_key(bad_key)
    assert bad_key not in str(info.value) and bad_key[2:20] not in str(info.value)


def test_funder_rules() -> None:
    key = "0x" + "77" * 32
    for sig_type in (1, 2, 3):
        with pytest.raises(ValueError, match="requires funder"):
            Wallet.from_private_key(key, signature_type=sig_type)
    with pytest.raises(ValueError, match="EOA"):
        Wallet.from_private_key(key, signature_type=0, funder="0x" + "12" * 20)
    deposit = Wallet.from_private_key(key, signature_type=3, funder="0x" + "ab" * 20)
    assert deposit.maker == deposit.order_signer == deposit.funder != deposit.address
    proxy = Wallet.from_private_key(key, signature_type=1, funder="0x" + "ab" * 20)
    assert proxy.maker == proxy.funder and proxy.order_signer == proxy.address
