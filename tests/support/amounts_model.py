"""An independent model of the order amounts, and the official SDKs' values for the same
inputs, to compare ours with.

`model_amounts` computes maker/taker with Fractions (no Decimal context, no float);
`sdk_amounts` asks py-clob-client-v2 (or py-clob-client) for its values; and
`explain_sdk_difference` names the float artefact that makes an SDK value differ, after checking
that the artefact produces exactly that value (it fails otherwise). `priced_orders` draws
on-grid orders of every tick. Used by test_amounts.py and test_signing_interop.py.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import strategies as st
from py_clob_client.order_builder.builder import ROUNDING_CONFIG as SDK_V1_ROUNDING
from py_clob_client.order_builder.builder import OrderBuilder as SdkV1Builder
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG as SDK_ROUNDING
from py_clob_client_v2.order_builder.builder import OrderBuilder as SdkV2Builder

from reconciler.clob.amounts import ROUNDING

D = Decimal
SDK_V2 = SdkV2Builder(None)  # amount helpers only; no signer needed


class _NoKeySigner:
    def address(self) -> str:
        return "0x" + "00" * 20


SDK_V1 = SdkV1Builder(_NoKeySigner())  # type: ignore[arg-type]


# --- an independent model of the arithmetic (Fractions), used to explain differences -----------


def exact_floor(x: Decimal | Fraction, digits: int) -> Fraction:
    return Fraction(math.floor(Fraction(x) * 10**digits), 10**digits)


def float_floor(x: Decimal | Fraction, digits: int) -> Fraction:
    """What the SDK's `floor(x * 10**d) / 10**d` on a Python float yields."""
    return Fraction(math.floor(float(x) * (10**digits)), 10**digits)


def model_amounts(
    kind: str, side: str, price: Decimal, size: Decimal, tick: Decimal,
    *, size_floor=exact_floor, price_floor=None, sdk_digits=False,
) -> tuple[int, int]:
    """maker/taker in base units: shares (or pUSD for a market BUY) floored to 2 dp, notional
    floored to the tick's amount digits (a market BUY's shares to at most 4: the exchange's
    rule; `sdk_digits` keeps the tick's digits as the SDKs do). `size_floor`/`price_floor` swap
    in the SDK's float floors; price_floor=None keeps the price exact (limit orders, V1 market
    orders)."""
    cfg = ROUNDING[tick]
    p = Fraction(price) if price_floor is None else price_floor(price, cfg.price)
    given = size_floor(size, cfg.size)
    units = 10**6
    if kind == "market" and side == "BUY":
        digits = cfg.amount if sdk_digits else min(cfg.amount, 4)
        return int(given * units), int(exact_floor(given / p, digits) * units)
    notional = exact_floor(given * p, cfg.amount)
    if side == "BUY":
        return int(notional * units), int(given * units)
    return int(given * units), int(notional * units)


def sdk_amounts(
    kind: str, side: str, price: Decimal, size: Decimal, tick: Decimal, *, sdk: str = "v2"
) -> tuple[int, int]:
    """The official SDK's amounts for the same inputs (it takes floats)."""
    if sdk == "v2":
        cfg = SDK_ROUNDING[str(tick)]
        fn = SDK_V2.get_order_amounts if kind == "limit" else SDK_V2.get_market_order_amounts
    else:
        cfg = SDK_V1_ROUNDING[str(tick)]
        fn = SDK_V1.get_order_amounts if kind == "limit" else SDK_V1.get_market_order_amounts
    _, maker, taker = fn(side, float(size), float(price), cfg)
    return maker, taker


def explain_sdk_difference(
    kind: str, side: str, price: Decimal, size: Decimal, tick: Decimal,
    sdk_value: tuple[int, int], *, sdk: str = "v2",
) -> str:
    """Name the float artefact that makes the SDK's value differ from the exact one, after
    checking that the SDK's value is exactly what that artefact produces. Fails otherwise."""
    cfg = ROUNDING[tick]
    # V2 market orders floor the price (in float); V1 rounds it (exact for on-grid prices).
    price_floor = float_floor if (kind == "market" and sdk == "v2") else None
    modelled = model_amounts(
        kind, side, price, size, tick, size_floor=float_floor, price_floor=price_floor,
        sdk_digits=True,
    )
    reasons = []
    if model_amounts(kind, side, price, size, tick, sdk_digits=True) != model_amounts(
        kind, side, price, size, tick
    ):
        reasons.append("market BUY shares floored to 4 decimals (the exchange's rule)")
    if sdk_value != modelled:
        # At millions of units a float's spacing (ulp) exceeds the 10**-(amount+4) that the SDK's
        # snap step absorbs, so its product/quotient can land one unit of its last digit low or high.
        for got, want in zip(sdk_value, modelled, strict=True):
            if got != want:
                one_digit = 10 ** (6 - cfg.amount)  # one unit of the last amount digit
                assert abs(got - want) in (1, one_digit) and 2 * math.ulp(want / 10**6) > 10.0 ** -(
                    cfg.amount + 4
                ), f"SDK value {sdk_value} is not explained by float artefacts (model {modelled})"
        reasons.append("float noise beyond the snap at large magnitudes")
    if float_floor(size, cfg.size) != exact_floor(size, cfg.size):
        reasons.append("float floor of size/amount")
    if price_floor is not None and float_floor(price, cfg.price) != Fraction(price):
        reasons.append("float floor of market price")
    assert reasons, "SDK differs but no float artefact applies"
    return " + ".join(reasons)


TICKS = sorted(ROUNDING)


@st.composite
def priced_orders(draw: st.DrawFn) -> tuple[Decimal, Decimal, Decimal, str]:
    tick = draw(st.sampled_from(TICKS))
    steps = int(1 / tick)
    price = tick * draw(st.integers(min_value=1, max_value=steps - 1))
    digits = draw(st.sampled_from([0, 1, 2, 3, 4]))
    size = D(draw(st.integers(min_value=10 ** max(digits - 2, 0), max_value=10**5 * 10**digits)))
    size = size.scaleb(-digits)
    side = draw(st.sampled_from(["BUY", "SELL"]))
    return tick, price, size, side
