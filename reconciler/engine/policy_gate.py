"""The policy gate of a pass: after planning (and the planner's own holds), before applying.

`PolicyGate.gate` reads what the rules need (policy_inputs.py), asks the pure checks for their
verdicts and lets through what the enforcement allows (`reconciler.planner.policy`), and hands
the pass the plan to apply. It never overrides by itself: an override comes only with the pass
that carries it (`Reconciler.tick(overrides=...)`, i.e. `reconciler apply --override RULE
--reason TEXT`), is used by that pass alone, and is journaled (store/overrides.py) before the
pass sends anything, with the digest of the plan it let through. An override that met no soft
verdict of its rule is not journaled; the pass's summary says it was not needed.

A soft or hard verdict in the daemon holds its tokens pass after pass, until the files change or
an operator applies an override. The gate logs each verdict once (again when it changes, and
once when it clears), and the pass's summary carries every verdict, so `status`, the metric
`reconciler_policy_violations{rule,enforcement}` and `plan --json` show them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from reconciler.engine.policy_inputs import PolicyClient, read_book, read_policy_inputs
from reconciler.model import InventoryOrder, OpenOrder, Plan
from reconciler.planner import (
    PUBLIC_RULES,
    BookTop,
    Override,
    PolicyGate,
    PolicyInputs,
    Verdict,
    check_policy,
    declared_posts,
    enforce_policy,
    plan_digest,
    policy_needs,
    public_rules,
)
from reconciler.spec import DesiredState, Enforcement
from reconciler.store import Store

log = logging.getLogger(__name__)


class PolicyGatekeeper:
    """Checks each pass's plan against the spec's policy; remembers the last pass's verdicts."""

    def __init__(self, *, client: PolicyClient, store: Store) -> None:
        self.client = client
        self.store = store
        self.last: PolicyGate | None = None
        self.digest = ""
        self.unused: list[str] = []  # overrides of this pass that met no soft verdict
        self._logged: dict[tuple[str, tuple[str, ...]], str] = {}

    @property
    def held_count(self) -> int:
        """Posts and cancels the last gate held."""
        return self.last.held_count if self.last is not None else 0

    def gate(
        self,
        plan: Plan,
        *,
        spec: DesiredState,
        observed: Sequence[OpenOrder],
        inventory: Sequence[InventoryOrder],
        now: int,
        run_id: int | None,
        overrides: Sequence[Override] = (),
    ) -> Plan:
        """The plan this pass may apply. Records the overrides it uses (with a run id)."""
        self.unused = []
        if spec.policy is None:
            self.last, self.digest = None, ""
            if run_id is not None:
                self._log_changes(())
            return plan
        needs = policy_needs(spec.policy, plan)
        inputs = read_policy_inputs(
            self.client, needs, plan=plan, observed=observed, inventory=inventory
        )
        verdicts = check_policy(spec.policy, plan=plan, inputs=inputs, now=now)
        gated = enforce_policy(
            plan, verdicts, policy=spec.policy, now=now, overrides=[o.rule for o in overrides]
        )
        self.last, self.digest = gated, plan_digest(plan)
        for override in overrides:
            used = [v for v in gated.overridden if v.rule is override.rule]
            if not used:
                self.unused.append(str(override.rule))
                continue
            if run_id is not None:
                self.store.record_override(
                    run_id=run_id, rule=str(override.rule), reason=override.reason,
                    user=override.user, plan_digest=self.digest,
                    verdicts=[verdict_json(v) for v in used],
                )
            log.warning("policy: %s overridden by %s for this pass (%s): %s", override.rule,
                        override.user, override.reason, "; ".join(v.message for v in used))
        if run_id is not None:  # `plan` prints its verdicts; a pass logs them
            self._log_changes(gated.verdicts, overridden=gated.overridden)
        return gated.plan

    def summary(self) -> dict[str, Any] | None:
        """What the pass's run row (and `plan --json`) records of the policy; None without one."""
        gate = self.last
        if gate is None or (not gate.verdicts and not gate.window_cancels and not self.unused):
            return None
        overridden = set(gate.overridden)
        return {
            "verdicts": [
                {**verdict_json(v), "effect": _effect(v, overridden=v in overridden)}
                for v in gate.verdicts
            ],
            "held_tokens": sorted(gate.held),
            "overridden": sorted({str(v.rule) for v in gate.overridden}),
            "overrides_not_needed": list(self.unused),
            "window_cancels": gate.window_cancels,
            "plan_digest": self.digest,
        }

    def _log_changes(
        self, verdicts: Sequence[Verdict], *, overridden: Sequence[Verdict] = ()
    ) -> None:
        """Log each verdict once (again when its message or level changes), and its clearing."""
        now: dict[tuple[str, tuple[str, ...]], str] = {}
        for verdict in verdicts:
            key = (str(verdict.rule), verdict.tokens)
            text = f"{verdict.enforcement}: {verdict.message}"
            now[key] = text
            if self._logged.get(key) == text or verdict in overridden:
                continue
            level = logging.INFO if verdict.enforcement is Enforcement.ADVISORY else logging.WARNING
            held = "" if not verdict.holds else "; its tokens are held"
            log.log(level, "policy %s (%s)%s", verdict.rule, text, held)
        for key in self._logged.keys() - now.keys():
            log.warning("policy %s no longer violated on %d token(s)", key[0], len(key[1]))
        self._logged = now


def check_declared(
    spec: DesiredState, client: PolicyClient, *, now: int
) -> tuple[tuple[Verdict, ...], list[str]]:
    """The files alone against public data (`reconciler policy-check`, for CI): every declared
    level as a post, checked by the rules that need no account (the price band, against each
    token's public book; the trading windows, at `now`). Returns the verdicts and the rules of
    the policy it could not check here (they need the account: `reconciler plan`)."""
    if spec.policy is None:
        return (), []
    rules = public_rules(spec.policy)
    books: dict[str, BookTop | None] = {}
    ticks: dict[str, Decimal] = {}
    if rules.price_band is not None:
        for token in spec.tokens:
            if token.levels:
                books[token.token_id] = read_book(client, token.token_id, ticks=ticks)
    plan = declared_posts(spec, ticks=ticks)
    verdicts = check_policy(rules, plan=plan, inputs=PolicyInputs(books=books), now=now)
    account_rules = [str(r) for r, _ in spec.policy.rules() if r not in PUBLIC_RULES]
    return verdicts, account_rules


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "rule": str(verdict.rule),
        "enforcement": str(verdict.enforcement),
        "message": verdict.message,
        "tokens": list(verdict.tokens),
        "checked": verdict.checked,
    }


def _effect(verdict: Verdict, *, overridden: bool) -> str:
    if overridden:
        return "overridden"
    return "held" if verdict.holds else "warned"


__all__ = ["PolicyGatekeeper", "check_declared", "verdict_json"]
