"""Property tests of the planner against a small model of the exchange.

Hypothesis draws a desired state (tokens, levels, policies, caps), the exchange's open orders
(ours and others', partly filled, of matching or stale type/expiry), the store's level states
and inventory (including posts whose outcome is unknown), live market info (sometimes missing or
contradicting the spec) and balances. The model exchange applies a plan the way apply.py does:
cancelled orders disappear, posts become our resting orders, new generations are recorded.

Properties:
- applying the plan and planning again gives a plan with no action (one step converges);
- an order outside the inventory is cancelled only under `unmanaged: cancel`, or under `adopt`
  at a declared level;
- caps and balances hold after the plan is applied;
- an order that already serves its level (right type and expiry, needed for the target) is
  never cancelled, except to respect a cap;
- posts are never below the market minimum, and the same inputs give the same plan.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from reconciler.planner import plan
from reconciler.spec import DesiredState, Unmanaged, state_from_dicts

NOW = 1_800_000_000
TOKENS = (
    "71321045679252212594626385532706912750332728571942532289631379312455583992563",
    "52114319501245915516055106046884209969926127482827954674443846427813813222426",
    "98765432109876543210987654321098765432109876543210987654321098765432109876543",
)
PRICES = [D(p) for p in ("0.05", "0.10", "0.25", "0.40", "0.45", "0.50", "0.55", "0.60", "0.90")]
EXPIRIES = (NOW + 100, NOW + 3_600, NOW + 7_200)  # the first is too soon to post
EXPIRY_TEXT = {NOW + 100: "2027-01-15T08:01:40Z", NOW + 3_600: "2027-01-15T09:00:00Z",
               NOW + 7_200: "2027-01-15T10:00:00Z"}
sizes = st.decimals(min_value=1, max_value=300, places=0) | st.sampled_from([D("7.5"), D("12.25")])


@dataclass
class World:
    spec: DesiredState
    observed: list[OpenOrder]
    inventory: list[InventoryOrder]
    levels: dict[LevelKey, LevelState]
    markets: dict[str, MarketInfo]
    balances: dict[str, D] | None

    def plan(self) -> Plan:
        return plan(spec=self.spec, observed=self.observed, inventory=self.inventory,
                    levels=self.levels, markets=self.markets, now=NOW, balances=self.balances)


# --- strategies ------------------------------------------------------------------------------


@st.composite
def level_docs(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(st.sets(st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(PRICES)),
                        max_size=4))
    docs = []
    for side, price in sorted(keys):
        doc: dict[str, Any] = {"side": side, "price": str(price), "size": str(draw(sizes))}
        if draw(st.booleans()):
            doc["replenish"] = True
        if draw(st.integers(0, 3)) == 0:
            doc["order_type"] = "GTD"
            doc["expires_at"] = EXPIRY_TEXT[draw(st.sampled_from(EXPIRIES))]
        if draw(st.integers(0, 4)) == 0:
            doc["post_only"] = False
        docs.append(doc)
    return docs


@st.composite
def specs(draw: st.DrawFn) -> DesiredState:
    tokens = []
    for token_id in draw(st.lists(st.sampled_from(TOKENS), unique=True, min_size=1, max_size=3)):
        doc: dict[str, Any] = {"token_id": token_id, "orders": draw(level_docs()),
                               "unmanaged": draw(st.sampled_from(["ignore", "adopt", "cancel"]))}
        if draw(st.booleans()):
            doc["max_buy_notional"] = str(draw(st.integers(0, 80)))
        if draw(st.integers(0, 3)) == 0:
            doc["tick_size"] = "0.01"
        tokens.append(doc)
    limits: dict[str, Any] = {"allow_empty": True}
    if draw(st.booleans()):
        limits["max_total_buy_notional"] = str(draw(st.integers(0, 150)))
    return state_from_dicts({"version": 1, "limits": limits, "tokens": tokens})


@st.composite
def open_orders(draw: st.DrawFn, spec: DesiredState) -> list[tuple[OpenOrder, bool]]:
    """(order, is_ours) pairs: mostly at declared levels (of the level's kind or a stale one),
    some at other prices and on undeclared tokens."""
    declared = [lv for t in spec.tokens for lv in t.levels]
    out = []
    for i in range(draw(st.integers(0, 14))):
        size = draw(sizes)
        level = draw(st.sampled_from(declared)) if declared and draw(st.integers(0, 4)) else None
        if level is not None and draw(st.integers(0, 3)):
            token_id, side, price = level.key.token_id, level.key.side, level.key.price
            kind, expiration = level.order_type, level.expires_at
        else:
            token_id = level.key.token_id if level else draw(st.sampled_from(TOKENS))
            side = level.key.side if level else draw(st.sampled_from([Side.BUY, Side.SELL]))
            price = level.key.price if level else draw(st.sampled_from(PRICES + [D("0.33")]))
            kind = draw(st.sampled_from([OrderType.GTC, OrderType.GTD]))
            expiration = draw(st.sampled_from(EXPIRIES)) if kind is OrderType.GTD else 0
        order = OpenOrder(
            order_id=f"0x{i:064x}",
            token_id=token_id,
            side=side,
            price=price,
            original_size=size,
            size_matched=draw(st.sampled_from([D(0), D(0), size / 2, size])),
            created_at=draw(st.integers(0, 50)),
            order_type=kind,
            expiration=expiration,
        )
        out.append((order, draw(st.integers(0, 3)) > 0))
    return out


def market_for(token_id: str, kind: str) -> dict[str, MarketInfo]:
    if kind == "missing":
        return {}
    ticks = {"fine": D("0.001"), "coarse": D("0.1")}
    return {token_id: MarketInfo(token_id=token_id, tick_size=ticks.get(kind, D("0.01")),
                                 min_order_size=D(5), neg_risk=False,
                                 accepting_orders=kind != "closed")}


@st.composite
def worlds(draw: st.DrawFn) -> World:
    spec = draw(specs())
    pairs = draw(open_orders(spec))
    observed = [o for o, _ in pairs]
    inventory = [InventoryOrder(o.order_id, o.key, draw(st.integers(1, 3)), o.original_size,
                                o.created_at * 1000) for o, ours in pairs if ours]
    for j in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # posts whose outcome is unknown
        level = draw(st.sampled_from([lv for t in spec.tokens for lv in t.levels] or [None]))
        if level is not None:
            inventory.append(InventoryOrder(f"0xu{j}", level.key, 1, level.size, 0, unresolved=True))
    levels = {}
    for t in spec.tokens:
        for lv in t.levels:
            choice = draw(st.integers(0, 3))
            if choice == 0:
                continue  # never applied
            digest = lv.spec_digest if choice < 3 else "stale"
            filled = draw(st.sampled_from([D(0), lv.size / 3, lv.size]))
            levels[lv.key] = LevelState(lv.key, digest, choice, filled)
    markets: dict[str, MarketInfo] = {}
    for token_id in TOKENS:
        kinds = ["ok"] * 8 + ["missing", "closed", "fine", "coarse"]
        markets.update(market_for(token_id, draw(st.sampled_from(kinds))))
    balances = None
    if draw(st.booleans()):
        balances = {t: D(draw(st.integers(0, 200))) for t in TOKENS if draw(st.booleans())}
    return World(spec, observed, inventory, levels, markets, balances)


# --- the model exchange ----------------------------------------------------------------------


def apply(world: World, p: Plan) -> World:
    gone = {c.order_id for c in p.cancels}
    observed = [o for o in world.observed if o.order_id not in gone]
    inventory = [i for i in world.inventory if i.order_id not in gone]
    for n, post in enumerate(p.posts):
        order_id = f"0xpost{n}"
        observed.append(OpenOrder(order_id=order_id, token_id=post.key.token_id,
                                  side=post.key.side, price=post.key.price,
                                  original_size=post.size, size_matched=D(0), created_at=NOW,
                                  order_type=post.order_type, expiration=post.expires_at))
        inventory.append(InventoryOrder(order_id, post.key, post.generation, post.size, NOW * 1000))
    levels = dict(world.levels)
    for g in p.generations:
        levels[g.key] = LevelState(g.key, g.spec_digest, g.generation, D(0))
    return replace(world, observed=observed, inventory=inventory, levels=levels)


def counted(world: World) -> list[OpenOrder]:
    """Resting orders that are ours, or adopted at a declared level."""
    ours = {i.order_id for i in world.inventory}
    adopt = {t.token_id: {lv.key for lv in t.levels} for t in world.spec.tokens
             if t.unmanaged is Unmanaged.ADOPT}
    return [o for o in world.observed if o.remaining > 0 and
            (o.order_id in ours or o.key in adopt.get(o.token_id, set()))]


def buy_notional(orders: Sequence[OpenOrder]) -> dict[str, D]:
    total: dict[str, D] = defaultdict(D)
    for o in orders:
        if o.side is Side.BUY:
            total[o.token_id] += o.price * o.remaining
    return total


# --- properties ------------------------------------------------------------------------------

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_applying_the_plan_converges_in_one_step(world: World) -> None:
    first = world.plan()
    second = apply(world, first).plan()
    assert second.cancels == () and second.posts == (), (first, second)
    assert second.generations == ()


@SETTINGS
@given(worlds())
def test_foreign_orders_are_cancelled_only_by_policy(world: World) -> None:
    ours = {i.order_id for i in world.inventory}
    tokens = {t.token_id: t for t in world.spec.tokens}
    for cancel in world.plan().cancels:
        if cancel.order_id in ours:
            continue
        token = tokens[cancel.key.token_id]
        if token.unmanaged is Unmanaged.CANCEL:
            assert cancel.reason is CancelReason.UNMANAGED
        else:
            assert token.unmanaged is Unmanaged.ADOPT
            assert cancel.key in {lv.key for lv in token.levels}


@SETTINGS
@given(worlds())
def test_caps_and_balances_hold_after_apply(world: World) -> None:
    p = world.plan()
    after = apply(world, p)
    before_buy, after_buy = buy_notional(counted(world)), buy_notional(counted(after))
    posted_buy = {x.key.token_id for x in p.posts if x.key.side is Side.BUY}
    for token in world.spec.tokens:
        cap = token.max_buy_notional
        if cap is not None and token.token_id in posted_buy:
            assert after_buy[token.token_id] <= cap
        if cap is not None and after_buy[token.token_id] > cap:
            assert after_buy[token.token_id] <= before_buy[token.token_id]
    total_cap = world.spec.max_total_buy_notional
    if total_cap is not None and posted_buy:
        assert sum(after_buy.values(), D(0)) <= total_cap
    if world.balances is not None:
        for token_id, balance in world.balances.items():
            sells = sum((o.remaining for o in counted(after)
                         if o.side is Side.SELL and o.token_id == token_id), D(0))
            if any(x.key.side is Side.SELL and x.key.token_id == token_id for x in p.posts):
                assert sells <= balance


@SETTINGS
@given(worlds())
def test_orders_that_serve_their_level_are_not_cancelled(world: World) -> None:
    p = world.plan()
    skipped = {s.token_id for s in p.skipped}
    cancelled = {c.order_id: c.reason for c in p.cancels}
    ours = {i.order_id: i for i in world.inventory}
    seen = {o.order_id for o in world.observed}
    held = {i.key for i in world.inventory if i.unresolved and i.order_id not in seen}
    for token in world.spec.tokens:
        if token.token_id in skipped:
            continue
        for level in token.levels:
            if level.key in held:
                continue
            state = world.levels.get(level.key)
            filled = state.filled if state and state.spec_digest == level.spec_digest else D(0)
            target = level.size if level.replenish else max(level.size - filled, D(0))
            serving = [
                o for o in world.observed
                if o.key == level.key and o.remaining > 0
                and (o.order_id in ours or token.unmanaged is Unmanaged.ADOPT)
                and o.order_type is level.order_type
                and (level.order_type is OrderType.GTC or o.expiration == level.expires_at)
            ]
            serving.sort(key=lambda o: (o.created_at, ours[o.order_id].posted_at_ms
                                        if o.order_id in ours else 0, o.order_id))
            total = D(0)
            for o in serving:  # oldest first: the prefix that fits the target is needed
                total += o.remaining
                if total > target:
                    break
                assert cancelled.get(o.order_id, CancelReason.CAP) is CancelReason.CAP, o


@SETTINGS
@given(worlds(), st.randoms(use_true_random=False))
def test_posts_are_sane_and_the_plan_is_deterministic(world: World, rnd: random.Random) -> None:
    p = world.plan()
    for post in p.posts:
        assert post.size >= world.markets[post.key.token_id].min_order_size
        assert post.size == post.size.quantize(D("0.01"))
        if post.order_type is OrderType.GTD:
            assert post.expires_at >= NOW + 180
    assert [x.key for x in p.posts] == sorted(x.key for x in p.posts)
    assert len({x.key for x in p.posts}) == len(p.posts)  # one post per level
    assert len({c.order_id for c in p.cancels}) == len(p.cancels)
    assert not ({c.order_id for c in p.cancels} & {k.order_id for k in p.keeps})
    shuffled = replace(world, observed=rnd.sample(world.observed, len(world.observed)),
                       inventory=rnd.sample(world.inventory, len(world.inventory)))
    assert shuffled.plan() == p
    assert world.plan() == p
