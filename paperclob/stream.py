"""The paper exchange's WebSocket channels: `/ws/user` and `/ws/market` (clob-v2-wire.md 2.14).

Served on the REST port (server.py hands an Upgrade to `StreamHub.serve`; wsserver.py speaks the
protocol). What a client sees:

* keep-alive: the text frame `PING` is answered `PONG`, before and after subscribing;
* user channel: the first frame authenticates as on the exchange, `{"auth": {"apiKey",
  "secret", "passphrase"}, "type": "user", "markets"?: [condition ids]}`; then the key's
  `order` events (PLACEMENT, UPDATE, CANCELLATION) and `trade` events, one per status in the
  order the settlement produces them (MATCHED, MINED, CONFIRMED, or RETRYING, FAILED:
  settlement.py). `{"operation": "subscribe" | "unsubscribe", "markets": [...]}` changes the
  filter;
* market channel: the first frame `{"assets_ids": [...], "type": "market"}`; a `book` snapshot
  of each token at once and after every trade in it, and `tick_size_change` when its tick moves;
  `operation` frames add or remove tokens (a new token gets its snapshot).

Where the reference is silent, the paper exchange's choices (documented, not observed):
* refusals: a first frame that is not a valid subscription, or credentials that do not match,
  close the connection with 1008 (policy violation) and a reason; so does a later frame that is
  neither PING nor an `operation`;
* event order of an order that trades on arrival: its PLACEMENT (its state after matching), then
  per trade the makers' UPDATEs and the trade's MATCHED; a fully matched order's event says
  UPDATE with status MATCHED; a failed fill's trade FAILED comes before the UPDATEs that lower
  the orders' `size_matched` again;
* a trade event goes to the taker's key (`trader_side` TAKER) and to each maker's key (MAKER),
  in the REST trade's shape as that key sees it (trade_json), plus `event_type`, `type: TRADE`,
  `trade_owner` (the taker's key) and `timestamp`;
* `book` is not sent for placements and cancels (the reference's `price_change` is, on the
  exchange; the paper exchange does not send it).

Frames carry one event each, or JSON arrays (wire form `stream_frames`); timestamps are seconds,
or milliseconds (wire form `stream_timestamp`). Faults: stream_faults.py.

Every publish runs under the exchange lock and only queues text on the sessions, so a slow
client never holds the exchange up. A pusher thread (started with the first connection) runs
the exchange's housekeeping every few milliseconds while clients are connected, so trades move
through settlement and GTD orders expire on time, as they would on the exchange.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from paperclob import render
from paperclob.book import CANCELED, Order
from paperclob.engine import EngineEvents, Execution, Trade
from paperclob.markets import Market, MarketError
from paperclob.settlement import CONFIRMED_S, FAILED_S, MATCHED_S, MINED_S, RETRYING_S
from paperclob.state import ApiKey
from paperclob.stream_faults import StreamFaults
from paperclob.wsserver import Session

if TYPE_CHECKING:
    from paperclob.exchange import Exchange

log = logging.getLogger("paperclob.stream")

USER_PATH, MARKET_PATH = "/ws/user", "/ws/market"
PATHS = {USER_PATH: "user", MARKET_PATH: "market"}
PUSH_EVERY_S = 0.01
SETTLING = (MATCHED_S, MINED_S, CONFIRMED_S)
FAILING = (MATCHED_S, RETRYING_S, FAILED_S)
RANK = {MATCHED_S: 0, MINED_S: 1, RETRYING_S: 1, CONFIRMED_S: 2, FAILED_S: 2}
#: Why an order was cancelled -> the stream's CANCELED_<REASON> (2.12).
CANCEL_STATUS = {"expired": "CANCELED_EXPIRED_ORDER", "market resolved":
                 "CANCELED_MARKET_RESOLVED"}


class Subscriber:
    def __init__(self, session: Session, channel: str) -> None:
        self.session = session
        self.channel = channel
        self.key: ApiKey | None = None
        self.markets: set[str] | None = None  # user: condition ids (lower case); None = all
        self.assets: set[str] = set()  # market: token ids

    @property
    def subscribed(self) -> bool:
        return self.key is not None if self.channel == "user" else bool(self.assets)


class StreamHub(EngineEvents):
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.faults = StreamFaults()
        self._subscribers: list[Subscriber] = []  # guarded by the exchange lock
        self._pending: dict[str, tuple[Trade, str]] = {}  # trade id -> (trade, last status)
        self._stop = threading.Event()
        self._pusher: threading.Thread | None = None
        self.connections = {"user": 0, "market": 0}  # accepted so far

    # --- connections ------------------------------------------------------------------------

    def serve(self, sock: Any, raw: bytes, path: str) -> None:
        """Run one WebSocket connection to the end (in the HTTP handler's thread)."""
        sock.settimeout(None)
        session = Session.accept(sock, raw, path)
        if session is None:
            return
        subscriber = Subscriber(session, PATHS[path])
        with self.exchange.lock:
            self._subscribers.append(subscriber)
            self.connections[subscriber.channel] += 1
            self._start_pusher()
        try:
            session.run(lambda s, text: self._on_text(subscriber, text))
        finally:
            with self.exchange.lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

    def drop(self, channels: list[str]) -> int:
        """Cut every connection of these channels (call with the lock held)."""
        cut = [s for s in self._subscribers if s.channel in channels]
        for subscriber in cut:
            subscriber.session.drop()
        return len(cut)

    def open_connections(self) -> dict[str, int]:
        counts = {"user": 0, "market": 0}
        for s in self._subscribers:
            if s.subscribed:
                counts[s.channel] += 1
        return counts

    def stop(self) -> None:
        self._stop.set()
        with self.exchange.lock:
            subscribers = list(self._subscribers)
        for s in subscribers:
            s.session.drop()
        if self._pusher is not None:
            self._pusher.join(timeout=2)

    # --- frames from clients ----------------------------------------------------------------

    def _on_text(self, sub: Subscriber, text: str) -> None:
        if text == "PING":
            sub.session.send_text("PONG")
            return
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        with self.exchange.lock:
            if not isinstance(frame, dict):
                sub.session.close(1008, "expected a JSON object or PING")
            elif not sub.subscribed and "operation" not in frame:
                self._subscribe(sub, frame)
            else:
                self._operation(sub, frame)

    def _subscribe(self, sub: Subscriber, frame: dict[str, Any]) -> None:
        if self.faults.refuse_next > 0:
            self.faults.refuse_next -= 1
            sub.session.close(1013, "try again later")
            return
        if sub.channel == "user":
            key = self._authenticate(frame)
            markets = frame.get("markets")
            if key is None:
                sub.session.close(1008, "invalid credentials")
            elif markets is not None and not _strings(markets):
                sub.session.close(1008, "markets must be a list of condition ids")
            else:
                sub.key = key
                sub.markets = None if markets is None else {m.lower() for m in markets}
            return
        assets = frame.get("assets_ids")
        if not _strings(assets) or not assets:
            sub.session.close(1008, "assets_ids must be a non-empty list of token ids")
            return
        self._add_assets(sub, assets)

    def _authenticate(self, frame: dict[str, Any]) -> ApiKey | None:
        auth = frame.get("auth")
        if str(frame.get("type", "")).lower() != "user" or not isinstance(auth, dict):
            return None
        key = self.exchange.keys.lookup(str(auth.get("apiKey", "")))
        if key is None:
            return None
        secret_ok = hmac.compare_digest(str(auth.get("secret", "")).encode(), key.secret.encode())
        passphrase_ok = hmac.compare_digest(str(auth.get("passphrase", "")).encode(),
                                            key.passphrase.encode())
        return key if secret_ok and passphrase_ok else None

    def _operation(self, sub: Subscriber, frame: dict[str, Any]) -> None:
        operation = frame.get("operation")
        field = "markets" if sub.channel == "user" else "assets_ids"
        items = frame.get(field)
        if operation not in ("subscribe", "unsubscribe") or not isinstance(items, list) \
                or not _strings(items):
            sub.session.close(1008, f"expected {{operation, {field}}}")
            return
        if sub.channel == "market":
            if operation == "subscribe":
                self._add_assets(sub, items)
            else:
                sub.assets.difference_update(items)
            return
        wanted = {m.lower() for m in items}
        if operation == "subscribe":
            if sub.markets is not None:
                sub.markets |= wanted
        else:
            sub.markets = (sub.markets or set()) - wanted

    def _add_assets(self, sub: Subscriber, assets: list[str]) -> None:
        for asset in assets:
            try:
                market = self.exchange.markets.get(asset)
            except MarketError:
                continue  # an id that names no token gets nothing, as on the exchange
            if market.token_id not in sub.assets:
                sub.assets.add(market.token_id)
                self._send(sub, self._book(market), event_type="book", match="")

    # --- publishing (called with the exchange lock held) -------------------------------------

    def submitted(self, execution: Execution) -> None:
        """An order was accepted: its PLACEMENT, then each trade's maker UPDATEs and MATCHED."""
        if not self._subscribers:
            return
        self.order(execution.order, "PLACEMENT")
        for trade in execution.trades:
            for fill in trade.makers:
                self.order(fill.order, "UPDATE")
            self._pending[trade.trade_id] = (trade, "")
            self.catch_up(trade)
        if execution.trades:
            market = self.exchange.markets.get(execution.order.token_id)
            self.market_event(market.token_id, self._book(market), event_type="book")

    def order(self, order: Order, kind: str) -> None:
        if not self._subscribers:
            return
        message = render.stream_order_json(
            order, kind=kind, status=self._order_status(order),
            timestamp=self._timestamp(),
        )
        for sub in self._users(order.owner, order.condition_id):
            self._send(sub, message, event_type="order", match=kind)

    def catch_up(self, trade: Trade) -> None:
        """Publish every status the trade reached since the last one published, in order."""
        entry = self._pending.get(trade.trade_id)
        if entry is None:
            return
        settlement, now = self.exchange.settlement, self.exchange.now_float()
        last, target = entry[1], settlement.status(trade, now)
        if last == target:
            return
        path = FAILING if trade.fail else SETTLING
        start = 0 if not last else RANK[last] + (1 if path[RANK[last]] == last else 0)
        for status in path[start : RANK[target] + 1]:
            self._publish_trade(trade, status)
        if target in (CONFIRMED_S, FAILED_S):
            del self._pending[trade.trade_id]
        else:
            self._pending[trade.trade_id] = (trade, target)

    def tick_changed(self, market: Market, old_tick: Decimal) -> None:
        message = {
            "event_type": "tick_size_change",
            "asset_id": market.token_id,
            "market": market.condition_id,
            "old_tick_size": f"{old_tick.normalize():f}",
            "new_tick_size": f"{market.tick_size.normalize():f}",
            "timestamp": str(int(self.exchange.now_float() * 1000)),
        }
        self.market_event(market.token_id, message, event_type="tick_size_change")

    def market_event(self, token_id: str, message: dict[str, Any], *, event_type: str) -> None:
        for sub in self._subscribers:
            if sub.channel == "market" and token_id in sub.assets:
                self._send(sub, message, event_type=event_type, match="")

    # --- inside -------------------------------------------------------------------------------

    def _publish_trade(self, trade: Trade, status: str) -> None:
        owners = [trade.taker.owner] + [f.order.owner for f in trade.makers]
        settlement = self.exchange.settlement
        step = RANK[status]
        last_update = int(trade.matched_at + step * settlement.delay_s) if step else \
            trade.match_time
        for owner in dict.fromkeys(owners):
            for sub in self._users(owner, trade.taker.condition_id):
                assert sub.key is not None
                message = render.trade_json(
                    trade, viewer=sub.key.address, status=status,
                    transaction_hash=trade.transaction_hash if status in (MINED_S, CONFIRMED_S)
                    else "", last_update=last_update,
                ) | {"event_type": "trade", "type": "TRADE", "trade_owner": trade.taker.owner,
                     "timestamp": self._timestamp()}
                self._send(sub, message, event_type="trade", match=status)

    def _users(self, owner: str, condition_id: str) -> list[Subscriber]:
        return [
            s for s in self._subscribers
            if s.channel == "user" and s.key is not None and s.key.api_key == owner
            and (s.markets is None or condition_id.lower() in s.markets)
        ]

    def _send(self, sub: Subscriber, message: dict[str, Any], *, event_type: str,
              match: str) -> None:
        rule = self.faults.take(channel=sub.channel, event_type=event_type, match=match,
                                api_key=sub.key.api_key if sub.key else "")
        wire = self.exchange.wire
        text = render.dumps([message] if wire.stream_frames == "array" else message).decode()
        if rule is None:
            sub.session.send_text(text)
        elif rule.action == "delay":
            sub.session.send_text(text, delay_s=rule.delay_ms / 1000)
        elif rule.action == "cut":
            sub.session.drop()

    def _book(self, market: Market) -> dict[str, Any]:
        last = self.exchange.engine.last_trade.get(market.token_id)
        book = render.book_json(
            self.exchange.engine.book(market.token_id), market,
            now_ms=int(self.exchange.now_float() * 1000),
            last_trade=f"{last[0]:f}" if last else "0",
        )
        return {"event_type": "book", **book}

    def _order_status(self, order: Order) -> str:
        if order.status == CANCELED:
            return CANCEL_STATUS.get(order.cancel_reason, CANCELED)
        return order.status

    def _timestamp(self) -> str:
        now = self.exchange.now_float()
        return str(int(now * 1000) if self.exchange.wire.stream_timestamp == "ms" else int(now))

    def _start_pusher(self) -> None:
        if self._pusher is None:
            self._pusher = threading.Thread(target=self._push_loop, name="paperclob-stream",
                                            daemon=True)
            self._pusher.start()

    def _push_loop(self) -> None:
        """Housekeeping while clients listen: settlement steps, expiries, failed fills."""
        while not self._stop.wait(PUSH_EVERY_S):
            with self.exchange.lock:
                if not self._subscribers:
                    continue
                try:
                    self.exchange.maintain()
                    for trade, _ in list(self._pending.values()):
                        self.catch_up(trade)
                except Exception:  # a bug must not end the pusher (and every settlement)
                    log.exception("stream housekeeping failed")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


__all__ = ["MARKET_PATH", "PATHS", "USER_PATH", "StreamHub"]
