"""Policy enforcement, PURE: verdicts (policy.py) and a plan in; the plan they let through out.

The levels, as in Sentinel:

- advisory: a warning; the plan is unchanged (a property test holds it to that);
- soft: the tokens a verdict names are held (their posts and cancels wait) unless this pass
  carries an `Override` of the rule, which lets that rule's soft verdicts through once;
- hard: the tokens are held, whatever the overrides (`override_problem` refuses an override of
  a hard rule, or of one the policy does not set, before a pass reads or sends anything).

A held token keeps exactly what rests there: nothing is posted or cancelled, so a typo that
moves a level (cancel the old price, post the new one) leaves the old order in place.

An open trading window with `cancel_orders: true` that is enforced (soft or hard, not
overridden) flattens its tokens instead: every order the plan would keep there is cancelled,
the plan's own cancels there go too (as the window's), nothing is posted there. Those cancels
only reduce exposure, so no other rule holds them, and they do not count toward
max_notional_change.

Also here: the digest of a plan (what an override is journaled with), and the plan a check of
the files alone holds the rules against (`declared_posts`, for `reconciler policy-check`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from reconciler.model import Cancel, CancelReason, LevelKey, Plan, Post
from reconciler.planner.policy import Verdict, open_windows
from reconciler.spec import DesiredState, Enforcement, Policy, Rule, looks_secret

#: The longest override reason kept (it goes into the journal and `history`).
MAX_REASON = 300


@dataclass(frozen=True)
class Override:
    """An operator's `--override RULE --reason TEXT`: lets that rule's soft verdicts through
    for one pass. Raises ValueError for a reason that is empty, too long, not one line, or
    shaped like a key (it is journaled and shown)."""

    rule: Rule
    reason: str
    user: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", Rule(self.rule))
        reason = " ".join(self.reason.split())
        if not reason:
            raise ValueError("--reason must say why the override is needed")
        if len(reason) > MAX_REASON or not reason.isprintable():
            raise ValueError(f"--reason must be one line of at most {MAX_REASON} characters")
        if looks_secret(reason):
            raise ValueError("--reason looks like it holds a key; never paste a key")
        object.__setattr__(self, "reason", reason)


@dataclass(frozen=True)
class PolicyGate:
    """What `enforce_policy` lets through, and why the rest waits."""

    plan: Plan  # the plan that may be applied
    verdicts: tuple[Verdict, ...]
    held: Mapping[str, str]  # token -> why its posts and cancels wait
    overridden: tuple[Verdict, ...]  # soft verdicts an override let through
    window_cancels: int = 0  # cancels added by open windows with cancel_orders
    held_count: int = 0  # posts and cancels held


# --- enforcement -------------------------------------------------------------------------


def enforce_policy(
    plan: Plan,
    verdicts: Iterable[Verdict],
    *,
    policy: Policy | None,
    now: int,
    overrides: Collection[Rule] = (),
) -> PolicyGate:
    """Apply the verdicts' enforcement to `plan` (see the module docstring)."""
    verdicts = tuple(verdicts)
    overridden_rules = {Rule(r) for r in overrides}
    held: dict[str, str] = {}
    overridden: list[Verdict] = []
    warnings: list[str] = []
    for verdict in verdicts:
        effect = _effect(verdict, overridden_rules)
        warnings.append(f"policy {verdict.rule} ({verdict.enforcement}): {verdict.message}; "
                        f"{effect}")
        if effect == OVERRIDDEN:
            overridden.append(verdict)
        elif verdict.holds:
            for token in verdict.tokens:
                held.setdefault(token, f"held by policy {verdict.rule} ({verdict.enforcement})")
    flatten = _window_cancel_tokens(policy, plan=plan, now=now, overrides=overridden_rules)
    for token in flatten:
        held.pop(token, None)
    keeps = [k for k in plan.keeps if not _flattened(k.key, flatten)]
    # On a token an open window flattens, every cancel goes because of the window (whatever
    # else would hold the token), so it is the window's: no other rule counts or holds it.
    cancels = [
        replace(c, reason=CancelReason.POLICY_WINDOW) if _flattened(c.key, flatten) else c
        for c in plan.cancels
        if c.key.token_id not in held
    ]
    added = [
        Cancel(k.order_id, k.key, k.remaining, CancelReason.POLICY_WINDOW)
        for k in plan.keeps
        if _flattened(k.key, flatten)
    ]
    posts = [p for p in plan.posts if p.key.token_id not in held and p.key.token_id not in flatten]
    if added:
        warnings.append(f"policy trading_windows: cancelling {len(added)} order(s) on "
                        f"{len(flatten)} token(s) while their window is open")
    held_count = (len(plan.posts) - len(posts)) + (len(plan.cancels) - len(cancels))
    if not verdicts and not added:
        return PolicyGate(plan=plan, verdicts=(), held={}, overridden=())
    gated = replace(
        plan,
        keeps=tuple(keeps),
        cancels=tuple(sorted([*cancels, *added], key=_cancel_order)),
        posts=tuple(posts),
        warnings=(*plan.warnings, *warnings),
    )
    return PolicyGate(
        plan=gated,
        verdicts=verdicts,
        held=dict(sorted(held.items())),
        overridden=tuple(overridden),
        window_cancels=len(added),
        held_count=held_count,
    )


#: How a verdict's effect is worded (the last part of its warning).
APPLIED_ANYWAY = "advisory: applied anyway"
HELD_SOFT = "held until the files change or an override is applied"
HELD_HARD = "held (hard: no override)"
OVERRIDDEN = "overridden for this pass"


def _effect(verdict: Verdict, overridden: set[Rule]) -> str:
    if verdict.enforcement is Enforcement.ADVISORY:
        return APPLIED_ANYWAY
    if verdict.enforcement is Enforcement.HARD:
        return HELD_HARD
    return OVERRIDDEN if verdict.rule in overridden else HELD_SOFT


def _window_cancel_tokens(
    policy: Policy | None, *, plan: Plan, now: int, overrides: set[Rule]
) -> frozenset[str]:
    rule = policy.trading_windows if policy is not None else None
    if rule is None or rule.enforcement is Enforcement.ADVISORY:
        return frozenset()
    if rule.enforcement is Enforcement.SOFT and Rule.TRADING_WINDOWS in overrides:
        return frozenset()
    tokens = {k.key.token_id for k in plan.keeps} | {p.key.token_id for p in plan.posts}
    found: set[str] = set()
    for _, window in open_windows(policy, now):
        if window.cancel_orders:
            found.update(t for t in tokens if window.covers(t))
    return frozenset(found)


def _flattened(key: LevelKey, tokens: frozenset[str]) -> bool:
    return key.token_id in tokens


def _cancel_order(cancel: Cancel) -> tuple[str, str, Decimal, str]:
    return (cancel.key.token_id, cancel.key.side.value, cancel.key.price, cancel.order_id)


def override_problem(spec: DesiredState, overrides: Iterable[Override]) -> str | None:
    """Why these overrides cannot be used with this desired state, or None. A rule the policy
    does not set, or sets hard, is refused before anything is sent."""
    for override in overrides:
        level = spec.policy.enforcement(override.rule) if spec.policy is not None else None
        if level is None:
            return (f"--override {override.rule}: the policy sets no {override.rule} rule; "
                    "nothing to override")
        if level is Enforcement.HARD:
            return (f"--override {override.rule}: {override.rule} is hard in the policy and "
                    "cannot be overridden; change the desired files (or make the rule soft)")
    return None


#: The rules a check of the files alone can decide, with public data (the book) and a clock.
PUBLIC_RULES = (Rule.PRICE_BAND, Rule.TRADING_WINDOWS)


def public_rules(policy: Policy) -> Policy:
    """The part of `policy` that needs no account: its price band and trading windows."""
    return Policy(price_band=policy.price_band, trading_windows=policy.trading_windows)


def declared_posts(spec: DesiredState, *, ticks: Mapping[str, Decimal]) -> Plan:
    """Every declared level posted in full, as from an account with nothing resting: what a
    check of the files alone (`reconciler policy-check`, in CI) holds the rules against.
    `ticks`: each token's live tick, where known (else its asserted tick, else 0.01)."""
    posts = [
        Post(
            key=level.key,
            size=level.size,
            order_type=level.order_type,
            post_only=level.post_only,
            expires_at=level.expires_at,
            generation=1,
            neg_risk=bool(token.neg_risk),
            tick_size=ticks.get(token.token_id) or token.tick_size or Decimal("0.01"),
        )
        for token in spec.tokens
        for level in token.levels
    ]
    return Plan(posts=tuple(posts))


def plan_digest(plan: Plan) -> str:
    """sha256 over what the plan would send (posts and cancels), for the override journal."""
    lines = sorted(
        [
            f"post|{p.key.token_id}|{p.key.side.value}|{_num(p.key.price)}|{_num(p.size)}|"
            f"{p.order_type.value}|{p.expires_at}|{int(p.post_only)}"
            for p in plan.posts
        ]
        + [f"cancel|{c.order_id}" for c in plan.cancels]
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


__all__ = [
    "MAX_REASON",
    "PUBLIC_RULES",
    "Override",
    "PolicyGate",
    "declared_posts",
    "enforce_policy",
    "override_problem",
    "plan_digest",
    "public_rules",
]
