"""Steps of a pass that need no Reconciler of their own: holding back the posts that must wait
(with each held token's reason, what `status` shows per token: `held_reasons` adds the blind
tokens' and the policy's), following the client's order protocol, and reading share balances
(reconcile.py calls them)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from reconciler import planner
from reconciler.clob import AssetType, BalanceAllowance, ClobError, RateLimited
from reconciler.engine.apply import Signer
from reconciler.engine.modes import TradingModes
from reconciler.model import InventoryOrder, Plan

log = logging.getLogger("reconciler.engine.reconcile")


class BalanceReader(Protocol):
    def get_balance_allowance(
        self, asset_type: AssetType | str = ..., token_id: str | None = None
    ) -> BalanceAllowance: ...


@dataclass(frozen=True)
class Holds:
    plan: Plan  # what may be applied
    held_posts: int  # posts held back
    held_by_mode: int  # of the posts and cancels held, those the trading mode holds
    reasons: dict[str, str]  # token -> why its posts wait (a pass's conditions)


def hold_back(
    plan: Plan, *, now: float, modes: TradingModes, backoff: dict[str, tuple[int, int]],
    unresolved: Sequence[InventoryOrder],
) -> Holds:
    """The plan with the posts that must wait held back, how many, of which by the trading
    mode, and each held token's reason: tokens in backoff, tokens with an order whose outcome
    is still unknown after the lookups, and what the trading mode refuses (cancels too, in a
    mode that takes none)."""
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
    held = dataclasses.replace(
        plan, posts=holds.kept, cancels=cancels, warnings=(*plan.warnings, *warnings)
    )
    return Holds(held, len(holds.held), held_by_mode, reasons)


#: Why a blind token's posts wait (its condition in `status`).
BLIND_REASON = ("blind: open orders at declared levels the state file cannot account for; "
                "stop the daemon and run `reconciler adopt`")


def held_reasons(
    reasons: Mapping[str, str], *, plan: Plan, policy_held: Mapping[str, str]
) -> dict[str, str]:
    """`reasons` (the post holds') with the blind tokens' (invariant 10) and the policy's
    added: token -> why its posts wait, for a pass's conditions (results.py)."""
    merged = dict(reasons)
    for token in plan.blind:
        merged[token.token_id] = BLIND_REASON
    for token_id, why in policy_held.items():
        merged.setdefault(token_id, f"policy: {why}")
    return merged


def follow_client_profile(client: Any, builder: Signer) -> bool:
    """After an order_version_mismatch the client re-reads /version and switches profile;
    sign with the profile it switched to, or every later post is refused the same way. True
    when the profile changed."""
    profile = getattr(client, "profile", None)
    if profile is None or profile is builder.profile:
        return False
    log.warning("the exchange speaks order protocol %s now (was %s): signing with it",
                profile.value, builder.profile.value)
    builder.profile = profile
    return True


def share_balances(client: BalanceReader, token_ids: Sequence[str]) -> dict[str, Decimal]:
    """The shares held per token; an unreadable balance counts as zero: no new sells."""
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


__all__ = ["BLIND_REASON", "Holds", "follow_client_profile", "held_reasons", "hold_back",
           "share_balances"]
