"""Parsing the exchange's JSON into typed, normalised results (no server needed).

Shapes are the ones in clob-v1-wire.md sections 6.3, 7.2, 7.3 and 3.4. A value the parser cannot
trust must raise ProtocolError: the planner must never see a guessed order.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.clob.errors import ProtocolError
from reconciler.clob.types import (
    OrderDetails,
    parse_balance_allowance,
    parse_cancel_result,
    parse_notification,
    parse_open_order,
    parse_order_book,
    parse_order_details,
    parse_order_result,
    parse_page_envelope,
    parse_trade,
)
from reconciler.model import OpenOrder, OrderType, Side

H1, H2, H3 = ("0x" + c * 64 for c in "123")

ORDER = {
    "id": "0xa6a99d4dd9e024c78dc5a4406be29f06122f80e61de8609534171a5066f35dbd",
    "status": "LIVE",
    "owner": "00000000-0000-0000-0000-000000000000",
    "maker_address": "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A",
    "market": "0xc0ffee",
    "asset_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563",
    "side": "BUY",
    "original_size": "100",
    "size_matched": "12.5",
    "price": "0.52",
    "associate_trades": ["t1"],
    "outcome": "Yes",
    "created_at": 1700000000,
    "expiration": "0",
    "order_type": "GTC",
}


def test_open_order_is_normalised() -> None:
    order = parse_open_order(ORDER)
    assert isinstance(order, OpenOrder)
    assert order.side is Side.BUY and order.order_type is OrderType.GTC
    assert order.price == Decimal("0.52") and isinstance(order.price, Decimal)
    assert order.remaining == Decimal("87.5")
    assert order.created_at == 1700000000 and order.expiration == 0
    assert order.token_id == ORDER["asset_id"] and order.market == "0xc0ffee"


def test_open_order_accepts_json_numbers_as_decimals() -> None:
    raw = json.loads(
        json.dumps({**ORDER, "price": "__P__", "created_at": "1700000000", "type": "GTD"}).replace(
            '"__P__"', "0.07"
        ),
        parse_float=Decimal,
    )
    del raw["order_type"]
    order = parse_open_order(raw)
    assert order.price == Decimal("0.07")
    assert order.created_at == 1700000000
    assert order.order_type is OrderType.GTD


@pytest.mark.parametrize(
    "change",
    [
        {"side": "HOLD"},
        {"price": "abc"},
        {"price": True},
        {"price": "NaN"},
        {"original_size": None},
        {"id": ""},
        {"order_type": "IOC"},
        {"created_at": "1.5"},
    ],
)
def test_untrustworthy_order_raises(change: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        parse_open_order({**ORDER, **change})


def test_order_details_is_an_open_order_with_extras() -> None:
    details = parse_order_details({**ORDER, "status": "matched"})
    assert isinstance(details, OrderDetails) and isinstance(details, OpenOrder)
    assert details.status == "MATCHED" and details.associate_trades == ("t1",)
    assert details.outcome == "Yes"


def test_order_result_shapes() -> None:
    matched = parse_order_result(
        {
            "errorMsg": "",
            "orderID": H1,
            "takingAmount": "8.19672",
            "makingAmount": "4.999999",
            "status": "matched",
            "transactionsHashes": ["0x0303"],
            "tradeIDs": ["t-1"],
            "success": True,
        }
    )
    assert matched.ok and matched.making_amount == Decimal("4.999999")
    assert matched.transaction_hashes == ("0x0303",) and matched.trade_ids == ("t-1",)
    rejected = parse_order_result(
        {"success": True, "errorMsg": "invalid amounts", "orderID": "", "status": ""}
    )
    assert not rejected.ok and rejected.making_amount is None


def test_cancel_result_shapes() -> None:
    result = parse_cancel_result({"canceled": [H1], "not_canceled": {H2: "already canceled"}})
    assert result.canceled == (H1,) and result.not_canceled == {H2: "already canceled"}
    camel = parse_cancel_result({"canceled": [], "notCanceled": {H3: "not found"}})
    assert camel.not_canceled == {H3: "not found"}
    assert parse_cancel_result(None).canceled == ()


def test_page_envelope_ends_on_every_end_form_of_the_reference() -> None:
    data, cursor, limit, count = parse_page_envelope(
        {"data": [1], "next_cursor": "LTE=", "limit": 100, "count": 1}, "page"
    )
    assert (data, cursor, limit, count) == ([1], "LTE=", 100, 1)
    # clob-v2-wire.md 2.9 / section 5: stop on LTE=, on "" and on a missing or null cursor.
    for end in ({"next_cursor": ""}, {"next_cursor": None}, {}):
        assert parse_page_envelope({"data": [1], **end}, "page")[1] == "LTE="
    assert parse_page_envelope({"data": [], "next_cursor": "MQ=="}, "page")[1] == "MQ=="
    with pytest.raises(ProtocolError, match="no 'data'"):
        parse_page_envelope({"next_cursor": "LTE="}, "page")
    with pytest.raises(ProtocolError):
        parse_page_envelope({"data": [], "next_cursor": 5}, "page")
    with pytest.raises(ProtocolError):
        parse_page_envelope([1], "page")


def test_balance_allowance_in_base_units() -> None:
    ba = parse_balance_allowance({"balance": "1500000", "allowances": {"0xEx": "9000000"}})
    assert ba.balance == 1_500_000 and ba.balance_decimal == Decimal("1.5")
    assert ba.allowances == {"0xEx": 9_000_000}
    old = parse_balance_allowance({"balance": "1", "allowance": "2"})
    assert old.allowances == {"": 2}
    with pytest.raises(ProtocolError):
        parse_balance_allowance({"balance": "1.5"})


def test_book_keeps_the_exchange_order_and_finds_best_prices() -> None:
    book = parse_order_book(
        {
            "market": "0xabc",
            "asset_id": "123",
            "timestamp": "1700000000000",
            "hash": "",
            "bids": [{"price": "0.48", "size": "30"}, {"price": "0.50", "size": "20"}],
            "asks": [{"price": "0.55", "size": "10"}, {"price": "0.52", "size": "25"}],
            "min_order_size": "5",
            "tick_size": "0.01",
            "neg_risk": False,
            "last_trade_price": "0.51",
        }
    )
    assert [lvl.price for lvl in book.bids] == [Decimal("0.48"), Decimal("0.50")]
    assert book.best_bid == Decimal("0.50") and book.best_ask == Decimal("0.52")
    assert book.min_order_size == Decimal("5") and book.timestamp == 1700000000000


def test_trade_and_notification() -> None:
    trade = parse_trade(
        {
            "id": "t1",
            "taker_order_id": H1,
            "market": "0xc",
            "asset_id": "123",
            "side": "SELL",
            "size": "5",
            "price": "0.5",
            "status": "CONFIRMED",
            "match_time": "1700000000",
            "maker_orders": [
                {"order_id": H2, "matched_amount": "5", "price": "0.5", "side": "BUY"}
            ],
        }
    )
    assert trade.side is Side.SELL and trade.match_time == 1700000000
    assert trade.maker_orders[0].matched_amount == Decimal("5")
    assert trade.status == "CONFIRMED" and trade.status.settled
    payload = {"order_id": H2, "side": "BUY", "price": "0.5", "original_size": "10",
               "matched_size": "5", "remaining_size": "5", "type": "GTC"}
    note = parse_notification({"id": 7, "type": 2, "owner": "k", "payload": payload})
    assert note is not None and note.order is not None
    assert note.id == "7" and note.type == 2 and note.payload["order_id"] == H2
    assert note.order.matched_size == Decimal("5") and note.order.order_type is OrderType.GTC


@given(
    price=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.9999"), places=4),
    size=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=2),
    as_number=st.booleans(),
)
def test_prices_and_sizes_survive_json_exactly(
    price: Decimal, size: Decimal, as_number: bool
) -> None:
    # The exchange may send a number or a string; either way the value arrives exact (no float).
    body = {**ORDER, "price": str(price), "original_size": str(size), "size_matched": "0"}
    text = json.dumps(body)
    if as_number:
        text = text.replace(f'"{price}"', str(price)).replace(f'"{size}"', str(size))
    order = parse_open_order(json.loads(text, parse_float=Decimal))
    assert order.price == price and order.original_size == size
    assert str(order.price) == str(price)
