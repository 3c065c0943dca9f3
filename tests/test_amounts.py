"""Amounts: exact Decimal values, per-tick tables, the SDK's float artefacts by name, a property
test against the official SDKs that explains every difference instead of skipping it, and the
exchange's 4-decimal taker rule for market BUYs on every tick.

The independent model of the arithmetic and the SDKs' values are in tests/support/amounts_model.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperclob import PaperConfig, PaperExchange
from paperclob.verify import amount_digits, check_precision
from reconciler.clob.amounts import (
    ROUNDING,
    InvalidOrderError,
    NoMatchError,
    RoundConfig,
    check_price,
    limit_amounts,
    market_amounts,
    market_price_from_book,
)
from reconciler.model import TICK_SIZES, OrderType, Side
from tests.support.accounts import new_client
from tests.support.amounts_model import (
    SDK_ROUNDING,
    SDK_V1_ROUNDING,
    SDK_V2,
    TICKS,
    explain_sdk_difference,
    model_amounts,
    priced_orders,
    sdk_amounts,
)

D = Decimal


# --- tables -------------------------------------------------------------------------------------

LIMIT_TABLE = [
    # tick, side, price, size, maker, taker
    ("0.1", "BUY", "0.5", "10", 5000000, 10000000),
    ("0.1", "SELL", "0.9", "33.339", 33330000, 29997000),
    ("0.01", "BUY", "0.52", "100", 52000000, 100000000),
    ("0.01", "SELL", "0.52", "100", 100000000, 52000000),
    ("0.01", "BUY", "0.29", "3.43", 994700, 3430000),
    ("0.01", "BUY", "0.56", "21.047", 11782400, 21040000),
    ("0.001", "SELL", "0.457", "33.333", 33330000, 15231810),
    ("0.001", "BUY", "0.001", "0.01", 10, 10000),
    ("0.0001", "BUY", "0.9999", "12.34", 12338766, 12340000),
    ("0.0001", "SELL", "0.0001", "5", 5000000, 500),
    ("0.005", "BUY", "0.525", "10.01", 5255250, 10010000),
    ("0.005", "SELL", "0.995", "7.77", 7770000, 7731150),
    ("0.0025", "BUY", "0.0025", "3.33", 8325, 3330000),
    ("0.0025", "SELL", "0.4975", "19.69", 19690000, 9795775),
]

MARKET_TABLE = [
    # tick, side, amount, price, maker, taker
    ("0.01", "BUY", "25", "0.53", 25000000, 47169800),
    ("0.01", "SELL", "10", "0.48", 10000000, 4800000),
    ("0.1", "BUY", "10", "0.3", 10000000, 33333000),
    ("0.001", "BUY", "9.98", "0.985", 9980000, 10131900),  # the SDK's 10131970 is refused
    ("0.0001", "BUY", "1", "0.0003", 1000000, 3333333300),
    ("0.005", "BUY", "7", "0.035", 7000000, 200000000),
    ("0.0025", "SELL", "12.349", "0.1225", 12340000, 1511650),
    ("0.0025", "BUY", "12.34", "0.6075", 12340000, 20312700),
]


@pytest.mark.parametrize("tick,side,price,size,maker,taker", LIMIT_TABLE)
def test_limit_table(tick: str, side: str, price: str, size: str, maker: int, taker: int) -> None:
    assert limit_amounts(Side(side), D(price), D(size), D(tick)) == (maker, taker)
    assert model_amounts("limit", side, D(price), D(size), D(tick)) == (maker, taker)


@pytest.mark.parametrize("tick,side,amount,price,maker,taker", MARKET_TABLE)
def test_market_table(tick: str, side: str, amount: str, price: str, maker: int, taker: int) -> None:
    assert market_amounts(Side(side), D(amount), D(price), D(tick)) == (maker, taker)
    assert model_amounts("market", side, D(price), D(amount), D(tick)) == (maker, taker)


def test_rounding_table_matches_sdk_and_model() -> None:
    assert set(ROUNDING) == set(TICK_SIZES)
    assert ROUNDING[D("0.005")] == RoundConfig(price=3, size=2, amount=5)
    assert ROUNDING[D("0.0025")] == RoundConfig(price=4, size=2, amount=6)
    for tick, cfg in ROUNDING.items():
        sdk = SDK_ROUNDING[str(tick)]
        assert (cfg.price, cfg.size, cfg.amount) == (sdk.price, sdk.size, sdk.amount)


# --- the SDK's float artefacts, by name: we are right, and the SDK really sends the other value --

SDK_FLOAT_ARTEFACTS = [
    # name, kind, tick, side, price, size/amount, ours, SDK v2's value
    ("market BUY $2.03 @ 0.58: 2.03*100 = 202.999.., and V2 floors 0.58 to 0.57",
     "market", "0.01", "BUY", "0.58", "2.03", (2030000, 3500000), (2020000, 3543800)),
    ("limit BUY 2.03 shares: size floored to 2.02",
     "limit", "0.01", "BUY", "0.5", "2.03", (1015000, 2030000), (1010000, 2020000)),
    ("limit SELL 0.29 shares @ 0.1 (tick 0.1): 0.29*100 = 28.999..",
     "limit", "0.1", "SELL", "0.1", "0.29", (290000, 29000), (280000, 28000)),
    ("market SELL 84.16 @ 0.58: V2 market price floored to 0.57",
     "market", "0.01", "SELL", "0.58", "84.16", (84160000, 48812800), (84160000, 47971200)),
    ("market BUY $743.25 @ 0.1425 (tick 0.0025): price floored to 0.1424, off the grid",
     "market", "0.0025", "BUY", "0.1425", "743.25", (743250000, 5215789400),
     (743250000, 5219452247)),
    ("limit BUY 19.9 @ 0.3 (tick 0.1): 19.9*100 = 1989.999..",
     "limit", "0.1", "BUY", "0.3", "19.9", (5970000, 19900000), (5967000, 19890000)),
    ("limit SELL 2.32 @ 0.41: 2.32*100 = 231.999..",
     "limit", "0.01", "SELL", "0.41", "2.32", (2320000, 951200), (2310000, 947100)),
    ("limit BUY 40.91 @ 0.139 (tick 0.001): 40.91*100 = 4090.999..",
     "limit", "0.001", "BUY", "0.139", "40.91", (5686490, 40910000), (5685100, 40900000)),
    ("limit SELL 533.56 @ 0.96 (tick 0.005)",
     "limit", "0.005", "SELL", "0.960", "533.56", (533560000, 512217600), (533550000, 512208000)),
    ("limit BUY 284.34 @ 0.5351 (tick 0.0001)",
     "limit", "0.0001", "BUY", "0.5351", "284.34", (152150334, 284340000),
     (152144983, 284330000)),
    ("limit BUY 534.68 @ 0.42 (tick 0.0025)",
     "limit", "0.0025", "BUY", "0.4200", "534.68", (224565600, 534680000),
     (224561400, 534670000)),
    # Not a floor: at millions of shares the float product's noise exceeds the SDK's snap.
    ("limit BUY 7085154 shares @ 0.6224: float product noise, one base unit low",
     "limit", "0.0001", "BUY", "0.6224", "7085154", (4409799849600, 7085154000000),
     (4409799849599, 7085154000000)),
]


@pytest.mark.parametrize(
    "name,kind,tick,side,price,size,ours,sdk_value",
    SDK_FLOAT_ARTEFACTS,
    ids=[c[0] for c in SDK_FLOAT_ARTEFACTS],
)
def test_sdk_float_artefacts(
    name: str, kind: str, tick: str, side: str, price: str, size: str,
    ours: tuple[int, int], sdk_value: tuple[int, int],
) -> None:
    fn = limit_amounts if kind == "limit" else market_amounts
    args = (D(size), D(price)) if kind == "market" else (D(price), D(size))
    assert fn(Side(side), *args, D(tick)) == ours
    assert model_amounts(kind, side, D(price), D(size), D(tick)) == ours
    assert sdk_amounts(kind, side, D(price), D(size), D(tick)) == sdk_value != ours


# --- property test against the SDKs --------------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=priced_orders(), kind=st.sampled_from(["limit", "market"]))
def test_amounts_against_sdk_v2(order: tuple[Decimal, Decimal, Decimal, str], kind: str) -> None:
    tick, price, size, side = order
    if kind == "limit":
        ours = limit_amounts(Side(side), price, size, tick)
    else:
        ours = market_amounts(Side(side), size, price, tick)
    # Ours is the exact value, by an independent Fraction computation.
    assert ours == model_amounts(kind, side, price, size, tick)
    sdk_value = sdk_amounts(kind, side, price, size, tick, sdk="v2")
    if sdk_value != ours:
        explain_sdk_difference(kind, side, price, size, tick, sdk_value)


@settings(max_examples=100, deadline=None)
@given(order=priced_orders(), kind=st.sampled_from(["limit", "market"]))
def test_amounts_against_sdk_v1(order: tuple[Decimal, Decimal, Decimal, str], kind: str) -> None:
    tick, price, size, side = order
    if str(tick) not in SDK_V1_ROUNDING:  # py-clob-client 0.34 predates ticks 0.005/0.0025
        tick = D("0.01")
        price = D("0.01") * max(1, min(99, int(price * 100)))
    fn = limit_amounts if kind == "limit" else market_amounts
    args = (price, size) if kind == "limit" else (size, price)
    ours = fn(Side(side), *args, tick)
    sdk_value = sdk_amounts(kind, side, price, size, tick, sdk="v1")
    if sdk_value != ours:
        explain_sdk_difference(kind, side, price, size, tick, sdk_value, sdk="v1")


# --- prices -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price,tick,message",
    [
        ("0.523", "0.01", "use 0.52 or 0.53"),
        ("0.995", "0.01", "nearest valid price is 0.99"),
        ("0", "0.01", "nearest valid price is 0.01"),
        ("1", "0.001", "nearest valid price is 0.999"),
        ("0.5237", "0.0025", "use 0.5225 or 0.525"),
        ("0.527", "0.005", "use 0.525 or 0.53"),
        ("0.0012", "0.0025", "nearest valid price is 0.0025"),
        ("0.15", "0.1", "use 0.1 or 0.2"),
    ],
)
def test_check_price_refuses_with_a_hint(price: str, tick: str, message: str) -> None:
    with pytest.raises(InvalidOrderError, match=message):
        check_price(D(price), D(tick))


@pytest.mark.parametrize("tick", TICKS)
def test_check_price_accepts_the_whole_grid_edges(tick: Decimal) -> None:
    check_price(tick, tick)
    check_price(1 - tick, tick)
    check_price(D("0.5") - D("0.5") % tick, tick)


def test_unknown_tick_and_floats_are_refused() -> None:
    with pytest.raises(InvalidOrderError, match="unknown tick size 0.02"):
        check_price(D("0.5"), D("0.02"))
    with pytest.raises(TypeError, match="never float"):
        limit_amounts(Side.BUY, 0.5, D(10), D("0.01"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="never float"):
        market_amounts(Side.BUY, 10.0, D("0.5"), D("0.01"))  # type: ignore[arg-type]


def test_sizes_that_floor_to_zero_are_refused() -> None:
    with pytest.raises(InvalidOrderError, match="rounds down to 0.00"):
        limit_amounts(Side.BUY, D("0.5"), D("0.009"), D("0.01"))
    with pytest.raises(InvalidOrderError, match="nothing to trade"):
        market_amounts(Side.SELL, D("0"), D("0.5"), D("0.01"))


def test_off_grid_prices_are_refused_before_amounts() -> None:
    with pytest.raises(InvalidOrderError, match="not a multiple"):
        limit_amounts(Side.BUY, D("0.125"), D(10), D("0.01"))
    with pytest.raises(InvalidOrderError, match="outside"):
        market_amounts(Side.BUY, D(10), D("0.999"), D("0.01"))


# --- market price from the book (clob-v1-wire.md 11.4) ------------------------------------------

ASKS = [{"price": "0.55", "size": "10"}, {"price": "0.52", "size": "25"}]
BIDS = [{"price": "0.48", "size": "30"}, {"price": "0.50", "size": "20"}]


@pytest.mark.parametrize(
    "side,amount,order_type,expected",
    [
        ("BUY", "10", "FOK", "0.52"),
        ("BUY", "15", "FOK", "0.55"),
        ("BUY", "100", "FAK", "0.55"),
        ("SELL", "25", "FOK", "0.48"),
        ("SELL", "20", "FOK", "0.50"),
        ("SELL", "1000", "FAK", "0.48"),
        ("BUY", "18.50", "FOK", "0.55"),  # exactly the whole book
    ],
)
def test_book_walk_reference(side: str, amount: str, order_type: str, expected: str) -> None:
    levels = ASKS if side == "BUY" else BIDS
    assert market_price_from_book(Side(side), D(amount), levels, OrderType(order_type)) == D(
        expected
    )


def test_book_walk_no_match() -> None:
    with pytest.raises(NoMatchError, match="no match"):
        market_price_from_book(Side.BUY, D(100), ASKS, OrderType.FOK)
    with pytest.raises(NoMatchError, match="no match"):
        market_price_from_book(Side.SELL, D(1), [], OrderType.FAK)
    with pytest.raises(InvalidOrderError, match="FOK or FAK"):
        market_price_from_book(Side.SELL, D(1), BIDS, OrderType.GTC)


@st.composite
def books(draw: st.DrawFn) -> tuple[list[dict[str, str]], Decimal, str, str]:
    side = draw(st.sampled_from(["BUY", "SELL"]))
    ticks = draw(st.lists(st.integers(1, 99), min_size=1, max_size=8, unique=True))
    # Exchange order: best LAST (asks descending, bids ascending).
    ticks.sort(reverse=(side == "BUY"))
    levels = [
        {"price": str(D(t) / 100), "size": str(D(draw(st.integers(1, 10**6))) / 100)}
        for t in ticks
    ]
    amount = D(draw(st.integers(1, 10**7))) / 100
    return levels, amount, side, draw(st.sampled_from(["FOK", "FAK"]))


@settings(max_examples=150, deadline=None)
@given(book=books())
def test_book_walk_against_sdk(book: tuple[list[dict[str, str]], Decimal, str, str]) -> None:
    levels, amount, side, order_type = book
    walk = SDK_V2.calculate_buy_market_price if side == "BUY" else (
        SDK_V2.calculate_sell_market_price
    )
    try:
        sdk_price: Decimal | None = D(str(walk(levels, float(amount), order_type)))
    except Exception as exc:  # the SDK raises a bare Exception("no match")
        assert str(exc) == "no match"
        sdk_price = None
    try:
        ours: Decimal | None = market_price_from_book(
            Side(side), amount, levels, OrderType(order_type)
        )
    except NoMatchError:
        ours = None
    # Spec check, independent of both: the levels from the best down to ours cover the amount,
    # the strictly better ones do not.
    def covered(upto: int) -> Decimal:
        picked = list(reversed(levels))[:upto]
        return sum(
            (D(lv["size"]) * (D(lv["price"]) if side == "BUY" else 1) for lv in picked), D(0)
        )

    if covered(len(levels)) >= amount:
        assert ours is not None
        index = [D(lv["price"]) for lv in reversed(levels)].index(ours) + 1
        assert covered(index) >= amount > covered(index - 1)
    elif order_type == "FOK":
        assert ours is None
    else:
        assert ours == D(levels[0]["price"])
    if ours != sdk_price:
        # Only a float sum landing just below/above an exact tie may differ.
        exact_totals = [covered(i) for i in range(1, len(levels) + 1)]
        assert any(abs(t - amount) <= amount * D("1e-12") for t in exact_totals), (ours, sdk_price)


# --- a market BUY meets the exchange's 4-decimal taker rule on every tick ------------------------
# clob-v1-wire.md 5.4: "the market buy orders maker amount supports a max accuracy of 2 decimals,
# taker amount a max of 4 decimals", independent of the tick. Flooring the shares to the tick's
# amount digits instead (5 or 6 on ticks finer than 0.01, as the SDK does) would make most market
# BUYs on such markets refused, by the paper exchange as by the real one.

FINE_TOKEN = "777001"


@pytest.fixture
def paper_config() -> PaperConfig:
    return PaperConfig(seed=3, markets={FINE_TOKEN: {"tick_size": "0.001", "min_order_size": 5}})


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


def test_market_buy_on_a_fine_tick_market_is_accepted_end_to_end(paper: PaperExchange) -> None:
    maker, taker = new_client(paper.url), new_client(paper.url)
    assert maker.create_and_post_order(FINE_TOKEN, Side.SELL, "0.985", "50").ok
    result = taker.create_and_post_market_order(
        FINE_TOKEN, Side.BUY, "9.98", order_type=OrderType.FOK
    )
    assert result.ok and result.status == "matched", result
