"""The stream client (reconciler.clob.ws, stream_types): URLs, strict parsing of every message
shape of clob-v2-wire.md 2.14, the PING schedule and read deadline, and what a broken stream
raises. Garbage is a ProtocolError naming the problem, never an event."""

from __future__ import annotations

import json
import logging
import random
import time
from decimal import Decimal
from typing import Any

import pytest

from paperclob import PaperExchange
from reconciler.clob import ProtocolError, TransportError
from reconciler.clob.auth import ApiCreds
from reconciler.clob.stream_types import (
    BookEvent,
    OrderEvent,
    OrderEventType,
    OtherMarketEvent,
    TickSizeChange,
    TradeEvent,
    parse_frame,
)
from reconciler.clob.ws import (
    ReconnectBackoff,
    StreamConnection,
    channel_url,
    market_connection,
    user_connection,
    ws_base_url,
)
from reconciler.model import Side
from tests.support.paper import TOKEN, Trader
from tests.support.stream import ScriptedServer, wait_for

ORDER_ID = "0x" + "ff354cd7" * 8
TAKER_ID = "0x" + "06bc63e3" * 8
MARKET = "0x" + "bd31dc8a" * 8
ASSET = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
OWNER = "9180014b-33c8-9240-a14b-bdca11c0a465"

#: 2.14's asyncapi example "Order placement", with whole ids.
ORDER = {"event_type": "order", "id": ORDER_ID, "owner": OWNER, "market": MARKET,
         "asset_id": ASSET, "side": "SELL", "order_owner": OWNER, "original_size": "10",
         "size_matched": "0", "price": "0.57", "associate_trades": None, "outcome": "YES",
         "type": "PLACEMENT", "created_at": "1672290687", "expiration": "1234567",
         "order_type": "GTD", "status": "LIVE", "maker_address": "0x1234",
         "timestamp": "1672290687"}
#: 2.14's example "Trade matched".
TRADE = {"event_type": "trade", "type": "TRADE", "id": "28c4d2eb-bbea-40e7-a9f0-b2fdb56b2c2e",
         "taker_order_id": TAKER_ID, "market": MARKET, "asset_id": ASSET, "side": "BUY",
         "size": "10", "price": "0.57", "fee_rate_bps": "0", "status": "MATCHED",
         "match_time": "1672290701", "last_update": "1672290701", "outcome": "YES",
         "owner": OWNER, "trade_owner": OWNER, "maker_address": "0x1234",
         "transaction_hash": "", "bucket_index": 0,
         "maker_orders": [{"order_id": ORDER_ID, "owner": OWNER, "maker_address": "0x5678",
                           "matched_amount": "10", "price": "0.57", "fee_rate_bps": "0",
                           "asset_id": ASSET, "outcome": "YES", "side": "SELL"}],
         "trader_side": "TAKER", "timestamp": "1672290701"}
BOOK = {"event_type": "book", "asset_id": ASSET, "market": MARKET,
        "bids": [{"price": ".48", "size": "30"}, {"price": ".49", "size": "20"}],
        "asks": [{"price": ".52", "size": "25"}], "timestamp": "123456789000", "hash": "0x0"}
TICK = {"event_type": "tick_size_change", "asset_id": ASSET, "market": MARKET,
        "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": "100000000"}


def frame(*events: dict[str, Any]) -> str:
    return json.dumps(events[0] if len(events) == 1 else list(events))


# --- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "override", "base"), [
    ("https://clob.polymarket.com", None, "wss://ws-subscriptions-clob.polymarket.com/ws"),
    ("https://clob.polymarket.com/", None, "wss://ws-subscriptions-clob.polymarket.com/ws"),
    ("http://127.0.0.1:8080", None, "ws://127.0.0.1:8080/ws"),
    ("https://exchange.example/api", None, "wss://exchange.example/api/ws"),
    ("http://127.0.0.1:8080", "wss://stream.example/ws/", "wss://stream.example/ws"),
])
def test_the_stream_url_is_derived_from_the_host_or_set(
    host: str, override: str | None, base: str
) -> None:
    assert ws_base_url(host, override) == base
    assert channel_url(base, "user") == base + "/user"
    assert channel_url(base, "market") == base + "/market"


@pytest.mark.parametrize("override", ["https://stream.example/ws", "stream.example", "ws://"])
def test_a_stream_url_that_is_not_ws_is_refused(override: str) -> None:
    with pytest.raises(ValueError, match="--ws-url must be a ws:// or wss:// URL"):
        ws_base_url("https://clob.polymarket.com", override)


# --- parsing ---------------------------------------------------------------------------------


def test_the_reference_examples_parse() -> None:
    (order,) = parse_frame(frame(ORDER), "user")
    assert isinstance(order, OrderEvent)
    assert (order.order_id, order.kind, order.side, order.price) == (
        ORDER_ID, OrderEventType.PLACEMENT, Side.SELL, Decimal("0.57"))
    assert order.timestamp_ms == 1672290687000 and order.associate_trades == ()
    trade, again = parse_frame(frame(TRADE, {**TRADE, "status": "CONFIRMED",
                                             "transaction_hash": "0xabc"}), "user")
    assert isinstance(trade, TradeEvent) and isinstance(again, TradeEvent)
    assert trade.trade.status == "MATCHED" and again.trade.status == "CONFIRMED"
    assert trade.trade.maker_orders[0].order_id == ORDER_ID and trade.token_ids == {ASSET}
    book, tick, other = parse_frame(frame(BOOK, TICK, {"event_type": "price_change",
                                                       "market": MARKET}), "market")
    assert isinstance(book, BookEvent) and book.bids[0].price == Decimal("0.48")
    assert book.timestamp_ms == 123456789000
    assert isinstance(tick, TickSizeChange) and tick.new_tick_size == Decimal("0.001")
    assert isinstance(other, OtherMarketEvent)


def test_the_forms_sources_disagree_on_are_all_accepted() -> None:
    ms = {**ORDER, "timestamp": "1672290687123", "status": "CANCELED_EXPIRED_ORDER",
          "type": "CANCELLATION", "associate_trades": ["t1"], "token_id": ASSET}
    del ms["asset_id"]
    (order,) = parse_frame(json.dumps(ms), "user")
    assert isinstance(order, OrderEvent)
    assert (order.timestamp_ms, order.status, order.status_reason, order.asset_id) == (
        1672290687123, "CANCELED", "EXPIRED_ORDER", ASSET)
    aliased = {**TRADE, "matchtime": TRADE["match_time"], "token_id": ASSET}
    del aliased["match_time"], aliased["asset_id"]
    (trade,) = parse_frame(json.dumps(aliased).encode(), "user")
    assert isinstance(trade, TradeEvent) and trade.trade.match_time == 1672290701
    assert parse_frame("[]", "user") == []


GARBAGE = [
    ("not json", "user", "not JSON"),
    ('"text"', "user", "expected a JSON object"),
    ("[1]", "user", "expected a JSON object"),
    (json.dumps({"type": "PLACEMENT"}), "user", "without an event_type"),
    (json.dumps({**ORDER, "event_type": "balance"}), "user", "unknown type 'balance'"),
    (json.dumps(BOOK), "user", "unknown type 'book'"),
    (json.dumps(ORDER), "market", "unknown type 'order'"),
    (json.dumps({**ORDER, "id": "0x123"}), "user", "not an order hash"),
    (json.dumps({**ORDER, "size_matched": "11"}), "user", "above original_size"),
    (json.dumps({**ORDER, "original_size": "-1"}), "user", "must not be negative"),
    (json.dumps({**ORDER, "price": "1.5"}), "user", "at most 1"),
    (json.dumps({**ORDER, "price": "NaN"}), "user", "not a finite decimal"),
    ('{"event_type": "order", "price": NaN}', "user", "not a number"),
    (json.dumps({**ORDER, "status": "SLEEPING"}), "user", "SLEEPING"),
    (json.dumps({**ORDER, "type": "MOVED"}), "user", "unknown order event type"),
    (json.dumps({**ORDER, "side": "HOLD"}), "user", "expected BUY or SELL"),
    (json.dumps({**ORDER, "asset_id": "abc"}), "user", "asset_id must be a token id"),
    (json.dumps({k: v for k, v in ORDER.items() if k != "timestamp"}), "user", "'timestamp'"),
    (json.dumps({**ORDER, "order_type": "GTX"}), "user", "unknown order_type"),
    (json.dumps({**TRADE, "status": "SETTLED"}), "user", "SETTLED"),
    (json.dumps({**TRADE, "size": "ten"}), "user", "not a decimal"),
    (json.dumps({**TRADE, "type": "ORDER"}), "user", "type must be TRADE"),
    (json.dumps({k: v for k, v in TRADE.items() if k != "taker_order_id"}), "user",
     "'taker_order_id'"),
    (json.dumps({**TRADE, "maker_orders": [{"order_id": ORDER_ID}]}), "user", "'owner'"),
    (json.dumps({**BOOK, "bids": "none"}), "market", "expected a JSON array"),
    (json.dumps({**BOOK, "asks": [{"price": "2", "size": "1"}]}), "market", "at most 1"),
    (json.dumps({**TICK, "new_tick_size": "0"}), "market", "above 0"),
    (json.dumps({k: v for k, v in TICK.items() if k != "new_tick_size"}), "market",
     "'new_tick_size'"),
    ("[" * 100_000, "user", "not JSON"),
]


@pytest.mark.parametrize(("data", "channel", "says"), GARBAGE)
def test_garbage_is_a_protocol_error_that_names_it(data: str, channel: str, says: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_frame(data, channel)
    assert says in str(raised.value)


def test_one_bad_event_spoils_its_whole_frame() -> None:
    with pytest.raises(ProtocolError):
        parse_frame(frame(ORDER, {**ORDER, "size_matched": "99"}), "user")


# --- connections -----------------------------------------------------------------------------


def test_a_user_connection_reads_the_paper_exchanges_events(paper: PaperExchange) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    assert maker.creds is not None
    stream = user_connection(ws_base_url(paper.url), maker.creds)
    stream.connect()
    wait_for(lambda: paper.exchange.stream.open_connections()["user"] == 1)
    order_id = maker.place("BUY", "0.45", "10")
    taker.place("SELL", "0.45", "6")
    events: list[Any] = []
    while len(events) < 3:
        events += stream.receive(timeout=5)
    assert [type(e).__name__ for e in events] == ["OrderEvent", "OrderEvent", "TradeEvent"]
    assert events[1].size_matched == 6 and events[1].order_id == order_id
    assert events[2].trade.maker_orders[0].order_id == order_id
    stream.close()
    assert not stream.connected


def test_ping_goes_out_on_schedule_and_pongs_keep_the_link_alive(paper: PaperExchange) -> None:
    market = market_connection(ws_base_url(paper.url), [TOKEN], ping_every_s=0.05,
                               read_deadline_s=0.5)
    market.connect()
    (book,) = market.receive(timeout=5)
    assert isinstance(book, BookEvent)
    until = time.monotonic() + 1.0  # twice the read deadline: only PONGs keep it open
    while time.monotonic() < until:
        assert market.receive(timeout=0.1) == []
    assert market.pongs >= 10 and market.connected
    market.close()


def swallow(conn: Any) -> None:
    """Read PINGs and answer nothing, for a few seconds."""
    until = time.monotonic() + 3
    while time.monotonic() < until:
        conn.recv(timeout=until - time.monotonic())


def test_a_quiet_server_trips_the_read_deadline() -> None:
    with ScriptedServer(swallow) as server:
        stream = market_connection(server.url, [ASSET], ping_every_s=0.05, read_deadline_s=0.2)
        stream.connect()
        with pytest.raises(TransportError, match="went quiet"):
            for _ in range(100):
                stream.receive(timeout=0.1)
        assert not stream.connected


def test_a_garbled_frame_closes_the_connection_with_a_protocol_error() -> None:
    with ScriptedServer(lambda conn: conn.send('{"event_type": "order", "id": 1}')) as server:
        stream = user_connection(server.url, ApiCreds("key", "c2VjcmV0c2VjcmV0", "passphrase1"))
        stream.connect()
        with pytest.raises(ProtocolError, match="not an order hash"):
            stream.receive(timeout=5)
        assert not stream.connected


def test_a_closed_connection_is_a_transport_error_with_its_code() -> None:
    with ScriptedServer(lambda conn: conn.close(1011, "going away")) as server:
        stream = market_connection(server.url, [ASSET])
        stream.connect()
        with pytest.raises(TransportError, match="code 1011, going away"):
            stream.receive(timeout=5)


def test_nothing_to_connect_to_is_a_transport_error() -> None:
    stream = market_connection("ws://127.0.0.1:9", [ASSET], open_timeout_s=2)
    with pytest.raises(TransportError, match="could not open the market stream"):
        stream.connect()


def test_the_secret_and_passphrase_never_reach_a_log_or_an_error(caplog) -> None:
    creds = ApiCreds("key-1", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "passphrase-passphrase")
    echo = '{"event_type": "order", "id": "%s"}'  # a hostile server echoes the secret back

    def script(conn: Any) -> None:
        conn.send(echo % creds.secret)

    caplog.set_level(logging.DEBUG)
    with ScriptedServer(script) as server:
        stream = user_connection(server.url, creds)
        stream.connect()
        with pytest.raises(ProtocolError) as raised:
            stream.receive(timeout=5)
    assert json.loads(server.first_frames[0])["auth"]["secret"] == creds.secret  # it was sent
    for text in (caplog.text, str(raised.value)):
        assert creds.secret not in text and creds.passphrase not in text
    assert "[redacted]" in str(raised.value)


def test_reconnect_waits_double_with_jitter_up_to_the_cap() -> None:
    backoff = ReconnectBackoff(base_s=1, cap_s=8, rng=random.Random(3))
    waits = [backoff.next_delay() for _ in range(6)]
    for wait, ceiling in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(waits)) == 6  # jittered: no two alike
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_a_connection_refuses_a_ping_schedule_past_its_deadline() -> None:
    with pytest.raises(ValueError):
        StreamConnection("ws://x", channel="user", subscription={}, ping_every_s=30,
                         read_deadline_s=10)
