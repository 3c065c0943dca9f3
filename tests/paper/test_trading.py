"""Two accounts trading on a real paper exchange over HTTP: fills, balances, notifications."""

from __future__ import annotations

from decimal import Decimal

from paperclob import PaperExchange
from tests.support.paper import TOKEN, Trader

UNIT = 10**6
START = 10_000 * UNIT  # paper collateral and shares of a new account


def test_crossing_orders_trade_at_the_maker_price_and_move_both_balances(
    paper: PaperExchange,
) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    bid = maker.place("BUY", "0.45", "100")

    response = taker.post(taker.limit("SELL", "0.40", "60"))

    assert response.status_code == 200
    result = response.json()
    assert result["success"] is True and result["status"] == "matched"
    assert result["makingAmount"] == "60" and result["takingAmount"] == "27"  # 60 x 0.45
    # Settlement is asynchronous: the GTC answer lists only hashes already mined (none yet).
    assert len(result["tradeIDs"]) == 1 and result["transactionsHashes"] == []
    # The buyer paid 27 pUSD and holds 60 more shares; the seller the opposite.
    assert maker.balance() == START - 27 * UNIT
    assert maker.balance(TOKEN) == START + 60 * UNIT
    assert taker.balance() == START + 27 * UNIT
    assert taker.balance(TOKEN) == START - 60 * UNIT
    assert paper.exchange.balance_of(taker.address) == Decimal(10_027)
    # The rest of the bid still rests, partially matched.
    (rest,) = maker.open_orders()
    assert rest["id"] == bid
    assert (rest["original_size"], rest["size_matched"], rest["status"]) == ("100", "60", "LIVE")
    assert taker.open_orders() == []
    assert [o.order_id for o in paper.exchange.open_orders_of(maker.address)] == [bid]


def test_both_sides_see_the_trade_and_a_fill_notification(paper: PaperExchange) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    bid = maker.place("BUY", "0.45", "10")
    sell = taker.post(taker.limit("SELL", "0.45", "10")).json()

    (maker_view,) = maker.ok("GET", "/data/trades")["data"]
    (taker_view,) = taker.ok("GET", "/data/trades")["data"]
    assert maker_view["id"] == taker_view["id"] == sell["tradeIDs"][0]
    assert (maker_view["trader_side"], taker_view["trader_side"]) == ("MAKER", "TAKER")
    assert taker_view["taker_order_id"] == sell["orderID"]
    assert taker_view["side"] == "SELL" and taker_view["price"] == "0.45"
    assert taker_view["size"] == "10" and taker_view["status"] == "TRADE_STATUS_MATCHED"
    assert [m["order_id"] for m in taker_view["maker_orders"]] == [bid]
    assert maker_view["maker_orders"][0]["matched_amount"] == "10"

    (maker_note,) = maker.notifications()
    (taker_note,) = taker.notifications()
    assert maker_note["type"] == taker_note["type"] == 2
    assert maker_note["payload"]["order_id"] == bid
    assert maker_note["payload"]["matched_size"] == "10"
    assert maker_note["payload"]["remaining_size"] == "0"
    assert taker_note["payload"]["order_id"] == sell["orderID"]
    assert maker.ok("GET", f"/data/order/{bid}")["status"] == "MATCHED"


def test_price_time_priority_best_price_first_then_oldest(paper: PaperExchange) -> None:
    a, b, c, taker = (Trader(paper.url) for _ in range(4))
    first_at_45 = a.place("BUY", "0.45", "10")
    second_at_45 = b.place("BUY", "0.45", "10")
    better_46 = c.place("BUY", "0.46", "10")

    result = taker.post(taker.limit("SELL", "0.45", "15")).json()

    trades = taker.ok("GET", "/data/trades")["data"]
    fills = [
        (m["order_id"], m["matched_amount"], t["price"]) for t in trades for m in t["maker_orders"]
    ]
    assert fills == [(better_46, "10", "0.46"), (first_at_45, "5", "0.45")]
    assert result["takingAmount"] == "6.85"  # 10 x 0.46 + 5 x 0.45
    assert b.ok("GET", f"/data/order/{second_at_45}")["size_matched"] == "0"


def test_open_orders_reserve_balance_and_an_unfunded_order_is_refused(
    paper: PaperExchange,
) -> None:
    trader = Trader(paper.url)
    paper.exchange.fund(trader.address, collateral="50")
    trader.place("BUY", "0.40", "100")  # reserves 40 of the 50

    refused = trader.post(trader.limit("BUY", "0.30", "50"))  # needs 15, 10 are free

    assert refused.status_code == 400
    assert refused.json() == {"error": "not enough balance / allowance"}
    trader.place("BUY", "0.20", "50")  # 10 fits exactly


def test_selling_more_shares_than_held_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    paper.exchange.fund(trader.address, token_id=TOKEN, shares="20")
    refused = trader.post(trader.limit("SELL", "0.60", "25"))
    assert refused.status_code == 400
    assert refused.json()["error"] == "not enough balance / allowance"


def test_post_only_order_that_would_cross_is_refused_and_leaves_no_trace(
    paper: PaperExchange,
) -> None:
    maker, other = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.50", "10")

    refused = other.post(other.limit("BUY", "0.50", "10"), post_only=True)

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid post-only order: order crosses book"
    assert other.open_orders() == [] and other.ok("GET", "/data/trades")["data"] == []
    resting = other.post(other.limit("BUY", "0.49", "10"), post_only=True)
    assert resting.json()["status"] == "live"


def test_post_only_is_refused_on_fok_and_fak(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    response = trader.post(trader.market("BUY", "10", "0.5"), "FOK", post_only=True)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "invalid post-only order: only GTC and GTD order types are allowed"
    )


def test_fok_that_cannot_fill_completely_is_killed_and_fak_fills_what_it_can(
    paper: PaperExchange,
) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.50", "10")  # 5 pUSD of asks

    fok = taker.post(taker.market("BUY", "8", "0.5"), "FOK")
    assert fok.status_code == 400
    assert fok.json()["error"] == (
        "order couldn't be fully filled, FOK orders are fully filled/killed"
    )
    assert maker.open_orders()[0]["size_matched"] == "0"

    fak = taker.post(taker.market("BUY", "8", "0.5"), "FAK").json()
    assert fak["status"] == "matched"
    assert (fak["makingAmount"], fak["takingAmount"]) == ("5", "10")
    assert taker.balance() == START - 5 * UNIT  # the unspent 3 pUSD were never taken
    assert maker.open_orders() == []


def test_fak_without_any_match_is_refused(paper: PaperExchange) -> None:
    taker = Trader(paper.url)
    response = taker.post(taker.market("SELL", "10", "0.5"), "FAK")
    assert response.status_code == 400
    assert response.json()["error"].startswith("no orders found to match with FAK order")


def test_market_buy_spends_its_amount_across_levels_best_first(paper: PaperExchange) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.50", "10")  # 5 pUSD
    maker.place("SELL", "0.52", "25")  # 13 pUSD

    result = taker.post(taker.market("BUY", "10", "0.52"), "FOK").json()

    # 5 pUSD buys 10 @ 0.50; the other 5 buy floor(5 / 0.52) = 9.615384 shares (6-decimal
    # units), which cost floor(9.615384 x 0.52) = 4.999999 (rounded down to the unit).
    assert (result["makingAmount"], result["takingAmount"]) == ("9.999999", "19.615384")
    assert taker.balance(TOKEN) == START + 19_615_384
    assert taker.balance() == START - 9_999_999
    # Conservation: what the taker paid is what the maker received.
    assert maker.balance() - START == START - taker.balance()


def test_gtd_order_expires_a_security_minute_before_its_expiration(
    paper: PaperExchange, clock
) -> None:
    """Docs: "to expire in 90 s send now + 60 + 30": the order rests until expiration - 60 s."""
    trader = Trader(paper.url)
    now = int(clock())
    order_id = trader.post(trader.limit("BUY", "0.40", "10", expiration=now + 150), "GTD").json()[
        "orderID"
    ]
    clock.advance(89)
    assert [o["id"] for o in trader.open_orders()] == [order_id]
    clock.advance(1)
    assert trader.open_orders() == []
    assert trader.ok("GET", f"/data/order/{order_id}")["status"] == "CANCELED"
    assert trader.balance() == START  # the reservation is released
    note = trader.notifications()[-1]
    assert note["type"] == 1 and note["payload"]["type"] == "GTD"
    assert paper.exchange.engine.orders[order_id].cancel_reason == "expired"


def test_cancelled_orders_notify_and_release_their_reservation(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    paper.exchange.fund(trader.address, collateral="10")
    order_id = trader.place("BUY", "0.50", "20")  # reserves all 10

    answer = trader.ok("DELETE", "/order", {"orderID": order_id})

    assert answer == {"canceled": [order_id], "not_canceled": {}}
    assert trader.notifications()[-1]["type"] == 1
    trader.place("BUY", "0.50", "20")  # the 10 are free again
    again = trader.ok("DELETE", "/order", {"orderID": order_id})
    assert again == {"canceled": [], "not_canceled": {order_id: "the order is already canceled"}}


def test_one_account_cannot_see_or_cancel_another_accounts_orders(paper: PaperExchange) -> None:
    owner, stranger = Trader(paper.url), Trader(paper.url)
    order_id = owner.place("BUY", "0.30", "10")
    hidden = stranger.request("GET", f"/data/order/{order_id}")
    assert (hidden.status_code, hidden.json()) == (404, {"error": "Order not found"})
    answer = stranger.ok("DELETE", "/orders", [order_id])
    assert answer == {"canceled": [], "not_canceled": {order_id: "order not found"}}
    assert stranger.ok("DELETE", "/cancel-all") == {"canceled": [], "not_canceled": {}}
    assert [o["id"] for o in owner.open_orders()] == [order_id]


def test_trades_page_and_filter_by_time(paper: PaperExchange, clock) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    for _ in range(7):  # seven separate trades, pages of 5
        maker.place("BUY", "0.40", "5")
        clock.advance(10)
        taker.post(taker.limit("SELL", "0.40", "5"))
    start = int(clock()) - 70

    first = taker.ok("GET", "/data/trades", query="?next_cursor=MA==")
    assert (len(first["data"]), first["limit"], first["count"]) == (5, 5, 5)
    second = taker.ok("GET", "/data/trades", query=f"?next_cursor={first['next_cursor']}")
    assert (len(second["data"]), second["next_cursor"]) == (2, "LTE=")
    ids = [t["id"] for t in first["data"] + second["data"]]
    assert len(set(ids)) == 7

    late = taker.ok("GET", "/data/trades", query=f"?after={start + 45}&next_cursor=MA==")
    assert len(late["data"]) == 3  # the trades at +50, +60, +70
    early = taker.ok("GET", "/data/trades", query=f"?before={start + 25}&next_cursor=MA==")
    assert len(early["data"]) == 2
    bad = taker.request("GET", "/data/trades", query="?next_cursor=%%%")
    assert bad.status_code == 400


def test_a_partly_eaten_ask_then_a_resting_remainder_stays_exact(paper: PaperExchange) -> None:
    # A market buy leaves a 6-decimal remainder on an ask at 0.3 ($1 / 0.3 = 3.333333 shares);
    # a bid at 0.53 then takes that remainder and rests with the rest. Every amount stays a
    # whole number of units, rounded down where a price has more digits than a unit.
    seller, market_buyer, bidder = Trader(paper.url), Trader(paper.url), Trader(paper.url)
    seller.place("SELL", "0.30", "10")
    bought = market_buyer.post(market_buyer.market("BUY", "1", "0.3"), "FAK").json()
    assert (bought["makingAmount"], bought["takingAmount"]) == ("0.999999", "3.333333")
    assert "transactionsHashes" not in bought  # a FAK answer carries trade ids only

    result = bidder.post(bidder.limit("BUY", "0.53", "10")).json()

    assert result["status"] == "matched" and result["takingAmount"] == "6.666667"
    (resting,) = bidder.open_orders()
    assert (resting["price"], resting["size_matched"]) == ("0.53", "6.666667")
    assert bidder.balance() == START - 2_000_000  # floor(6.666667 x 0.3) paid
    # The rest, 3.333333 shares at 0.53, reserves floor(1.76666649) pUSD.
    assert paper.exchange.engine.account(bidder.address).reserved_collateral == 1_766_666
