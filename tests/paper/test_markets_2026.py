"""Markets and wire forms as the 2026 reference describes them (clob-v2-wire.md 2.2, 2.4, 2.9,
2.12, 2.14, 5): tick changes on their own, /clob-markets fields, per-market protocol, Gamma
`version`, unknown orders, order-status spellings, the open-orders end cursor."""

from __future__ import annotations

import json

import pytest
import requests

from paperclob import PaperExchange
from reconciler.clob.profiles import Profile
from tests.support.paper import TOKEN, Trader


def tick_of(paper: PaperExchange, token: str = TOKEN) -> float:
    return float(
        requests.get(paper.url + f"/tick-size?token_id={token}", timeout=10).json()[
            "minimum_tick_size"
        ]
    )


def wire(paper: PaperExchange, **forms: str) -> None:
    response = requests.post(paper.url + "/_admin/wire", json=forms, timeout=10)
    assert response.status_code == 200, response.text


def test_a_trade_beyond_096_makes_the_tick_finer_and_one_back_inside_restores_it(
    paper: PaperExchange,
) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.97", "10")
    taker.post(taker.limit("BUY", "0.97", "5"))
    assert tick_of(paper) == 0.001
    condition = paper.exchange.markets.get(TOKEN).condition_id
    info = requests.get(paper.url + f"/clob-markets/{condition}", timeout=10).json()
    assert info["mts"] == 0.001
    # Prices on the finer grid are accepted now.
    assert taker.post(taker.limit("BUY", "0.965", "5", tick="0.001")).status_code == 200
    maker.place("SELL", "0.50", "10", tick="0.001")
    taker.post(taker.limit("BUY", "0.50", "5", tick="0.001"))
    assert tick_of(paper) == 0.01
    refused = taker.post(taker.limit("BUY", "0.455", "10", tick="0.001"))
    assert "breaks minimum tick size rule: 0.01" in refused.json()["error"]


def test_a_trade_below_004_also_changes_the_tick_unless_switched_off(paper_factory) -> None:
    for auto, expected in ((True, 0.001), (False, 0.01)):
        paper = paper_factory(auto_tick=auto)
        maker, taker = Trader(paper.url), Trader(paper.url)
        maker.place("BUY", "0.03", "200")
        taker.post(taker.limit("SELL", "0.03", "200"))
        assert tick_of(paper) == expected


def test_clob_markets_fields_follow_the_openapi(paper: PaperExchange) -> None:
    paper.exchange.markets.define(TOKEN, {})
    condition = paper.exchange.markets.get(TOKEN).condition_id
    info = requests.get(paper.url + f"/clob-markets/{condition}", timeout=10).json()
    assert info["oas"] == 0 and type(info["oas"]) is int  # minimum order age in seconds
    assert "itode" not in info  # omitted when false
    assert info["gst"] is None and "r" in info
    requests.post(
        paper.url + "/_admin/market",
        json={
            "token_id": TOKEN,
            "min_order_age_s": 3,
            "taker_delay": True,
            "game_start_time": "2026-07-02T18:00:00Z",
            "rewards": {"min_size": 50},
        },
        timeout=10,
    ).raise_for_status()
    info = requests.get(paper.url + f"/clob-markets/{condition}", timeout=10).json()
    assert (info["oas"], info["itode"], info["gst"], info["r"]) == (
        3,
        True,
        "2026-07-02T18:00:00Z",
        {"min_size": 50},
    )


def test_a_protocol_v2_market_takes_only_exchange_v3_orders(paper: PaperExchange) -> None:
    v2 = Trader(paper.url)
    v3 = Trader(paper.url, profile=Profile.V3)
    before = v3.post(v3.limit("BUY", "0.40", "10"))  # a v1 market: domain "3" is a stranger
    assert before.json() == {"error": "invalid signature"}
    answer = requests.post(
        paper.url + "/_admin/market", json={"token_id": TOKEN, "version": "v2"}, timeout=10
    ).json()
    assert answer["version"] == "v2"
    assert v2.post(v2.limit("BUY", "0.40", "10")).json() == {"error": "invalid signature"}
    assert v3.post(v3.limit("BUY", "0.40", "10")).status_code == 200
    v1 = Trader(paper.url, profile=Profile.V1)
    assert v1.post(v1.limit("BUY", "0.40", "10")).json() == {"error": "invalid signature"}


def test_gamma_says_the_version_and_the_outcome_ids(paper: PaperExchange) -> None:
    paper.exchange.markets.define(TOKEN, {})
    (v1_market,) = requests.get(
        paper.url + f"/gamma/markets?clob_token_ids={TOKEN}", timeout=10
    ).json()
    assert v1_market["version"] == "v1" and json.loads(v1_market["clobTokenIds"]) == [TOKEN]
    assert json.loads(v1_market["outcomes"]) == ["Yes"] and "positionIds" not in v1_market
    paper.exchange.markets.define(TOKEN, {"version": "v2"})
    condition = v1_market["conditionId"]
    v2_market = requests.get(paper.url + f"/gamma/markets/{condition}", timeout=10).json()
    assert v2_market["version"] == "v2" and v2_market["positionIds"] == [TOKEN]
    assert "clobTokenIds" not in v2_market
    assert requests.get(paper.url + "/gamma/markets/0x00", timeout=10).status_code == 404


def test_an_unknown_order_is_404_or_on_request_200_null(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    unknown = trader.request("GET", "/data/order/0x" + "ab" * 32)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Order not found"})
    wire(paper, unknown_order="null")
    null = trader.request("GET", "/data/order/0x" + "ab" * 32)
    assert (null.status_code, null.content) == (200, b"null")


def test_order_statuses_plain_or_prefixed(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    assert trader.ok("GET", f"/data/order/{order_id}")["status"] == "LIVE"
    wire(paper, order_status="prefixed")
    assert trader.ok("GET", f"/data/order/{order_id}")["status"] == "ORDER_STATUS_LIVE"
    assert trader.ok("GET", "/data/orders")["data"][0]["status"] == "ORDER_STATUS_LIVE"
    trader.ok("DELETE", "/order", {"orderID": order_id})
    assert trader.ok("GET", f"/data/order/{order_id}")["status"] == "ORDER_STATUS_CANCELED"


def test_the_open_orders_end_cursor_is_lte_or_empty(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    trader.place("BUY", "0.40", "10")
    assert trader.ok("GET", "/data/orders")["next_cursor"] == "LTE="
    wire(paper, orders_end_cursor="")
    assert trader.ok("GET", "/data/orders")["next_cursor"] == ""
    assert trader.ok("GET", "/data/trades")["next_cursor"] == "LTE="  # trades keep LTE=


@pytest.mark.parametrize(
    "bad",
    [{"unknown_order": "500"}, {"order_status": "shouting"}, {"nope": "x"}],
)
def test_wire_forms_refuse_unknown_values(paper: PaperExchange, bad: dict) -> None:
    response = requests.post(paper.url + "/_admin/wire", json=bad, timeout=10)
    assert response.status_code == 400 and response.json()["error"]


@pytest.mark.parametrize(
    "spec",
    [{"version": "v3"}, {"min_order_age_s": -1}, {"taker_delay": "maybe"}, {"rewards": [1]}],
)
def test_bad_market_settings_are_refused(paper: PaperExchange, spec: dict) -> None:
    response = requests.post(
        paper.url + "/_admin/market", json={"token_id": TOKEN, **spec}, timeout=10
    )
    assert response.status_code == 400 and response.json()["error"]
