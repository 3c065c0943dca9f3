"""The order lifecycle: the states an order of ours can be in, and every legal change, in ONE table.

In the style of h11's `_state.py`: everything that decides an order's status lives in this file.
The store asks `step()` before it writes a status (`Store.apply_event`), so an order changes
state only by an event this table allows; any other move raises `IllegalTransition`, naming the
order, its state and the event, and the store changes nothing. PURE: no I/O, no clock.

An order is born `intent` (the store writes the row, with its hash AND the exact signed order,
before the request that places it: invariant 4). From then on only events move it. An event is
something we learnt: the answer to our post, re-send or cancel, the open-orders read, a lookup by
hash, a notification. The engine fires them in three places only: `engine/apply.py` (the answers
to the posts and cancels of a plan), `engine/resolve.py` (the resolution of unresolved orders:
their lookups, expiry, and the answers to their re-sends) and `engine/ledger.py` (everything
else it learns: the open-orders read, lookups of vanished orders, notifications).

A move to the state the order already has is "no change": the event confirms what the store
knows, and the store writes nothing (so a tick with nothing to learn makes no write).

Exactly once (DESIGN invariants 4 and 11). An order whose post may have been sent without an
answer (`intent` after a crash, `unknown` after a timeout, a reset, a 5xx or an unclear answer)
is resolved by RE-SENDING THE IDENTICAL SIGNED ORDER (same bytes, salt, timestamp and hash). The
exchange refuses a second copy of a hash (clob-v1-wire.md 6.3 INVALID_ORDER_DUPLICATED, 8
"Duplicate"), so the re-send either places it (`resent_placed`: the first request can no longer
land as a second order) or is told it is a duplicate (`resent_duplicate`: it was placed; the
open-orders read and lookups track it from there). "Absent on lookup" ALONE changes nothing for
an unresolved order (`(intent|unknown, lookup_absent)` is "no change"): the first request may
still be held inside the exchange. An unresolved order becomes `void` only when it can no longer
land: it was certainly never sent (`never_sent`, apply), its GTD expiry has passed
(`expired`), or its identical re-send was refused for another reason after every send of it is
older than the landing window (`refused_past_window`), or (no stored order to re-send, or its
level is no longer wanted) it is absent on lookup past that window (`absent_past_window`). The
landing window is the engine's rule (the reference is silent on how long the exchange may hold
a request): see `engine/resolve.py`.

States the code does not have, and why:
- "sent": the row is written before the request and the next write is its answer, so a sent
  order whose answer never came is still `intent` (a crash) or `unknown` (a lost answer).
- "partially filled": a resting order with fills is `live`; its matched size is a column.
- "cancel requested": the cancel is journaled (the `journal` table), and the order stays `live`
  until the exchange confirms it.

`vanished` is not `unknown`: a vanished order was placed (we saw it), so it is never re-sent;
only a lookup settles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class OrderStatus(StrEnum):
    """An order's state, as the store records it (the `orders.status` column)."""

    INTENT = "intent"
    LIVE = "live"
    FILLED = "filled"
    CANCELED = "canceled"
    UNKNOWN = "unknown"
    VANISHED = "vanished"
    REJECTED = "rejected"
    VOID = "void"


#: The state of a new order row (`Store.add_order_intent`).
INITIAL = OrderStatus.INTENT
#: Orders that count as ours and possibly resting: the planner's inventory.
INVENTORY_STATUSES = (
    OrderStatus.LIVE,
    OrderStatus.UNKNOWN,
    OrderStatus.INTENT,
    OrderStatus.VANISHED,
)
#: Orders whose state on the exchange we do not know; no post goes to their level until resolved.
UNRESOLVED_STATUSES = (OrderStatus.UNKNOWN, OrderStatus.INTENT, OrderStatus.VANISHED)
#: Unresolved orders whose POST may never have been placed: resolved by re-sending the identical
#: signed order (engine/resolve.py). A vanished order was placed, so it is only looked up.
RESENDABLE_STATUSES = (OrderStatus.INTENT, OrderStatus.UNKNOWN)


class Event(StrEnum):
    """Something the engine learnt about one of our orders (`MEANINGS` says what)."""

    POST_ACCEPTED = "post_accepted"
    POST_REJECTED = "post_rejected"
    OUTCOME_LOST = "outcome_lost"
    ANSWER_UNCLEAR = "answer_unclear"
    NEVER_SENT = "never_sent"
    CANCEL_CONFIRMED = "cancel_confirmed"
    SEEN_OPEN = "seen_open"
    LOOKUP_LIVE = "lookup_live"
    LOOKUP_FILLED = "lookup_filled"
    LOOKUP_CANCELED = "lookup_canceled"
    LOOKUP_ABSENT = "lookup_absent"
    CANCEL_NOTIFIED = "cancel_notified"
    VANISHED_BUT_LIVE = "vanished_but_live"
    VANISHED_LOOKUP_FAILED = "vanished_lookup_failed"
    RESENT_PLACED = "resent_placed"
    RESENT_DUPLICATE = "resent_duplicate"
    RESEND_LOST = "resend_lost"
    RESEND_REFUSED = "resend_refused"
    REFUSED_PAST_WINDOW = "refused_past_window"
    ABSENT_PAST_WINDOW = "absent_past_window"
    EXPIRED = "expired"


#: What each state means.
STATE_MEANINGS: Mapping[OrderStatus, str] = {
    OrderStatus.INTENT: "journaled with its hash; the request is not (known to be) sent yet",
    OrderStatus.LIVE: "the exchange accepted it and, as far as we know, it rests",
    OrderStatus.FILLED: "matched in full",
    OrderStatus.CANCELED: "no longer rests: cancelled, by us or by the exchange",
    OrderStatus.UNKNOWN: "a post was sent and its outcome is unknown; resolved by re-sending the "
    "identical signed order",
    OrderStatus.VANISHED: "it was placed, then left the open-orders read without a lookup that "
    "settles it; its level waits",
    OrderStatus.REJECTED: "the exchange refused it (its message is the order's `error`)",
    OrderStatus.VOID: "not on the exchange and it can no longer land: never sent, expired, or "
    "refused again past the landing window",
}

#: What each event is, and where the engine fires it.
EVENT_MEANINGS: Mapping[Event, str] = {
    Event.POST_ACCEPTED: "POST /orders placed it (live, matched, delayed) under our hash (apply)",
    Event.POST_REJECTED: "POST /orders refused the entry, or the whole batch (4xx) (apply)",
    Event.OUTCOME_LOST: "the post call failed after it may have been sent: timeout, 5xx (apply)",
    Event.ANSWER_UNCLEAR: "the answer has an order id or a status with an error, or another id "
    "(apply)",
    Event.NEVER_SENT: "not sent: an earlier step failed, or a GTD would expire too soon (apply)",
    Event.CANCEL_CONFIRMED: "DELETE /orders lists it under `canceled` (apply)",
    Event.SEEN_OPEN: "it is in the open-orders read (ledger)",
    Event.LOOKUP_LIVE: "GET /data/order/{hash} says live, delayed or unmatched (ledger)",
    Event.LOOKUP_FILLED: "the lookup says matched, or matched in full (ledger)",
    Event.LOOKUP_CANCELED: "the lookup gives any other status: it no longer rests (ledger)",
    Event.LOOKUP_ABSENT: "the exchange has no order with that hash (ledger); for an unresolved "
    "order that alone changes nothing: the first request may still land",
    Event.CANCEL_NOTIFIED: "an ORDER_CANCELLATION notification (type 1) names it (ledger)",
    Event.VANISHED_BUT_LIVE: "gone from the open-orders read, yet live on lookup (ledger)",
    Event.VANISHED_LOOKUP_FAILED: "gone from the open-orders read, and the lookup failed (ledger)",
    Event.RESENT_PLACED: "the identical signed order, sent again, was placed under our hash "
    "(resolve)",
    Event.RESENT_DUPLICATE: "the identical signed order, sent again, was refused as a duplicate: "
    "an earlier send placed it (resolve)",
    Event.RESEND_LOST: "the re-send's outcome is unknown too: a timeout, a reset, a 5xx, an "
    "unclear answer, or a crash between send and record (resolve)",
    Event.RESEND_REFUSED: "the re-send was refused for another reason (or a trading mode) while "
    "an earlier send may still land (resolve)",
    Event.REFUSED_PAST_WINDOW: "the re-send was refused, and every earlier send is older than "
    "the landing window (resolve)",
    Event.ABSENT_PAST_WINDOW: "no stored order to re-send, or its level is no longer wanted: "
    "absent on lookup with every send older than the landing window (resolve)",
    Event.EXPIRED: "a GTD past its expiration, absent on lookup: it can no longer land (resolve)",
}


_S, _E = OrderStatus, Event

#: THE table: state -> {event -> next state}. A pair that is not here is an illegal move.
TRANSITIONS: Mapping[OrderStatus, Mapping[Event, OrderStatus]] = {
    _S.INTENT: {
        _E.POST_ACCEPTED: _S.LIVE,
        _E.POST_REJECTED: _S.REJECTED,
        _E.OUTCOME_LOST: _S.UNKNOWN,
        _E.ANSWER_UNCLEAR: _S.UNKNOWN,
        _E.NEVER_SENT: _S.VOID,
        # A crash between send and record: the next pass learns its fate.
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_LIVE: _S.LIVE,
        _E.LOOKUP_FILLED: _S.FILLED,
        _E.LOOKUP_CANCELED: _S.CANCELED,
        _E.LOOKUP_ABSENT: _S.INTENT,  # the request may still be held inside the exchange
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,  # on_shutdown: cancel sweeps the whole inventory
        # The identical signed order sent again (engine/resolve.py).
        _E.RESENT_PLACED: _S.LIVE,
        _E.RESENT_DUPLICATE: _S.LIVE,
        _E.RESEND_LOST: _S.UNKNOWN,
        _E.RESEND_REFUSED: _S.UNKNOWN,
        _E.REFUSED_PAST_WINDOW: _S.VOID,
        _E.ABSENT_PAST_WINDOW: _S.VOID,
        _E.EXPIRED: _S.VOID,
    },
    _S.UNKNOWN: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_LIVE: _S.LIVE,
        _E.LOOKUP_FILLED: _S.FILLED,
        _E.LOOKUP_CANCELED: _S.CANCELED,
        _E.LOOKUP_ABSENT: _S.UNKNOWN,  # the first request may still land: re-send instead
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,
        _E.RESENT_PLACED: _S.LIVE,
        _E.RESENT_DUPLICATE: _S.LIVE,
        _E.RESEND_LOST: _S.UNKNOWN,
        _E.RESEND_REFUSED: _S.UNKNOWN,
        _E.REFUSED_PAST_WINDOW: _S.VOID,
        _E.ABSENT_PAST_WINDOW: _S.VOID,
        _E.EXPIRED: _S.VOID,
    },
    _S.LIVE: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_LIVE: _S.LIVE,
        _E.LOOKUP_FILLED: _S.FILLED,
        _E.LOOKUP_CANCELED: _S.CANCELED,
        _E.LOOKUP_ABSENT: _S.CANCELED,
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,
        # It may rest unseen: hold its level (as unresolved) rather than plan as if it did not.
        # It was placed, so it is never re-sent: only a lookup settles it.
        _E.VANISHED_BUT_LIVE: _S.VANISHED,
        _E.VANISHED_LOOKUP_FAILED: _S.VANISHED,
    },
    _S.VANISHED: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_LIVE: _S.LIVE,
        _E.LOOKUP_FILLED: _S.FILLED,
        _E.LOOKUP_CANCELED: _S.CANCELED,
        _E.LOOKUP_ABSENT: _S.CANCELED,
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,
    },
    # A terminal state is left only when the exchange shows the order open; a cancel
    # notification or an empty lookup confirms that it does not rest.
    _S.FILLED: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_ABSENT: _S.FILLED,
        _E.CANCEL_NOTIFIED: _S.FILLED,
    },
    # A cancelled order may still be in the plan: notified between the read and the plan.
    _S.CANCELED: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_LIVE: _S.LIVE,
        _E.LOOKUP_FILLED: _S.FILLED,
        _E.LOOKUP_CANCELED: _S.CANCELED,
        _E.LOOKUP_ABSENT: _S.CANCELED,
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,
    },
    _S.REJECTED: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_ABSENT: _S.REJECTED,
        _E.CANCEL_NOTIFIED: _S.REJECTED,
    },
    # Void is a rule, not a proof: an order voided by a window that turned out too short is
    # taken back as live the moment the exchange shows it.
    _S.VOID: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_ABSENT: _S.VOID,
        _E.CANCEL_NOTIFIED: _S.VOID,
    },
}

#: What the store records as the order's `error` for a move whose event brings no message of
#: its own (a failed call brings the exchange's or the transport's).
NOTES: Mapping[tuple[OrderStatus, Event], str] = {
    (_S.LIVE, _E.LOOKUP_ABSENT): "gone from the exchange",
    (_S.VANISHED, _E.LOOKUP_ABSENT): "gone from the exchange",
    (_S.INTENT, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.UNKNOWN, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.LIVE, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.VANISHED, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.LIVE, _E.VANISHED_BUT_LIVE): "live on lookup but absent from the open-orders read",
    (_S.LIVE, _E.VANISHED_LOOKUP_FAILED): "vanished from open orders; lookup failed",
    (_S.INTENT, _E.RESENT_PLACED): "placed by the re-sent identical order",
    (_S.UNKNOWN, _E.RESENT_PLACED): "placed by the re-sent identical order",
    (_S.INTENT, _E.RESENT_DUPLICATE): "placed by an earlier send (the re-send was a duplicate)",
    (_S.UNKNOWN, _E.RESENT_DUPLICATE): "placed by an earlier send (the re-send was a duplicate)",
    (_S.INTENT, _E.EXPIRED): "expired before it was known to be placed",
    (_S.UNKNOWN, _E.EXPIRED): "expired before it was known to be placed",
    (_S.INTENT, _E.ABSENT_PAST_WINDOW): "absent on lookup past the landing window",
    (_S.UNKNOWN, _E.ABSENT_PAST_WINDOW): "absent on lookup past the landing window",
}

#: The events that make an unresolved order void although it may have been sent: each is a rule
#: of engine/resolve.py, and no other code fires them (NEVER_SENT, apply's, is for a request that
#: certainly never left).
VOIDING_RULES = (Event.EXPIRED, Event.REFUSED_PAST_WINDOW, Event.ABSENT_PAST_WINDOW)


class IllegalTransition(RuntimeError):
    """An event the lifecycle table does not allow in the order's state: a bug, never data."""

    def __init__(self, order_id: str, state: OrderStatus, event: Event) -> None:
        super().__init__(
            f"order {order_id}: event {event.value} is not allowed in state {state.value}"
        )
        self.order_id, self.state, self.event = order_id, state, event


@dataclass(frozen=True)
class Move:
    """One legal step of the table."""

    order_id: str
    before: OrderStatus
    event: Event
    after: OrderStatus

    @property
    def changed(self) -> bool:
        return self.after is not self.before

    @property
    def note(self) -> str | None:
        return NOTES.get((self.before, self.event))


def step(order_id: str, state: OrderStatus, event: Event) -> Move:
    """The move `event` makes from `state`; raises IllegalTransition when there is none."""
    try:
        after = TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(order_id, state, event) from None
    return Move(order_id=order_id, before=state, event=event, after=after)


def markdown() -> str:
    """The lifecycle as Markdown: the states, the events, then one row per legal move, in the
    order of the table (ARCHITECTURE.md carries it; a test checks that they match)."""
    lines = ["| State | Meaning |", "|---|---|"]
    lines += [f"| `{s.value}` | {STATE_MEANINGS[s]} |" for s in OrderStatus]
    lines += ["", "| Event | Meaning |", "|---|---|"]
    lines += [f"| `{e.value}` | {EVENT_MEANINGS[e]} |" for e in Event]
    lines += ["", "| State | Event | Next state | Recorded note |", "|---|---|---|---|"]
    for state, row in TRANSITIONS.items():
        for event, after in row.items():
            shown = "(no change)" if after is state else f"`{after.value}`"
            note = NOTES.get((state, event), "")
            lines.append(f"| `{state.value}` | `{event.value}` | {shown} | {note} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "INITIAL",
    "INVENTORY_STATUSES",
    "NOTES",
    "RESENDABLE_STATUSES",
    "TRANSITIONS",
    "UNRESOLVED_STATUSES",
    "VOIDING_RULES",
    "EVENT_MEANINGS",
    "STATE_MEANINGS",
    "Event",
    "IllegalTransition",
    "Move",
    "OrderStatus",
    "markdown",
    "step",
]
