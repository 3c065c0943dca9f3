"""Review: a market BUY must satisfy the exchange's 4-decimal taker rule on every tick.

clob-v1-wire.md 5.4: "the market buy orders maker amount supports a max accuracy of 2 decimals,
taker amount a max of 4 decimals", independent of the tick. Before the fix our amounts (like the
SDK's) floored the shares to the tick's amount digits (5 or 6 on ticks finer than 0.01), so most
market BUYs on such markets were refused, by the paper exchange as by the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from paperclob import PaperConfig, PaperExchange
from paperclob.verify import amount_digits, check_precision
from reconciler.clob.amounts import ROUNDING, market_amounts
from reconciler.clob.client import ClobClient
from reconciler.clob.signing import Wallet
from reconciler.model import OrderType, Side

FINE_TOKEN = "777001"


@settings(max_examples=200, deadline=None)
@given(
    tick=st.sampled_from(sorted(ROUNDING)),
    ticks=st.integers(min_value=1, max_value=9999),
    cents=st.integers(min_value=1, max_value=10**7),
)
def test_market_buy_amounts_pass_the_exchange_precision_rule(
    tick: Decimal, ticks: int, cents: int
) -> None:
    price = tick * (ticks % (int(1 / tick) - 1) + 1)  # on the grid, within [tick, 1 - tick]
    maker, taker = market_amounts(Side.BUY, Decimal(cents).scaleb(-2), price, tick)
    assert maker % 10**4 == 0 and taker % 10**2 == 0  # 2 and 4 decimals
    check_precision(
        side=Side.BUY, is_market=True, maker=maker, taker=taker, digits=amount_digits(tick)
    )  # the paper exchange's copy of the rule: raises OrderRejected if refused


def test_reference_example_is_floored_to_four_decimals() -> None:
    # clob-v1-wire.md 5.3: BUY $9.98 @ 0.985 on tick 0.001; the SDK's 10131970 is refused.
    assert market_amounts(Side.BUY, Decimal("9.98"), Decimal("0.985"), Decimal("0.001")) == (
        9980000,
        10131900,
    )


@pytest.fixture
def paper() -> Iterator[PaperExchange]:
    exchange = PaperExchange(
        PaperConfig(seed=3, markets={FINE_TOKEN: {"tick_size": "0.001", "min_order_size": 5}})
    )
    exchange.start()
    try:
        yield exchange
    finally:
        exchange.stop()


def _client(url: str) -> ClobClient:
    wallet = Wallet.from_private_key("0x" + bytes(Account.create().key).hex())
    client = ClobClient(url, chain_id=137, wallet=wallet, timeout=5.0)
    client.creds = client.create_or_derive_api_key()
    return client


def test_market_buy_on_a_fine_tick_market_is_accepted_end_to_end(paper: PaperExchange) -> None:
    maker, taker = _client(paper.url), _client(paper.url)
    assert maker.create_and_post_order(FINE_TOKEN, Side.SELL, "0.985", "50").ok
    result = taker.create_and_post_market_order(
        FINE_TOKEN, Side.BUY, "9.98", order_type=OrderType.FOK
    )
    assert result.ok and result.status == "matched", result
