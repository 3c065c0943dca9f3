"""Rules 6-7 of the planner (see the package docstring): the buy caps, the share balance, and
the market's minimum order size."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from reconciler.model import (
    CancelReason,
    Keep,
    LevelKey,
    LevelState,
    MarketInfo,
    OpenOrder,
    Post,
    Side,
)
from reconciler.planner.draft import SIZE_STEP, ZERO, Draft, Want, make_want
from reconciler.spec import DesiredState


def enforce_caps(
    draft: Draft,
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


def _priority(want: Want) -> tuple[str, int, Decimal]:
    """Best prices first: the highest bid, the lowest ask."""
    key = want.level.key
    side_rank = 0 if key.side is Side.BUY else 1
    return (key.token_id, side_rank, -key.price if key.side is Side.BUY else key.price)


def _cancel_for_cap(
    draft: Draft,
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
    draft: Draft,
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
            want = make_want(
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


def _post_within_caps(draft: Draft, *, want: Want, room: _Room) -> None:
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
            order_profile=want.market.order_profile,
        )
    )
