"""Order ids are hex hashes: an exchange answering in upper case is still talking about our order."""

from __future__ import annotations

from reconciler.clob.types import (
    order_id_key,
    parse_cancel_result,
    parse_open_order,
    parse_order_result,
)

OURS = "0x" + "ab" * 32


def test_ids_from_the_exchange_compare_equal_to_ours_whatever_their_case() -> None:
    shouting = OURS.upper().replace("0X", "0x")
    result = parse_cancel_result({"canceled": [shouting], "not_canceled": {shouting: "gone"}})
    assert result.canceled == (OURS,)
    assert result.not_canceled == {OURS: "gone"}
    assert parse_order_result({"success": True, "orderID": shouting}).order_id == OURS
    order = parse_open_order({
        "id": "0X" + "AB" * 32, "asset_id": "1", "side": "BUY", "price": "0.5",
        "original_size": "10", "size_matched": "0", "created_at": 1, "status": "LIVE",
    })
    assert order.order_id == OURS


def test_non_hex_ids_are_left_as_they_are() -> None:
    assert order_id_key("Trade-ID-7") == "Trade-ID-7"
    assert order_id_key(None) == ""
