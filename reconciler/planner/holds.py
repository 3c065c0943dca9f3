"""Which posts wait (rule 8): one pure rule for every place that holds posts back.

A post waits while something it depends on is unknown or undone:
- its token is in backoff after failing passes (invariant 8), so one failing market does not
  stall the others: the engine asks after planning;
- its token has an order whose post outcome is unknown: it may rest unseen, so its notional and
  shares could break a cap or the balance (invariant 5): the engine asks after planning;
- its token has an order the plan cancelled that may still rest (the cancel did not take
  effect), so the room it was cancelled to make is not there: apply asks after the cancel
  step, before any post is sent;
and under a total buy cap, every buy waits while such an unknown or uncancelled order is a buy
(the room it holds may have been given to a buy on another token);
- the exchange's trading mode does not take it (clob-v2-wire.md 2.13): in cancel-only, disabled,
  restarting or banned no post goes, in post-only only post-only orders, in closed-only only
  sells (`TradingRestriction.allows_order`): the engine asks after planning.

(The planner's level hold, rule 4, is a different thing: a level with an unseen unresolved
order is not planned at all, so nothing there is kept, trimmed or posted, and its size counts
toward the caps.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from reconciler.model import Cancel, InventoryOrder, Post, Side, TradingRestriction

#: Why posts wait for a cancel that did not take effect (their token's, or every buy).
LEFTOVER_LIVE = "an order that had to be cancelled to make room for it is still live"
#: Why every buy waits for an unknown buy on another token (under a total buy cap).
UNKNOWN_BUY_ELSEWHERE = "held: a buy elsewhere has an unknown outcome"


def mode_hold_reason(restriction: TradingRestriction) -> str:
    """Why a post waits for the exchange's trading mode (one text per mode)."""
    return f"held: the exchange is in {restriction.value.replace('_', '-')} mode"


@dataclass(frozen=True)
class HeldPost:
    post: Post
    reason: str


@dataclass(frozen=True)
class PostHolds:
    """The posts that may go now (in their order), and the ones that wait, with why."""

    kept: tuple[Post, ...]
    held: tuple[HeldPost, ...]

    def reasons_by_token(self) -> dict[str, str]:
        """token -> why its posts wait (one reason per token)."""
        return {h.post.key.token_id: h.reason for h in self.held}


def hold_posts(
    posts: Sequence[Post],
    *,
    max_total_buy_notional: Decimal | None,
    backoff: Mapping[str, tuple[int, int]] | None = None,
    unresolved: Iterable[InventoryOrder] = (),
    still_live: Iterable[Cancel] = (),
    restriction: TradingRestriction | None = None,
) -> PostHolds:
    """Split `posts` into those that may go and those that wait.

    `backoff`: token -> (consecutive failing passes, passes still held); `unresolved`: our
    orders whose outcome is unknown; `still_live`: cancels of the plan that did not take effect;
    `restriction`: the trading mode in force, whose refusals wait whatever else holds.
    A token's own reason wins over the every-buy one; a later source wins over an earlier one.
    """
    reasons: dict[str, str] = {
        token: f"held back after {failures} failing passes ({remaining} more)"
        for token, (failures, remaining) in (backoff or {}).items()
        if remaining > 0
    }
    every_buy: str | None = None
    capped = max_total_buy_notional is not None
    for order in unresolved:
        reasons[order.key.token_id] = f"order {order.order_id} has an unknown outcome"
        if capped and order.key.side is Side.BUY:
            every_buy = UNKNOWN_BUY_ELSEWHERE
    for cancel in still_live:
        reasons[cancel.key.token_id] = LEFTOVER_LIVE
        if capped and cancel.key.side is Side.BUY:
            every_buy = LEFTOVER_LIVE
    kept: list[Post] = []
    held: list[HeldPost] = []
    for post in posts:
        reason = reasons.get(post.key.token_id)
        if reason is None and post.key.side is Side.BUY:
            reason = every_buy
        if restriction is not None and not restriction.allows_order(
            side=post.key.side, post_only=post.post_only
        ):
            reason = mode_hold_reason(restriction)
        if reason is None:
            kept.append(post)
        else:
            held.append(HeldPost(post, reason))
    return PostHolds(kept=tuple(kept), held=tuple(held))
