"""Signed orders: the wallet that signs, the order values, and verification by recovery.

An order is a frozen `UnsignedOrder` (integers in 6-decimal base units, addresses, side, and
the profile-specific fields). `sign_order` hashes it for the profile's EIP-712 domain
(`eip712`, `profiles`) and signs with the `Wallet`:

* signature types 0/1/2 (EOA, Polymarket proxy, Gnosis Safe): a plain 65-byte EIP-712 signature
  by the EOA; `signer` is the EOA and `maker` the funder (equal to the EOA for type 0);
* type 3 (POLY_1271 deposit wallet, V2/V3 only): `maker` = `signer` = the deposit wallet; the EOA
  (its owner) signs the ERC-7739 TypedDataSign envelope and the posted signature is 317 bytes.

The order id is the EIP-712 digest of the order (for every signature type).

`recover_order_signer` is the server side (used by the paper exchange): it rebuilds the digest
from a wire order, unwraps a type-3 envelope after checking it commits to this very order and
domain, and returns the recovered EOA. Signing uses libsecp256k1 via coincurve (deterministic
RFC 6979, low-s), which gives byte-identical signatures to eth_account.

The private key lives only inside `Wallet` (a coincurve key object); it is never part of a repr,
an exception message or a pickle.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import coincurve

from reconciler.clob import eip712
from reconciler.clob.eip712 import ZERO32, ZERO_ADDRESS, keccak256, to_checksum_address
from reconciler.clob.numbers import SECP256K1_N
from reconciler.clob.profiles import Profile, domain_separator
from reconciler.model import Side

# Signatures with s > n/2 are rejected (as OpenZeppelin's ECDSA does).
_HALF_N = SECP256K1_N // 2


class SignatureType(IntEnum):
    EOA = 0
    POLY_PROXY = 1
    POLY_GNOSIS_SAFE = 2
    POLY_1271 = 3


@dataclass(frozen=True)
class UnsignedOrder:
    """The signed fields of an order. V2/V3 use timestamp_ms/metadata/builder; V1 uses
    taker/nonce/fee_rate_bps and signs expiration (V2/V3 only send expiration in the body)."""

    salt: int
    maker: str
    signer: str
    token_id: int | str
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: SignatureType
    timestamp_ms: int = 0
    metadata: str = ZERO32
    builder: str = ZERO32
    expiration: int = 0
    taker: str = ZERO_ADDRESS
    nonce: int = 0
    fee_rate_bps: int = 0

    def __post_init__(self) -> None:
        token = self.token_id
        if isinstance(token, str) and not (token.isascii() and token.isdigit()):
            raise ValueError(f"token_id must be a decimal integer, got {token!r}")
        if isinstance(token, bool) or not isinstance(token, int | str):
            raise ValueError(f"token_id must be an int or a decimal string, got {token!r}")
        if not isinstance(self.side, Side):
            object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "signature_type", SignatureType(self.signature_type))

    @property
    def token_id_str(self) -> str:
        return str(int(self.token_id))


@dataclass(frozen=True)
class SignedOrder:
    order: UnsignedOrder
    signature: str  # 0x hex: 65 bytes, or the 317-byte envelope for type 3
    order_id: str  # 0x + 64 hex: the EIP-712 digest
    profile: Profile

    def to_wire(self) -> dict[str, Any]:
        """The `order` object of POST /order, keys and types exactly as the official SDK sends.

        V2/V3: py-clob-client-v2's `order_to_json_v2`. V1: py-clob-client's `SignedOrder.dict()`
        (the reference HMAC vector B1 is over that key order).
        """
        o = self.order
        if self.profile is Profile.V1:
            return {
                "salt": o.salt,
                "maker": o.maker,
                "signer": o.signer,
                "taker": o.taker,
                "tokenId": o.token_id_str,
                "makerAmount": str(o.maker_amount),
                "takerAmount": str(o.taker_amount),
                "expiration": str(o.expiration),
                "nonce": str(o.nonce),
                "feeRateBps": str(o.fee_rate_bps),
                "side": o.side.value,
                "signatureType": int(o.signature_type),
                "signature": self.signature,
            }
        return {
            "salt": o.salt,
            "maker": o.maker,
            "signer": o.signer,
            "tokenId": o.token_id_str,
            "makerAmount": str(o.maker_amount),
            "takerAmount": str(o.taker_amount),
            "side": o.side.value,
            "expiration": str(o.expiration),
            "signatureType": int(o.signature_type),
            "timestamp": str(o.timestamp_ms),
            "metadata": o.metadata,
            "builder": o.builder,
            "signature": self.signature,
        }


# --- wallet -------------------------------------------------------------------------------------


def random_private_key() -> str:
    """A fresh random private key (0x + 64 hex digits), uniformly in [1, n): for throwaway
    wallets (the paper exchange, tests). Never logged or stored by this module."""
    while True:
        candidate = secrets.randbits(256)
        if 0 < candidate < SECP256K1_N:
            return f"0x{candidate:064x}"


def _parse_private_key(key: str) -> coincurve.PrivateKey:
    # Messages here must never include the key, not even a fragment of it.
    if not isinstance(key, str):
        raise ValueError("private key must be a hex string")
    text = key[2:] if key[:2] in ("0x", "0X") else key
    if len(text) != 64:
        raise ValueError("private key must be 32 bytes (64 hex digits, optional 0x prefix)")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ValueError("private key is not valid hex") from None
    if not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
        raise ValueError("private key is out of range for secp256k1")
    return coincurve.PrivateKey(secret)


def _address_of_public_key(public_key: coincurve.PublicKey) -> str:
    raw = public_key.format(compressed=False)[1:]
    return to_checksum_address("0x" + keccak256(raw)[-20:].hex())


class Wallet:
    """A signing key plus how orders are funded (signature type and funder address).

    * EOA (0): maker = signer = the key's address. A different funder is refused.
    * POLY_PROXY (1) / POLY_GNOSIS_SAFE (2): maker = funder (the proxy/Safe), signer = the EOA.
    * POLY_1271 (3): maker = signer = funder (the deposit wallet); the EOA signs the envelope.
    """

    __slots__ = ("_key", "address", "signature_type", "funder")
    _key: coincurve.PrivateKey
    address: str  # the EOA (checksummed): signs, and is POLY_ADDRESS in auth headers
    signature_type: SignatureType
    funder: str  # who holds the funds: the EOA itself for type 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError("build a Wallet with Wallet.from_private_key(...)")

    @classmethod
    def from_private_key(
        cls,
        key: str,
        signature_type: SignatureType | int = SignatureType.EOA,
        funder: str | None = None,
    ) -> Wallet:
        sig_type = SignatureType(signature_type)
        private_key = _parse_private_key(key)
        address = _address_of_public_key(private_key.public_key)
        if sig_type is SignatureType.EOA:
            if funder is not None and to_checksum_address(funder) != address:
                raise ValueError(
                    "signature type EOA trades from the signing address itself; a different "
                    f"funder ({funder}) needs signature type 1, 2 or 3"
                )
            resolved_funder = address
        else:
            if not funder:
                raise ValueError(
                    f"signature type {sig_type.name} ({int(sig_type)}) requires funder= the "
                    "address that holds the funds (proxy, Safe or deposit wallet)"
                )
            resolved_funder = to_checksum_address(funder)
        wallet = object.__new__(cls)
        object.__setattr__(wallet, "_key", private_key)
        object.__setattr__(wallet, "address", address)
        object.__setattr__(wallet, "signature_type", sig_type)
        object.__setattr__(wallet, "funder", resolved_funder)
        return wallet

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Wallet is immutable")

    def __repr__(self) -> str:
        return (
            f"Wallet(address={self.address}, signature_type={self.signature_type.name}, "
            f"funder={self.funder})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Wallet holds a private key and cannot be pickled or copied")

    @property
    def maker(self) -> str:
        """The `maker` of this wallet's orders (who holds the funds)."""
        return self.funder

    @property
    def order_signer(self) -> str:
        """The `signer` field of this wallet's orders: the deposit wallet for type 3."""
        return self.funder if self.signature_type is SignatureType.POLY_1271 else self.address

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte r || s || v (v in {27, 28}) over a 32-byte digest, as eth_account signs."""
        if len(digest) != 32:
            raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes((sig[64] + 27,))


# --- signing ------------------------------------------------------------------------------------


def _check_order_matches_wallet(wallet: Wallet, order: UnsignedOrder, profile: Profile) -> None:
    if order.signature_type is not wallet.signature_type:
        raise ValueError(
            f"order signature type {order.signature_type.name} differs from the wallet's "
            f"{wallet.signature_type.name}"
        )
    if order.signer.lower() != wallet.order_signer.lower():
        raise ValueError(
            f"order signer {order.signer} is not this wallet's signer {wallet.order_signer}"
        )
    if profile is Profile.V1 and order.signature_type is SignatureType.POLY_1271:
        raise ValueError("signature type POLY_1271 (deposit wallet) is not supported by V1 orders")


def sign_order(
    wallet: Wallet, order: UnsignedOrder, *, chain_id: int, profile: Profile, neg_risk: bool
) -> SignedOrder:
    profile = Profile(profile)
    _check_order_matches_wallet(wallet, order, profile)
    domain_sep = domain_separator(chain_id, profile, neg_risk)
    struct_hash = eip712.order_struct_hash(order, profile)
    digest = eip712.eip712_digest(domain_sep, struct_hash)
    if order.signature_type is SignatureType.POLY_1271:
        inner_digest = eip712.deposit_wallet_digest(
            contents_hash=struct_hash, domain_sep=domain_sep, chain_id=chain_id, wallet=order.signer
        )
        signature = eip712.wrap_envelope(
            wallet.sign_digest(inner_digest), domain_sep=domain_sep, contents_hash=struct_hash
        )
    else:
        signature = wallet.sign_digest(digest)
    return SignedOrder(
        order=order, signature="0x" + signature.hex(), order_id="0x" + digest.hex(), profile=profile
    )


# --- verification (server side) -----------------------------------------------------------------


def recover_address(digest: bytes, signature: bytes) -> str:
    """The checksummed address whose key made this 65-byte signature over `digest`."""
    if len(digest) != 32:
        raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
    if len(signature) != 65:
        raise ValueError(f"signature must be 65 bytes (r || s || v), got {len(signature)}")
    v = signature[64]
    recovery_id = v - 27 if v >= 27 else v
    if recovery_id not in (0, 1):
        raise ValueError(f"signature v must be 27 or 28, got {v}")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < s <= _HALF_N:
        raise ValueError("signature s is not in the lower half of the curve order (malleable)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes((recovery_id,)), digest, hasher=None
        )
    except Exception as exc:  # coincurve raises a bare Exception on an invalid signature
        raise ValueError("signature does not recover to any public key") from exc
    return _address_of_public_key(public_key)


def _hex_bytes(value: object, *, field: str) -> bytes:
    if not isinstance(value, str) or value[:2] not in ("0x", "0X"):
        raise ValueError(f"{field} must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{field} is not valid hex") from None


def _int_field(wire: dict[str, Any], key: str, *, json_int: bool = False) -> int:
    if key not in wire:
        raise ValueError(f"order is missing {key!r}")
    value = wire[key]
    # Strict about JSON types, as the SDKs send them: a client sending anything else has a bug.
    if json_int and isinstance(value, int) and not isinstance(value, bool):
        result = value
    elif not json_int and isinstance(value, str) and value.isascii() and value.isdigit():
        result = int(value)
    else:
        kind = "a JSON integer" if json_int else "a decimal string"
        raise ValueError(f"order field {key!r} must be {kind}, got {value!r}")
    if result < 0:
        raise ValueError(f"order field {key!r} must not be negative")
    return result


def _str_field(wire: dict[str, Any], key: str) -> str:
    value = wire.get(key)
    if not isinstance(value, str):
        raise ValueError(f"order field {key!r} must be a string, got {value!r}")
    return value


def order_from_wire(wire: dict[str, Any], *, profile: Profile) -> UnsignedOrder:
    """Parse the wire `order` object back into the signed values (ValueError if malformed)."""
    if not isinstance(wire, dict):
        raise ValueError("order must be a JSON object")
    side_text = wire.get("side")
    if side_text not in ("BUY", "SELL"):
        raise ValueError(f"order side must be 'BUY' or 'SELL', got {side_text!r}")
    try:
        sig_type = SignatureType(_int_field(wire, "signatureType", json_int=True))
    except ValueError as exc:
        raise ValueError(f"order signatureType is invalid: {exc}") from None
    common: dict[str, Any] = {
        "salt": _int_field(wire, "salt", json_int=True),
        "maker": _str_field(wire, "maker"),
        "signer": _str_field(wire, "signer"),
        "token_id": str(_int_field(wire, "tokenId")),
        "maker_amount": _int_field(wire, "makerAmount"),
        "taker_amount": _int_field(wire, "takerAmount"),
        "side": Side(side_text),
        "signature_type": sig_type,
        "expiration": _int_field(wire, "expiration") if "expiration" in wire else 0,
    }
    if Profile(profile) is Profile.V1:
        common.update(
            taker=_str_field(wire, "taker"),
            nonce=_int_field(wire, "nonce"),
            fee_rate_bps=_int_field(wire, "feeRateBps"),
        )
    else:
        common.update(
            timestamp_ms=_int_field(wire, "timestamp"),
            metadata=_str_field(wire, "metadata"),
            builder=_str_field(wire, "builder"),
        )
    return UnsignedOrder(**common)


def recover_order_signer(
    wire_order: dict[str, Any], *, chain_id: int, profile: Profile, neg_risk: bool
) -> tuple[str, str]:
    """(recovered EOA, order id) of a wire order. Type 3: the deposit wallet's owner EOA.

    The caller decides whether that EOA may sign for the order's maker/signer.
    """
    profile = Profile(profile)
    order = order_from_wire(wire_order, profile=profile)
    signature = _hex_bytes(wire_order.get("signature"), field="signature")
    domain_sep = domain_separator(chain_id, profile, neg_risk)
    struct_hash = eip712.order_struct_hash(order, profile)
    order_id = "0x" + eip712.eip712_digest(domain_sep, struct_hash).hex()
    if order.signature_type is not SignatureType.POLY_1271:
        return recover_address(eip712.eip712_digest(domain_sep, struct_hash), signature), order_id
    if profile is Profile.V1:
        raise ValueError("signature type POLY_1271 is not valid for V1 orders")
    if order.maker.lower() != order.signer.lower():
        raise ValueError("POLY_1271 orders must have maker == signer (the deposit wallet)")
    inner, env_domain, env_contents, type_string = eip712.unwrap_envelope(signature)
    if env_domain != domain_sep:
        raise ValueError("POLY_1271 envelope is for a different exchange domain")
    if env_contents != struct_hash:
        raise ValueError("POLY_1271 envelope does not commit to this order's contents")
    if type_string != eip712.ORDER_TYPE_STRING_V2:
        raise ValueError("POLY_1271 envelope carries an unexpected contents type string")
    inner_digest = eip712.deposit_wallet_digest(
        contents_hash=struct_hash, domain_sep=domain_sep, chain_id=chain_id, wallet=order.signer
    )
    return recover_address(inner_digest, inner), order_id


def order_id_of(
    wire_order: dict[str, Any], *, chain_id: int, profile: Profile, neg_risk: bool
) -> str:
    """The order id (EIP-712 digest) of a wire order, without checking its signature."""
    profile = Profile(profile)
    order = order_from_wire(wire_order, profile=profile)
    domain_sep = domain_separator(chain_id, profile, neg_risk)
    return "0x" + eip712.order_digest(order, domain_sep, profile=profile).hex()
