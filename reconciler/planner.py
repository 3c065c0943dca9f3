"""The planner: desired state + what the exchange shows -> the orders to keep, cancel and post.

PURE (STYLE.md 1): no I/O, no clock (the time is the `now` argument), no randomness; the same
inputs give the same `Plan`, in the same order. Both sides arrive normalised as `LevelKey`s and
Decimals, so the diff is dictionary look-ups: O(levels + orders), no nested scans.

The rules, in the order they are applied:

1. Ownership. An open order is ours iff its id is in the inventory. Unmanaged orders on a token
   follow its `unmanaged` policy: `ignore` (default) leaves them alone and does not count them;
   `adopt` counts those at a declared level as if they were ours (so they may be cancelled as
   oversized, spec-changed, or for a cap) and leaves the others alone; `cancel` cancels all of
   them (UNMANAGED). Our orders on a token no longer declared are cancelled (TOKEN_REMOVED), and
   at a price no longer declared (LEVEL_REMOVED).
2. Tokens the market contradicts are skipped whole, their orders untouched: no market info, not
   accepting orders, live tick or neg-risk different from the spec's assertion, a price off the
   live tick or outside [tick, 1 - tick].
3. Generations. A level whose spec digest differs from its `LevelState` (or has none) starts a
   new generation (reported in `Plan.generations`, which the store must record even when the
   plan has no action); its fill count restarts at 0 and the orders already resting count.
4. Per level: target = size - filled (replenish false, floored at 0) or size (replenish true).
   Resting orders of another order type or expiry are cancelled (SPEC_CHANGED); post-only and
   replenish do not matter to an order that already rests, so changing them cancels nothing.
   Oversize: walking newest-first, an order is cancelled while the rest still cover the target;
   the first order that cannot go without dropping below the target is cancelled too and the
   remainder re-posted, so a level never rests above its target (the older orders keep their
   queue priority). A level with an order whose post outcome is unknown (`unresolved`) is held:
   nothing is posted or cancelled there until the store resolves it.
5. Top-ups. The missing size (floored to 0.01, the exchange's size precision) is posted as one
   order, unless a GTD level expires within GTD_MIN_LIFETIME_SECONDS of `now` (skipped, warning).
6. Caps. Resting buy notional (price x remaining of the buys kept, ours and adopted; our buys on
   skipped tokens count toward the global cap) is held under the token's `max_buy_notional` and
   the global `max_total_buy_notional`: if the kept orders alone exceed a cap, buys are
   cancelled (CAP) from the lowest price, newest first; posts then share what is left, best
   price first (tokens in id order), each trimmed to fit. With `balances` (the shares held per
   token), new sells are trimmed so that kept + new sells never exceed the balance; sells that
   already rest above it are not cancelled (the exchange reserved them); a token missing from
   `balances` is not limited. Unresolved posts count toward caps and balances as if resting.
7. A post (after trimming) below the market's `min_order_size` is skipped with a warning, never
   rounded up.

Applying a plan and planning again with the same inputs gives a plan with no action: the
property tests check that fixed point.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from reconciler.model import (
    GTD_MIN_LIFETIME_SECONDS,
    Cancel,
    CancelReason,
    InventoryOrder,
    Keep,
    LevelGeneration,
    LevelKey,
    LevelState,
    MarketInfo,
    OpenOrder,
    OrderType,
    Plan,
    Post,
    Side,
    SkippedToken,
)
from reconciler.spec import DesiredLevel, DesiredState, DesiredToken, EmptyDesiredState, Unmanaged

SIZE_STEP = Decimal("0.01")
ZERO = Decimal(0)

__all__ = ["EmptyDesiredState", "plan"]


def plan(
    *,
    spec: DesiredState,
    observed: Sequence[OpenOrder],
    inventory: Sequence[InventoryOrder],
    levels: Mapping[LevelKey, LevelState],
    markets: Mapping[str, MarketInfo],
    now: int,
    balances: Mapping[str, Decimal] | None = None,
) -> Plan:
    """Compute the plan. Raises `EmptyDesiredState` for an empty spec without allow_empty."""
    if not spec.tokens and not spec.allow_empty:
        raise EmptyDesiredState()
    ours = {o.order_id: o for o in inventory}
    by_token: dict[str, list[OpenOrder]] = defaultdict(list)
    for order in observed:
        if order.remaining > 0:
            by_token[order.token_id].append(order)
    draft = _Draft()
    declared = {t.token_id for t in spec.tokens}
    for token_id in sorted(by_token.keys() - declared):
        for order in by_token[token_id]:
            if order.order_id in ours:
                draft.cancel(order, order.key, CancelReason.TOKEN_REMOVED)
    unresolved = _unresolved_by_key(inventory, seen={o.order_id for o in observed})
    for token in spec.tokens:
        _plan_token(
            draft,
            token=token,
            orders=by_token.get(token.token_id, []),
            ours=ours,
            unresolved=unresolved,
            levels=levels,
            market=markets.get(token.token_id),
            now=now,
        )
    _enforce_caps(draft, spec=spec, levels=levels, markets=markets, now=now, balances=balances)
    return draft.finish(max_total_buy_notional=spec.max_total_buy_notional)


# --- the draft plan --------------------------------------------------------------------------


@dataclass
class _Want:
    """A top-up a level needs, before caps and minimum size."""

    level: DesiredLevel
    size: Decimal
    generation: int
    market: MarketInfo
    blocked: str = ""  # why nothing may be posted at this level now (e.g. GTD expiring soon)


@dataclass
class _Draft:
    keeps: dict[str, tuple[Keep, OpenOrder]] = field(default_factory=dict)
    cancels: list[Cancel] = field(default_factory=list)
    wants: dict[LevelKey, _Want] = field(default_factory=dict)  # one slot per planned level
    held: set[LevelKey] = field(default_factory=set)  # levels with unresolved posts
    posts: list[Post] = field(default_factory=list)
    skipped: list[SkippedToken] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    generations: list[LevelGeneration] = field(default_factory=list)
    # Buy notional / sell size that rests and is not ours to touch in this plan (skipped tokens,
    # unresolved posts). It still counts toward the caps.
    frozen_buy: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    frozen_sell: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    # The caller passes the order's key: building a LevelKey per access is most of the cost
    # of a 10,000-order plan.
    def cancel(self, order: OpenOrder, key: LevelKey, reason: CancelReason) -> None:
        self.cancels.append(Cancel(order.order_id, key, order.remaining, reason))

    def keep(self, order: OpenOrder, key: LevelKey) -> None:
        self.keeps[order.order_id] = (Keep(order.order_id, key, order.remaining), order)

    def finish(self, *, max_total_buy_notional: Decimal | None) -> Plan:
        return Plan(
            keeps=tuple(sorted((k for k, _ in self.keeps.values()), key=_by_key_and_id)),
            cancels=tuple(sorted(self.cancels, key=_by_key_and_id)),
            posts=tuple(sorted(self.posts, key=lambda p: _sort_key(p.key))),
            skipped=tuple(sorted(self.skipped, key=lambda s: s.token_id)),
            warnings=tuple(self.warnings),
            generations=tuple(sorted(self.generations, key=lambda g: _sort_key(g.key))),
            max_total_buy_notional=max_total_buy_notional,
        )


def _sort_key(key: LevelKey) -> tuple[str, str, Decimal]:
    # The same order as LevelKey's own, as a plain tuple: much cheaper to compare.
    return (key.token_id, key.side.value, key.price)


def _by_key_and_id(item: Keep | Cancel) -> tuple[str, str, Decimal, str]:
    return (*_sort_key(item.key), item.order_id)


# --- one token -------------------------------------------------------------------------------


def _plan_token(
    draft: _Draft,
    *,
    token: DesiredToken,
    orders: list[OpenOrder],
    ours: Mapping[str, InventoryOrder],
    unresolved: Mapping[LevelKey, list[InventoryOrder]],
    levels: Mapping[LevelKey, LevelState],
    market: MarketInfo | None,
    now: int,
) -> None:
    # One bucket per declared level; the orders that count toward it go in. Within one token a
    # level is (side, price): a plain tuple is cheaper to build and hash than a LevelKey.
    at_level: dict[tuple[Side, Decimal], list[OpenOrder]] = {
        (level.key.side, level.key.price): [] for level in token.levels
    }
    reason = skip_reason(token, market)
    if reason is not None or market is None:
        draft.skipped.append(SkippedToken(token.token_id, reason or "no market info"))
        _freeze(draft, token=token, orders=orders, ours=ours, wanted=at_level)
        return
    adopt = token.unmanaged is Unmanaged.ADOPT
    for order in orders:
        bucket = at_level.get((order.side, order.price))
        if order.order_id in ours:
            if bucket is not None:
                bucket.append(order)
            else:
                draft.cancel(order, order.key, CancelReason.LEVEL_REMOVED)
        elif token.unmanaged is Unmanaged.CANCEL:
            draft.cancel(order, order.key, CancelReason.UNMANAGED)
        elif adopt and bucket is not None:
            bucket.append(order)
    for level in token.levels:
        _plan_level(
            draft,
            level=level,
            orders=at_level[(level.key.side, level.key.price)],
            ours=ours,
            state=levels.get(level.key),
            pending=unresolved.get(level.key, []) if unresolved else [],
            market=market,
            now=now,
        )


def skip_reason(token: DesiredToken, market: MarketInfo | None) -> str | None:
    """Why a token must be left untouched this time, or None."""
    if market is None:
        return "no market info for this token (unknown token, or the read failed)"
    if not market.accepting_orders:
        return "the market is not accepting orders (closed or resolved)"
    if token.tick_size is not None and token.tick_size != market.tick_size:
        return (
            f"the live tick size is {market.tick_size} but the spec asserts tick_size "
            f"{token.tick_size}; update the spec"
        )
    if token.neg_risk is not None and token.neg_risk != market.neg_risk:
        return (
            f"the market's neg_risk is {str(market.neg_risk).lower()} but the spec asserts "
            f"{str(token.neg_risk).lower()}; update the spec"
        )
    tick = market.tick_size
    for level in token.levels:
        price = level.key.price
        if price % tick != 0 or not tick <= price <= 1 - tick:
            return f"price {price} is not a valid price on the live tick {tick}"
    return None


def _freeze(
    draft: _Draft,
    *,
    token: DesiredToken,
    orders: list[OpenOrder],
    ours: Mapping[str, InventoryOrder],
    wanted: Mapping[tuple[Side, Decimal], object],
) -> None:
    """A skipped token's orders stay as they are; ours (and adopted ones) still use the caps."""
    for order in orders:
        adopted = token.unmanaged is Unmanaged.ADOPT and (order.side, order.price) in wanted
        if order.order_id in ours or adopted:
            _count_frozen(draft, order.key, order.remaining)


def _count_frozen(draft: _Draft, key: LevelKey, size: Decimal) -> None:
    if key.side is Side.BUY:
        draft.frozen_buy[key.token_id] += key.price * size
    else:
        draft.frozen_sell[key.token_id] += size


def _unresolved_by_key(
    inventory: Iterable[InventoryOrder], *, seen: set[str]
) -> dict[LevelKey, list[InventoryOrder]]:
    found: dict[LevelKey, list[InventoryOrder]] = defaultdict(list)
    for order in inventory:
        if order.unresolved and order.order_id not in seen:
            found[order.key].append(order)
    return found


# --- one level -------------------------------------------------------------------------------


def _plan_level(
    draft: _Draft,
    *,
    level: DesiredLevel,
    orders: list[OpenOrder],
    ours: Mapping[str, InventoryOrder],
    state: LevelState | None,
    pending: list[InventoryOrder],
    market: MarketInfo,
    now: int,
) -> None:
    generation, filled = _generation(draft, level=level, state=state)
    matching = []
    for order in orders:
        if _serves(order, level):
            matching.append(order)
        else:
            draft.cancel(order, level.key, CancelReason.SPEC_CHANGED)
    if pending:
        # An order we may have placed is not visible: posting now could double the level.
        draft.held.add(level.key)
        for order in matching:
            draft.keep(order, level.key)
        for unknown in pending:
            _count_frozen(draft, unknown.key, unknown.size)
        draft.warnings.append(
            f"{level.key}: {len(pending)} order(s) with an unknown post outcome; holding the "
            "level until they are resolved"
        )
        return
    target = level.size if level.replenish else max(level.size - filled, ZERO)
    resting = _trim_to_target(draft, orders=matching, ours=ours, target=target, level=level)
    if resting < target:
        need = (target - resting).quantize(SIZE_STEP, rounding=ROUND_DOWN)
        draft.wants[level.key] = _want(
            level, size=need, generation=generation, market=market, now=now
        )


def _want(
    level: DesiredLevel, *, size: Decimal, generation: int, market: MarketInfo, now: int
) -> _Want:
    blocked = ""
    if level.order_type is OrderType.GTD and level.expires_at < now + GTD_MIN_LIFETIME_SECONDS:
        blocked = (
            f"its GTD expiry {level.expires_at} is less than {GTD_MIN_LIFETIME_SECONDS} s away"
        )
    return _Want(level=level, size=size, generation=generation, market=market, blocked=blocked)


def _generation(
    draft: _Draft, *, level: DesiredLevel, state: LevelState | None
) -> tuple[int, Decimal]:
    digest = level.spec_digest
    if state is not None and state.spec_digest == digest:
        return state.generation, state.filled
    generation = 1 if state is None else state.generation + 1
    draft.generations.append(LevelGeneration(level.key, digest, generation))
    return generation, ZERO


def _serves(order: OpenOrder, level: DesiredLevel) -> bool:
    """Whether a resting order is of the kind the level asks for (type and expiry)."""
    if level.order_type is OrderType.GTD:
        return order.order_type is OrderType.GTD and order.expiration == level.expires_at
    return order.order_type is OrderType.GTC


def _age(order: OpenOrder, ours: Mapping[str, InventoryOrder]) -> tuple[int, int, str]:
    mine = ours.get(order.order_id)
    return (order.created_at, mine.posted_at_ms if mine else 0, order.order_id)


def _trim_to_target(
    draft: _Draft,
    *,
    orders: list[OpenOrder],
    ours: Mapping[str, InventoryOrder],
    target: Decimal,
    level: DesiredLevel,
) -> Decimal:
    """Cancel newest-first until the level rests at most `target`; return what still rests."""
    if not orders:
        return ZERO
    if len(orders) == 1 and orders[0].remaining <= target:  # the common case: one order fits
        draft.keep(orders[0], level.key)
        return orders[0].remaining
    resting = sum((o.remaining for o in orders), ZERO)
    if len(orders) > 1:
        orders = sorted(orders, key=lambda o: _age(o, ours), reverse=True)  # newest first
    done = target <= 0 and not level.replenish
    reason = CancelReason.LEVEL_DONE if done else CancelReason.OVERSIZED
    for order in orders:
        if resting > target:
            draft.cancel(order, level.key, reason)
            resting -= order.remaining
        else:
            draft.keep(order, level.key)
    return resting


# --- caps ------------------------------------------------------------------------------------


def _enforce_caps(
    draft: _Draft,
    *,
    spec: DesiredState,
    levels: Mapping[LevelKey, LevelState],
    markets: Mapping[str, MarketInfo],
    now: int,
    balances: Mapping[str, Decimal] | None,
) -> None:
    buy = defaultdict(Decimal, draft.frozen_buy)
    sell = defaultdict(Decimal, draft.frozen_sell)
    for keep, _order in draft.keeps.values():
        if keep.key.side is Side.BUY:
            buy[keep.key.token_id] += keep.key.price * keep.remaining
        else:
            sell[keep.key.token_id] += keep.remaining
    token_caps = {t.token_id: t.max_buy_notional for t in spec.tokens}
    over_cap = [t for t, cap in sorted(token_caps.items()) if cap is not None and buy[t] > cap]
    total_cap = spec.max_total_buy_notional
    cancelled: list[OpenOrder] = []
    if over_cap or (total_cap is not None and sum(buy.values(), ZERO) > total_cap):
        # Rare (a cap was lowered, or orders were adopted): group the cancellable buys once.
        bids: dict[str, list[tuple[Keep, OpenOrder]]] = defaultdict(list)
        for keep, order in draft.keeps.values():
            if keep.key.side is Side.BUY and keep.key not in draft.held:
                bids[keep.key.token_id].append((keep, order))
        for token_id in over_cap:
            over = buy[token_id] - (token_caps[token_id] or ZERO)
            cancelled += _cancel_for_cap(draft, buy=buy, over=over, candidates=bids[token_id])
        if total_cap is not None and sum(buy.values(), ZERO) > total_cap:
            over = sum(buy.values(), ZERO) - total_cap
            rest = [ko for group in bids.values() for ko in group if ko[0].order_id in draft.keeps]
            cancelled += _cancel_for_cap(draft, buy=buy, over=over, candidates=rest)
    if cancelled:
        _reopen(draft, cancelled=cancelled, spec=spec, levels=levels, markets=markets, now=now)
    room = _Room(buy=buy, sell=sell, token_caps=token_caps, total_cap=total_cap, balances=balances)
    for want in sorted(draft.wants.values(), key=_priority):
        if want.size <= 0:
            continue
        if want.blocked:
            draft.warnings.append(f"{want.level.key}: not posting {want.size}: {want.blocked}")
            continue
        _post_within_caps(draft, want=want, room=room)


def _priority(want: _Want) -> tuple[str, int, Decimal]:
    """Best prices first: the highest bid, the lowest ask."""
    key = want.level.key
    side_rank = 0 if key.side is Side.BUY else 1
    return (key.token_id, side_rank, -key.price if key.side is Side.BUY else key.price)


def _cancel_for_cap(
    draft: _Draft,
    *,
    buy: dict[str, Decimal],
    over: Decimal,
    candidates: list[tuple[Keep, OpenOrder]],
) -> list[OpenOrder]:
    """Cancel kept buys, lowest price and newest first, until `over` notional is gone."""
    ordered = sorted(
        candidates, key=lambda ko: (ko[0].key.price, -ko[1].created_at, ko[0].order_id)
    )
    cancelled = []
    for keep, order in ordered:
        if over <= 0:
            break
        notional = keep.key.price * keep.remaining
        del draft.keeps[keep.order_id]
        draft.cancel(order, keep.key, CancelReason.CAP)
        cancelled.append(order)
        buy[keep.key.token_id] -= notional
        over -= notional
    return cancelled


def _reopen(
    draft: _Draft,
    *,
    cancelled: list[OpenOrder],
    spec: DesiredState,
    levels: Mapping[LevelKey, LevelState],
    markets: Mapping[str, MarketInfo],
    now: int,
) -> None:
    """Levels short after cap cancels get a top-up that competes for the room left, so that
    the next plan does not post what this one could have."""
    declared = {lv.key: lv for t in spec.tokens for lv in t.levels}
    new_generation = {g.key: g.generation for g in draft.generations}
    for order in cancelled:
        key = order.key
        want = draft.wants.get(key)
        if want is None:
            state = levels.get(key)
            generation = new_generation.get(key) or (state.generation if state else 1)
            want = _want(
                declared[key],
                size=ZERO,
                generation=generation,
                market=markets[key.token_id],
                now=now,
            )
            draft.wants[key] = want
        want.size += order.remaining


@dataclass
class _Room:
    buy: dict[str, Decimal]
    sell: dict[str, Decimal]
    token_caps: Mapping[str, Decimal | None]
    total_cap: Decimal | None
    balances: Mapping[str, Decimal] | None
    total_buy: Decimal = ZERO

    def __post_init__(self) -> None:
        self.total_buy = sum(self.buy.values(), ZERO)

    def max_size(self, key: LevelKey) -> Decimal | None:
        """The largest size a new order at `key` may have, or None for no limit."""
        if key.side is Side.SELL:
            if self.balances is None or key.token_id not in self.balances:
                return None
            return max(self.balances[key.token_id] - self.sell[key.token_id], ZERO)
        limits = []
        cap = self.token_caps.get(key.token_id)
        if cap is not None:
            limits.append(cap - self.buy[key.token_id])
        if self.total_cap is not None:
            limits.append(self.total_cap - self.total_buy)
        if not limits:
            return None
        return max(min(limits) / key.price, ZERO)

    def use(self, key: LevelKey, size: Decimal) -> None:
        if key.side is Side.BUY:
            self.buy[key.token_id] += key.price * size
            self.total_buy += key.price * size
        else:
            self.sell[key.token_id] += size


def _post_within_caps(draft: _Draft, *, want: _Want, room: _Room) -> None:
    key, size = want.level.key, want.size
    limit = room.max_size(key)
    what = "buy cap" if key.side is Side.BUY else "share balance"
    trimmed = limit is not None and size > limit
    if limit is not None and trimmed:
        size = limit.quantize(SIZE_STEP, rounding=ROUND_DOWN)
    why = f" (trimmed from {want.size} by the {what})" if trimmed else ""
    if size <= 0:
        draft.warnings.append(f"{key}: not posting {want.size}: no room left under the {what}")
        return
    if size < want.market.min_order_size:
        draft.warnings.append(
            f"{key}: not posting {size}{why}: below the market's minimum order size "
            f"{want.market.min_order_size}"
        )
        return
    if why:
        draft.warnings.append(f"{key}: posting {size}{why}")
    room.use(key, size)
    level = want.level
    draft.posts.append(
        Post(
            key=key,
            size=size,
            order_type=level.order_type,
            post_only=level.post_only,
            expires_at=level.expires_at,
            generation=want.generation,
            neg_risk=want.market.neg_risk,
            tick_size=want.market.tick_size,
        )
    )
