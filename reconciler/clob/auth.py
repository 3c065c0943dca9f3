"""CLOB request authentication: L1 (EIP-712 ClobAuth signature) and L2 (HMAC) headers.

L1 headers prove control of the EOA and are only used to create or derive API credentials:
POLY_ADDRESS, POLY_SIGNATURE (EIP-712 `ClobAuth` in domain "ClobAuthDomain"/"1"/chainId),
POLY_TIMESTAMP (unix seconds, signed as a *string*), POLY_NONCE.

L2 headers authenticate every private call: POLY_SIGNATURE =
urlsafe_b64(HMAC-SHA256(urlsafe_b64decode(secret), ts + METHOD + path + body)), over the exact
body bytes sent. Like the official clients we replace every `'` in the body by `"` before
hashing (a leftover quirk of theirs; a no-op for compact JSON without apostrophes), so a
server that does the same is bit-compatible with them and with us.

The server-side halves (`verify_l1`, `verify_hmac`) are used by the paper exchange.
POLY_ADDRESS is always the signing EOA, also for proxy, Safe and deposit wallets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.clob.eip712 import clob_auth_digest
from reconciler.clob.signing import Wallet, recover_address

POLY_ADDRESS = "POLY_ADDRESS"
POLY_SIGNATURE = "POLY_SIGNATURE"
POLY_TIMESTAMP = "POLY_TIMESTAMP"
POLY_NONCE = "POLY_NONCE"
POLY_API_KEY = "POLY_API_KEY"
POLY_PASSPHRASE = "POLY_PASSPHRASE"


class AuthError(Exception):
    """Authentication headers are missing, malformed or do not verify."""


@dataclass(frozen=True)
class ApiCreds:
    """L2 API credentials. The repr shows the key only: secret and passphrase stay out of logs."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)

    def __str__(self) -> str:
        return repr(self)


# --- client side --------------------------------------------------------------------------------


def l1_headers(
    wallet: Wallet, *, chain_id: int, timestamp: int, nonce: int = 0
) -> dict[str, str]:
    ts = str(timestamp)
    digest = clob_auth_digest(wallet.address, ts, nonce, chain_id)
    return {
        POLY_ADDRESS: wallet.address,
        POLY_SIGNATURE: "0x" + wallet.sign_digest(digest).hex(),
        POLY_TIMESTAMP: ts,
        POLY_NONCE: str(nonce),
    }


def _decode_secret(secret: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(secret)
    except (binascii.Error, ValueError):
        # Never echo the secret, not even in part.
        raise ValueError("API secret is not valid base64") from None


def hmac_signature(
    secret: str, timestamp: int | str, method: str, path: str, body: bytes | str | None
) -> str:
    """POLY_SIGNATURE for an L2 request. `path` excludes the query string; `body` is the exact
    bytes sent (None or empty for no body)."""
    if isinstance(body, bytes | bytearray):
        body_text = bytes(body).decode("utf-8")
    elif body is None or isinstance(body, str):
        body_text = body or ""
    else:
        raise TypeError("body must be the serialised bytes or str that is sent, not an object")
    message = f"{timestamp}{method}{path}"
    if body_text:
        message += body_text.replace("'", '"')
    mac = hmac.new(_decode_secret(secret), message.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii")


def l2_headers(
    creds: ApiCreds,
    *,
    address: str,
    timestamp: int,
    method: str,
    path: str,
    body: bytes | str | None,
) -> dict[str, str]:
    return {
        POLY_ADDRESS: address,
        POLY_SIGNATURE: hmac_signature(creds.secret, timestamp, method, path, body),
        POLY_TIMESTAMP: str(timestamp),
        POLY_API_KEY: creds.api_key,
        POLY_PASSPHRASE: creds.passphrase,
    }


# --- server side --------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive and servers often lower-case them.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                value = candidate
                break
    if value is None or value == "":
        raise AuthError(f"missing header {name}")
    return value


def verify_l1(headers: Mapping[str, str], chain_id: int) -> str:
    """Check L1 headers; return the (checksummed) address they prove control of.

    Freshness of POLY_TIMESTAMP is the caller's policy; this only checks the signature.
    """
    address = _header(headers, POLY_ADDRESS)
    timestamp = _header(headers, POLY_TIMESTAMP)
    nonce_text = _optional_header(headers, POLY_NONCE) or "0"
    signature_hex = _header(headers, POLY_SIGNATURE)
    if not nonce_text.isdigit():
        raise AuthError(f"{POLY_NONCE} must be a non-negative integer")
    try:
        digest = clob_auth_digest(address, timestamp, int(nonce_text), chain_id)
        sig_text = signature_hex[2:] if signature_hex[:2] in ("0x", "0X") else signature_hex
        recovered = recover_address(digest, bytes.fromhex(sig_text))
    except ValueError as exc:
        raise AuthError(f"invalid L1 signature: {exc}") from None
    if recovered.lower() != address.lower():
        raise AuthError(f"L1 signature was made by {recovered}, not by {POLY_ADDRESS} {address}")
    return recovered


def _optional_header(headers: Mapping[str, str], name: str) -> str | None:
    try:
        return _header(headers, name)
    except AuthError:
        return None


def verify_hmac(
    secret: str, headers: Mapping[str, str], method: str, path: str, raw_body: bytes
) -> bool:
    """True if POLY_SIGNATURE is the HMAC of exactly this request (constant-time compare)."""
    try:
        timestamp = _header(headers, POLY_TIMESTAMP)
        given = _header(headers, POLY_SIGNATURE)
        expected = hmac_signature(secret, timestamp, method, path, raw_body or None)
    except (AuthError, ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))
