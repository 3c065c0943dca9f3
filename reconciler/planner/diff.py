"""Rules 1-5 of the planner (see the package docstring): ownership, skipped tokens, generations,
each level's target, trimming and top-ups. The caps (rules 6-7) are in caps.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_DOWN, Decimal

from reconciler.model import (
    CancelReason,
    InventoryOrder,
    LevelGeneration,
    LevelKey,
    LevelState,
    MarketInfo,
    OpenOrder,
    OrderType,
    Plan,
    Side,
    SkippedToken,
)
from reconciler.planner.caps import enforce_caps
from reconciler.planner.draft import SIZE_STEP, ZERO, Draft, count_frozen, make_want
from reconciler.spec import DesiredLevel, DesiredState, DesiredToken, EmptyDesiredState, Unmanaged


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
    draft = Draft()
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
    enforce_caps(draft, spec=spec, levels=levels, markets=markets, now=now, balances=balances)
    return draft.finish(max_total_buy_notional=spec.max_total_buy_notional)


# --- one token -------------------------------------------------------------------------------


def _plan_token(
    draft: Draft,
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
    draft: Draft,
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
            count_frozen(draft, order.key, order.remaining)


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
    draft: Draft,
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
            count_frozen(draft, unknown.key, unknown.size)
        draft.warnings.append(
            f"{level.key}: {len(pending)} order(s) with an unknown post outcome; holding the "
            "level until they are resolved"
        )
        return
    target = level.size if level.replenish else max(level.size - filled, ZERO)
    resting = _trim_to_target(draft, orders=matching, ours=ours, target=target, level=level)
    if resting < target:
        need = (target - resting).quantize(SIZE_STEP, rounding=ROUND_DOWN)
        draft.wants[level.key] = make_want(
            level, size=need, generation=generation, market=market, now=now
        )


def _generation(
    draft: Draft, *, level: DesiredLevel, state: LevelState | None
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
    draft: Draft,
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
