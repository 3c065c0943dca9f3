"""The planner: desired state + what the exchange shows -> the orders to keep, cancel and post.

Rules 1-5 are in diff.py, the caps (6-7) in caps.py, the draft plan they fill in draft.py,
which posts wait (8) in holds.py, which tokens are blind (9) in blind.py, and the policy gates
(10) in policy.py (the checks) and enforcement.py. Callers import from here.

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
8. Which posts wait (`hold_posts`, holds.py): the posts of tokens in backoff, of tokens with an
   unknown outcome or a cancel that did not take effect, and under a total buy cap every buy
   while such an order is a buy, and what the exchange's trading mode does not take. The engine
   applies it after planning, apply after cancelling.
9. Policy gates (after rule 8): the rules of the spec's `policy:` section, checked on the plan
   with the book data the engine read (`check_policy`, policy.py); soft and hard verdicts hold
   their tokens (`enforce_policy`, enforcement.py).

9. Never trade blind (`assess`, `hold_blind`, blind.py): a declared token with open orders at
   declared levels that the state file has no record of, and did not watch appear, posts
   nothing until they are adopted (invariant 10). The engine applies it after rule 8.

Applying a plan and planning again with the same inputs gives a plan with no action: the
property tests check that fixed point.
"""

from reconciler.planner.blind import BLIND_HINT, Sight, assess, describe_token, hold_blind
from reconciler.planner.diff import plan, skip_reason
from reconciler.planner.enforcement import (
    PUBLIC_RULES,
    Override,
    PolicyGate,
    declared_posts,
    enforce_policy,
    override_problem,
    plan_digest,
    public_rules,
)
from reconciler.planner.holds import (
    LEFTOVER_LIVE,
    UNKNOWN_BUY_ELSEWHERE,
    HeldPost,
    PostHolds,
    hold_posts,
    mode_hold_reason,
)
from reconciler.planner.policy import (
    BookTop,
    PolicyInputs,
    PolicyNeeds,
    Verdict,
    check_policy,
    open_windows,
    policy_needs,
)
from reconciler.spec import EmptyDesiredState

__all__ = [
    "BLIND_HINT",
    "LEFTOVER_LIVE",
    "PUBLIC_RULES",
    "UNKNOWN_BUY_ELSEWHERE",
    "BookTop",
    "EmptyDesiredState",
    "HeldPost",
    "Override",
    "PolicyGate",
    "PolicyInputs",
    "PolicyNeeds",
    "PostHolds",
    "Sight",
    "assess",
    "describe_token",
    "hold_blind",
    "Verdict",
    "check_policy",
    "declared_posts",
    "enforce_policy",
    "hold_posts",
    "mode_hold_reason",
    "open_windows",
    "override_problem",
    "plan",
    "plan_digest",
    "policy_needs",
    "public_rules",
    "skip_reason",
]
