"""EIP-712 hashing for exchange orders, ClobAuth and the ERC-7739 deposit-wallet envelope.

Every struct here has only static types (uint256, uint8, address, bytes32, and strings that are
hashed), so `hashStruct` is just keccak over 32-byte words. We encode those words by hand and
precompute every type hash once at import: building an order then costs two keccaks and one
signature, where eth_account's generic `encode_typed_data` re-parses the type description on
every call (that is most of the official SDK's time per order).

Digest = keccak256(0x19 0x01 || domainSeparator || hashStruct(message)) - standard EIP-712.

Structs:
* V1 Order (12 fields: salt, maker, signer, taker, tokenId, makerAmount, takerAmount,
  expiration, nonce, feeRateBps, side, signatureType), domain "1".
* V2/V3 Order (11 fields: salt, maker, signer, tokenId, makerAmount, takerAmount, side,
  signatureType, timestamp, metadata, builder), domain "2" or "3".
* ClobAuth(address, string timestamp, uint256 nonce, string message) in domain
  ("ClobAuthDomain", "1", chainId) without a verifying contract (L1 auth headers).
* TypedDataSign (ERC-7739, Solady): the owner of a deposit wallet (signature type 3) signs the
  order nested in `TypedDataSign(Order contents, name="DepositWallet", version="1", chainId,
  verifyingContract=<deposit wallet>, salt=0)`, under the exchange's domain. The posted signature
  is sig(65) || exchange domain separator(32) || contents hash(32) || type string || uint16 len.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from Crypto.Hash import keccak as _keccak_mod

if TYPE_CHECKING:
    from reconciler.clob.signing import UnsignedOrder


def keccak256(data: bytes) -> bytes:
    # pycryptodome directly: eth_hash's wrapper adds a layer of dispatch per call.
    return _keccak_mod.new(data=data, digest_bits=256).digest()


ZERO32 = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
_UINT256_LIMIT = 1 << 256

ORDER_TYPE_STRING_V1 = (
    "Order(uint256 salt,address maker,address signer,address taker,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint256 expiration,uint256 nonce,"
    "uint256 feeRateBps,uint8 side,uint8 signatureType)"
)
ORDER_TYPE_STRING_V2 = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
DOMAIN_TYPE_STRING = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
CLOB_AUTH_DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId)"
CLOB_AUTH_TYPE_STRING = (
    "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
)
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
TYPED_DATA_SIGN_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING_V2
)

EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"

ORDER_TYPEHASH_V1 = keccak256(ORDER_TYPE_STRING_V1.encode())
ORDER_TYPEHASH_V2 = keccak256(ORDER_TYPE_STRING_V2.encode())
DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE_STRING.encode())
CLOB_AUTH_DOMAIN_TYPEHASH = keccak256(CLOB_AUTH_DOMAIN_TYPE_STRING.encode())
CLOB_AUTH_TYPEHASH = keccak256(CLOB_AUTH_TYPE_STRING.encode())
TYPED_DATA_SIGN_TYPEHASH = keccak256(TYPED_DATA_SIGN_TYPE_STRING.encode())
_EXCHANGE_NAME_HASH = keccak256(EXCHANGE_DOMAIN_NAME.encode())
_CLOB_AUTH_NAME_HASH = keccak256(b"ClobAuthDomain")
_VERSION_1_HASH = keccak256(b"1")
_CLOB_AUTH_MESSAGE_HASH = keccak256(CLOB_AUTH_MESSAGE.encode())
_DEPOSIT_WALLET_NAME_HASH = keccak256(b"DepositWallet")
_DEPOSIT_WALLET_VERSION_HASH = keccak256(b"1")
_DEPOSIT_WALLET_SALT = bytes(32)

_SIDE_WORDS = {"BUY": (0).to_bytes(32, "big"), "SELL": (1).to_bytes(32, "big")}

#: Fixed part of the ERC-7739 envelope: 65-byte signature, domain separator, contents hash.
ENVELOPE_HEAD_LEN = 65 + 32 + 32
#: Total length of the envelope for the Order struct (317 bytes).
ENVELOPE_LEN_V2 = ENVELOPE_HEAD_LEN + len(ORDER_TYPE_STRING_V2) + 2


# --- 32-byte words ------------------------------------------------------------------------------


def uint_word(value: int, *, field: str = "value") -> bytes:
    if not 0 <= value < _UINT256_LIMIT:
        raise ValueError(f"{field} must be an integer in [0, 2**256), got {value}")
    return value.to_bytes(32, "big")


@lru_cache(maxsize=4096)
def address_word(address: str) -> bytes:
    """An address as a left-padded word (cached: makers and signers repeat across orders)."""
    raw = address_bytes(address)
    return bytes(12) + raw


def address_bytes(address: str) -> bytes:
    if not isinstance(address, str) or len(address) != 42 or address[:2] not in ("0x", "0X"):
        raise ValueError(f"not a 0x-prefixed 20-byte hex address: {address!r}")
    try:
        return bytes.fromhex(address[2:])
    except ValueError:
        raise ValueError(f"not a 0x-prefixed 20-byte hex address: {address!r}") from None


def bytes32_word(value: str, *, field: str = "value") -> bytes:
    if not isinstance(value, str) or len(value) != 66 or value[:2] not in ("0x", "0X"):
        raise ValueError(f"{field} must be 0x followed by 64 hex digits, got {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{field} must be 0x followed by 64 hex digits, got {value!r}") from None


@lru_cache(maxsize=4096)
def to_checksum_address(address: str) -> str:
    """EIP-55 checksum of a 0x address (ValueError if it is not one)."""
    lower = address_bytes(address).hex()
    digest = keccak256(lower.encode()).hex()
    # zip stops at the 40 address digits; the hash has 64.
    return "0x" + "".join(
        c.upper() if c in "abcdef" and int(h, 16) >= 8 else c
        for c, h in zip(lower, digest[:40], strict=True)
    )


# --- domains ------------------------------------------------------------------------------------


def exchange_domain_separator(*, version: str, chain_id: int, verifying_contract: str) -> bytes:
    return keccak256(
        DOMAIN_TYPEHASH
        + _EXCHANGE_NAME_HASH
        + keccak256(version.encode())
        + uint_word(chain_id, field="chain_id")
        + address_word(verifying_contract)
    )


@lru_cache(maxsize=16)
def clob_auth_domain_separator(chain_id: int) -> bytes:
    return keccak256(
        CLOB_AUTH_DOMAIN_TYPEHASH
        + _CLOB_AUTH_NAME_HASH
        + _VERSION_1_HASH
        + uint_word(chain_id, field="chain_id")
    )


def eip712_digest(domain_sep: bytes, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + domain_sep + struct_hash)


# --- orders -------------------------------------------------------------------------------------


def _side_word(side: object) -> bytes:
    # model.Side is a str enum; its value is "BUY"/"SELL".
    key = getattr(side, "value", side)
    try:
        return _SIDE_WORDS[key]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"side must be BUY or SELL, got {side!r}") from None


def _small_uint_word(value: int, *, field: str, limit: int) -> bytes:
    if not 0 <= value < limit:
        raise ValueError(f"{field} must be in [0, {limit}), got {value}")
    return value.to_bytes(32, "big")


def order_struct_hash(order: UnsignedOrder, profile: str) -> bytes:
    """hashStruct(Order) for the profile's struct (V1: 12 fields; V2/V3: 11 fields)."""
    common_head = (
        uint_word(order.salt, field="salt")
        + address_word(order.maker)
        + address_word(order.signer)
    )
    amounts = (
        uint_word(int(order.token_id), field="token_id")
        + uint_word(order.maker_amount, field="maker_amount")
        + uint_word(order.taker_amount, field="taker_amount")
    )
    side = _side_word(order.side)
    sig_type = _small_uint_word(int(order.signature_type), field="signature_type", limit=256)
    if profile == "v1":
        return keccak256(
            ORDER_TYPEHASH_V1
            + common_head
            + address_word(order.taker)
            + amounts
            + uint_word(order.expiration, field="expiration")
            + uint_word(order.nonce, field="nonce")
            + uint_word(order.fee_rate_bps, field="fee_rate_bps")
            + side
            + sig_type
        )
    return keccak256(
        ORDER_TYPEHASH_V2
        + common_head
        + amounts
        + side
        + sig_type
        + uint_word(order.timestamp_ms, field="timestamp_ms")
        + bytes32_word(order.metadata, field="metadata")
        + bytes32_word(order.builder, field="builder")
    )


def order_digest(order: UnsignedOrder, domain_sep: bytes, *, profile: str = "v2") -> bytes:
    """The EIP-712 digest of an order = its order id. `profile` picks the struct (V1 vs V2/V3)."""
    return eip712_digest(domain_sep, order_struct_hash(order, profile))


# --- ClobAuth (L1) ------------------------------------------------------------------------------


def clob_auth_digest(address: str, timestamp: str, nonce: int, chain_id: int) -> bytes:
    """Digest the L1 headers sign. `timestamp` is typed as a string in the struct."""
    struct_hash = keccak256(
        CLOB_AUTH_TYPEHASH
        + address_word(address)
        + keccak256(str(timestamp).encode())
        + uint_word(nonce, field="nonce")
        + _CLOB_AUTH_MESSAGE_HASH
    )
    return eip712_digest(clob_auth_domain_separator(chain_id), struct_hash)


# --- ERC-7739 deposit-wallet envelope (signature type 3) ----------------------------------------


def deposit_wallet_digest(
    *, contents_hash: bytes, domain_sep: bytes, chain_id: int, wallet: str
) -> bytes:
    """What the wallet owner signs for a type-3 order: TypedDataSign under the exchange domain.

    `contents_hash` is the order's struct hash; `wallet` (the deposit wallet = order signer) is
    the inner domain's verifying contract.
    """
    struct_hash = keccak256(
        TYPED_DATA_SIGN_TYPEHASH
        + contents_hash
        + _DEPOSIT_WALLET_NAME_HASH
        + _DEPOSIT_WALLET_VERSION_HASH
        + uint_word(chain_id, field="chain_id")
        + address_word(wallet)
        + _DEPOSIT_WALLET_SALT
    )
    return eip712_digest(domain_sep, struct_hash)


def wrap_envelope(inner_signature: bytes, *, domain_sep: bytes, contents_hash: bytes) -> bytes:
    """sig || domain separator || contents hash || contents type string || uint16 length."""
    type_bytes = ORDER_TYPE_STRING_V2.encode()
    return (
        inner_signature
        + domain_sep
        + contents_hash
        + type_bytes
        + len(type_bytes).to_bytes(2, "big")
    )


def unwrap_envelope(signature: bytes) -> tuple[bytes, bytes, bytes, str]:
    """Split an ERC-7739 envelope into (inner sig, domain separator, contents hash, type string).

    ValueError with a clear message when the bytes do not have the envelope's shape.
    """
    if len(signature) < ENVELOPE_HEAD_LEN + 2:
        raise ValueError(
            f"POLY_1271 signature too short: {len(signature)} bytes, expected {ENVELOPE_LEN_V2}"
        )
    type_len = int.from_bytes(signature[-2:], "big")
    if len(signature) != ENVELOPE_HEAD_LEN + type_len + 2:
        raise ValueError(
            f"POLY_1271 signature length {len(signature)} does not match its embedded type "
            f"string length {type_len}"
        )
    try:
        type_string = signature[ENVELOPE_HEAD_LEN:-2].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("POLY_1271 signature: the embedded type string is not ASCII") from None
    return (
        signature[:65],
        signature[65:97],
        signature[97:129],
        type_string,
    )
