"""What a lookup by hash says about one of our orders (reconciler/engine/ledger.py).

The status vocabulary is clob-v2-wire.md 2.12: LIVE and DELAYED rest (or soon may), MATCHED is
filled, every CANCELED* and INVALID no longer rest, and UNMATCHED is "not a resting state" (the
unified SDK reports a place answer with it as a rejection). The lookups are recorded on a real
state file.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciler.clob import ExchangeOrderStatus, OrderDetails
from reconciler.engine.ledger import LookupState, lookup_state, record_order_state
from reconciler.lifecycle import Event, OrderStatus
from reconciler.model import LevelGeneration, OrderType, Side
from reconciler.store import Store
from tests.support.engine import TOKEN_A, make_post

D = Decimal
OID = "0x" + "ab" * 32


def details(status: ExchangeOrderStatus, matched: str = "0") -> OrderDetails:
    return OrderDetails(
        order_id=OID, token_id=TOKEN_A, side=Side.BUY, price=D("0.45"), original_size=D("10"),
        size_matched=D(matched), created_at=1, order_type=OrderType.GTC, expiration=0,
        status=status,
    )


@pytest.mark.parametrize("status", list(ExchangeOrderStatus))
def test_a_lookup_reads_as_resting_exactly_when_the_status_may_rest(
    status: ExchangeOrderStatus,
) -> None:
    assert (lookup_state(details(status)) is LookupState.LIVE) is status.may_rest


def test_a_lookup_that_says_unmatched_is_not_read_as_resting() -> None:
    assert not ExchangeOrderStatus.UNMATCHED.may_rest
    assert lookup_state(details(ExchangeOrderStatus.UNMATCHED)) is LookupState.CANCELED
    # Matched in full before it was reported UNMATCHED: its fills stand.
    assert lookup_state(details(ExchangeOrderStatus.UNMATCHED, "10")) is LookupState.FILLED


def test_an_order_a_lookup_says_is_unmatched_leaves_the_inventory_of_what_rests(
    store: Store,
) -> None:
    post = make_post("0.45", "10")
    with store.atomic():
        store.add_order_intent(order_id=OID, post=post, revision=None, run_id=None)
        store.record_generations([LevelGeneration(post.key, "spec", 1)])
    store.apply_event(OID, Event.OUTCOME_LOST)  # the post's answer was lost: look it up
    with store.atomic():
        state = record_order_state(OID, details(ExchangeOrderStatus.UNMATCHED), store=store)
    assert state is LookupState.CANCELED
    assert store.order(OID).status is OrderStatus.CANCELED  # type: ignore[union-attr]
