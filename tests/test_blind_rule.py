"""Table tests for the rule that never trades blind (reconciler/planner/blind.py, invariant 10).

`assess` decides, per open order on a declared token, whether it is accounted for (a record in
the state file, or known as the trader's), newly the trader's (it appeared while this process
watched), or blind (resting when this process first looked, unknown to the file, at a declared
level of a token under `ignore` or `cancel`). `hold_blind` takes out what waits for blind tokens.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import (
    BlindToken,
    Cancel,
    CancelReason,
    LevelKey,
    MarketInfo,
    OpenOrder,
    OrderType,
    Plan,
    Post,
    Side,
)
from reconciler.planner import assess, hold_blind, plan
from reconciler.spec import DesiredState, state_from_dicts

T = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
U = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
OTHER = "99999999999999999999999999999999999999999999999999999999999999999999999999999"
NOW = 1_800_000_000


def spec(*, unmanaged: str = "ignore", both: bool = False) -> DesiredState:
    levels = [{"side": "BUY", "price": "0.45", "size": 10}, {"side": "SELL", "price": "0.55",
                                                              "size": 10}]
    tokens: list[dict[str, Any]] = [{"token_id": T, "unmanaged": unmanaged, "orders": levels}]
    if both:
        tokens.append({"token_id": U, "orders": [{"side": "BUY", "price": "0.30", "size": 10}]})
    return state_from_dicts({"version": 1, "tokens": tokens})


def order(name: str, side: str = "BUY", price: str = "0.45", *, token: str = T,
          size: str = "10", matched: str = "0") -> OpenOrder:
    return OpenOrder(order_id=name, token_id=token, side=Side(side), price=D(price),
                     original_size=D(size), size_matched=D(matched), created_at=NOW - 60)


def post(token: str, side: str, price: str) -> Post:
    return Post(key=LevelKey(token, Side(side), D(price)), size=D(10), order_type=OrderType.GTC,
                post_only=True, expires_at=0, generation=1, neg_risk=False,
                tick_size=D("0.01"))


# (case, unmanaged policy, the order, recorded?, known as the trader's?, open at the first read?,
#  expected: "blind", "foreign" (newly the trader's) or "" (accounted for, or harmless))
CASES = [
    ("unknown at a declared buy level, resting at the start", "ignore",
     order("o"), False, False, True, "blind"),
    ("unknown at a declared sell level, resting at the start", "ignore",
     order("o", "SELL", "0.55"), False, False, True, "blind"),
    ("the same under unmanaged: cancel", "cancel", order("o"), False, False, True, "blind"),
    ("under unmanaged: adopt the planner counts it already", "adopt",
     order("o"), False, False, True, ""),
    ("at a price that is not declared: nothing is posted beside it", "ignore",
     order("o", "BUY", "0.40"), False, False, True, ""),
    ("the other side at a declared price is not that level", "ignore",
     order("o", "SELL", "0.45"), False, False, True, ""),
    ("recorded in the state file (ours, in any state)", "ignore",
     order("o"), True, False, True, ""),
    ("known as the trader's (seen appearing by an earlier process)", "ignore",
     order("o"), False, True, True, ""),
    ("appeared while this process watched: the trader's", "ignore",
     order("o"), False, False, False, "foreign"),
    ("appeared while watched, at an undeclared price: remembered too", "ignore",
     order("o", "BUY", "0.40"), False, False, False, "foreign"),
    ("appeared while watched under unmanaged: adopt: remembered", "adopt",
     order("o"), False, False, False, "foreign"),
    ("recorded and appeared while watched: ours, not the trader's", "ignore",
     order("o"), True, False, False, ""),
    ("on a token that is not declared", "ignore",
     order("o", token=OTHER), False, False, True, ""),
    ("fully matched: nothing rests", "ignore",
     order("o", matched="10"), False, False, True, ""),
]


@pytest.mark.parametrize(("unmanaged", "the_order", "recorded", "foreign", "at_start", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_assess_sorts_each_open_order(unmanaged: str, the_order: OpenOrder, recorded: bool,
                                      foreign: bool, at_start: bool, expected: str) -> None:
    sight = assess(
        spec=spec(unmanaged=unmanaged), observed=[the_order],
        recorded={the_order.order_id} if recorded else set(),
        foreign={the_order.order_id} if foreign else set(),
        seen_at_start={the_order.order_id} if at_start else set(),
    )
    blind_ids = [o.order_id for b in sight.blind for o in b.orders]
    assert blind_ids == (["o"] if expected == "blind" else [])
    assert [o.order_id for o in sight.foreign] == (["o"] if expected == "foreign" else [])


def test_a_new_state_file_beside_a_resting_book_is_blind_on_every_token_it_rests_on() -> None:
    book = [order(f"b{i}") for i in range(5)] + [order(f"s{i}", "SELL", "0.55") for i in range(5)]
    book.append(order("u", "BUY", "0.30", token=U))
    sight = assess(spec=spec(both=True), observed=book, recorded=set(), foreign=set(),
                   seen_at_start={o.order_id for o in book})
    assert [b.token_id for b in sight.blind] == [U, T]  # by token id
    assert [o.order_id for o in sight.blind[1].orders] == [
        "b0", "b1", "b2", "b3", "b4", "s0", "s1", "s2", "s3", "s4"]  # by side, price, id


def test_a_first_run_on_an_empty_account_is_not_blind() -> None:
    sight = assess(spec=spec(both=True), observed=[], recorded=set(), foreign=set(),
                   seen_at_start=set())
    assert sight.blind == () and sight.foreign == ()


# --- what waits ----------------------------------------------------------------------------------


def blind_on(token: str, *orders: OpenOrder) -> tuple[BlindToken, ...]:
    return (BlindToken(token, tuple(orders)),)


def test_nothing_is_posted_on_a_blind_token_and_the_others_go_on() -> None:
    planned = Plan(posts=(post(T, "BUY", "0.45"), post(T, "SELL", "0.55"), post(U, "BUY", "0.30")))
    held, count = hold_blind(planned, blind_on(T, order("o")))
    assert [p.key.token_id for p in held.posts] == [U]
    assert count == 2
    assert held.blind == blind_on(T, order("o"))
    [warning] = held.warnings
    assert warning.startswith(f"token {T}: posts held: 1 open order this state file has no "
                              "record of, at BUY 0.45 (1)")
    assert "reconciler adopt" in warning


def test_the_blind_orders_are_not_cancelled_but_our_own_and_other_ones_are() -> None:
    key = LevelKey(T, Side.BUY, D("0.45"))
    planned = Plan(cancels=(
        Cancel("o", key, D(10), CancelReason.UNMANAGED),  # the blind one, under cancel
        Cancel("manual-elsewhere", LevelKey(T, Side.BUY, D("0.40")), D(5),
               CancelReason.UNMANAGED),
        Cancel("ours", key, D(10), CancelReason.OVERSIZED),
    ))
    held, count = hold_blind(planned, blind_on(T, order("o")))
    assert [c.order_id for c in held.cancels] == ["manual-elsewhere", "ours"]
    assert count == 0


def test_under_a_total_buy_cap_a_blind_buy_holds_every_buy() -> None:
    planned = Plan(posts=(post(U, "BUY", "0.30"), post(U, "SELL", "0.70")),
                   max_total_buy_notional=D(100))
    held, count = hold_blind(planned, blind_on(T, order("o")))
    assert [(p.key.token_id, p.key.side) for p in held.posts] == [(U, Side.SELL)]
    assert count == 1
    assert any(w.startswith("every buy held") for w in held.warnings)


def test_under_a_total_buy_cap_a_blind_sell_holds_only_its_token() -> None:
    planned = Plan(posts=(post(U, "BUY", "0.30"),), max_total_buy_notional=D(100))
    held, count = hold_blind(planned, blind_on(T, order("o", "SELL", "0.55")))
    assert [p.key.token_id for p in held.posts] == [U] and count == 0


def test_without_blind_tokens_the_plan_is_the_same_object() -> None:
    planned = Plan(posts=(post(T, "BUY", "0.45"),))
    assert hold_blind(planned, ()) == (planned, 0)


# --- the rule and the planner together -----------------------------------------------------


MARKETS = {t: MarketInfo(token_id=t, tick_size=D("0.01"), min_order_size=D("5"), neg_risk=False)
           for t in (T, U)}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([T, U]), st.sampled_from(["BUY", "SELL"]),
                          st.sampled_from(["0.45", "0.55", "0.30", "0.40"]),
                          st.integers(min_value=5, max_value=30)), max_size=12),
       st.sampled_from(["ignore", "cancel"]))
def test_a_new_state_file_never_posts_beside_an_order_at_a_declared_level(
    book: list[tuple[str, str, str, int]], unmanaged: str
) -> None:
    observed = [order(f"o{i}", side, price, token=token, size=str(size))
                for i, (token, side, price, size) in enumerate(book)]
    desired = spec(unmanaged=unmanaged, both=True)
    planned = plan(spec=desired, observed=observed, inventory=[], levels={}, markets=MARKETS,
                   now=NOW)
    sight = assess(spec=desired, observed=observed, recorded=set(), foreign=set(),
                   seen_at_start={o.order_id for o in observed})
    held, _ = hold_blind(planned, sight.blind)
    declared = {(lv.key.token_id, lv.key.side, lv.key.price)
                for t in desired.tokens for lv in t.levels}
    resting_at_levels = {o.token_id for o in observed if (o.token_id, o.side, o.price) in declared}
    assert not {p.key.token_id for p in held.posts} & resting_at_levels
    kept_ids = {o.order_id for b in sight.blind for o in b.orders}
    assert not {c.order_id for c in held.cancels} & kept_ids
    # Tokens with nothing at their declared levels are planned as on any first run.
    free = {t.token_id for t in desired.tokens} - resting_at_levels
    assert {p.key.token_id for p in planned.posts} & free == {p.key.token_id
                                                              for p in held.posts} & free
