"""The order lifecycle table (reconciler/lifecycle.py) and the store that applies it.

The table is pinned here, move by move, with the place in the engine that fires each event: a
change to the table must change this list too, on purpose. A property test then drives random
event sequences through the table and a real state file, and checks that they agree: a legal
move lands (and a move to the same state writes nothing), an illegal one raises and changes
nothing.
"""

from __future__ import annotations

import itertools
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import lifecycle
from reconciler.lifecycle import (
    INITIAL,
    NOTES,
    TRANSITIONS,
    Event,
    IllegalTransition,
    OrderStatus,
)
from reconciler.model import LevelKey, OrderType, Post, Side
from reconciler.store import Store

S, E = OrderStatus, Event
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"

#: Every legal move, and where the engine makes it today (engine/apply.py, engine/resolve.py,
#: engine/ledger.py). Changed for exactly-once by re-sending (issue 9): lines marked "issue 9".
EXPECTED: dict[tuple[OrderStatus, Event], OrderStatus] = {
    # apply._record_batch: placed under our hash / refused entry / an id or status with an error
    (S.INTENT, E.POST_ACCEPTED): S.LIVE,
    (S.INTENT, E.POST_REJECTED): S.REJECTED,  # also apply._batch_failed: the batch refused (4xx)
    (S.INTENT, E.ANSWER_UNCLEAR): S.UNKNOWN,
    # apply._batch_failed: the call failed after it may have been sent
    (S.INTENT, E.OUTCOME_LOST): S.UNKNOWN,
    # apply._void: an earlier step failed, a rate limit, a GTD too close to expiry, a leftover
    (S.INTENT, E.NEVER_SENT): S.VOID,
    # ledger.sync_observed: any order of ours in the open-orders read is live
    (S.INTENT, E.SEEN_OPEN): S.LIVE,
    (S.UNKNOWN, E.SEEN_OPEN): S.LIVE,
    (S.LIVE, E.SEEN_OPEN): S.LIVE,
    (S.VANISHED, E.SEEN_OPEN): S.LIVE,  # issue 9: the new state
    (S.FILLED, E.SEEN_OPEN): S.LIVE,
    (S.CANCELED, E.SEEN_OPEN): S.LIVE,
    (S.REJECTED, E.SEEN_OPEN): S.LIVE,
    (S.VOID, E.SEEN_OPEN): S.LIVE,
    # ledger.record_order_state (lookups: resolve_unresolved, look_up_vanished, and apply._cancel
    # for ids not cancelled, whose state is live, or canceled by a notification; intent and
    # unknown in an on_shutdown sweep)
    (S.INTENT, E.LOOKUP_LIVE): S.LIVE,
    (S.INTENT, E.LOOKUP_FILLED): S.FILLED,
    (S.INTENT, E.LOOKUP_CANCELED): S.CANCELED,
    # issue 9: absent ALONE no longer voids an unresolved order (was: void): the first request
    # may still be held inside the exchange; resolve.py re-sends the identical order instead
    (S.INTENT, E.LOOKUP_ABSENT): S.INTENT,
    (S.UNKNOWN, E.LOOKUP_LIVE): S.LIVE,
    (S.UNKNOWN, E.LOOKUP_FILLED): S.FILLED,
    (S.UNKNOWN, E.LOOKUP_CANCELED): S.CANCELED,
    (S.UNKNOWN, E.LOOKUP_ABSENT): S.UNKNOWN,  # issue 9 (was: void)
    (S.LIVE, E.LOOKUP_LIVE): S.LIVE,
    (S.LIVE, E.LOOKUP_FILLED): S.FILLED,
    (S.LIVE, E.LOOKUP_CANCELED): S.CANCELED,
    (S.LIVE, E.LOOKUP_ABSENT): S.CANCELED,
    (S.CANCELED, E.LOOKUP_LIVE): S.LIVE,
    (S.CANCELED, E.LOOKUP_FILLED): S.FILLED,
    (S.CANCELED, E.LOOKUP_CANCELED): S.CANCELED,
    (S.CANCELED, E.LOOKUP_ABSENT): S.CANCELED,
    # issue 9: a vanished order (placed, then gone from the read without a settling lookup)
    (S.VANISHED, E.LOOKUP_LIVE): S.LIVE,
    (S.VANISHED, E.LOOKUP_FILLED): S.FILLED,
    (S.VANISHED, E.LOOKUP_CANCELED): S.CANCELED,
    (S.VANISHED, E.LOOKUP_ABSENT): S.CANCELED,  # it was placed: absent means gone
    (S.FILLED, E.LOOKUP_ABSENT): S.FILLED,  # absent changes only live and vanished
    (S.REJECTED, E.LOOKUP_ABSENT): S.REJECTED,
    (S.VOID, E.LOOKUP_ABSENT): S.VOID,
    # apply._cancel: listed under `canceled`
    (S.INTENT, E.CANCEL_CONFIRMED): S.CANCELED,
    (S.UNKNOWN, E.CANCEL_CONFIRMED): S.CANCELED,
    (S.LIVE, E.CANCEL_CONFIRMED): S.CANCELED,
    (S.VANISHED, E.CANCEL_CONFIRMED): S.CANCELED,  # issue 9: the new state
    (S.CANCELED, E.CANCEL_CONFIRMED): S.CANCELED,
    # ledger.record_notification: ORDER_CANCELLATION cancels an order of the inventory
    (S.INTENT, E.CANCEL_NOTIFIED): S.CANCELED,
    (S.UNKNOWN, E.CANCEL_NOTIFIED): S.CANCELED,
    (S.LIVE, E.CANCEL_NOTIFIED): S.CANCELED,
    (S.VANISHED, E.CANCEL_NOTIFIED): S.CANCELED,  # issue 9: the new state
    (S.FILLED, E.CANCEL_NOTIFIED): S.FILLED,
    (S.CANCELED, E.CANCEL_NOTIFIED): S.CANCELED,
    (S.REJECTED, E.CANCEL_NOTIFIED): S.REJECTED,
    (S.VOID, E.CANCEL_NOTIFIED): S.VOID,
    # ledger.look_up_vanished: gone from the read, and live on lookup / the lookup failed.
    # issue 9: vanished, not unknown (was: unknown): it was placed, so it is never re-sent
    (S.LIVE, E.VANISHED_BUT_LIVE): S.VANISHED,
    (S.LIVE, E.VANISHED_LOOKUP_FAILED): S.VANISHED,
    # issue 9, resolve._record_answer / _batch_failed: the identical signed order sent again
    (S.INTENT, E.RESENT_PLACED): S.LIVE,  # placed under our hash
    (S.UNKNOWN, E.RESENT_PLACED): S.LIVE,
    (S.INTENT, E.RESENT_DUPLICATE): S.LIVE,  # "Duplicated": an earlier send placed it
    (S.UNKNOWN, E.RESENT_DUPLICATE): S.LIVE,
    (S.INTENT, E.RESEND_LOST): S.UNKNOWN,  # timeout, reset, 5xx, unclear answer: still unknown
    (S.UNKNOWN, E.RESEND_LOST): S.UNKNOWN,
    (S.INTENT, E.RESEND_REFUSED): S.UNKNOWN,  # refused within the landing window, or a mode
    (S.UNKNOWN, E.RESEND_REFUSED): S.UNKNOWN,
    # issue 9, resolve: the only ways an order that may have been sent becomes void
    (S.INTENT, E.REFUSED_PAST_WINDOW): S.VOID,  # resolve._refused: refused past the window
    (S.UNKNOWN, E.REFUSED_PAST_WINDOW): S.VOID,
    (S.INTENT, E.ABSENT_PAST_WINDOW): S.VOID,  # nothing to re-send: absent past the window
    (S.UNKNOWN, E.ABSENT_PAST_WINDOW): S.VOID,
    (S.INTENT, E.EXPIRED): S.VOID,  # resolve: a GTD past its expiration, absent on lookup
    (S.UNKNOWN, E.EXPIRED): S.VOID,
}

POST_ANSWERS = (E.POST_ACCEPTED, E.POST_REJECTED, E.OUTCOME_LOST, E.ANSWER_UNCLEAR, E.NEVER_SENT)
RESEND_ANSWERS = (E.RESENT_PLACED, E.RESENT_DUPLICATE, E.RESEND_LOST, E.RESEND_REFUSED,
                  E.REFUSED_PAST_WINDOW)


def table() -> dict[tuple[OrderStatus, Event], OrderStatus]:
    return {(s, e): after for s, row in TRANSITIONS.items() for e, after in row.items()}


# --- the table -------------------------------------------------------------------------------


def test_the_table_is_the_pinned_one() -> None:
    assert table() == EXPECTED


def test_a_post_is_answered_once_and_only_an_unplaced_order_is_void() -> None:
    for (state, event), after in table().items():
        if event in POST_ANSWERS:
            assert state is INITIAL, (state, event)
        if event in RESEND_ANSWERS:  # only an order whose post may never have been placed
            assert state in lifecycle.RESENDABLE_STATUSES, (state, event)
        if after is S.VOID and state is not S.VOID:
            assert state in (S.INTENT, S.UNKNOWN), (state, event)
            # void by a rule of resolve.py, or never sent (apply): nothing else voids
            assert event in (E.NEVER_SENT, *lifecycle.VOIDING_RULES), (state, event)


def test_absent_alone_never_resolves_an_order_that_may_still_land() -> None:
    for state in lifecycle.RESENDABLE_STATUSES:
        assert lifecycle.step("0x1", state, E.LOOKUP_ABSENT).changed is False


def test_only_apply_and_resolve_fire_the_voiding_events() -> None:
    """NEVER_SENT is apply's (a request it knows never left); the voiding rules are resolve's;
    no other module of the package names them."""
    package = Path(lifecycle.__file__).parent
    firing: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        if path.name == "lifecycle.py":
            continue
        text = path.read_text()
        for event in (E.NEVER_SENT, *lifecycle.VOIDING_RULES):
            if f"Event.{event.name}" in text:
                firing.setdefault(event.name, set()).add(path.relative_to(package).as_posix())
    assert firing == {
        "NEVER_SENT": {"engine/apply.py"},
        **{e.name: {"engine/resolve.py"} for e in lifecycle.VOIDING_RULES},
    }


def test_every_state_is_reachable_from_a_new_intent() -> None:
    seen, frontier = {INITIAL}, [INITIAL]
    while frontier:
        state = frontier.pop()
        for after in TRANSITIONS.get(state, {}).values():
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    assert seen == set(OrderStatus)


def test_every_event_is_used_and_every_note_is_on_a_change() -> None:
    assert {e for _, e in table()} == set(Event)
    for (state, event), note in NOTES.items():
        assert table()[(state, event)] is not state and note, (state, event)


def test_an_illegal_move_names_the_order_the_state_and_the_event() -> None:
    with pytest.raises(IllegalTransition) as info:
        lifecycle.step("0xabc", S.FILLED, E.POST_ACCEPTED)
    assert str(info.value) == "order 0xabc: event post_accepted is not allowed in state filled"
    assert (info.value.order_id, info.value.state, info.value.event) == (
        "0xabc", S.FILLED, E.POST_ACCEPTED,
    )


def test_markdown_has_one_row_per_move_and_reads_back_as_the_table() -> None:
    text = lifecycle.markdown()
    rows = [line for line in text.splitlines() if line.count("|") == 5 and "`" in line]
    parsed = {}
    for line in rows:
        state, event, after, _note = (cell.strip() for cell in line.strip("|").split("|"))
        s, e = S(state.strip("`")), E(event.strip("`"))
        parsed[(s, e)] = s if after == "(no change)" else S(after.strip("`"))
    assert parsed == table() and len(rows) == len(table())
    assert all(f"| `{s.value}` |" in text for s in OrderStatus)
    assert all(f"| `{e.value}` |" in text for e in Event)


# --- the table and the store agree -----------------------------------------------------------


class Clock:
    """Each reading is 1 ms later, so any write shows in `updated_ms`."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1_700_000_000_000)

    def __call__(self) -> float:
        return next(self._ticks) / 1000


def new_intent(store: Store, order_id: str) -> None:
    post = Post(
        key=LevelKey(TOKEN, Side.BUY, Decimal("0.45")), size=Decimal("10"),
        order_type=OrderType.GTC, post_only=True, expires_at=0, generation=1, neg_risk=False,
        tick_size=Decimal("0.01"),
    )
    store.add_order_intent(order_id=order_id, post=post, revision=None, run_id=None)


def raw_row(path: Path, order_id: str) -> tuple[str, str | None, int]:
    """The order's row as SQLite has it, read on a connection of our own."""
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT status, error, updated_ms FROM orders WHERE order_id = ?", [order_id]
        ).fetchone()
    return row[0], row[1], row[2]


EXAMPLES = itertools.count()
steps = st.lists(
    st.tuples(st.sampled_from(list(Event)), st.one_of(st.none(), st.sampled_from(["", "why"]))),
    max_size=12,
)


@settings(max_examples=150, deadline=None,
          # Each example opens its own state file under tmp_path (a fresh directory).
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_random_events_move_the_store_exactly_as_the_table_says(
    tmp_path: Path, steps: list[tuple[Event, str | None]]
) -> None:
    path = tmp_path / f"example-{next(EXAMPLES)}" / "state.db"
    with Store.open(path, clock=Clock()) as store:
        new_intent(store, "0x1")
        state, error = INITIAL, None
        for event, given_error in steps:
            before = raw_row(path, "0x1")
            expected = EXPECTED.get((state, event))
            if expected is None:
                with pytest.raises(IllegalTransition) as info:
                    store.apply_event("0x1", event, error=given_error)
                assert (info.value.state, info.value.event) == (state, event)
                assert raw_row(path, "0x1") == before  # nothing changed
                continue
            move = store.apply_event("0x1", event, error=given_error)
            assert move is not None and (move.before, move.after) == (state, expected)
            after = raw_row(path, "0x1")
            if expected is state:
                assert after == before  # no change: nothing written
            else:
                recorded = given_error if given_error is not None else NOTES.get((state, event))
                error = recorded if recorded is not None else error
                assert after[:2] == (expected.value, error) and after[2] > before[2]
            state = expected
        stored = store.order("0x1")
        assert stored is not None and stored.status is state


def test_an_order_that_is_not_ours_moves_nowhere(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        for event in Event:
            assert store.apply_event("0xnotours", event) is None
        assert store.orders() == []
