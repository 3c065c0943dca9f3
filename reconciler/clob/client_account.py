"""The account half of `ClobClient`: cancels, order and trade reads, notifications, heartbeats.

Kept apart from `client.py` for size; `ClobClient` inherits `AccountMethods` and supplies the
plumbing declared at the top of the class (`_l2`, `_paginate`, the pacer, the wallet).

Cancels are split to fit both limits of 2.2 and 2.13: at most 1000 ids per `DELETE /orders`
and at most the tier's cancel burst (a batch is admitted whole or not at all, so one above the
burst can never pass). `cancel_orders` sends as few calls as that allows, paced against the
cancel bucket, and merges the answers into one `CancelResult`. A 429 for a chunk above the burst
(the answer names a lower tier, or gives no Retry-After, which 2.13 sends only within the
burst) means split, not retry. Every chunk is cut again against the burst known just before
it is sent, so a tier lowered part way re-splits every chunk left. Any other failure raises with
`.partial` holding what the earlier chunks did and which ids were never sent.

Every answer is checked against the question: open orders read with a token (or market, or id)
filter must all be of that token, a cancel answer may only name ids that were sent, and an
order read by id must be that order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reconciler.clob.errors import (
    ClobError,
    ExchangeRejected,
    NotFound,
    OverBurst,
    ProtocolError,
    RateLimited,
)
from reconciler.clob.notifications import Notification, parse_notifications
from reconciler.clob.parsing import INITIAL_CURSOR, order_id_key, require_dict
from reconciler.clob.ratelimit import MAX_CANCEL_IDS, Bucket, Pacer, cancel_chunks
from reconciler.clob.transport import build_query
from reconciler.clob.types import (
    CancelResult,
    HeartbeatResult,
    OrderDetails,
    Page,
    Trade,
    parse_cancel_result,
    parse_open_order,
    parse_order_details,
    parse_page_envelope,
    parse_trade,
)
from reconciler.model import OpenOrder

if TYPE_CHECKING:
    from reconciler.clob.signing import Wallet

log = logging.getLogger(__name__)

V1_HEARTBEATS = "/v1/heartbeats"
PLAIN_HEARTBEATS = "/heartbeats"
ORDER_NOT_FOUND = "order not found"


class AccountMethods:
    """Cancels, reads and heartbeats for `ClobClient` (see the module docstring)."""

    if TYPE_CHECKING:
        max_pages: int

        @property
        def pacer(self) -> Pacer: ...
        def _require_wallet(self) -> Wallet: ...
        def _l2(
            self, method: str, path: str, *, query: str = "", payload: Any = None, cost: int = 1,
            empty_ok: bool = True,
        ) -> Any: ...
        def _paginate(
            self, path: str, filters: list[tuple[str, object]], *, cursor: str, first_only: bool
        ) -> list[Any]: ...

    _heartbeat_path: str = V1_HEARTBEATS

    # --- cancels --------------------------------------------------------------------------------

    def cancel_order(self, order_id: str) -> CancelResult:
        answer = parse_cancel_result(self._l2("DELETE", "/order", payload={"orderID": order_id}))
        _only_asked(answer, [order_id], "DELETE /order")
        return answer

    def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        """Cancel by id in as few `DELETE /orders` as the 1000-id limit and the cancel burst
        allow, paced; one merged answer. Duplicate ids are sent once (the exchange drops them
        anyway, and each id sent costs a token).

        Each chunk is cut again, just before it is sent, against the burst of the tier known
        then: an answer part way may name a lower tier (2.13), and a chunk above the burst can
        never pass. When a call fails, the error's `.partial` holds what the earlier calls did
        and, in `never_sent`, the ids no call carried (None when there is neither)."""
        if isinstance(order_ids, str):
            raise TypeError("cancel_orders takes a list of order ids, not one string")
        ids = list(dict.fromkeys(order_ids))
        pending = [ids] if ids else []
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}

        def so_far(unsent: list[list[str]]) -> CancelResult:
            never_sent = tuple(i for chunk in unsent for i in chunk)
            return CancelResult(tuple(canceled), dict(not_canceled), never_sent=never_sent)

        while pending:
            chunk = pending.pop(0)
            size = min(MAX_CANCEL_IDS, self.pacer.burst(Bucket.CANCEL))
            if len(chunk) > size:
                pending[:0] = cancel_chunks(chunk, burst=size)
                continue
            try:
                data = self._l2("DELETE", "/orders", payload=chunk, cost=len(chunk))
                result = parse_cancel_result(data)
                _only_asked(result, chunk, "DELETE /orders")
            except RateLimited as exc:
                smaller = self._split_after_429(chunk, exc)
                if smaller is None:
                    exc.partial = so_far(pending)
                    raise
                pending[:0] = smaller
                continue
            except ClobError as exc:
                unsent = [chunk, *pending] if isinstance(exc, OverBurst) else pending
                if canceled or not_canceled or unsent:
                    exc.partial = so_far(unsent)
                raise
            canceled.extend(result.canceled)
            not_canceled.update(result.not_canceled)
        return CancelResult(canceled=tuple(canceled), not_canceled=not_canceled)

    def _split_after_429(self, chunk: list[str], exc: RateLimited) -> list[list[str]] | None:
        """The smaller chunks to send instead, when the 429 says the chunk is above the burst
        (None: the chunk fits, so the 429 is a plain "wait")."""
        burst = self.pacer.burst(Bucket.CANCEL)  # the 429's Tier header has been adopted
        if len(chunk) > burst:
            log.info("a cancel batch of %d is above the %d burst: split", len(chunk), burst)
            return cancel_chunks(chunk, burst=burst)
        if len(chunk) > 1 and not exc.retry_after_stated:
            half = (len(chunk) + 1) // 2
            log.info("a cancel batch of %d got a 429 without Retry-After: split", len(chunk))
            return [chunk[:half], chunk[half:]]
        return None

    def cancel_all(self) -> CancelResult:
        return parse_cancel_result(self._l2("DELETE", "/cancel-all"))

    def cancel_market_orders(self, market: str = "", asset_id: str = "") -> CancelResult:
        """Cancel this account's orders in one market (condition id) and/or one token.

        Both keys are always sent, "" meaning "not filtered by this" (2.2 and 5: the OpenAPI
        marks both required; "send both keys"). Both empty would cancel every order of the
        account, so that is refused before anything is sent: cancel_all() says it on purpose."""
        market, asset_id = (market or "").strip(), (asset_id or "").strip()
        if not market and not asset_id:
            raise ValueError(
                "cancel_market_orders needs market= or asset_id=; use cancel_all() to cancel "
                "every order of the account"
            )
        body = {"market": market, "asset_id": asset_id}
        return parse_cancel_result(self._l2("DELETE", "/cancel-market-orders", payload=body))

    # --- reads ----------------------------------------------------------------------------------

    def get_order(self, order_id: str) -> OrderDetails | None:
        """The order with this hash in any state, or None when the exchange has no such order
        (a 404 `{"error": "Order not found"}` or a 200 `null`, both per 2.2). An empty body is
        neither: a `ProtocolError` (the SDKs hand it back as "", not as None).

        Absent is not "never placed": a POST still in flight may land after this read, and a
        FAK that matched in full has been seen to come back with nothing (its fills are in
        /data/trades). What absence means is the caller's decision, not this method's."""
        try:
            data = self._l2("GET", f"/data/order/{order_id}", empty_ok=False)
        except NotFound as exc:
            if ORDER_NOT_FOUND in exc.message.lower():
                return None
            raise
        if data is None:
            return None
        details = parse_order_details(data)
        if details.order_id != order_id_key(order_id):
            raise ProtocolError(
                f"GET /data/order/{order_id}: the exchange answered with order "
                f"{details.order_id}, not the one asked for"
            )
        return details

    def get_open_orders(
        self,
        *,
        market: str = "",
        asset_id: str = "",
        id: str = "",
        only_first_page: bool = False,
    ) -> list[OpenOrder]:
        """This account's open orders, every page, normalised for the planner. Each order must
        match the filters sent and come back once, or the whole read is a `ProtocolError`."""
        filters: list[tuple[str, object]] = [("market", market), ("asset_id", asset_id), ("id", id)]
        items = self._paginate(
            "/data/orders", filters, cursor=INITIAL_CURSOR, first_only=only_first_page
        )
        orders = [parse_open_order(item) for item in items]
        for order in orders:
            _check_filters(order, market=market, asset_id=asset_id, order_id=id)
        _each_once(orders)
        return orders

    def get_trades(
        self,
        *,
        market: str = "",
        asset_id: str = "",
        after: int | None = None,
        before: int | None = None,
        maker_address: str = "",
        id: str = "",
        only_first_page: bool = False,
    ) -> list[Trade]:
        filters = _trade_filters(market, asset_id, after, before, maker_address, id)
        items = self._paginate(
            "/data/trades", filters, cursor=INITIAL_CURSOR, first_only=only_first_page
        )
        return [parse_trade(item) for item in items]

    def get_trades_paginated(
        self,
        *,
        market: str = "",
        asset_id: str = "",
        after: int | None = None,
        before: int | None = None,
        maker_address: str = "",
        id: str = "",
        next_cursor: str = INITIAL_CURSOR,
    ) -> Page[Trade]:
        filters = _trade_filters(market, asset_id, after, before, maker_address, id)
        query = build_query([*filters, ("next_cursor", next_cursor or INITIAL_CURSOR)])
        data, cursor, limit, count = parse_page_envelope(
            self._l2("GET", "/data/trades", query=query), "GET /data/trades"
        )
        return Page(
            items=tuple(parse_trade(t) for t in data), next_cursor=cursor, limit=limit, count=count
        )

    # --- notifications and heartbeats -----------------------------------------------------------

    def get_notifications(self) -> list[Notification]:
        """Every notification of types 1-11; items of an unknown type are skipped."""
        signature_type = int(self._require_wallet().signature_type)
        query = build_query([("signature_type", signature_type)])
        return parse_notifications(self._l2("GET", "/notifications", query=query))

    def drop_notifications(self, ids: Sequence[str]) -> None:
        if isinstance(ids, str):
            raise TypeError("drop_notifications takes a list of ids, not one string")
        if not ids:
            return
        self._l2("DELETE", "/notifications", query=build_query([("ids", ",".join(ids))]))

    def post_heartbeat(self, heartbeat_id: str = "") -> HeartbeatResult:
        """Keep the dead-man switch alive (once started, ~10 s of silence cancels every order of
        this API key). POST /v1/heartbeats chains ids: the answer names the id to send next. A
        400 that carries the expected id (under `error` or `error_msg`; what matters is
        `heartbeat_id`) means our id went stale (an answer was lost): adopt it and send again at
        once. Only a 404 falls back to the unchained POST /heartbeats."""
        if self._heartbeat_path == V1_HEARTBEATS:
            try:
                return self._chained_heartbeat(heartbeat_id)
            except NotFound:
                log.info("POST /v1/heartbeats is 404 here; using POST /heartbeats")
                self._heartbeat_path = PLAIN_HEARTBEATS
        data = self._l2("POST", PLAIN_HEARTBEATS)
        return HeartbeatResult(heartbeat_id=heartbeat_id, status=_heartbeat_status(data))

    def _chained_heartbeat(self, heartbeat_id: str) -> HeartbeatResult:
        try:
            data = self._l2("POST", V1_HEARTBEATS, payload={"heartbeat_id": heartbeat_id})
        except ExchangeRejected as exc:
            expected = _expected_heartbeat_id(exc)
            if expected is None or expected == heartbeat_id:
                raise
            log.info("heartbeat id was stale; continuing the chain with the exchange's id")
            data = self._l2("POST", V1_HEARTBEATS, payload={"heartbeat_id": expected})
        item = require_dict(data, "POST /v1/heartbeats")
        next_id = item.get("heartbeat_id")
        if not isinstance(next_id, str) or not next_id:
            raise ProtocolError("POST /v1/heartbeats: the answer has no heartbeat_id")
        return HeartbeatResult(heartbeat_id=next_id, status=str(item.get("status") or ""))


def _expected_heartbeat_id(exc: ExchangeRejected) -> str | None:
    if exc.status != 400 or not isinstance(exc.payload, dict):
        return None
    expected = exc.payload.get("heartbeat_id")
    return expected if isinstance(expected, str) and expected else None


def _heartbeat_status(data: Any) -> str:
    return str(data.get("status", "")) if isinstance(data, dict) else ""


def _only_asked(result: CancelResult, asked: Sequence[str], what: str) -> None:
    sent = {order_id_key(i) for i in asked}
    strangers = [i for i in (*result.canceled, *result.not_canceled) if i not in sent]
    if strangers:
        raise ProtocolError(
            f"{what}: the answer names {len(strangers)} id(s) that were not sent, e.g. "
            f"{strangers[0]}; not trusting it",
            method="DELETE",
            path=what.split(" ", 1)[-1],
            outcome_unknown=True,
        )


def _check_filters(order: OpenOrder, *, market: str, asset_id: str, order_id: str) -> None:
    if asset_id and order.token_id != asset_id:
        raise ProtocolError(
            f"GET /data/orders?asset_id={asset_id}: the answer holds order {order.order_id} of "
            f"token {order.token_id}; not trusting the read"
        )
    if market and order.market and order.market.lower() != market.lower():
        raise ProtocolError(
            f"GET /data/orders?market={market}: the answer holds order {order.order_id} of "
            f"market {order.market}; not trusting the read"
        )
    if order_id and order.order_id != order_id_key(order_id):
        raise ProtocolError(
            f"GET /data/orders?id={order_id}: the answer holds order {order.order_id}"
        )


def _each_once(orders: Sequence[OpenOrder]) -> None:
    """An order listed twice in one read (on two pages, when the list shifted between page
    reads, or twice on one) would count its size twice: the read cannot be trusted whole."""
    seen: set[str] = set()
    for order in orders:
        if order.order_id in seen:
            raise ProtocolError(
                f"GET /data/orders: the read lists order {order.order_id} more than once (the "
                "list changed between pages?); not trusting the read"
            )
        seen.add(order.order_id)


def _trade_filters(
    market: str, asset_id: str, after: int | None, before: int | None, maker: str, trade_id: str
) -> list[tuple[str, object]]:
    # The fixed order the official clients use: market, asset_id, after, before, maker_address, id.
    return [
        ("market", market),
        ("asset_id", asset_id),
        ("after", after),
        ("before", before),
        ("maker_address", maker),
        ("id", trade_id),
    ]


__all__ = ["MAX_CANCEL_IDS", "AccountMethods"]
