"""How the engine learns the state of its orders: the one place that turns what the exchange says
into lifecycle events (`reconciler.lifecycle`) on the store.

It learns in four ways, each a function here:
- the open-orders read (`sync_observed`): our orders in it rest, with their matched size;
- a lookup by hash (`look_up_order`, `record_order_state`): for orders whose outcome is unknown
  (engine/resolve.py, which also re-sends them), orders that left the open set
  (`look_up_vanished`), and cancels the exchange did not confirm (engine/apply.py);
- a notification (`consume_notifications`, `record_notification`): fills count toward their
  level, a failed fill (ORDER_FILL_FAILED) is taken back from it, a cancellation is terminal;
- the answers to our own posts and cancels, which apply.py records as it gets them.

Fills are learnt both from notifications and from the cumulative matched size of every order
read; the store keeps the larger of the two, so nothing counts twice. A fill whose trade did
not settle is taken back once per trade, however it is reported (notification 8 here, a FAILED
trade in engine/settlement.py): `Store.reverse_fill` lowers the order's matched size and its
level's fill count, so the level is served again (invariant 12). This relies on the exchange's
`size_matched` no longer counting a failed fill (the paper exchange's choice; the reference is
silent on it): a later read above the lowered figure would count it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from enum import StrEnum
from typing import Protocol

from reconciler import lifecycle
from reconciler.clob import (
    ClobError,
    ExchangeOrderStatus,
    NotFound,
    Notification,
    OrderDetails,
    ProtocolError,
    RateLimited,
    order_id_key,
)
from reconciler.lifecycle import UNRESOLVED_STATUSES, Event, OrderStatus
from reconciler.model import NotificationType, OpenOrder, decimal_of
from reconciler.store import JournalKind, JournalOutcome, Store

log = logging.getLogger(__name__)


class LookupState(StrEnum):
    """What a lookup by hash learnt (also the journal's result for it)."""

    LIVE = "live"
    FILLED = "filled"
    CANCELED = "canceled"
    ABSENT = "absent"  # the exchange has no such order
    UNKNOWN = "unknown"  # the lookup failed: try again next pass


#: The lifecycle event of each lookup answer (a failed lookup records nothing).
_LOOKUP_EVENTS = {
    LookupState.LIVE: Event.LOOKUP_LIVE,
    LookupState.FILLED: Event.LOOKUP_FILLED,
    LookupState.CANCELED: Event.LOOKUP_CANCELED,
    LookupState.ABSENT: Event.LOOKUP_ABSENT,
}
#: Order statuses that mean the order rests (or soon may): `ExchangeOrderStatus.may_rest`, so
#: LIVE and DELAYED. UNMATCHED is not one: 2.12, "not a resting state" (the unified SDK reports
#: a place answer with it as a rejection), so a lookup saying it reads as no longer resting.
_RESTING = frozenset(s.value for s in ExchangeOrderStatus if s.may_rest)


class OrderLookup(Protocol):
    """What a lookup needs from `ClobClient`."""

    def get_order(self, order_id: str) -> OrderDetails | None: ...


# --- lookups by hash -------------------------------------------------------------------------


def look_up_order(
    order_id: str, *, client: OrderLookup, store: Store, run_id: int | None,
    strict: bool = False,
) -> LookupState:
    """Ask the exchange for one order by hash and record what it says; journaled as a lookup.

    Returns what was learnt; UNKNOWN (the lookup failed) records nothing. The order's other
    journal rows are closed only when its fate is known: "absent" for an order whose post may
    still land resolves nothing (invariant 11), so its post stays open in `history`.
    RateLimited is raised (after journaling it): the caller must stop and wait. With `strict`,
    so is a ProtocolError (an answer that cannot be trusted aborts the pass: invariant 9)."""
    jid = store.journal_intent(run_id=run_id, kind=JournalKind.LOOKUP, order_id=order_id,
                               payload={})
    try:
        details = client.get_order(order_id)
    except NotFound:
        details = None
    except RateLimited as exc:
        store.journal_result(jid, outcome=JournalOutcome.RATE_LIMITED, result=str(exc))
        raise
    except ClobError as exc:
        store.journal_result(jid, outcome=JournalOutcome.ERROR, result=str(exc))
        if strict and isinstance(exc, ProtocolError):
            raise
        return LookupState.UNKNOWN
    with store.atomic():
        state = record_order_state(order_id, details, store=store)
        store.journal_result(jid, outcome=JournalOutcome.OK, result=state)
        order = store.order(order_id)
        if order is not None and order.status not in UNRESOLVED_STATUSES:
            store.close_open_journal(order_id, outcome=JournalOutcome.RESOLVED, result=state)
    return state


def record_order_state(order_id: str, details: OrderDetails | None, *, store: Store) -> LookupState:
    """Record what the exchange says about one of our orders (None: it has no such order)."""
    if details is None:
        state = LookupState.ABSENT
    else:
        store.observe_matched(order_id, details.size_matched)
        state = lookup_state(details)
    store.apply_event(order_id, _LOOKUP_EVENTS[state])
    return state


def lookup_state(details: OrderDetails) -> LookupState:
    """What an order read by hash says: resting, filled, or no longer resting."""
    status = details.status.upper()
    if status in _RESTING:
        return LookupState.LIVE
    if status == "MATCHED" or details.size_matched >= details.original_size > 0:
        return LookupState.FILLED
    return LookupState.CANCELED


def look_up_vanished(
    open_ids: set[str], *, client: OrderLookup, store: Store, run_id: int | None,
    tokens: Collection[str] | None = None,
) -> None:
    """Our live orders missing from the open-orders read are looked up once: filled or
    cancelled. One that the lookup says is live, or that the lookup could not read, is held
    as `vanished` (its level waits, and the next pass looks again; it was placed, so it is
    never re-sent). `tokens`: the read covered only these tokens (a targeted pass)."""
    for order in store.orders(statuses=[OrderStatus.LIVE]):
        if order.order_id in open_ids or (tokens is not None and order.key.token_id not in tokens):
            continue
        state = look_up_order(order.order_id, client=client, store=store, run_id=run_id)
        if state is LookupState.LIVE:
            store.apply_event(order.order_id, Event.VANISHED_BUT_LIVE)
        elif state is LookupState.UNKNOWN:
            store.apply_event(order.order_id, Event.VANISHED_LOOKUP_FAILED)


# --- the open-orders read --------------------------------------------------------------------


def sync_observed(observed: Sequence[OpenOrder], *, store: Store) -> set[str]:
    """Our orders in the open-orders read rest, with their matched size. Returns the ids read."""
    ids = {o.order_id for o in observed}
    with store.atomic():
        for o in observed:
            mine = store.order(o.order_id)
            if mine is None:
                continue
            store.observe_matched(o.order_id, o.size_matched)
            # Ask the table first: a resting order stays live, and one read per order is enough.
            if lifecycle.step(o.order_id, mine.status, Event.SEEN_OPEN).changed:
                store.apply_event(o.order_id, Event.SEEN_OPEN)
                store.close_open_journal(
                    o.order_id, outcome=JournalOutcome.RESOLVED, result=LookupState.LIVE
                )
    return ids


# --- notifications ---------------------------------------------------------------------------


class NotificationSource(Protocol):
    """What reading notifications needs from `ClobClient`."""

    def get_notifications(self) -> list[Notification]: ...

    def drop_notifications(self, ids: Sequence[str]) -> None: ...


def consume_notifications(
    *, client: NotificationSource, store: Store, clock: Callable[[], float], drop: bool
) -> list[Notification]:
    """Read the notifications, record each one not processed before, and COMMIT them (with the
    cursor) BEFORE they are dropped on the exchange (`drop`), so a crash in between re-reads
    them and skips them: a fill is never lost or counted twice, a failure never taken back twice.
    Returns what was read ([] when the read failed: fills are also learnt from order reads)."""
    try:
        notes = client.get_notifications()
    except RateLimited:
        raise
    except ClobError as exc:
        log.warning("could not read notifications (%s); continuing", exc)
        return []
    if not notes:
        return []
    done = store.processed_notification_ids(n.id for n in notes)
    with store.atomic():
        for note in notes:
            if note.id not in done:
                record_notification(note, store=store, clock=clock)
                store.mark_notification_processed(note.id, type_=note.type)
        store.set_cursor("notifications", max((n.id for n in notes), key=_id_order))
    if drop:
        try:
            client.drop_notifications([n.id for n in notes])
        except ClobError as exc:
            log.warning("could not drop notifications (%s); they are skipped next time", exc)
    return notes


def _id_order(notification_id: str) -> tuple[int, str]:
    # Notification ids are integers on the exchange; compare them as such when they are.
    return (int(notification_id), "") if notification_id.isdigit() else (-1, notification_id)


def record_notification(note: Notification, *, store: Store, clock: Callable[[], float]) -> None:
    """Fills count toward their level; a failed fill (8) is taken back from it; a cancel is
    terminal, so the order needs no lookup. Resolutions (MARKET_RESOLVED) change nothing here:
    the market's orders are cancelled (ORDER_CANCELLATION). Other types are not about our
    orders. Call inside the transaction that marks the notification processed."""
    if not note.type.carries_order:
        return
    payload = note.payload
    order_id = order_id_key(payload.get("order_id"))
    if store.order(order_id) is None:
        return
    try:
        original = decimal_of(payload.get("original_size", "0"))
        remaining = decimal_of(payload.get("remaining_size", original))
        size = decimal_of(payload.get("matched_size", "0"))
        price = decimal_of(payload.get("price", "0"))
    except ArithmeticError:
        log.warning("notification %s: unreadable amounts; skipped", note.id)
        return
    fill_id = str(payload.get("trade_id") or f"notification:{note.id}")
    at_ms = int(clock() * 1000)
    if note.type == NotificationType.ORDER_FILL_FAILED:
        # `matched_size` is the failed size when no fill of that trade was recorded (the paper
        # exchange's reading; the reference does not define it for type 8).
        lowered = store.reverse_fill(
            order_id=order_id, trade_id=fill_id, size=size, price=price, at_ms=at_ms
        )
        if lowered is not None:
            log.warning("order %s: fill of trade %s failed to settle; %s taken back, the level "
                        "is served again", order_id, fill_id, lowered)
        return
    if note.type == NotificationType.ORDER_FILL:
        store.add_fill(order_id=order_id, fill_id=fill_id, size=size, price=price, at_ms=at_ms)
    if original > 0:
        store.observe_matched(order_id, original - remaining)
    if note.type == NotificationType.ORDER_CANCELLATION:
        move = store.apply_event(order_id, Event.CANCEL_NOTIFIED)
        if move is not None and move.changed:
            store.close_open_journal(
                order_id, outcome=JournalOutcome.RESOLVED, result=LookupState.CANCELED
            )


__all__ = [
    "LookupState",
    "NotificationSource",
    "OrderLookup",
    "consume_notifications",
    "look_up_order",
    "look_up_vanished",
    "lookup_state",
    "record_notification",
    "record_order_state",
    "sync_observed",
]
