"""The engine's side of step 7 (reconcile.py): the share balances the planner needs for sells,
and holding back what must wait, with each token's reason (what `status` shows per token).

- `share_balances`: one balance read per token the plan would sell; an unreadable balance
  counts as zero (no new sells, invariant 5), a rate limit ends the pass.
- `hold_posts`: the planner's rule (`planner.hold_posts`): tokens in backoff (invariant 8),
  tokens with an order whose outcome is still unknown, and what the exchange's trading mode
  refuses (modes.py); while the mode refuses cancels, every cancel waits too.
- `held_reasons`: token -> why its posts wait, from those holds, the blind tokens (invariant 10)
  and the policy gate, for a pass's conditions (results.py `token_conditions`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from reconciler import planner
from reconciler.clob import AssetType, BalanceAllowance, ClobError, RateLimited
from reconciler.engine.modes import TradingModes
from reconciler.model import InventoryOrder, Plan

log = logging.getLogger(__name__)

#: Why a blind token's posts wait (its condition in `status`).
BLIND_REASON = ("blind: open orders at declared levels the state file cannot account for; "
                "stop the daemon and run `reconciler adopt`")


class BalanceSource(Protocol):
    def get_balance_allowance(
        self, asset_type: AssetType | str = ..., token_id: str | None = None
    ) -> BalanceAllowance: ...


def share_balances(client: BalanceSource, token_ids: Sequence[str]) -> dict[str, Decimal]:
    """token -> shares held, for the tokens the plan would sell (0 when unreadable)."""
    balances: dict[str, Decimal] = {}
    for token_id in token_ids:
        try:
            answer = client.get_balance_allowance(AssetType.CONDITIONAL, token_id)
        except RateLimited:
            raise
        except ClobError as exc:
            log.warning("share balance of %s unavailable (%s); no new sells", token_id, exc)
            balances[token_id] = Decimal(0)
            continue
        balances[token_id] = answer.balance_decimal
    return balances


@dataclass(frozen=True)
class Holds:
    plan: Plan  # what may be applied
    held_posts: int  # posts held back
    held_by_mode: int  # of the posts and cancels held, those the trading mode holds
    reasons: dict[str, str]  # token -> why its posts wait


def hold_posts(
    plan: Plan,
    *,
    backoff: Mapping[str, tuple[int, int]],
    unresolved: Sequence[InventoryOrder],
    modes: TradingModes,
    now: float,
) -> Holds:
    """Hold back the posts that must wait (the planner's rule) and, while the trading mode
    refuses them, the cancels (module docstring)."""
    restriction = modes.holding(now)
    holds = planner.hold_posts(
        plan.posts,
        max_total_buy_notional=plan.max_total_buy_notional,
        backoff=backoff,
        unresolved=unresolved,
        restriction=restriction,
    )
    by_mode = planner.mode_hold_reason(restriction) if restriction else None
    held_by_mode = sum(1 for h in holds.held if h.reason == by_mode)
    # A level the planner holds for an unknown outcome is not converged either.
    unknown = {o.key.token_id: f"order {o.order_id} has an unknown outcome" for o in unresolved}
    reasons = {**unknown, **holds.reasons_by_token()}
    warnings = [
        f"token {token}: posts {reason}"
        for token, reason in sorted(holds.reasons_by_token().items())
    ]
    cancels = plan.cancels
    if cancels and modes.cancels_wait(now):
        state = modes.state
        mode = state.restriction.value if state else "a trading"
        warnings.append(f"{len(cancels)} cancels wait: the exchange is in {mode} mode")
        held_by_mode += len(cancels)
        cancels = ()
    if not holds.held and cancels is plan.cancels:
        return Holds(plan, 0, held_by_mode, reasons)
    kept = dataclasses.replace(
        plan, posts=holds.kept, cancels=cancels, warnings=(*plan.warnings, *warnings)
    )
    return Holds(kept, len(holds.held), held_by_mode, reasons)


def held_reasons(
    reasons: Mapping[str, str], *, plan: Plan, policy_held: Mapping[str, str]
) -> dict[str, str]:
    """`reasons` (the post holds') with the blind tokens' and the policy's added."""
    merged = dict(reasons)
    for token in plan.blind:
        merged[token.token_id] = BLIND_REASON
    for token_id, why in policy_held.items():
        merged.setdefault(token_id, f"policy: {why}")
    return merged
