"""Golden vectors from /work/shared/reference/clob-v1-wire.md (11) and clob-v2-wire.md (4).

The key 0x11..11 is the public throwaway key of the reference vectors (not a wallet).
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from reconciler.clob import eip712, profiles
from reconciler.clob.amounts import InvalidOrderError
from reconciler.clob.auth import hmac_signature, l1_headers, verify_l1
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.eip712 import to_checksum_address
from reconciler.clob.profiles import (
    ExchangeContracts,
    Profile,
    contracts_for,
    domain_separator,
    exchange_address,
    register_contracts,
)
from reconciler.clob.signing import (
    SignatureType,
    UnsignedOrder,
    Wallet,
    recover_order_signer,
    sign_order,
)
from reconciler.model import Side

KEY = "0x" + "11" * 32
ADDRESS = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
TOKEN = 71321045679252212594626385532706912750332728571942532289631379312455583992563
DEPOSIT_WALLET = "0x5b9c05CEF25B76C572ce1CaaFC73a9981c3f4d2A"


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.from_private_key(KEY)


def test_wallet_address(wallet: Wallet) -> None:
    assert wallet.address == ADDRESS
    assert wallet.maker == ADDRESS and wallet.order_signer == ADDRESS


# --- V1 (clob-v1-wire.md 11.3) ------------------------------------------------------------------

V1_CASES = [
    # name, side, maker, taker, neg_risk, expiration, nonce, signature, order hash (or None)
    (
        "O1 limit BUY",
        Side.BUY, 52000000, 100000000, False, 0, 0,
        "0x2bd37db125fc3e733bfb2fefd551b83bffcc32be79b210b3521bb60f0ba20bc02dc87225d48c0f5366cad8479131d3cdeddec4fea2f2aa237eac47c6b129687d1c",
        "0xa6a99d4dd9e024c78dc5a4406be29f06122f80e61de8609534171a5066f35dbd",
    ),
    (
        "O2 GTD SELL neg-risk",
        Side.SELL, 33330000, 15231810, True, 1767225600, 7,
        "0x8505642ea27b91e7701e30bf6ae1ced43a3f9065c7b48085813b78a2346934617417cc2e4fa0e5902d22808754df30662cea87d52ff9a2027ed4ca61b4fbd1141c",
        "0x6ed70862f30b98e7956b5d08ab4bcfed736647fd8d78251c1cc5d3552f4581f6",
    ),
    (
        "O3 market BUY",
        Side.BUY, 25000000, 47169800, False, 0, 0,
        "0x6dc8db618dc1d64d09a09359b2afa7673614b63ac7220010b981acd328431adc30ba8e6cbaa92d05331fd7adf588eb8aec9233184ff43c035af1e881d01d47231c",
        None,
    ),
    (
        "O4 market SELL",
        Side.SELL, 10000000, 4800000, False, 0, 0,
        "0x6387fc691f75fb5283122e67d5a9622bb448df283e8a9f2606bd718c763753782e164288691d862d9b7b8846f9bdee19fe1b9775952478430cf569063bc38edb1b",
        None,
    ),
]


def _v1_order(side: Side, maker: int, taker: int, expiration: int, nonce: int) -> UnsignedOrder:
    return UnsignedOrder(
        salt=123456789,
        maker=ADDRESS,
        signer=ADDRESS,
        token_id=str(TOKEN),
        maker_amount=maker,
        taker_amount=taker,
        side=side,
        signature_type=SignatureType.EOA,
        expiration=expiration,
        nonce=nonce,
        fee_rate_bps=0,
    )


@pytest.mark.parametrize(
    "name,side,maker,taker,neg_risk,expiration,nonce,signature,order_hash", V1_CASES
)
def test_v1_vectors(
    wallet: Wallet,
    name: str,
    side: Side,
    maker: int,
    taker: int,
    neg_risk: bool,
    expiration: int,
    nonce: int,
    signature: str,
    order_hash: str | None,
) -> None:
    order = _v1_order(side, maker, taker, expiration, nonce)
    signed = sign_order(wallet, order, chain_id=137, profile=Profile.V1, neg_risk=neg_risk)
    assert signed.signature == signature, name
    if order_hash is not None:
        assert signed.order_id == order_hash
    recovered, order_id = recover_order_signer(
        signed.to_wire(), chain_id=137, profile=Profile.V1, neg_risk=neg_risk
    )
    assert (recovered, order_id) == (ADDRESS, signed.order_id)


B1 = (
    '{"order":{"salt":123456789,"maker":"0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A",'
    '"signer":"0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A",'
    '"taker":"0x0000000000000000000000000000000000000000",'
    '"tokenId":"71321045679252212594626385532706912750332728571942532289631379312455583992563",'
    '"makerAmount":"52000000","takerAmount":"100000000","expiration":"0","nonce":"0",'
    '"feeRateBps":"0","side":"BUY","signatureType":0,'
    '"signature":"0x2bd37db125fc3e733bfb2fefd551b83bffcc32be79b210b3521bb60f0ba20bc02dc87225d48c0f5366cad8479131d3cdeddec4fea2f2aa237eac47c6b129687d1c"},'
    '"owner":"00000000-0000-0000-0000-000000000000","orderType":"GTC","postOnly":false}'
)


def test_v1_wire_body_is_byte_identical_to_b1(wallet: Wallet) -> None:
    signed = sign_order(
        wallet, _v1_order(Side.BUY, 52000000, 100000000, 0, 0),
        chain_id=137, profile=Profile.V1, neg_risk=False,
    )
    body = {
        "order": signed.to_wire(),
        "owner": "00000000-0000-0000-0000-000000000000",
        "orderType": "GTC",
        "postOnly": False,
    }
    assert json.dumps(body, separators=(",", ":")) == B1


# --- V2 / V3 / POLY_1271 (clob-v2-wire.md 4) ----------------------------------------------------


def _v2_order(maker: str = ADDRESS, sig_type: SignatureType = SignatureType.EOA) -> UnsignedOrder:
    return UnsignedOrder(
        salt=12345,
        maker=maker,
        signer=maker,
        token_id=123,
        maker_amount=1000000,
        taker_amount=2000000,
        side=Side.BUY,
        signature_type=sig_type,
        timestamp_ms=1713398400000,
    )


def test_v2_vector(wallet: Wallet) -> None:
    signed = sign_order(wallet, _v2_order(), chain_id=137, profile=Profile.V2, neg_risk=False)
    assert signed.signature == (
        "0x8558fdc7fc5ee43e96c5174cb762a313ded22645956ea33e6d6ef0fc43c65a0e259315512dea3add62d3"
        "fcd7e8249b3a5c56e424fde4726e18407253f5d9df521c"
    )
    assert signed.order_id == "0x5b11136a83cf58cebbec1bda8d5e1330787d6ce1525c6e39075b852e5a87ca40"


def test_v3_vector(wallet: Wallet) -> None:
    signed = sign_order(wallet, _v2_order(), chain_id=137, profile=Profile.V3, neg_risk=False)
    assert signed.signature == (
        "0x055611bbac7f34b1e44ccc855de4f4b8247a198048b9bd6afd161f9b6f8ab024185bf81b30cef61552e5"
        "1bc40cae4054312aed173605750e19cd671fb3febe2d1c"
    )
    assert signed.order_id == "0x15c9b4889b0c457030fa182db6ae06add6de1c8eb84f59911888c42df7861899"


def test_v2_poly_1271_vector() -> None:
    wallet = Wallet.from_private_key(
        KEY, signature_type=SignatureType.POLY_1271, funder=DEPOSIT_WALLET
    )
    order = _v2_order(maker=DEPOSIT_WALLET, sig_type=SignatureType.POLY_1271)
    signed = sign_order(wallet, order, chain_id=137, profile=Profile.V2, neg_risk=False)
    raw = bytes.fromhex(signed.signature[2:])
    assert len(raw) == 317 == eip712.ENVELOPE_LEN_V2
    assert "0x" + raw[:65].hex() == (
        "0x1bcf580515e29123f7050de6df5751e97d30c61a8c82fb0c702b9fe5927d730d4c035f9d6f781c24d750"
        "59dd7e1532b948e592433eac5d35530cc435fb1936c91c"
    )
    # The envelope's tail: exchange domain separator, the order's struct hash, the type string.
    assert raw[65:97] == domain_separator(137, Profile.V2, False)
    assert raw[97:129] == eip712.order_struct_hash(order, Profile.V2)
    assert raw[129:-2] == eip712.ORDER_TYPE_STRING_V2.encode()
    assert int.from_bytes(raw[-2:], "big") == len(eip712.ORDER_TYPE_STRING_V2)
    # The order id of a type-3 order is still the plain EIP-712 digest of the order.
    assert signed.order_id == "0x" + eip712.order_digest(
        order, domain_separator(137, Profile.V2, False)
    ).hex()


# --- domain separators and type hashes (clob-v1-wire.md 2.1, 4.1, 4.2) ---------------------------


@pytest.mark.parametrize(
    "chain_id,neg_risk,expected",
    [
        (137, False, "1a573e3617c78403b5b4b892827992f027b03d4eaf570048b8ee8cdd84d151be"),
        (137, True, "82cb6aa85babb812f4b521a12b10f0cbc68d2b44be7bc02c047004f544adb49f"),
        (80002, False, "44b180a7e548e2d916b5410176db13a07744966f9b6c93c4bccdabebbcdfca93"),
        # Amoy neg-risk: the address shared by py-clob-client-v2 and the TS client.
        (80002, True, "9fa10822e4b86fd1eed68ea1c2628e0ee9a6c523cb2570592768432cfdb09bf1"),
    ],
)
def test_v1_domain_separators(chain_id: int, neg_risk: bool, expected: str) -> None:
    assert domain_separator(chain_id, Profile.V1, neg_risk).hex() == expected


def test_type_hashes_and_clob_auth_domains() -> None:
    assert eip712.ORDER_TYPEHASH_V1.hex() == (
        "a852566c4e14d00869b6db0220888a9090a13eccdaea03713ff0a3d27bf9767c"
    )
    assert eip712.CLOB_AUTH_TYPEHASH.hex() == (
        "52578c5c725a28a84fedc8c22aa47947822942f35b4dc350db028e45320e035c"
    )
    assert eip712.clob_auth_domain_separator(137).hex() == (
        "cfc66be2a3b30464cb3b588324101f660c9a205fa76e8e5f83ee16a528e1c4cb"
    )
    assert eip712.clob_auth_domain_separator(80002).hex() == (
        "a1df8f4e3112eaee2448fbec9ab79f68278407e49d9cf52e3dd3d9692fcac9b6"
    )


# --- L1 (clob-v1-wire.md 11.1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,chain_id,timestamp,nonce,expected",
    [
        (KEY, 137, 1700000000, 0, "0x0f08c184141f23f61012ba15fef7303dff47a1da48c10ae8a6737eff59618f6e568b2868fedf252be3eb6e80f3a5f09bfdf609cd8f1c9725f9862742b33dc5fc1b"),
        (KEY, 80002, 1700000000, 0, "0xc13d536b3c1be873f03028017b077b07ed78a2e3c9adee256fbef84326f0fe764eb7e6568a47dd0dc06820a67988f9a7376ec6ead12ce03af435029e7e396ac41c"),
        (HARDHAT_KEY, 80002, 10000000, 23, "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"),
    ],
)
def test_l1_vectors(key: str, chain_id: int, timestamp: int, nonce: int, expected: str) -> None:
    wallet = Wallet.from_private_key(key)
    headers = l1_headers(wallet, chain_id=chain_id, timestamp=timestamp, nonce=nonce)
    assert headers == {
        "POLY_ADDRESS": wallet.address,
        "POLY_SIGNATURE": expected,
        "POLY_TIMESTAMP": str(timestamp),
        "POLY_NONCE": str(nonce),
    }
    assert verify_l1(headers, chain_id) == wallet.address


# --- L2 HMAC (clob-v1-wire.md 11.2) -------------------------------------------------------------

SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.mark.parametrize(
    "secret,timestamp,method,path,body,expected",
    [
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "1000000", "test-sign", "/orders",
         '{"hash": "0x123"}', "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="),
        (SECRET, 1700000000, "GET", "/data/orders", None,
         "NTt0e8XQzUuVTici5whIU-0NfgRXijqf0FarNw-ik2Q="),
        (SECRET, 1700000000, "POST", "/order", B1,
         "b88Yrl9iErvyfjrehZfXzmpGh8GeYZ6UBH79KhqrzIs="),
        (SECRET, 1700000000, "POST", "/order", B1.encode(),
         "b88Yrl9iErvyfjrehZfXzmpGh8GeYZ6UBH79KhqrzIs="),
        (SECRET, 1700000000, "DELETE", "/order",
         '{"orderID":"0xa6a99d4dd9e024c78dc5a4406be29f06122f80e61de8609534171a5066f35dbd"}',
         "80V06KcQSmR2JBX8KOLOMg46t-WkyJBqq2OnVdVgeYw="),
    ],
)
def test_hmac_vectors(
    secret: str, timestamp: int | str, method: str, path: str, body: str | bytes | None,
    expected: str,
) -> None:
    assert hmac_signature(secret, timestamp, method, path, body) == expected


# --- the same vectors through OrderBuilder (amounts + signing) ----------------------------------


@pytest.mark.parametrize(
    "kind,side,price,size,tick,neg_risk,expiration,nonce,signature",
    [
        ("limit", "BUY", "0.52", "100", "0.01", False, 0, 0, V1_CASES[0][7]),
        ("limit", "SELL", "0.457", "33.333", "0.001", True, 1767225600, 7, V1_CASES[1][7]),
        ("market", "BUY", "0.53", "25", "0.01", False, 0, 0, V1_CASES[2][7]),
        ("market", "SELL", "0.48", "10", "0.01", False, 0, 0, V1_CASES[3][7]),
    ],
)
def test_v1_vectors_through_the_builder(
    wallet: Wallet, kind: str, side: str, price: str, size: str, tick: str, neg_risk: bool,
    expiration: int, nonce: int, signature: str,
) -> None:
    builder = OrderBuilder(wallet, chain_id=137, profile=Profile.V1, salt_source=lambda: 123456789)
    if kind == "limit":
        signed = builder.build_limit(
            str(TOKEN), Side(side), Decimal(price), Decimal(size), Decimal(tick), neg_risk,
            expiration=expiration, nonce=nonce,
        )
    else:
        signed = builder.build_market(
            str(TOKEN), Side(side), Decimal(size), Decimal(price), Decimal(tick), neg_risk
        )
    assert signed.signature == signature


def test_v2_vector_through_the_builder(wallet: Wallet) -> None:
    # BUY 2 shares @ 0.5 gives maker 1000000 / taker 2000000, the amounts of the V2 vector.
    builder = OrderBuilder(
        wallet, chain_id=137, clock_ms=lambda: 1713398400000, salt_source=lambda: 12345
    )
    signed = builder.build_limit(123, Side.BUY, Decimal("0.5"), Decimal(2), Decimal("0.1"), False)
    assert signed.order_id == "0x5b11136a83cf58cebbec1bda8d5e1330787d6ce1525c6e39075b852e5a87ca40"
    assert signed.to_wire()["timestamp"] == "1713398400000"


def test_builder_refusals(wallet: Wallet) -> None:
    v2 = OrderBuilder(wallet, chain_id=137, salt_source=lambda: 2**53)
    args = (1, Side.BUY, Decimal("0.5"), Decimal(10), Decimal("0.01"), False)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        v2.build_limit(*args)
    v2 = OrderBuilder(wallet, chain_id=137)
    with pytest.raises(InvalidOrderError, match="use 0.5 or 0.51"):
        v2.build_limit(1, Side.BUY, Decimal("0.505"), Decimal(10), Decimal("0.01"), False)
    with pytest.raises(ValueError, match="only in V1"):
        v2.build_limit(*args, fee_rate_bps=10)
    with pytest.raises(ValueError, match="only in V1"):
        v2.build_limit(*args, nonce=1)
    with pytest.raises(ValueError, match="expiration"):
        v2.build_limit(*args, expiration=-1)
    v1 = OrderBuilder(wallet, chain_id=137, profile=Profile.V1)
    with pytest.raises(ValueError, match="only in V2/V3"):
        v1.build_limit(*args, builder="0x" + "01" * 32)
    with pytest.raises(ValueError, match="unknown chain id 1"):
        OrderBuilder(wallet, chain_id=1).build_limit(*args)
    assert KEY[2:] not in repr(v2)


def test_sign_order_checks_the_order_belongs_to_the_wallet(wallet: Wallet) -> None:
    other = Wallet.from_private_key("0x" + "12" * 32)
    order = _v2_order()
    with pytest.raises(ValueError, match="not this wallet's signer"):
        sign_order(other, order, chain_id=137, profile=Profile.V2, neg_risk=False)
    proxy = Wallet.from_private_key(KEY, signature_type=1, funder=DEPOSIT_WALLET)
    with pytest.raises(ValueError, match="signature type"):
        sign_order(proxy, order, chain_id=137, profile=Profile.V2, neg_risk=False)


# --- profiles -----------------------------------------------------------------------------------


def test_exchange_addresses() -> None:
    assert exchange_address(137, Profile.V1, False) == "0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E"
    assert exchange_address(137, Profile.V1, True) == "0xC5d563A36AE78145C45a50134d48A1215220f80a"
    assert exchange_address(137, Profile.V2, False) == "0xE111180000d2663C0091e4f400237545B87B996B"
    assert exchange_address(137, Profile.V2, True) == "0xe2222d279d744050d28e00520010520000310F59"
    # ExchangeV3 has no neg-risk variant.
    assert exchange_address(137, Profile.V3, False) == exchange_address(137, Profile.V3, True) == (
        "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
    )
    # Amoy ExchangeV3: the published 0x9fE6e614... was declared wrong and the correction is not
    # known (clob-v2-wire.md 2.5), so it is unconfigured and signing for it is refused.
    with pytest.raises(ValueError, match="ExchangeV3 address of chain 80002 is not known"):
        exchange_address(80002, Profile.V3, False)
    assert contracts_for(137).neg_risk_adapter == "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
    assert contracts_for(137).neg_risk_adapter_v1 == "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
    assert Profile("v2") is Profile.V2 and Profile.V3.domain_version == "3"


def test_unknown_chain_and_registered_contracts() -> None:
    with pytest.raises(ValueError, match="unknown chain id 31337.*register_contracts"):
        exchange_address(31337, Profile.V2, False)
    local = ExchangeContracts(
        chain_id=31337,
        exchange_v1="0x" + "a1" * 20,
        neg_risk_exchange_v1="0x" + "a2" * 20,
        exchange_v2="0x" + "a3" * 20,
        neg_risk_exchange_v2="0x" + "a4" * 20,
        exchange_v3="0x" + "a5" * 20,
    )
    register_contracts(local)
    try:
        assert contracts_for(31337) == local
        assert exchange_address(31337, Profile.V2, True) == to_checksum_address("0x" + "a4" * 20)
        before = domain_separator(31337, Profile.V2, False)
        register_contracts(dataclasses.replace(local, exchange_v2="0x" + "b3" * 20))
        assert domain_separator(31337, Profile.V2, False) != before  # the cache was dropped
    finally:
        profiles._CONTRACTS.pop(31337, None)  # leave the registry as other tests expect it
        domain_separator.cache_clear()
