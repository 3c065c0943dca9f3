"""Asynchronous settlement (clob-v2-wire.md 2.8, 2.12): statuses, hashes, failed fills."""

from __future__ import annotations

import requests

from paperclob import PaperExchange
from tests.support.paper import TOKEN, Trader

UNIT = 10**6
START = 10_000 * UNIT


def settlement(paper: PaperExchange, **body: object) -> requests.Response:
    return requests.post(paper.url + "/_admin/settlement", json=body, timeout=10)


def trade_of(trader: Trader) -> dict:
    (trade,) = trader.ok("GET", "/data/trades")["data"]
    return dict(trade)


def test_a_trade_goes_matched_mined_confirmed_and_gets_its_hash_when_mined(
    paper: PaperExchange, clock
) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("BUY", "0.45", "10")
    answer = taker.post(taker.limit("SELL", "0.45", "10")).json()
    seen = []
    for _ in range(3):
        trade = trade_of(taker)
        seen.append((trade["status"], bool(trade["transaction_hash"]), trade["last_update"]))
        clock.advance(1)
    start = int(clock()) - 3
    assert seen == [
        ("TRADE_STATUS_MATCHED", False, str(start)),
        ("TRADE_STATUS_MINED", True, str(start + 1)),
        ("TRADE_STATUS_CONFIRMED", True, str(start + 2)),
    ]
    assert trade_of(maker)["transaction_hash"] == trade_of(taker)["transaction_hash"]
    assert trade_of(taker)["id"] == answer["tradeIDs"][0]


def test_fak_and_fok_answers_carry_trade_ids_and_no_hashes(paper_factory) -> None:
    paper = paper_factory(settle_delay_s=0)  # even when the trades are mined at once
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.50", "40")
    for order_type in ("FOK", "FAK"):
        answer = taker.post(taker.market("BUY", "5", "0.5"), order_type).json()
        assert answer["status"] == "matched" and len(answer["tradeIDs"]) == 1
        assert "transactionsHashes" not in answer
    gtc = taker.post(taker.limit("BUY", "0.50", "10")).json()
    assert gtc["transactionsHashes"] == [trade_of_id(taker, gtc["tradeIDs"][0])]


def trade_of_id(trader: Trader, trade_id: str) -> str:
    (trade,) = trader.ok("GET", "/data/trades", query=f"?id={trade_id}")["data"]
    return str(trade["transaction_hash"])


def test_a_failed_fill_is_taken_back(paper: PaperExchange, clock) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    bid = maker.place("BUY", "0.45", "100")
    sell = taker.post(taker.limit("SELL", "0.40", "60")).json()
    (trade_id,) = sell["tradeIDs"]
    assert settlement(paper, fail=[trade_id]).status_code == 200
    assert maker.balance() == START - 27 * UNIT  # the match moved the money already

    clock.advance(1)
    assert trade_of(taker)["status"] == "TRADE_STATUS_RETRYING"
    clock.advance(1)
    failed = trade_of(taker)
    assert (failed["status"], failed["transaction_hash"]) == ("TRADE_STATUS_FAILED", "")
    assert failed["size"] == "60" and failed["err_msg"]

    # Balances as before the match; the bid rests its full size again and reserves for it.
    assert (maker.balance(), maker.balance(TOKEN)) == (START, START)
    assert (taker.balance(), taker.balance(TOKEN)) == (START, START)
    (rest,) = maker.open_orders()
    assert (rest["id"], rest["size_matched"], rest["status"]) == (bid, "0", "LIVE")
    assert paper.exchange.engine.account(maker.address).reserved_collateral == 45 * UNIT
    # The sell had left the book filled; nothing of it is matched now: cancelled, not resting.
    gone = taker.ok("GET", f"/data/order/{sell['orderID']}")
    assert (gone["status"], gone["size_matched"]) == ("CANCELED", "0")
    assert taker.open_orders() == []

    for trader, order_id in ((maker, bid), (taker, sell["orderID"])):
        notes = trader.notifications()
        assert [n["type"] for n in notes] == [2, 8]
        payload = notes[1]["payload"]
        assert (payload["order_id"], payload["trade_id"], payload["type"]) == (
            order_id,
            trade_id,
            "GTC",
        )
        assert (payload["matched_size"], payload["transaction_hash"]) == ("60", "")
    assert maker.notifications()[1]["payload"]["remaining_size"] == "100"


def test_the_next_trades_can_be_chosen_to_fail(paper: PaperExchange, clock) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    assert settlement(paper, fail_next=1).json()["fail_next"] == 1
    bid = maker.place("BUY", "0.45", "20")
    taker.post(taker.limit("SELL", "0.45", "10"))
    taker.post(taker.limit("SELL", "0.45", "10"))
    clock.advance(2)
    statuses = [t["status"] for t in taker.ok("GET", "/data/trades")["data"]]
    assert statuses == ["TRADE_STATUS_FAILED", "TRADE_STATUS_CONFIRMED"]
    # The bid had left the book filled; it stays off it, with only the settled 10 matched.
    assert maker.open_orders() == []
    done = maker.ok("GET", f"/data/order/{bid}")
    assert (done["status"], done["size_matched"]) == ("MATCHED", "10")
    assert maker.balance(TOKEN) == START + 10 * UNIT


def test_a_settled_trade_cannot_be_failed_and_unknown_ids_are_refused(
    paper: PaperExchange, clock
) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("BUY", "0.45", "10")
    (trade_id,) = taker.post(taker.limit("SELL", "0.45", "10")).json()["tradeIDs"]
    clock.advance(2)
    late = settlement(paper, fail=[trade_id])
    assert late.status_code == 400 and "already CONFIRMED" in late.json()["error"]
    assert settlement(paper, fail=["nope"]).status_code == 404
    assert settlement(paper, fail_next=-1).status_code == 400


def test_plain_trade_statuses_on_request(paper: PaperExchange) -> None:
    requests.post(paper.url + "/_admin/wire", json={"trade_status": "plain"}, timeout=10)
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("BUY", "0.45", "10")
    taker.post(taker.limit("SELL", "0.45", "10"))
    assert trade_of(taker)["status"] == "MATCHED"
