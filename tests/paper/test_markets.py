"""Markets: listing on first use, markets files, admin changes and resolution, paper balances."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from paperclob import PaperConfig, PaperExchange
from paperclob.markets import MarketBook, MarketError, synthetic_condition_id
from tests.support.paper import OTHER_TOKEN, TOKEN, Trader

YES, NO = "1001", "1002"
CONDITION = "0x" + "ab" * 32


def test_unknown_tokens_are_listed_on_first_use_with_the_defaults(paper: PaperExchange) -> None:
    answer = requests.get(paper.url + f"/markets-by-token/{OTHER_TOKEN}", timeout=10).json()
    assert answer["condition_id"] == synthetic_condition_id(OTHER_TOKEN)
    market = paper.exchange.markets.find(OTHER_TOKEN)
    assert market is not None
    assert (market.tick_size, market.min_order_size, market.neg_risk) == (
        Decimal("0.01"),
        Decimal("5"),
        False,
    )


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_markets_file_sets_ticks_sizes_neg_risk_and_conditions(
    tmp_path: Path, suffix: str, paper_factory
) -> None:
    markets = {
        YES: {
            "tick_size": "0.001",
            "min_order_size": 10,
            "neg_risk": True,
            "condition_id": CONDITION,
            "outcome": "Yes",
        },
        NO: {
            "tick_size": "0.001",
            "min_order_size": 10,
            "neg_risk": True,
            "condition_id": CONDITION,
            "outcome": "No",
        },
    }
    path = tmp_path / f"markets{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"markets": markets}))
    else:
        import yaml

        path.write_text(yaml.safe_dump({"markets": markets}))
    paper = paper_factory(markets_file=path)

    info = requests.get(paper.url + f"/clob-markets/{CONDITION}", timeout=10).json()
    assert info["t"] == [{"t": YES, "o": "Yes"}, {"t": NO, "o": "No"}]
    assert (info["mts"], info["mos"], info["nr"]) == (0.001, 10, True)
    by_token = requests.get(paper.url + f"/markets-by-token/{NO}", timeout=10).json()
    assert by_token == {
        "condition_id": CONDITION,
        "primary_token_id": YES,
        "secondary_token_id": NO,
    }
    trader = Trader(paper.url)
    small = trader.limit("BUY", "0.457", "9", token=YES, tick="0.001", neg_risk=True)
    assert "lower than the minimum: 10" in trader.post(small).json()["error"]
    ok = trader.post(trader.limit("BUY", "0.457", "10", token=YES, tick="0.001", neg_risk=True))
    assert ok.status_code == 200
    # Signed for the ordinary exchange on a neg-risk market: another domain, another signer.
    wrong = trader.limit("BUY", "0.457", "10", token=YES, tick="0.001", neg_risk=False)
    assert trader.post(wrong).json()["error"] == "invalid signature"


def test_bad_markets_files_are_refused_with_the_place(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"markets": {YES: {"tick_size": "0.02"}}}))
    with pytest.raises(MarketError, match=f"{YES}: invalid tick_size"):
        MarketBook().load_file(path)
    path.write_text(json.dumps({"markets": {YES: {"tick": "0.01"}}}))
    with pytest.raises(MarketError, match="unknown market keys: tick"):
        MarketBook().load_file(path)


def test_admin_changes_a_tick_while_running(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    response = requests.post(
        paper.url + "/_admin/market", json={"token_id": TOKEN, "tick_size": "0.1"}, timeout=10
    )
    assert response.json()["tick_size"] == 0.1
    assert requests.get(paper.url + f"/tick-size?token_id={TOKEN}", timeout=10).json() == {
        "minimum_tick_size": 0.1
    }
    refused = trader.post(trader.limit("BUY", "0.45", "10"))
    assert "breaks minimum tick size rule: 0.1" in refused.json()["error"]


def test_resolving_a_market_cancels_orders_and_notifies_type_4(paper: PaperExchange) -> None:
    trader, bystander = Trader(paper.url), Trader(paper.url)
    order_id = trader.place("BUY", "0.40", "10")
    bystander.place("BUY", "0.40", "10", token=OTHER_TOKEN)

    response = requests.post(
        paper.url + "/_admin/market",
        json={"token_id": TOKEN, "resolve": True, "winner": TOKEN},
        timeout=10,
    )

    assert response.json()["notified"] == 1
    assert trader.ok("GET", f"/data/order/{order_id}")["status"] == "CANCELED"
    types = [n["type"] for n in trader.notifications()]
    assert types == [1, 4]
    resolved = trader.notifications()[-1]["payload"]  # the market payload (v2-wire 2.12)
    assert resolved["condition_id"] == paper.exchange.markets.get(TOKEN).condition_id
    assert resolved["closed"] is True and resolved["accepting_orders"] is False
    assert [(t["token_id"], t["winner"]) for t in resolved["tokens"]] == [(TOKEN, True)]
    assert [n["type"] for n in bystander.notifications()] == []
    condition = paper.exchange.markets.get(TOKEN).condition_id
    market = requests.get(paper.url + f"/markets/{condition}", timeout=10).json()
    assert market["closed"] is True and market["tokens"][0]["winner"] is True


def test_admin_balance_and_clock(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    answer = requests.post(
        paper.url + "/_admin/balance",
        json={"address": trader.address, "collateral": "12.5", "token_id": TOKEN, "shares": 3},
        timeout=10,
    ).json()
    assert answer["collateral"] == "12.5"
    assert trader.balance() == 12_500_000 and trader.balance(TOKEN) == 3_000_000
    before = requests.get(paper.url + "/time", timeout=10).json()
    after = requests.post(paper.url + "/_admin/clock", json={"advance_s": 90}, timeout=10).json()
    assert after["now"] == before + 90


def test_new_accounts_start_with_the_configured_paper_balances(paper_factory) -> None:
    paper = paper_factory(initial_collateral=Decimal("250"), initial_shares=Decimal("7.5"))
    trader = Trader(paper.url)
    assert trader.balance() == 250_000_000
    assert trader.balance(TOKEN) == 7_500_000 and trader.balance(OTHER_TOKEN) == 7_500_000


def test_admin_can_be_switched_off(paper_factory) -> None:
    paper = paper_factory(admin=False)
    response = requests.post(paper.url + "/_admin/faults", json={}, timeout=10)
    assert response.status_code == 404


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="protocol"):
        PaperConfig(protocol="v9")
    with pytest.raises(ValueError, match="page_size"):
        PaperConfig(page_size=0)
