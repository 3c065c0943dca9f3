"""Protocol profiles: which exchange contract and EIP-712 domain an order is signed for.

An order's signature binds it to one EIP-712 domain: ("Polymarket CTF Exchange", version, chain,
verifying contract). Three profiles exist:

* ``V1`` - the legacy CTF Exchange (domain "1", 12-field struct with taker/nonce/fee). Dead on
  production since the CLOB V2 cutover (2026-04-28); kept for V1-compatible venues and tests.
* ``V2`` - CTFExchangeV2 (domain "2", 11-field struct). The production path.
* ``V3`` - ExchangeV3 (domain "3", same struct as V2) for Protocol-V2 markets, whose asset ids are
  position ids. It has a single contract: no neg-risk variant, so ``neg_risk`` is ignored for it
  (the official SDK does the same).

Contract addresses per chain come from the official SDK's config (py-clob-client-v2 1.2.1) and
clob-v2-wire.md 2.5. `register_contracts` lets a test venue (e.g. the paper exchange on another
chain id) add or override a chain, and `configure_exchange_v3` sets one chain's ExchangeV3;
the cached domain separators are dropped when either does.

The Amoy (80002) ExchangeV3 address is unknown: the value the SDKs carried (`0x9fE6e614...`) was
declared wrong by py-clob-client-v2 1.2.2, whose corrected value no source read prints (2.5). So
it is not configured here, and signing an Amoy V3 order raises until `configure_exchange_v3`
is given the right address. The Neg Risk Adapter is the current one, `0xadA20056...` (2.5);
`0xd91E80...` is kept only as the deprecated CLOB v1 adapter.

Which profile an order uses is decided per market (`market_profile`): a Protocol-V2 market
(Gamma `version` "v2", asset = position id) signs for ExchangeV3, every other market for
CTFExchangeV2; a client that speaks V1 signs V1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from reconciler.clob.eip712 import exchange_domain_separator, to_checksum_address


class Profile(StrEnum):
    V1 = "v1"
    V2 = "v2"
    V3 = "v3"

    @property
    def domain_version(self) -> str:
        return {"v1": "1", "v2": "2", "v3": "3"}[self.value]

    @property
    def is_v1(self) -> bool:
        return self is Profile.V1


@dataclass(frozen=True)
class ExchangeContracts:
    """The exchange contracts of one chain (checksummed on construction)."""

    chain_id: int
    exchange_v1: str
    neg_risk_exchange_v1: str
    exchange_v2: str
    neg_risk_exchange_v2: str
    exchange_v3: str | None  # None: not known for this chain (Amoy); configure it to sign V3
    neg_risk_adapter: str | None = None  # the current (CLOB v2, pUSD) Neg Risk Adapter
    neg_risk_adapter_v1: str | None = None  # the CLOB v1 adapter, deprecated (2.5)

    def __post_init__(self) -> None:
        # Checksum once here so every later comparison and wire value is canonical.
        for name in (
            "exchange_v1",
            "neg_risk_exchange_v1",
            "exchange_v2",
            "neg_risk_exchange_v2",
            "exchange_v3",
            "neg_risk_adapter",
            "neg_risk_adapter_v1",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_checksum_address(value))

    def exchange(self, profile: Profile, neg_risk: bool) -> str:
        if profile is Profile.V3:
            if self.exchange_v3 is None:
                raise ValueError(
                    f"the ExchangeV3 address of chain {self.chain_id} is not known (the one the "
                    "SDKs published for Amoy was wrong); configure it with "
                    "configure_exchange_v3(chain_id, address) before signing a V3 order"
                )
            return self.exchange_v3
        if profile is Profile.V2:
            return self.neg_risk_exchange_v2 if neg_risk else self.exchange_v2
        return self.neg_risk_exchange_v1 if neg_risk else self.exchange_v1


_CONTRACTS: dict[int, ExchangeContracts] = {
    137: ExchangeContracts(
        chain_id=137,
        exchange_v1="0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E",
        neg_risk_exchange_v1="0xC5d563A36AE78145C45a50134d48A1215220f80a",
        exchange_v2="0xE111180000d2663C0091e4f400237545B87B996B",
        neg_risk_exchange_v2="0xe2222d279d744050d28e00520010520000310F59",
        exchange_v3="0xe3333700cA9d93003F00f0F71f8515005F6c00Aa",
        neg_risk_adapter="0xadA2005600Dec949baf300f4C6120000bDB6eAab",
        neg_risk_adapter_v1="0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
    ),
    # Amoy: the V1 neg-risk address follows py-clob-client-v2's config (as the TS client);
    # py-clob-client 0.34 used 0xd91E80cF... instead (clob-v1-wire.md 4.1). Override with
    # register_contracts if a venue uses the other.
    80002: ExchangeContracts(
        chain_id=80002,
        exchange_v1="0xdFE02Eb6733538f8Ea35D585af8DE5958AD99E40",
        neg_risk_exchange_v1="0xC5d563A36AE78145C45a50134d48A1215220f80a",
        exchange_v2="0xE111180000d2663C0091e4f400237545B87B996B",
        neg_risk_exchange_v2="0xe2222d279d744050d28e00520010520000310F59",
        exchange_v3=None,  # unknown: see the module docstring
    ),
}


def contracts_for(chain_id: int) -> ExchangeContracts:
    """The exchange contracts for `chain_id`; ValueError for a chain we know nothing about."""
    try:
        return _CONTRACTS[chain_id]
    except KeyError:
        known = ", ".join(str(c) for c in sorted(_CONTRACTS))
        raise ValueError(
            f"unknown chain id {chain_id}: no exchange contracts are configured for it "
            f"(known: {known}); register them with register_contracts(ExchangeContracts(...))"
        ) from None


def register_contracts(contracts: ExchangeContracts) -> None:
    """Add or replace the contracts of one chain (for test venues)."""
    _CONTRACTS[contracts.chain_id] = contracts
    domain_separator.cache_clear()


def configure_exchange_v3(chain_id: int, address: str) -> None:
    """Set the ExchangeV3 address of a known chain (e.g. Amoy, whose address is unknown)."""
    register_contracts(replace(contracts_for(chain_id), exchange_v3=address))


#: Protocol-V2 position ids: bits 40-103 are zero and the top byte is a module id (1-3).
_V2_RESERVED_BITS = ((1 << 64) - 1) << 40
_V2_MODULES = frozenset({1, 2, 3})


def is_position_id(asset_id: int | str) -> bool:
    """The unified SDK's test (2.4): a Protocol-V2 position id, not a CTF token id."""
    try:
        value = int(asset_id)
    except (TypeError, ValueError):
        return False
    if not 0 <= value < 1 << 256:
        return False
    return (value & _V2_RESERVED_BITS) == 0 and (value >> 248) in _V2_MODULES


#: Gamma's market `version` -> the profile its orders are signed for (2.4: the names differ).
PROFILE_OF_MARKET_VERSION = {"v1": Profile.V2, "v2": Profile.V3}


def market_profile(
    asset_id: int | str, *, market_version: str | None, base: Profile = Profile.V2
) -> Profile:
    """The profile an order for this asset is signed for.

    `market_version` (Gamma's "v1"/"v2") is the authority; the id test cross-checks it, and a
    disagreement is refused. Without a version the id test decides (as the unified SDK does).
    A client speaking V1 (`base`) signs V1 whatever the market.
    """
    if base is Profile.V1:
        return Profile.V1
    by_id = Profile.V3 if is_position_id(asset_id) else Profile.V2
    if market_version is None:
        return by_id
    chosen = PROFILE_OF_MARKET_VERSION.get(market_version.strip().lower())
    if chosen is None:
        raise ValueError(f"unknown market version {market_version!r} (expected v1 or v2)")
    if chosen is not by_id:
        raise ValueError(
            f"market version {market_version!r} says {chosen.value} but asset {asset_id} "
            f"looks like a {'position' if by_id is Profile.V3 else 'CTF token'} id; refusing"
        )
    return chosen


def exchange_address(chain_id: int, profile: Profile, neg_risk: bool) -> str:
    """The verifying contract (checksummed) an order for this chain/profile/market is signed for."""
    return contracts_for(chain_id).exchange(Profile(profile), neg_risk)


@lru_cache(maxsize=64)
def domain_separator(chain_id: int, profile: Profile, neg_risk: bool) -> bytes:
    """EIP-712 domain separator of the exchange (cached: it is the same for every order)."""
    profile = Profile(profile)
    return exchange_domain_separator(
        version=profile.domain_version,
        chain_id=chain_id,
        verifying_contract=exchange_address(chain_id, profile, neg_risk),
    )
