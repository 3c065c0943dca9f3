"""The paper exchange's WebSocket channels (clob-v2-wire.md 2.14), read with websockets' own
client: the subscribe frames, PING/PONG, the events and their keys, the order of settlement
statuses, the market channel, the wire forms, and the fault switch."""

from __future__ import annotations

import pytest
import requests

from paperclob import PaperExchange
from reconciler.clob.auth import ApiCreds
from tests.support.paper import OTHER_TOKEN, TOKEN, Trader
from tests.support.stream import RawStream, stream_admin, wait_for

#: 2.14: the keys every order event carries (asyncapi-user's required list).
ORDER_KEYS = {"event_type", "id", "owner", "market", "asset_id", "side", "original_size",
              "size_matched", "price", "type", "timestamp"}
TRADE_KEYS = {"event_type", "type", "id", "taker_order_id", "market", "asset_id", "side", "size",
              "price", "status", "match_time", "last_update", "owner", "trade_owner",
              "maker_orders", "trader_side", "transaction_hash", "timestamp"}


def streams(paper: PaperExchange) -> tuple[Trader, Trader, RawStream]:
    maker, taker = Trader(paper.url), Trader(paper.url)
    assert maker.creds is not None
    stream = RawStream.user(paper.url, maker.creds)
    wait_for(lambda: paper.exchange.stream.open_connections()["user"] == 1)
    return maker, taker, stream


def test_ping_is_answered_pong_before_and_after_subscribing(paper: PaperExchange) -> None:
    market = RawStream(paper.url.replace("http://", "ws://") + "/ws/market")
    market.send("PING")
    assert market.next() == "PONG"
    market.send({"assets_ids": [TOKEN], "type": "market"})
    assert market.next()["event_type"] == "book"
    market.send("PING")
    assert market.next() == "PONG"
    _, _, user = streams(paper)
    user.send("PING")
    assert user.next() == "PONG"


@pytest.mark.parametrize("spoil", ["secret", "passphrase", "apiKey", "type", "no auth"])
def test_the_user_channel_refuses_credentials_that_do_not_match(
    paper: PaperExchange, spoil: str
) -> None:
    trader = Trader(paper.url)
    assert trader.creds is not None
    auth = {"apiKey": trader.creds.api_key, "secret": trader.creds.secret,
            "passphrase": trader.creds.passphrase}
    frame: dict[str, object] = {"auth": auth, "type": "user"}
    if spoil == "type":
        frame["type"] = "market"
    elif spoil == "no auth":
        del frame["auth"]
    else:
        auth[spoil] = auth[spoil][:-2] + "xx"
    stream = RawStream(paper.url.replace("http://", "ws://") + "/ws/user")
    stream.send(frame)
    assert stream.closed_with() == (1008, "invalid credentials")


def test_order_events_say_placement_update_and_cancellation(paper: PaperExchange) -> None:
    maker, taker, stream = streams(paper)
    order_id = maker.place("BUY", "0.45", "10")
    taker.place("SELL", "0.45", "6")
    maker.ok("DELETE", "/order", {"orderID": order_id})
    events = [e for e in stream.until(lambda e: e.get("type") == "CANCELLATION")
              if e["event_type"] == "order"]
    assert [(e["type"], e["status"], e["size_matched"]) for e in events] == [
        ("PLACEMENT", "LIVE", "0"), ("UPDATE", "LIVE", "6"), ("CANCELLATION", "CANCELED", "6")]
    for event in events:
        assert set(event) >= ORDER_KEYS
        assert event["id"] == order_id and event["asset_id"] == TOKEN
        assert event["owner"] == maker.creds.api_key  # type: ignore[union-attr]
        assert (event["side"], event["price"], event["original_size"]) == ("BUY", "0.45", "10")


def test_trades_are_matched_then_mined_then_confirmed_for_both_sides(
    paper: PaperExchange, clock
) -> None:
    maker, taker, maker_stream = streams(paper)
    assert taker.creds is not None
    taker_stream = RawStream.user(paper.url, taker.creds)
    wait_for(lambda: paper.exchange.stream.open_connections()["user"] == 2)
    order_id = maker.place("BUY", "0.45", "10")
    taker.place("SELL", "0.45", "10")
    before = maker_stream.until(lambda e: e.get("status") == "MATCHED")
    clock.advance(1)  # the settle delay: one step per second on the exchange clock
    before += maker_stream.until(lambda e: e.get("status") == "MINED")
    clock.advance(1)
    got = {}
    for name, stream in (("maker", maker_stream), ("taker", taker_stream)):
        seen = before if name == "maker" else []
        seen += stream.until(lambda e: e.get("status") == "CONFIRMED")
        trades = [e for e in seen if e["event_type"] == "trade"]
        assert [t["status"] for t in trades] == ["MATCHED", "MINED", "CONFIRMED"]
        assert len({t["id"] for t in trades}) == 1
        assert set(trades[0]) >= TRADE_KEYS
        assert [bool(t["transaction_hash"]) for t in trades] == [False, True, True]
        got[name] = trades[-1]
    assert got["maker"]["trader_side"] == "MAKER" and got["taker"]["trader_side"] == "TAKER"
    (mine,) = got["maker"]["maker_orders"]
    assert (mine["order_id"], mine["matched_amount"], mine["owner"]) == (
        order_id, "10", maker.creds.api_key)  # type: ignore[union-attr]


def test_a_failed_trade_says_retrying_then_failed_then_the_order_shrinks(
    paper: PaperExchange, clock
) -> None:
    maker, taker, stream = streams(paper)
    requests.post(paper.url + "/_admin/settlement", json={"fail_next": 1}, timeout=10)
    order_id = maker.place("BUY", "0.45", "10")
    taker.place("SELL", "0.45", "6")
    clock.advance(1)
    stream.until(lambda e: e.get("status") == "RETRYING")
    clock.advance(1)
    after = stream.until(lambda e: e.get("type") == "UPDATE" and e["size_matched"] == "0")
    assert [(e["event_type"], e.get("status")) for e in after] == [
        ("trade", "FAILED"), ("order", "LIVE")]
    assert after[-1]["id"] == order_id


def test_only_the_keys_own_orders_and_chosen_markets_are_sent(paper: PaperExchange) -> None:
    maker, taker, stream = streams(paper)
    other = paper.exchange.markets.get(OTHER_TOKEN).condition_id
    assert maker.creds is not None
    filtered = RawStream.user(paper.url, maker.creds, markets=[other])
    wait_for(lambda: paper.exchange.stream.open_connections()["user"] == 2)
    taker.place("BUY", "0.30", "10")  # not the maker's
    maker.place("BUY", "0.40", "10")  # TOKEN: not in the filter
    maker.place("BUY", "0.40", "10", token=OTHER_TOKEN)
    (event,) = filtered.events(1)
    assert event["asset_id"] == OTHER_TOKEN
    assert [e["asset_id"] for e in stream.events(2)] == [TOKEN, OTHER_TOKEN]
    assert stream.quiet() == [] and filtered.quiet() == []
    condition = paper.exchange.markets.get(TOKEN).condition_id
    filtered.send({"operation": "subscribe", "markets": [condition]})
    filtered.send("PING")
    assert filtered.next() == "PONG"  # the operation is in effect before the PONG
    maker.place("BUY", "0.41", "10")
    assert filtered.events(1)[0]["price"] == "0.41"


def test_the_market_channel_sends_a_book_at_once_and_after_trades(paper: PaperExchange) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("BUY", "0.45", "10")
    market = RawStream.market(paper.url, [TOKEN, "not-a-token"])
    (book,) = market.events(1)
    assert (book["event_type"], book["asset_id"], book["bids"]) == (
        "book", TOKEN, [{"price": "0.45", "size": "10"}])
    assert {"market", "timestamp", "hash", "asks"} <= set(book)
    maker.place("BUY", "0.44", "10")
    assert market.quiet() == []  # a placement is no trade: no book (2.14)
    taker.place("SELL", "0.45", "10")
    (after,) = market.events(1)
    assert after["event_type"] == "book" and after["bids"] == [{"price": "0.44", "size": "10"}]


def test_tick_size_change_is_sent_when_the_tick_moves(paper: PaperExchange) -> None:
    market = RawStream.market(paper.url, [TOKEN])
    market.events(1)
    answer = requests.post(paper.url + "/_admin/market",
                           json={"token_id": TOKEN, "tick_size": "0.001"}, timeout=10)
    assert answer.status_code == 200
    (change,) = market.events(1)
    assert {k: change[k] for k in ("event_type", "asset_id", "old_tick_size",
                                    "new_tick_size")} == {
        "event_type": "tick_size_change", "asset_id": TOKEN, "old_tick_size": "0.01",
        "new_tick_size": "0.001"}
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("SELL", "0.975", "10", tick="0.001")
    taker.place("BUY", "0.975", "10", tick="0.001")  # above 0.96 on a defined 0.001 tick
    kinds = [e["event_type"] for e in market.until(
        lambda e: e["event_type"] == "tick_size_change")]
    assert kinds[-1] == "tick_size_change"


def test_frames_may_be_arrays_and_timestamps_milliseconds(paper: PaperExchange) -> None:
    requests.post(paper.url + "/_admin/wire",
                  json={"stream_frames": "array", "stream_timestamp": "ms"}, timeout=10)
    maker, _, stream = streams(paper)
    maker.place("BUY", "0.45", "10")
    message = stream.next()
    assert isinstance(message, list) and len(message) == 1
    assert len(message[0]["timestamp"]) == 13


def test_faults_lose_delay_and_cut_chosen_messages(paper: PaperExchange) -> None:
    maker, _, stream = streams(paper)
    stream_admin(paper.url, rules=[
        {"action": "lose", "event_type": "order", "match": "PLACEMENT", "count": 1},
        {"action": "delay", "event_type": "order", "match": "CANCELLATION", "delay_ms": 300},
    ])
    first = maker.place("BUY", "0.40", "10")  # its PLACEMENT is lost
    maker.ok("DELETE", "/order", {"orderID": first})  # its CANCELLATION is delayed ...
    second = maker.place("BUY", "0.41", "10")  # ... so this PLACEMENT overtakes it
    events = stream.events(2)
    assert [(e["id"], e["type"]) for e in events] == [
        (second, "PLACEMENT"), (first, "CANCELLATION")]
    state = stream_admin(paper.url, "GET")
    assert (state["lost"], state["delayed"], state["rules"]) == (1, 1, [])
    stream_admin(paper.url, rules=[{"action": "cut", "event_type": "order"}])
    maker.place("BUY", "0.42", "10")
    assert stream.closed_with() == (None, "")  # cut: no close frame, the message never sent


def test_faults_drop_connections_and_refuse_subscriptions(paper: PaperExchange) -> None:
    maker, _, stream = streams(paper)
    market = RawStream.market(paper.url, [TOKEN])
    market.events(1)
    assert stream_admin(paper.url, drop=["user"])["dropped"] == 1
    assert stream.closed_with() == (None, "")
    market.send("PING")
    assert market.next() == "PONG"  # the other channel is untouched
    stream_admin(paper.url, refuse_next=1)
    assert maker.creds is not None
    refused = RawStream.user(paper.url, maker.creds)
    assert refused.closed_with() == (1013, "try again later")
    again = RawStream.user(paper.url, ApiCreds(maker.creds.api_key, maker.creds.secret,
                                               maker.creds.passphrase))
    again.send("PING")
    assert again.next() == "PONG"


def test_admin_refuses_unknown_stream_faults(paper: PaperExchange) -> None:
    for body in ({"rules": [{"action": "explode"}]}, {"drop": ["both"]}, {"loose": 1},
                 {"rules": [{"action": "lose", "count": 0}]}):
        answer = requests.post(paper.url + "/_admin/stream", json=body, timeout=10)
        assert answer.status_code == 400, body
