"""Table tests for the planner's rules (see the docstring of reconciler/planner.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal as D
from typing import Any

import pytest

from reconciler.model import (
    CancelReason,
    InventoryOrder,
    LevelKey,
    LevelState,
    MarketInfo,
    OpenOrder,
    OrderType,
    Plan,
    Side,
)
from reconciler.planner import EmptyDesiredState, plan
from reconciler.spec import DesiredState, state_from_dicts

T = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
U = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
NOW = 1_800_000_000
LATER = NOW + 86_400  # a GTD expiry comfortably in the future
_ids = iter(range(1, 10**9))


def spec(*tokens: dict[str, Any], limits: dict[str, Any] | None = None,
         defaults: dict[str, Any] | None = None) -> DesiredState:
    document: dict[str, Any] = {"version": 1, "tokens": list(tokens)}
    if limits is not None:
        document["limits"] = limits
    if defaults is not None:
        document["defaults"] = defaults
    return state_from_dicts(document)


def token(token_id: str = T, *levels: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"token_id": token_id, "orders": list(levels), **fields}


def lvl(side: str, price: str, size: str | int, **fields: Any) -> dict[str, Any]:
    return {"side": side, "price": price, "size": size, **fields}


def key(side: str, price: str, token_id: str = T) -> LevelKey:
    return LevelKey(token_id, Side(side), D(price))


def market(token_id: str = T, **fields: Any) -> dict[str, MarketInfo]:
    values = {"tick_size": D("0.01"), "min_order_size": D("5"), "neg_risk": False, **fields}
    return {token_id: MarketInfo(token_id=token_id, **values)}


def order(side: str, price: str, size: str | int, *, token_id: str = T, matched: str = "0",
          created: int = 100, kind: OrderType = OrderType.GTC, expiration: int = 0,
          order_id: str | None = None) -> OpenOrder:
    return OpenOrder(
        order_id=order_id or f"0x{next(_ids):064x}", token_id=token_id, side=Side(side),
        price=D(price), original_size=D(size), size_matched=D(matched), created_at=created,
        order_type=kind, expiration=expiration,
    )


def mine(orders: Sequence[OpenOrder], generation: int = 1) -> list[InventoryOrder]:
    return [InventoryOrder(o.order_id, o.key, generation, o.original_size, o.created_at * 1000)
            for o in orders]


def state_for(s: DesiredState, *, filled: dict[LevelKey, str] | None = None,
              generation: int = 1) -> dict[LevelKey, LevelState]:
    """Level states as if every level's current spec had been applied already."""
    filled = filled or {}
    return {
        lv.key: LevelState(lv.key, lv.spec_digest, generation, D(filled.get(lv.key, "0")))
        for t in s.tokens for lv in t.levels
    }


def run(s: DesiredState, observed: Sequence[OpenOrder] = (), *, ours: Sequence[OpenOrder] | None = None,
        levels: dict[LevelKey, LevelState] | None = None, markets: dict[str, MarketInfo] | None = None,
        now: int = NOW, balances: dict[str, D] | None = None,
        inventory: Sequence[InventoryOrder] | None = None) -> Plan:
    return plan(
        spec=s, observed=list(observed),
        inventory=list(inventory) if inventory is not None else mine(observed if ours is None else ours),
        levels=state_for(s) if levels is None else levels,
        markets=market() if markets is None else markets, now=now, balances=balances,
    )


def posts(p: Plan) -> list[tuple[str, str, str]]:
    return [(x.key.side.value, str(x.key.price), format(x.size.normalize(), "f")) for x in p.posts]


def cancels(p: Plan) -> dict[str, CancelReason]:
    return {c.order_id: c.reason for c in p.cancels}


# --- posting from nothing, and nothing to do -------------------------------------------------


def test_from_nothing_posts_every_level_in_order_as_generation_one() -> None:
    s = spec(token(T, lvl("SELL", "0.55", 10), lvl("BUY", "0.45", 100), lvl("BUY", "0.44", 20)))
    p = run(s, levels={})
    assert posts(p) == [("BUY", "0.44", "20"), ("BUY", "0.45", "100"), ("SELL", "0.55", "10")]
    assert [g.generation for g in p.generations] == [1, 1, 1]
    assert {g.spec_digest for g in p.generations} == {lv.spec_digest for lv in s.tokens[0].levels}
    first = p.posts[0]
    assert (first.order_type, first.post_only, first.expires_at) == (OrderType.GTC, True, 0)
    assert (first.neg_risk, first.tick_size, first.generation) == (False, D("0.01"), 1)


def test_matching_orders_are_kept_and_nothing_is_written() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 100)))
    resting = [order("BUY", "0.45", 60, created=1), order("BUY", "0.450", 40, created=2)]
    p = run(s, resting)
    assert p.is_empty and p.generations == ()
    assert [k.order_id for k in p.keeps] == sorted(o.order_id for o in resting)


def test_fully_matched_orders_are_not_resting() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10)))
    gone = order("BUY", "0.45", 10, matched="10")
    p = run(s, [gone])
    assert posts(p) == [("BUY", "0.45", "10")] and p.keeps == ()


# --- fills, replenish, generations -----------------------------------------------------------


def test_fills_reduce_the_target_without_replenish() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 100)))
    part = order("BUY", "0.45", 100, matched="40")
    assert run(s, [part], levels=state_for(s, filled={key("BUY", "0.45"): "40"})).is_empty


def test_replenish_tops_up_what_filled() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 100, replenish=True)))
    part = order("BUY", "0.45", 100, matched="40")
    p = run(s, [part], levels=state_for(s, filled={key("BUY", "0.45"): "40"}))
    assert posts(p) == [("BUY", "0.45", "40")]


def test_a_fully_filled_level_is_done() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 100)))
    assert run(s, [], levels=state_for(s, filled={key("BUY", "0.45"): "100"})).is_empty


def test_a_done_level_cancels_leftovers_as_level_done() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 100)))
    stray = order("BUY", "0.45", 10)
    p = run(s, [stray], levels=state_for(s, filled={key("BUY", "0.45"): "100"}))
    assert cancels(p) == {stray.order_id: CancelReason.LEVEL_DONE}
    assert p.posts == ()


def test_top_up_is_floored_to_the_size_precision() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 100)))
    p = run(s, [], levels=state_for(s, filled={key("BUY", "0.45"): "12.345678"}))
    assert posts(p) == [("BUY", "0.45", "87.65")]


def test_size_change_starts_a_generation_and_counts_resting_orders() -> None:
    old = spec(token(T, lvl("BUY", "0.45", 100)))
    new = spec(token(T, lvl("BUY", "0.45", 150)))
    resting = order("BUY", "0.45", 100, matched="30")
    levels = state_for(old, filled={key("BUY", "0.45"): "30"}, generation=4)
    p = run(new, [resting], levels=levels)
    # Fill count restarts: target is the full new size; the 70 still resting count toward it.
    assert posts(p) == [("BUY", "0.45", "80")]
    assert p.posts[0].generation == 5
    assert [(g.key, g.generation) for g in p.generations] == [(key("BUY", "0.45"), 5)]
    assert p.keeps[0].order_id == resting.order_id


def test_post_only_change_is_a_new_generation_but_cancels_nothing() -> None:
    old = spec(token(T, lvl("BUY", "0.45", 100)))
    new = spec(token(T, lvl("BUY", "0.45", 100, post_only=False)))
    resting = order("BUY", "0.45", 100)
    p = run(new, [resting], levels=state_for(old))
    assert p.is_empty and len(p.generations) == 1 and p.generations[0].generation == 2


def test_order_type_change_cancels_and_reposts() -> None:
    s = spec(token(T, lvl("SELL", "0.55", 10, order_type="GTD", expires_at="2027-01-15T08:00:00Z")))
    gtc = order("SELL", "0.55", 10)
    p = run(s, [gtc], now=NOW - 86400)
    assert cancels(p) == {gtc.order_id: CancelReason.SPEC_CHANGED}
    assert posts(p) == [("SELL", "0.55", "10")]
    assert (p.posts[0].order_type, p.posts[0].expires_at) == (OrderType.GTD, 1800000000)


def test_expiry_change_cancels_and_reposts() -> None:
    s = spec(token(T, lvl("SELL", "0.55", 10, order_type="GTD", expires_at="2027-01-15T08:00:00Z")))
    old = order("SELL", "0.55", 10, kind=OrderType.GTD, expiration=1800000000 - 3600)
    same = order("SELL", "0.55", 10, kind=OrderType.GTD, expiration=1800000000)
    assert cancels(run(s, [old], now=NOW - 86400)) == {old.order_id: CancelReason.SPEC_CHANGED}
    assert run(s, [same], now=NOW - 86400).is_empty


# --- oversize --------------------------------------------------------------------------------


def test_oversize_cancels_newest_first_and_reposts_the_remainder() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 60)))
    oldest, middle, newest = (order("BUY", "0.45", n, created=c) for n, c in ((50, 1), (30, 2), (40, 3)))
    p = run(s, [newest, oldest, middle])
    assert cancels(p) == {newest.order_id: CancelReason.OVERSIZED,
                          middle.order_id: CancelReason.OVERSIZED}
    assert [k.order_id for k in p.keeps] == [oldest.order_id]
    assert posts(p) == [("BUY", "0.45", "10")]


def test_oversize_by_whole_orders_needs_no_post() -> None:
    s = spec(token(T, lvl("SELL", "0.6", 50)))
    old, new = order("SELL", "0.6", 50, created=1), order("SELL", "0.6", 50, created=2)
    p = run(s, [old, new])
    assert cancels(p) == {new.order_id: CancelReason.OVERSIZED} and p.posts == ()


def test_newest_is_decided_by_post_time_when_created_at_ties() -> None:
    s = spec(token(T, lvl("SELL", "0.6", 50)))
    a, b = order("SELL", "0.6", 50, created=7), order("SELL", "0.6", 50, created=7)
    inventory = [InventoryOrder(a.order_id, a.key, 1, D(50), 7_900),
                 InventoryOrder(b.order_id, b.key, 1, D(50), 7_100)]
    assert cancels(run(s, [a, b], inventory=inventory)) == {a.order_id: CancelReason.OVERSIZED}


# --- ownership -------------------------------------------------------------------------------


def test_removed_levels_and_tokens_cancel_only_our_orders() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10)))
    gone_level = order("BUY", "0.40", 10)
    gone_token = order("SELL", "0.7", 10, token_id=U)
    foreign_t = order("BUY", "0.40", 10)
    foreign_u = order("SELL", "0.7", 10, token_id=U)
    keep = order("BUY", "0.45", 10)
    p = run(s, [gone_level, gone_token, foreign_t, foreign_u, keep],
            ours=[gone_level, gone_token, keep])
    assert cancels(p) == {gone_level.order_id: CancelReason.LEVEL_REMOVED,
                          gone_token.order_id: CancelReason.TOKEN_REMOVED}


def test_unmanaged_ignore_is_not_counted_nor_cancelled() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10)))
    foreign = order("BUY", "0.45", 100)
    p = run(s, [foreign], ours=[])
    assert p.cancels == () and posts(p) == [("BUY", "0.45", "10")]


def test_unmanaged_adopt_counts_at_declared_levels_only() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10), lvl("SELL", "0.6", 20), unmanaged="adopt"))
    big = order("BUY", "0.45", 30)
    elsewhere = order("BUY", "0.30", 5)
    fits = order("SELL", "0.6", 20)
    p = run(s, [big, elsewhere, fits], ours=[])
    assert cancels(p) == {big.order_id: CancelReason.OVERSIZED}
    assert posts(p) == [("BUY", "0.45", "10")]
    assert [k.order_id for k in p.keeps] == [fits.order_id]


def test_unmanaged_cancel_cancels_every_foreign_order_on_that_token_only() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10), unmanaged="cancel"), token(U))
    a, b = order("BUY", "0.45", 10), order("SELL", "0.9", 1)
    other = order("BUY", "0.45", 10, token_id=U)
    ours = order("BUY", "0.45", 10)
    p = run(s, [a, b, other, ours], ours=[ours], markets={**market(T), **market(U)})
    assert cancels(p) == {a.order_id: CancelReason.UNMANAGED, b.order_id: CancelReason.UNMANAGED}
    assert p.posts == ()


def test_unresolved_post_holds_its_level() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10), lvl("BUY", "0.40", 10)))
    lost = InventoryOrder("0xlost", key("BUY", "0.45"), 1, D(10), 1, unresolved=True)
    p = run(s, [], inventory=[lost])
    assert posts(p) == [("BUY", "0.40", "10")]
    assert any("unknown post outcome" in w for w in p.warnings)
    seen = order("BUY", "0.45", 10, order_id="0xlost")
    assert posts(run(s, [seen], inventory=[lost])) == [("BUY", "0.40", "10")]


# --- market checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "markets", "reason"),
    [
        ({}, {}, "no market info"),
        ({}, market(accepting_orders=False), "not accepting orders"),
        ({"tick_size": "0.01"}, market(tick_size=D("0.001")), "live tick size is 0.001"),
        ({"neg_risk": False}, market(neg_risk=True), "neg_risk is true"),
        ({}, market(tick_size=D("0.1")), "price 0.45 is not a valid price on the live tick 0.1"),
    ],
)
def test_contradicted_tokens_are_skipped_untouched(fields: dict[str, Any], markets: dict[str, MarketInfo], reason: str) -> None:
    s = spec(token(T, lvl("BUY", "0.45", 10), **fields), token(U, lvl("BUY", "0.5", 10)))
    ours = order("BUY", "0.45", 99)
    p = run(s, [ours], markets={**markets, **market(U)})
    assert [x.token_id for x in p.skipped] == [T] and reason in p.skipped[0].reason
    assert p.cancels == () and posts(p) == [("BUY", "0.5", "10")]


def test_a_top_up_below_the_minimum_size_is_skipped_not_rounded() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 13)))
    p = run(s, [order("BUY", "0.45", 10)])
    assert p.is_empty and any("minimum order size 5" in w for w in p.warnings)


def test_gtd_expiring_too_soon_is_not_posted() -> None:
    s = spec(token(T, lvl("SELL", "0.55", 10, order_type="GTD", expires_at="2027-01-15T08:00:00Z")))
    assert run(s, now=1800000000 - 180).posts != ()
    late = run(s, now=1800000000 - 179)
    assert late.posts == () and any("less than 180 s" in w for w in late.warnings)


# --- caps and balances -----------------------------------------------------------------------


def test_token_cap_trims_the_lowest_priority_post() -> None:
    s = spec(token(T, lvl("BUY", "0.5", 100), lvl("BUY", "0.4", 100), max_buy_notional=80))
    p = run(s, [])
    assert posts(p) == [("BUY", "0.4", "75"), ("BUY", "0.5", "100")]  # 50 + 30 = 80
    assert any("trimmed from 100" in w for w in p.warnings)


def test_cap_drops_a_post_that_would_fall_below_minimum() -> None:
    s = spec(token(T, lvl("BUY", "0.5", 100), lvl("BUY", "0.4", 100), max_buy_notional="51"))
    p = run(s, [])
    assert posts(p) == [("BUY", "0.5", "100")]
    assert any("below the market's minimum" in w for w in p.warnings)


def test_global_cap_spans_tokens_and_counts_kept_orders() -> None:
    s = spec(token(T, lvl("BUY", "0.5", 100)), token(U, lvl("BUY", "0.5", 100)),
             limits={"max_total_buy_notional": 70})
    kept = order("BUY", "0.5", 100, token_id=U)
    p = run(s, [kept], markets={**market(T), **market(U)})
    assert posts(p) == [("BUY", "0.5", "40")] and p.posts[0].key.token_id == T


def test_lowered_cap_cancels_lowest_price_newest_first_then_refills() -> None:
    s = spec(token(T, lvl("BUY", "0.5", 100), lvl("BUY", "0.2", 100), max_buy_notional=60))
    top = order("BUY", "0.5", 100, created=1)
    low_old, low_new = order("BUY", "0.2", 50, created=1), order("BUY", "0.2", 50, created=2)
    p = run(s, [top, low_old, low_new])  # kept notional 50 + 20 = 70 > 60
    assert cancels(p) == {low_new.order_id: CancelReason.CAP}
    assert posts(p) == []  # 60 = 50 + 10: no room left to refill
    assert sum(k.key.price * k.remaining for k in p.keeps) == D(60)


def test_room_left_by_cap_cancels_goes_to_the_cancelled_level_too() -> None:
    s = spec(token(T, lvl("BUY", "0.5", 100), lvl("BUY", "0.2", 100), max_buy_notional=60))
    top = order("BUY", "0.5", 100, created=1)
    low_old, low_new = order("BUY", "0.2", 60, created=1), order("BUY", "0.2", 40, created=2)
    p = run(s, [top, low_old, low_new])  # 50 + 20 = 70: both low orders must go (62 > 60)
    assert cancels(p) == {low_new.order_id: CancelReason.CAP, low_old.order_id: CancelReason.CAP}
    assert posts(p) == [("BUY", "0.2", "50")]  # 50 + 10 = 60 exactly, in the same plan


def test_skipped_tokens_still_use_the_global_cap() -> None:
    s = spec(token(T, lvl("BUY", "0.5", 100)), token(U, lvl("BUY", "0.5", 100)),
             limits={"max_total_buy_notional": 60})
    frozen = order("BUY", "0.5", 100, token_id=U)
    p = run(s, [frozen], markets=market(T))
    assert posts(p) == [("BUY", "0.5", "20")]


def test_sells_never_exceed_the_balance() -> None:
    s = spec(token(T, lvl("SELL", "0.6", 100), lvl("SELL", "0.7", 100)), token(U, lvl("SELL", "0.6", 10)))
    kept = order("SELL", "0.6", 30)
    p = run(s, [kept], markets={**market(T), **market(U)}, balances={T: D("100")})
    # Posts are ordered by token id (U < T); T's 0.7 level finds no shares left.
    assert [(x.key.token_id, x.size) for x in p.posts] == [(U, D(10)), (T, D(70))]
    assert any("share balance" in w for w in p.warnings)


@pytest.mark.parametrize(
    ("limits", "token_options"),
    [({}, {"max_buy_notional": "10"}), ({"max_total_buy_notional": "10"}, {})],
)
def test_planner_counts_an_unresolved_buy_toward_the_caps(
    limits: dict[str, Any], token_options: dict[str, Any]
) -> None:
    """The planner's contract (planner.py rule 6): an order whose post outcome is unknown may
    rest, so it uses cap room. 0.50 x 10 unresolved leaves 5 of 10: the 0.40 level gets 12.5."""
    s = spec(token(T, lvl("BUY", "0.50", "10"), lvl("BUY", "0.40", "100"), **token_options),
             limits=limits or None)
    lost = LevelKey(T, Side.BUY, D("0.50"))
    p = run(s, inventory=[InventoryOrder("0xlost", lost, 1, D("10"), 1, unresolved=True)])
    assert [(x.key.price, x.size) for x in p.posts] == [(D("0.40"), D("12.5"))]


def test_planner_counts_an_unresolved_sell_toward_the_balance() -> None:
    s = spec(token(T, lvl("SELL", "0.60", "10"), lvl("SELL", "0.70", "10")))
    lost = LevelKey(T, Side.SELL, D("0.60"))
    p = run(s, levels={}, balances={T: D("16")},
            inventory=[InventoryOrder("0xlost", lost, 1, D("10"), 1, unresolved=True)])
    assert [(x.key.price, x.size) for x in p.posts] == [(D("0.70"), D("6"))]


def test_a_token_cap_is_not_exceeded_by_rounding_the_trimmed_size() -> None:
    """10 pUSD at 0.30 is 33.333... shares: trimmed DOWN to 33.33 (9.999), never up to 33.34."""
    s = spec(token(T, lvl("BUY", "0.30", "100"), max_buy_notional="10"))
    p = run(s, levels={}, inventory=[])
    (post,) = p.posts
    assert post.size == D("33.33") and post.key.price * post.size <= D("10")


def test_empty_desired_state_is_refused_unless_allowed() -> None:
    ours = order("BUY", "0.45", 10)
    with pytest.raises(EmptyDesiredState):
        run(spec(), [ours])
    p = run(spec(limits={"allow_empty": True}), [ours])
    assert cancels(p) == {ours.order_id: CancelReason.TOKEN_REMOVED}


# --- shape of the output ---------------------------------------------------------------------


def test_posts_come_in_batches_of_fifteen() -> None:
    levels = [lvl("BUY", f"0.{i:02d}", 10) for i in range(10, 50)]
    p = run(spec(token(T, *levels)))
    assert [len(b) for b in p.post_batches()] == [15, 15, 10]


def test_same_input_in_any_order_gives_the_same_plan() -> None:
    s = spec(token(T, lvl("BUY", "0.45", 60), lvl("SELL", "0.6", 10), unmanaged="adopt"),
             token(U, lvl("BUY", "0.3", 10)))
    observed = [order("BUY", "0.45", n, created=c) for n, c in ((50, 1), (30, 2), (40, 3))]
    observed += [order("SELL", "0.6", 5), order("BUY", "0.1", 10, token_id=U)]
    markets = {**market(T), **market(U)}
    first = run(s, observed, markets=markets)
    for seed in range(5):
        shuffled = observed[:]
        random.Random(seed).shuffle(shuffled)
        assert run(s, shuffled, ours=observed, markets=markets) == first
