"""Verification by recovery: recover_order_signer returns the signing EOA for every profile and
signature type (incl. the type-3 envelope), and refuses or mis-recovers any tampered order."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconciler.clob import eip712
from reconciler.clob.profiles import Profile, domain_separator
from reconciler.clob.signing import (
    SignatureType,
    SignedOrder,
    UnsignedOrder,
    Wallet,
    order_id_of,
    recover_address,
    recover_order_signer,
    sign_order,
)
from reconciler.model import Side

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
private_keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(
    lambda k: "0x" + k.to_bytes(32, "big").hex()
)
FUNDER = "0x5b9c05CEF25B76C572ce1CaaFC73a9981c3f4d2A"
COMBOS = [
    (profile, sig_type)
    for profile in Profile
    for sig_type in SignatureType
    if not (profile is Profile.V1 and sig_type is SignatureType.POLY_1271)
]


def _signed(
    key: str, profile: Profile, sig_type: SignatureType, *, chain_id: int = 137,
    neg_risk: bool = False,
) -> tuple[Wallet, SignedOrder]:
    wallet = Wallet.from_private_key(
        key, signature_type=sig_type, funder=None if sig_type is SignatureType.EOA else FUNDER
    )
    order = UnsignedOrder(
        salt=987654321,
        maker=wallet.maker,
        signer=wallet.order_signer,
        token_id=2**255 + 12345,
        maker_amount=5_200_000,
        taker_amount=10_000_000,
        side=Side.BUY,
        signature_type=sig_type,
        timestamp_ms=1713398400000 if profile is not Profile.V1 else 0,
        metadata="0x" + "01" * 32 if profile is not Profile.V1 else eip712.ZERO32,
        builder="0x" + "02" * 32 if profile is not Profile.V1 else eip712.ZERO32,
        expiration=1767225600,
        nonce=3 if profile is Profile.V1 else 0,
        fee_rate_bps=10 if profile is Profile.V1 else 0,
    )
    signed = sign_order(wallet, order, chain_id=chain_id, profile=profile, neg_risk=neg_risk)
    return wallet, signed


def _recover(wire: dict[str, Any], profile: Profile, *, chain_id: int = 137,
             neg_risk: bool = False) -> tuple[str, str]:
    return recover_order_signer(wire, chain_id=chain_id, profile=profile, neg_risk=neg_risk)


# --- the signer comes back ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(key=private_keys, combo=st.sampled_from(COMBOS), chain_id=st.sampled_from([137, 80002]),
       neg_risk=st.booleans())
def test_recover_returns_the_signing_eoa(
    key: str, combo: tuple[Profile, SignatureType], chain_id: int, neg_risk: bool
) -> None:
    profile, sig_type = combo
    assume(not (profile is Profile.V3 and chain_id == 80002))  # Amoy V3: address unknown (2.5)
    wallet, signed = _signed(key, profile, sig_type, chain_id=chain_id, neg_risk=neg_risk)
    wire = signed.to_wire()
    assert _recover(wire, profile, chain_id=chain_id, neg_risk=neg_risk) == (
        wallet.address, signed.order_id
    )
    assert order_id_of(wire, chain_id=chain_id, profile=profile, neg_risk=neg_risk) == (
        signed.order_id
    )
    # Independent check with eth_account's recovery.
    signature = bytes.fromhex(signed.signature[2:])
    if sig_type is SignatureType.POLY_1271:
        struct_hash = eip712.order_struct_hash(signed.order, profile)
        digest = eip712.deposit_wallet_digest(
            contents_hash=struct_hash,
            domain_sep=domain_separator(chain_id, profile, neg_risk),
            chain_id=chain_id,
            wallet=FUNDER,
        )
        signature = signature[:65]
    else:
        digest = bytes.fromhex(signed.order_id[2:])
    assert Account._recover_hash(digest, signature=signature) == wallet.address


@settings(max_examples=100, deadline=None)
@given(key=private_keys, digest=st.binary(min_size=32, max_size=32))
def test_sign_digest_equals_eth_account(key: str, digest: bytes) -> None:
    wallet = Wallet.from_private_key(key)
    ours = wallet.sign_digest(digest)
    assert ours == bytes(Account.unsafe_sign_hash(digest, key).signature)
    assert recover_address(digest, ours) == wallet.address
    # v given as a recovery id (0/1) is accepted too.
    assert recover_address(digest, ours[:64] + bytes((ours[64] - 27,))) == wallet.address


# --- tampering ----------------------------------------------------------------------------------

V2_FIELD_CHANGES: dict[str, Any] = {
    "salt": 987654322,
    "maker": "0x" + "12" * 20,
    "signer": "0x" + "13" * 20,
    "tokenId": str(2**255 + 12346),
    "makerAmount": "5200001",
    "takerAmount": "9999999",
    "side": "SELL",
    "timestamp": "1713398400001",
    "metadata": "0x" + "03" * 32,
    "builder": "0x" + "04" * 32,
}
V1_FIELD_CHANGES: dict[str, Any] = {
    "salt": 987654322,
    "maker": "0x" + "12" * 20,
    "signer": "0x" + "13" * 20,
    "taker": "0x" + "14" * 20,
    "tokenId": "1",
    "makerAmount": "5200001",
    "takerAmount": "9999999",
    "expiration": "0",
    "nonce": "4",
    "feeRateBps": "0",
    "side": "SELL",
}


def _changes_for(profile: Profile) -> list[tuple[str, Any]]:
    return sorted((V1_FIELD_CHANGES if profile is Profile.V1 else V2_FIELD_CHANGES).items())


@pytest.mark.parametrize("profile,sig_type", COMBOS)
def test_every_signed_field_is_covered(profile: Profile, sig_type: SignatureType) -> None:
    wallet, signed = _signed("0x" + "aa" * 32, profile, sig_type)
    for field, value in _changes_for(profile):
        tampered = {**signed.to_wire(), field: value}
        try:
            recovered, order_id = _recover(tampered, profile)
        except ValueError:
            continue  # refused outright (e.g. a type-3 envelope no longer matching): fine
        assert recovered != wallet.address, field
        assert order_id != signed.order_id, field


@pytest.mark.parametrize("profile,sig_type", COMBOS)
def test_signature_type_is_covered(profile: Profile, sig_type: SignatureType) -> None:
    wallet, signed = _signed("0x" + "ab" * 32, profile, sig_type)
    for other in (0, 1, 2):
        if other == sig_type:
            continue
        try:
            recovered, _ = _recover({**signed.to_wire(), "signatureType": other}, profile)
        except ValueError:
            continue
        assert recovered != wallet.address


def test_v2_expiration_is_not_signed() -> None:
    """V2/V3 send expiration unsigned (clob-v2-wire.md 2.4): it is not covered by the order id,
    so a venue must not rely on the signature for it."""
    wallet, signed = _signed("0x" + "ac" * 32, Profile.V2, SignatureType.EOA)
    assert _recover({**signed.to_wire(), "expiration": "0"}, Profile.V2) == (
        wallet.address, signed.order_id
    )


@pytest.mark.parametrize("profile,sig_type", COMBOS)
def test_wrong_domain_does_not_recover_the_signer(
    profile: Profile, sig_type: SignatureType
) -> None:
    wallet, signed = _signed("0x" + "ad" * 32, profile, sig_type)
    wire = signed.to_wire()
    others = [(80002, False)] + ([(137, True)] if profile is not Profile.V3 else [])
    for chain_id, neg_risk in others:
        try:
            recovered, _ = _recover(wire, profile, chain_id=chain_id, neg_risk=neg_risk)
        except ValueError:
            continue
        assert recovered != wallet.address
    for other in Profile:
        if other is profile or (other is Profile.V1 and sig_type is SignatureType.POLY_1271):
            continue
        try:
            recovered, _ = _recover(wire, other)
        except ValueError:
            continue
        assert recovered != wallet.address


def _flip(signature: str, index: int) -> str:
    raw = bytearray(bytes.fromhex(signature[2:]))
    raw[index] ^= 0x01
    return "0x" + raw.hex()


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_tampered_plain_signature(index: int) -> None:
    wallet, signed = _signed("0x" + "ae" * 32, Profile.V2, SignatureType.EOA)
    wire = {**signed.to_wire(), "signature": _flip(signed.signature, index)}
    try:
        recovered, _ = _recover(wire, Profile.V2)
    except ValueError:
        return
    assert recovered != wallet.address


def test_high_s_twin_and_bad_v_are_refused() -> None:
    _, signed = _signed("0x" + "af" * 32, Profile.V2, SignatureType.EOA)
    raw = bytes.fromhex(signed.signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    twin = raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - raw[64],))
    with pytest.raises(ValueError, match="lower half"):
        _recover({**signed.to_wire(), "signature": "0x" + twin.hex()}, Profile.V2)
    with pytest.raises(ValueError, match="v must be 27 or 28"):
        _recover({**signed.to_wire(), "signature": "0x" + raw[:64].hex() + "1d"}, Profile.V2)
    with pytest.raises(ValueError, match="65 bytes"):
        _recover({**signed.to_wire(), "signature": signed.signature[:-2]}, Profile.V2)


# --- the type-3 envelope ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deposit_order() -> tuple[Wallet, SignedOrder]:
    return _signed("0x" + "b0" * 32, Profile.V2, SignatureType.POLY_1271)


def _envelope_with(signed: SignedOrder, start: int, replacement: bytes) -> dict[str, Any]:
    raw = bytes.fromhex(signed.signature[2:])
    raw = raw[:start] + replacement + raw[start + len(replacement):]
    return {**signed.to_wire(), "signature": "0x" + raw.hex()}


def test_envelope_for_another_domain_is_refused(deposit_order: tuple[Wallet, SignedOrder]) -> None:
    _, signed = deposit_order
    wire = _envelope_with(signed, 65, domain_separator(137, Profile.V2, True))
    with pytest.raises(ValueError, match="different exchange domain"):
        _recover(wire, Profile.V2)
    # The same envelope checked against the neg-risk domain fails the other way round.
    with pytest.raises(ValueError, match="different exchange domain"):
        _recover(signed.to_wire(), Profile.V2, neg_risk=True)


def test_envelope_for_other_contents_is_refused(deposit_order: tuple[Wallet, SignedOrder]) -> None:
    _, signed = deposit_order
    with pytest.raises(ValueError, match="does not commit to this order"):
        _recover(_envelope_with(signed, 97, b"\x00" * 32), Profile.V2)
    # An envelope taken from another order does not transfer to this one.
    other = sign_order(
        Wallet.from_private_key("0x" + "b0" * 32, signature_type=3, funder=FUNDER),
        dataclasses.replace(signed.order, maker_amount=1),
        chain_id=137, profile=Profile.V2, neg_risk=False,
    )
    with pytest.raises(ValueError, match="does not commit to this order"):
        _recover({**signed.to_wire(), "signature": other.signature}, Profile.V2)


def test_envelope_with_other_type_string_is_refused(
    deposit_order: tuple[Wallet, SignedOrder],
) -> None:
    _, signed = deposit_order
    with pytest.raises(ValueError, match="unexpected contents type string"):
        _recover(_envelope_with(signed, 129, b"X"), Profile.V2)


@pytest.mark.parametrize("cut", [1, 2, 100, 250, 316])
def test_truncated_envelope_is_refused(
    deposit_order: tuple[Wallet, SignedOrder], cut: int
) -> None:
    _, signed = deposit_order
    wire = {**signed.to_wire(), "signature": signed.signature[: 2 + 2 * (317 - cut)]}
    with pytest.raises(ValueError, match="POLY_1271"):
        _recover(wire, Profile.V2)


def test_envelope_inner_signature_tampered(deposit_order: tuple[Wallet, SignedOrder]) -> None:
    wallet, signed = deposit_order
    for index in (0, 5, 40, 63):
        try:
            recovered, _ = _recover(
                {**signed.to_wire(), "signature": _flip(signed.signature, index)}, Profile.V2
            )
        except ValueError:
            continue  # not a valid curve point: refused
        assert recovered != wallet.address


def test_envelope_requires_maker_equal_signer(deposit_order: tuple[Wallet, SignedOrder]) -> None:
    _, signed = deposit_order
    with pytest.raises(ValueError, match="maker == signer"):
        _recover({**signed.to_wire(), "maker": "0x" + "99" * 20}, Profile.V2)


def test_v1_type_3_is_refused(deposit_order: tuple[Wallet, SignedOrder]) -> None:
    _, signed = deposit_order
    v1_wire = {
        **{k: v for k, v in signed.to_wire().items() if k not in ("timestamp", "metadata",
                                                                  "builder")},
        "taker": eip712.ZERO_ADDRESS, "nonce": "0", "feeRateBps": "0",
    }
    with pytest.raises(ValueError, match="POLY_1271"):
        _recover(v1_wire, Profile.V1)


# --- malformed input: a clear ValueError, never a crash -----------------------------------------

MALFORMED = [
    ("not a dict", "must be a JSON object"),
    ({}, "side"),
    ({"side": "buy"}, "side"),
]


@pytest.mark.parametrize("wire,message", MALFORMED)
def test_malformed_shapes(wire: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _recover(wire, Profile.V2)


@pytest.mark.parametrize(
    "field,value",
    [
        ("salt", "123"),  # must be a JSON number
        ("salt", -1),
        ("salt", True),
        ("makerAmount", 5200000),  # must be a decimal string
        ("makerAmount", "1e6"),
        ("tokenId", "0x10"),
        ("tokenId", str(2**256)),
        ("maker", "0x1234"),
        ("maker", None),
        ("metadata", "0x00"),
        ("signatureType", 7),
        ("signatureType", "0"),
        ("signature", "abcd"),
        ("signature", "0xzz"),
        ("signature", None),
        ("timestamp", None),
    ],
)
def test_malformed_fields(field: str, value: Any) -> None:
    _, signed = _signed("0x" + "b1" * 32, Profile.V2, SignatureType.EOA)
    with pytest.raises(ValueError):
        _recover({**signed.to_wire(), field: value}, Profile.V2)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=80)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(key=private_keys, combo=st.sampled_from(COMBOS),
       edits=st.dictionaries(st.sampled_from(sorted(V1_FIELD_CHANGES) + [
           "timestamp", "metadata", "builder", "signature", "signatureType"]), json_values,
           max_size=3),
       drops=st.sets(st.sampled_from(["salt", "maker", "side", "signature", "tokenId"])))
def test_fuzzed_orders_only_raise_value_error(
    key: str, combo: tuple[Profile, SignatureType], edits: dict[str, Any], drops: set[str]
) -> None:
    profile, sig_type = combo
    wallet, signed = _signed(key, profile, sig_type)
    wire = {k: v for k, v in {**signed.to_wire(), **edits}.items() if k not in drops}
    try:
        recovered, order_id = _recover(wire, profile)
    except ValueError:
        return
    # Whatever is accepted is either still the very order that was signed, or its signature
    # recovers somebody else.
    assert recovered != wallet.address or order_id == signed.order_id
