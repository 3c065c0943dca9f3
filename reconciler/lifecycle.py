"""The order lifecycle: the states an order of ours can be in, and every legal change, in ONE table.

In the style of h11's `_state.py`: everything that decides an order's status lives in this file.
The store asks `step()` before it writes a status (`Store.apply_event`), so an order changes
state only by an event this table allows; any other move raises `IllegalTransition`, naming the
order, its state and the event, and the store changes nothing. PURE: no I/O, no clock.

An order is born `intent` (the store writes the row, with its hash, before the request that
places it: invariant 4). From then on only events move it. An event is something we learnt:
the answer to our post or cancel, the open-orders read, a lookup by hash, a notification. The
engine fires them in two places only: `engine/apply.py` (the answers to our own requests) and
`engine/ledger.py` (everything else it learns).

A move to the state the order already has is "no change": the event confirms what the store
knows, and the store writes nothing (so a tick with nothing to learn makes no write).

States the code does not have, and why:
- "sent": the row is written before the request and the next write is its answer, so a sent
  order whose answer never came is still `intent` (a crash) or `unknown` (a lost answer).
- "partially filled": a resting order with fills is `live`; its matched size is a column.
- "cancel requested": the cancel is journaled (the `journal` table), and the order stays `live`
  until the exchange confirms it.

Where the next changes go (exactly-once, issue 9), so that no other code path can make them:
re-sending the identical signed order to resolve an `unknown` outcome (new events from
`unknown`), voiding an intent whose order expired on its own (a GTD past its expiry, a closed
market), and "absent on lookup" no longer voiding an intent while the first request may still
land (the `(INTENT, LOOKUP_ABSENT)` and `(UNKNOWN, LOOKUP_ABSENT)` entries).
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
    REJECTED = "rejected"
    VOID = "void"


#: The state of a new order row (`Store.add_order_intent`).
INITIAL = OrderStatus.INTENT
#: Orders that count as ours and possibly resting: the planner's inventory.
INVENTORY_STATUSES = (OrderStatus.LIVE, OrderStatus.UNKNOWN, OrderStatus.INTENT)
#: Orders whose state on the exchange we do not know; no post goes to their level until resolved.
UNRESOLVED_STATUSES = (OrderStatus.UNKNOWN, OrderStatus.INTENT)


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


#: What each state means.
STATE_MEANINGS: Mapping[OrderStatus, str] = {
    OrderStatus.INTENT: "journaled with its hash; the request is not (known to be) sent yet",
    OrderStatus.LIVE: "the exchange accepted it and, as far as we know, it rests",
    OrderStatus.FILLED: "matched in full",
    OrderStatus.CANCELED: "no longer rests: cancelled, by us or by the exchange",
    OrderStatus.UNKNOWN: "a request was sent and its outcome is unknown; resolved by hash",
    OrderStatus.REJECTED: "the exchange refused it (its message is the order's `error`)",
    OrderStatus.VOID: "journaled but certainly never sent (an earlier step of the pass failed)",
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
    Event.LOOKUP_ABSENT: "the exchange has no order with that hash (ledger)",
    Event.CANCEL_NOTIFIED: "an ORDER_CANCELLATION notification (type 1) names it (ledger)",
    Event.VANISHED_BUT_LIVE: "gone from the open-orders read, yet live on lookup (ledger)",
    Event.VANISHED_LOOKUP_FAILED: "gone from the open-orders read, and the lookup failed (ledger)",
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
        _E.LOOKUP_ABSENT: _S.VOID,
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,  # on_shutdown: cancel sweeps the whole inventory
    },
    _S.UNKNOWN: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_LIVE: _S.LIVE,
        _E.LOOKUP_FILLED: _S.FILLED,
        _E.LOOKUP_CANCELED: _S.CANCELED,
        _E.LOOKUP_ABSENT: _S.VOID,
        _E.CANCEL_NOTIFIED: _S.CANCELED,
        _E.CANCEL_CONFIRMED: _S.CANCELED,
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
        _E.VANISHED_BUT_LIVE: _S.UNKNOWN,
        _E.VANISHED_LOOKUP_FAILED: _S.UNKNOWN,
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
    _S.VOID: {
        _E.SEEN_OPEN: _S.LIVE,
        _E.LOOKUP_ABSENT: _S.VOID,
        _E.CANCEL_NOTIFIED: _S.VOID,
    },
}

#: What the store records as the order's `error` for a move whose event brings no message of
#: its own (a failed call brings the exchange's or the transport's).
NOTES: Mapping[tuple[OrderStatus, Event], str] = {
    (_S.INTENT, _E.LOOKUP_ABSENT): "never reached the exchange",
    (_S.UNKNOWN, _E.LOOKUP_ABSENT): "never reached the exchange",
    (_S.LIVE, _E.LOOKUP_ABSENT): "gone from the exchange",
    (_S.INTENT, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.UNKNOWN, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.LIVE, _E.CANCEL_NOTIFIED): "cancel notified",
    (_S.LIVE, _E.VANISHED_BUT_LIVE): "live on lookup but absent from the open-orders read",
    (_S.LIVE, _E.VANISHED_LOOKUP_FAILED): "vanished from open orders; lookup failed",
}


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
    "TRANSITIONS",
    "UNRESOLVED_STATUSES",
    "EVENT_MEANINGS",
    "STATE_MEANINGS",
    "Event",
    "IllegalTransition",
    "Move",
    "OrderStatus",
    "markdown",
    "step",
]
