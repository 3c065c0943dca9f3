"""OrderBuilder: (token, side, price, size) in Decimal -> a signed order ready to post.

It joins the pieces: the price check and the exact amounts (`amounts`), the wallet's maker and
signer (`signing.Wallet`), the profile's fields (`profiles`), a fresh salt and a millisecond
timestamp, and the signature (`signing.sign_order`). The clock and the salt source are
constructor arguments so tests (and replays) are deterministic.

Salts stay below 2**53 because the exchange backend parses the JSON number as an IEEE double.
V2/V3 orders do not sign `expiration` (it travels in the body); V1 orders sign it, plus nonce
and fee rate. Fields a profile does not have are refused rather than dropped silently.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from decimal import Decimal

from reconciler.clob.amounts import limit_amounts, market_amounts
from reconciler.clob.eip712 import ZERO32
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import SignedOrder, UnsignedOrder, Wallet, sign_order
from reconciler.model import Side

MAX_SALT = 2**53 - 1


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _random_salt() -> int:
    return secrets.randbits(53)


class OrderBuilder:
    def __init__(
        self,
        wallet: Wallet,
        *,
        chain_id: int,
        profile: Profile = Profile.V2,
        clock_ms: Callable[[], int] = _now_ms,
        salt_source: Callable[[], int] = _random_salt,
    ) -> None:
        self.wallet = wallet
        self.chain_id = chain_id
        self.profile = Profile(profile)
        self._clock_ms = clock_ms
        self._salt_source = salt_source

    def __repr__(self) -> str:
        return f"OrderBuilder({self.wallet!r}, chain_id={self.chain_id}, profile={self.profile})"

    def build_limit(
        self,
        token_id: int | str,
        side: Side,
        price: Decimal,
        size: Decimal,
        tick_size: Decimal,
        neg_risk: bool,
        *,
        expiration: int = 0,
        salt: int | None = None,
        timestamp_ms: int | None = None,
        fee_rate_bps: int = 0,
        nonce: int = 0,
        metadata: str = ZERO32,
        builder: str = ZERO32,
        profile: Profile | None = None,
    ) -> SignedOrder:
        """A signed GTC/GTD order for `size` shares at `price` (on the tick grid). `profile`
        overrides the builder's for this order: the protocol is chosen per market
        (`MarketInfo.order_profile`), so one builder signs for both kinds of market."""
        side = Side(side)
        maker_amount, taker_amount = limit_amounts(side, price, size, tick_size)
        return self._sign(
            token_id=token_id, side=side, maker_amount=maker_amount, taker_amount=taker_amount,
            neg_risk=neg_risk, expiration=expiration, salt=salt, timestamp_ms=timestamp_ms,
            fee_rate_bps=fee_rate_bps, nonce=nonce, metadata=metadata, builder=builder,
            profile=self.profile if profile is None else Profile(profile),
        )

    def build_market(
        self,
        token_id: int | str,
        side: Side,
        amount: Decimal,
        price: Decimal,
        tick_size: Decimal,
        neg_risk: bool,
        *,
        salt: int | None = None,
        timestamp_ms: int | None = None,
        fee_rate_bps: int = 0,
        nonce: int = 0,
        metadata: str = ZERO32,
        builder: str = ZERO32,
        profile: Profile | None = None,
    ) -> SignedOrder:
        """A signed FOK/FAK order: BUY spends `amount` pUSD, SELL sells `amount` shares, at
        worst `price` (see `amounts.market_price_from_book`). Market orders never expire."""
        side = Side(side)
        maker_amount, taker_amount = market_amounts(side, amount, price, tick_size)
        return self._sign(
            token_id=token_id, side=side, maker_amount=maker_amount, taker_amount=taker_amount,
            neg_risk=neg_risk, expiration=0, salt=salt, timestamp_ms=timestamp_ms,
            fee_rate_bps=fee_rate_bps, nonce=nonce, metadata=metadata, builder=builder,
            profile=self.profile if profile is None else Profile(profile),
        )

    @staticmethod
    def _check_profile_fields(
        profile: Profile, *, fee_rate_bps: int, nonce: int, metadata: str, builder: str
    ) -> None:
        if profile is Profile.V1:
            if metadata != ZERO32 or builder != ZERO32:
                raise ValueError("metadata and builder exist only in V2/V3 orders, not V1")
        elif fee_rate_bps or nonce:
            raise ValueError(
                "fee_rate_bps and nonce exist only in V1 orders; V2/V3 orders carry no fee "
                "(it is set at match time) and no nonce"
            )

    def _sign(
        self,
        *,
        token_id: int | str,
        side: Side,
        maker_amount: int,
        taker_amount: int,
        neg_risk: bool,
        expiration: int,
        salt: int | None,
        timestamp_ms: int | None,
        fee_rate_bps: int,
        nonce: int,
        metadata: str,
        builder: str,
        profile: Profile,
    ) -> SignedOrder:
        self._check_profile_fields(
            profile, fee_rate_bps=fee_rate_bps, nonce=nonce, metadata=metadata, builder=builder
        )
        salt = self._salt_source() if salt is None else salt
        if not 0 <= salt <= MAX_SALT:
            raise ValueError(f"salt must be in [0, 2**53 - 1] (a JSON-safe integer), got {salt}")
        if expiration < 0:
            raise ValueError(f"expiration must be unix seconds >= 0 (0 = none), got {expiration}")
        order = UnsignedOrder(
            salt=salt,
            maker=self.wallet.maker,
            signer=self.wallet.order_signer,
            token_id=token_id,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side=side,
            signature_type=self.wallet.signature_type,
            timestamp_ms=0 if profile is Profile.V1 else (
                self._clock_ms() if timestamp_ms is None else timestamp_ms
            ),
            metadata=metadata,
            builder=builder,
            expiration=expiration,
            nonce=nonce,
            fee_rate_bps=fee_rate_bps,
        )
        return sign_order(
            self.wallet, order, chain_id=self.chain_id, profile=profile, neg_risk=neg_risk
        )
