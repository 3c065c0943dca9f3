"""The plan while it is being drawn: what each level wants, what is kept, cancelled, frozen."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from reconciler.model import (
    GTD_MIN_LIFETIME_SECONDS,
    Cancel,
    CancelReason,
    Keep,
    LevelGeneration,
    LevelKey,
    MarketInfo,
    OpenOrder,
    OrderType,
    Plan,
    Post,
    Side,
    SkippedToken,
)
from reconciler.spec import DesiredLevel

SIZE_STEP = Decimal("0.01")
ZERO = Decimal(0)


@dataclass
class Want:
    """A top-up a level needs, before caps and minimum size."""

    level: DesiredLevel
    size: Decimal
    generation: int
    market: MarketInfo
    blocked: str = ""  # why nothing may be posted at this level now (e.g. GTD expiring soon)


@dataclass
class Draft:
    keeps: dict[str, tuple[Keep, OpenOrder]] = field(default_factory=dict)
    cancels: list[Cancel] = field(default_factory=list)
    wants: dict[LevelKey, Want] = field(default_factory=dict)  # one slot per planned level
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
            posts=tuple(sorted(self.posts, key=lambda p: sort_key(p.key))),
            skipped=tuple(sorted(self.skipped, key=lambda s: s.token_id)),
            warnings=tuple(self.warnings),
            generations=tuple(sorted(self.generations, key=lambda g: sort_key(g.key))),
            max_total_buy_notional=max_total_buy_notional,
        )


def sort_key(key: LevelKey) -> tuple[str, str, Decimal]:
    # The same order as LevelKey's own, as a plain tuple: much cheaper to compare.
    return (key.token_id, key.side.value, key.price)


def _by_key_and_id(item: Keep | Cancel) -> tuple[str, str, Decimal, str]:
    return (*sort_key(item.key), item.order_id)


def make_want(
    level: DesiredLevel, *, size: Decimal, generation: int, market: MarketInfo, now: int
) -> Want:
    blocked = ""
    if level.order_type is OrderType.GTD and level.expires_at < now + GTD_MIN_LIFETIME_SECONDS:
        blocked = (
            f"its GTD expiry {level.expires_at} is less than {GTD_MIN_LIFETIME_SECONDS} s away"
        )
    return Want(level=level, size=size, generation=generation, market=market, blocked=blocked)


def count_frozen(draft: Draft, key: LevelKey, size: Decimal) -> None:
    if key.side is Side.BUY:
        draft.frozen_buy[key.token_id] += key.price * size
    else:
        draft.frozen_sell[key.token_id] += size
