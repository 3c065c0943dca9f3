"""One reconcile pass: observe the exchange, plan, apply. Used by `plan`, `apply` and every tick.

A pass, in order (each step's failure mode is the point):

1. Load the desired files (in_force.py). Invalid files are recorded as an invalid revision
   with their errors; the last valid revision stays in force (invariant 2), after a restart too:
   it is rebuilt from its files kept in the state file. With no valid revision at all the pass
   changes nothing.
2. Resolve our unresolved orders (intent or unknown: a crash, or a lost answer; vanished) by
   asking the exchange for each order hash and, when it has none, by re-sending the identical
   signed order, before anything can be posted for their levels (invariants 4 and 11;
   resolve.py). "Absent" alone never voids one while its first request may still land.
3. Read the open orders. A failure aborts the pass: it is never read as "no orders"
   (invariant 1). Our orders seen there are live, with their matched size.
4. Consume notifications: fills (ORDER_FILL) are recorded toward their level (idempotent per
   trade), failed fills (ORDER_FILL_FAILED) are taken back from it, and cancellations
   (ORDER_CANCELLATION) settle our order; the processed ids are COMMITTED to SQLite BEFORE they
   are dropped on the exchange, so a crash in between re-reads them and skips them, never loses
   or double counts a fill. (Fills are also learned from the cumulative matched size of every
   order read; the store keeps the larger of the two, so nothing counts twice.)
5. Our orders that vanished from the open set are looked up once: filled or cancelled. A failed
   lookup marks the order vanished, which holds its level (step 2 looks again next pass). The
   trades of orders whose fills changed are followed until they settle; a FAILED one is taken
   back (settlement.py, invariant 12).
6. Market info per declared token (cached for `market_ttl` seconds, read again at once for a
   token that had a fill or a rejection, or was skipped: memory.py); share balances for tokens
   the plan would sell, so sells never exceed what we hold (invariant 5; an unreadable balance
   counts as zero: no new sells).
7. Plan (the pure planner), then hold back the posts the planner's rule says must wait
   (`planner.hold_posts`): tokens in backoff (invariant 8), tokens with an order still
   unknown after step 2 (it may rest unseen and count toward a cap; under a global buy cap
   every buy waits), and what the exchange's trading mode refuses (modes.py); then the blind
   tokens' (`planner.hold_blind`, engine/blind.py: open orders at declared levels that the state
   file has no record of, invariant 10). Then the policy gate (policy_gate.py): the spec's
   `policy:` rules, checked with the book data they need, hold what their enforcement holds;
   an override comes only with `tick(overrides=...)`. Then, with `--target`, the cut to the
   targets (scope.py, which also digests what the plan was computed from, for a saved plan).
8. While the operator has suspended reconciling (`reconciler suspend`), the pass applies nothing
   (and carries out a pending `--cancel` once); a `guard` (a saved plan, the plan an interactive
   apply showed) that no longer holds refuses the pass (suspend.py `gate`).
9. Apply (not for `plan`), then record the run with its summary and outcome, and the fills the
   pass learnt of (store/fill_log.py). A tick first checks that the state file is still the one
   opened, and again just before applying (`Store.check_unchanged`, invariant 10); if not, it
   raises `StateFileChanged`.

How each order's state is learnt (steps 2-5) is in ledger.py, run by observe.py; what a pass
returns in results.py; the backoff and the market-info cache in memory.py; the trading modes in
modes.py; the balances and holds of step 7 in pass_steps.py; a pass over a few tokens (the
stream's) in targeted.py.

Trading modes (clob-v2-wire.md 2.13) are refusals, not failures: a pass refused by one (a 425
on the read during a restart, a 503 on a post) ends `restricted`, the mode is recorded in the
run's summary (`trading_mode`, which `status` shows), and from then on a pass sends only what
the mode takes until the wait the exchange named is over. While nothing at all could be sent
(trading disabled, a restart) no pass runs before that wait, and the result's `retry_after`
tells the daemon when to come back.

`plan()` runs the same steps (step 2 without re-sends), from the same spec in force, without any
write to the exchange and without recording a run or a revision; like `terraform plan`
refreshing state, it does record what it learned from the exchange (order states, fills), which
are facts, not changes. `plan(read_only=True)` (beside a running daemon, on a state file opened
`mode=ro`) writes nothing at all and resolves nothing (readonly.py). A pass with nothing to do
makes no write request.

Per-token backoff: a token whose posts failed (rejected, unknown outcome) is not posted for
2^(n-1) passes after its n-th consecutive failing pass (at most `max_backoff_passes`), while
cancels for it still go through; one failing market does not stall the others.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from reconciler import planner
from reconciler.clob import ClobError, RateLimited, TradingRestricted
from reconciler.engine import resolve
from reconciler.engine.apply import ApplyResult, Signer, apply_plan
from reconciler.engine.blind import BlindWatch
from reconciler.engine.in_force import DesiredStateKeeper
from reconciler.engine.memory import MarketCache, SkipLog, TokenBackoff
from reconciler.engine.modes import TradingModes
from reconciler.engine.observe import ExchangeClient, Observer
from reconciler.engine.pass_steps import (
    follow_client_profile,
    held_reasons,
    hold_back,
    share_balances,
)
from reconciler.engine.policy_gate import PolicyGatekeeper
from reconciler.engine.results import PlanReport, TickResult, applied_outcome, run_summary
from reconciler.engine.scope import Inputs, inputs_of, restrict_plan
from reconciler.engine.settlement import SettlementWatch
from reconciler.engine.suspend import gate, suspension_holds
from reconciler.engine.targeted import TargetedPasses
from reconciler.model import InventoryOrder, Plan, Side, TickOutcome
from reconciler.spec import DesiredState, EmptyDesiredState
from reconciler.store import Store

log = logging.getLogger(__name__)

PRUNE_EVERY_RUNS = 1000
NO_VALID_SPEC = "invalid desired state and no valid one loaded yet; nothing changed"
INVALID = "invalid desired state"


class Reconciler(TargetedPasses):
    def __init__(
        self,
        *,
        client: ExchangeClient,
        store: Store,
        desired_dir: Path,
        builder: Signer,
        clock: Callable[[], float],
        git_commit_of: Callable[[Path], str | None] | None = None,
        market_ttl: float = 300.0,
        max_backoff_passes: int = 64,
        landing_window: float = resolve.default_landing_window(10.0),
    ) -> None:
        self.client = client
        self.store = store
        self.desired_dir = Path(desired_dir)
        self.builder = builder
        self.clock = clock
        self.desired = DesiredStateKeeper(
            store=store, desired_dir=self.desired_dir, git_commit_of=git_commit_of
        )
        self._markets = MarketCache(client=client, ttl=market_ttl)
        self._backoff = TokenBackoff(max_passes=max_backoff_passes)
        self._skips = SkipLog()
        self.modes = TradingModes()
        self._settlement = SettlementWatch()
        self._observer = Observer(markets=self._markets, modes=self.modes, backoff=self._backoff,
                                  settlement=self._settlement)  # steps 2-5 (observe.py)
        self._blind = BlindWatch(store)  # invariant 10: what this process saw first
        self.policy = PolicyGatekeeper(client=client, store=store)
        self._held_posts = 0  # posts the last planning held back
        self._held_by_mode = 0  # of which the trading mode held
        self.landing_window = landing_window  # seconds (resolve.py: when a refusal may void)
        self._resolution = resolve.Resolution()  # what the last pass's step 2 did
        self._held_reasons: dict[str, str] = {}  # token -> why its posts wait (last planning)
        self._pending: tuple[str, ...] = ()  # orders a read-only plan left unresolved
        self._fill_mark = 0  # the newest fill-log row before the pass in progress
        self._inputs = Inputs("", "", "")  # digests of what the last planning read (scope.py)
        # For a progress display: ("resolving", n orders), ("applying", plan); must not raise.
        self.progress: Callable[[str, Any], None] | None = None
        TargetedPasses.__init__(self)

    @property
    def market_ttl(self) -> float:
        """Seconds market info is kept before it is read again."""
        return self._markets.ttl

    @market_ttl.setter
    def market_ttl(self, seconds: float) -> None:
        self._markets.ttl = seconds

    def reload(self) -> None:
        """SIGHUP: forget the market info kept between passes (the rest is read every pass)."""
        self._markets.forget(None)

    def backoff_state(self) -> dict[str, tuple[int, int]]:
        """token -> (consecutive failing passes, passes still held), for status and tests."""
        return self._backoff.state()

    # --- entry points ----------------------------------------------------------------------

    def plan(self, *, read_only: bool = False, targets: frozenset[str] | None = None,
             overrides: Sequence[planner.Override] = ()) -> PlanReport:
        """The plan a tick would apply now; no write request is sent to the exchange.
        `read_only`: nor to the state file, and nothing is resolved (readonly.py); `overrides`:
        the plan as `tick(overrides=...)` would apply it (nothing is journaled here)."""
        self._scope = None
        desired = self.desired.for_plan(now=self.clock())
        spec, errors, digest = desired.spec, desired.errors, desired.digest
        if spec is None:
            return PlanReport(None, digest, spec_errors=errors, error=INVALID)
        self._pending = ()
        try:
            plan = self._observe_and_plan(
                spec, run_id=None, persist_notifications=False, read_only=read_only,
                targets=targets, desired_digest=digest, overrides=overrides,
            )
        except EmptyDesiredState as exc:
            return PlanReport(None, digest, spec_errors=errors, error=str(exc), refusal=str(exc))
        held, suspended = suspension_holds(self.store, spec, targets, self._held_reasons)
        return PlanReport(
            plan, digest, spec_errors=errors, error=INVALID if errors else None,
            git_commit=desired.git_commit, labels=dict(spec.labels),
            kept=desired.kept if errors else None, policy=self.policy.summary(),
            held=held, pending=self._pending, suspended=suspended, inputs=self._inputs,
        )

    def tick(
        self,
        tokens: Iterable[str] | None = None,
        *,
        overrides: Sequence[planner.Override] = (),
        targets: frozenset[str] | None = None,
        guard: Callable[[Plan, Inputs], str | None] | None = None,
    ) -> TickResult:
        """One pass: a sweep of every token, or with `tokens` a targeted pass over those
        (targeted.py; a sweep when only a sweep can be right). Never raises for an exchange or
        spec problem: see the result. `overrides` let soft policy rules through for this pass
        only (journaled when used); one naming a rule the policy does not set, or sets hard,
        refuses the pass. `targets` (every token read, the plan cut to these: `--target`) and
        `guard`: scope.py and suspend.py `gate`. Raises StateFileChanged when the state file
        is not the one opened (invariant 10)."""
        self.store.check_unchanged()
        spec, revision_id, spec_errors = self._in_force_for(tokens)
        self._resolution = resolve.Resolution()
        run_id = self.store.start_run(revision_id)
        self._fill_mark = self.store.fill_log_mark()  # the fills this pass learns come after
        finish = functools.partial(self._finish, run_id, revision_id, spec_errors=spec_errors,
                                   targets=targets)
        self._held_by_mode = 0
        if spec is None:
            return finish(outcome=TickOutcome.INVALID_SPEC, error=NO_VALID_SPEC)
        refusal = planner.override_problem(spec, overrides)
        if refusal is not None:
            return finish(outcome=TickOutcome.REFUSED, error=refusal)
        wait = self.modes.wait_before_next_pass(self.clock())
        if wait is not None:  # trading disabled, or a restart: nothing could be sent now
            return finish(outcome=TickOutcome.RESTRICTED, retry_after=wait)
        try:
            plan = self._observe_and_plan(
                spec, run_id=run_id, persist_notifications=True, overrides=overrides,
                targets=targets, desired_digest=self._swept_digest,
            )
        except EmptyDesiredState as exc:
            return finish(outcome=TickOutcome.REFUSED, error=str(exc))
        except RateLimited as exc:
            return finish(
                outcome=TickOutcome.RATE_LIMITED, error=str(exc), retry_after=exc.retry_after
            )
        except TradingRestricted as exc:  # a 425 on a read: the matching engine restarts
            now = self.clock()
            self.modes.refused(
                exc.restriction, retry_after=exc.retry_after, message=exc.message, now=now
            )
            return finish(
                outcome=TickOutcome.RESTRICTED, retry_after=self.modes.wait_before_next_pass(now)
            )
        except ClobError as exc:
            return finish(outcome=TickOutcome.ERROR, error=f"{type(exc).__name__}: {exc}")
        stop = gate(spec, plan, self._inputs, guard=guard, client=self.client,
                    signer=self.builder, store=self.store, run_id=run_id, clock=self.clock)
        if stop is not None:  # suspended, or a guard refused: apply nothing (suspend.py)
            self._held_reasons = dict(stop.held) if stop.held is not None else self._held_reasons
            return finish(**stop.finish)
        if self._scope is None:
            self._backoff.count_pass()
        if plan.is_empty:
            # Generations still need recording (a spec edit that needs no order change).
            self.store.record_generations(plan.generations)
            self._retire_levels(spec)
            self.modes.pass_done(refused=False, now=self.clock())
            # "held": nothing sent, but posts wait for a backoff or an unknown outcome.
            held = TickOutcome.HELD if self._held_posts else TickOutcome.NOOP
            return finish(
                outcome=self._mode_outcome(self._resolution.outcome(otherwise=held)), plan=plan
            )
        self._follow_client_profile()
        if self.progress is not None:
            self.progress("applying", plan)
        self.store.check_unchanged()  # the last moment before anything is sent
        applied = apply_plan(plan, client=self.client, signer=self.builder, store=self.store,
                             run_id=run_id, revision_id=revision_id, clock=self.clock)
        self._after_apply(applied)
        self._retire_levels(spec)
        return finish(
            outcome=self._mode_outcome(self._resolution.outcome(otherwise=applied_outcome(applied))),
            plan=plan,
            applied=applied,
            error=applied.error,
            retry_after=applied.retry_after or self.modes.wait_before_next_pass(self.clock()),
        )

    def _after_apply(self, applied: ApplyResult) -> None:
        self._backoff.update(failed=applied.failed_tokens, posted=applied.posted_tokens)
        # A rejection may mean the market changed (a new tick size): read it again next pass.
        self._markets.refresh(r.token_id for r in applied.rejected)
        self.modes.after_apply(applied, now=self.clock())
        self._follow_client_profile()

    def _mode_outcome(self, outcome: TickOutcome) -> TickOutcome:
        return self.modes.outcome(outcome, held_by_mode=self._held_by_mode, now=self.clock())

    # --- steps 2-7 -------------------------------------------------------------------------

    def _observe_and_plan(
        self,
        spec: DesiredState,
        *,
        run_id: int | None,
        persist_notifications: bool,
        overrides: Sequence[planner.Override] = (),
        read_only: bool = False,
        targets: frozenset[str] | None = None,
        desired_digest: str = "",
    ) -> Plan:
        scope = self._scope
        seen = self._observer.observe(
            self.client, self.store, wanted=set(_level_keys(self._whole_spec(spec))),
            read=self._read_open_orders, scope=scope, clock=self.clock, run_id=run_id,
            persist=persist_notifications, read_only=read_only,
            landing_window=self.landing_window, chain_id=self.builder.chain_id,
            progress=self.progress,
        )
        observed, inventory, levels = seen.observed, seen.inventory, seen.levels
        self._resolution, self._pending = seen.resolution, seen.pending
        markets = self._markets.read((t.token_id for t in spec.tokens), now=self.clock())
        inputs: dict[str, Any] = {
            "spec": spec,
            "observed": observed,
            "inventory": inventory,
            "levels": levels,
            "markets": markets,
            "now": int(self.clock()),
        }
        self._inputs = inputs_of(desired=desired_digest, observed=observed, markets=markets)
        plan = planner.plan(**inputs)
        sell_tokens = sorted({p.key.token_id for p in plan.posts if p.key.side is Side.SELL})
        if sell_tokens:
            plan = planner.plan(**inputs, balances=share_balances(self.client, sell_tokens))
        if scope is None:  # the skip log is of sweeps: a part of the spec would reset it
            self._skips.update(plan.skipped, planned=(t.token_id for t in spec.tokens))
        # A skipped token is read again every pass, so it comes back as soon as it is right.
        self._markets.refresh(s.token_id for s in plan.skipped)
        # The order matters: the post holds, then the blind tokens', then the policy gate. A
        # targeted pass read a few tokens' orders only: what the trader's orders elsewhere are
        # is for the sweep to remember (blind.py forgets what a read did not show).
        plan, blind_held = self._blind.hold(
            self._hold_posts(plan, unresolved=seen.unresolved), spec=spec, observed=observed,
            inventory=inventory, persist=persist_notifications and scope is None,
        )
        self._held_posts += blind_held
        plan = self.policy.gate(
            plan, spec=spec, observed=observed, inventory=inventory,
            now=inputs["now"], run_id=run_id, overrides=overrides,
        )
        self._held_posts += self.policy.held_count
        policy_held = self.policy.last.held if self.policy.last is not None else {}
        self._held_reasons = held_reasons(self._held_reasons, plan=plan, policy_held=policy_held)
        plan, self._held_reasons = restrict_plan(plan, targets, held=self._held_reasons)
        return plan

    def _follow_client_profile(self) -> None:
        if follow_client_profile(self.client, self.builder):
            self._markets.forget(None)  # each market's signing profile follows the client's

    def _hold_posts(self, plan: Plan, *, unresolved: Sequence[InventoryOrder]) -> Plan:
        """Hold back what must wait (pass_steps.py `hold_back`), and remember why."""
        holds = hold_back(plan, backoff=self._backoff.state(), unresolved=unresolved,
                          modes=self.modes, now=self.clock())
        self._held_posts, self._held_by_mode = holds.held_posts, holds.held_by_mode
        self._held_reasons = holds.reasons
        return holds.plan

    # --- bookkeeping -----------------------------------------------------------------------

    def _finish(
        self,
        run_id: int,
        revision_id: int | None,
        *,
        outcome: TickOutcome,
        plan: Plan | None = None,
        applied: ApplyResult | None = None,
        error: str | None = None,
        retry_after: float | None = None,
        spec_errors: tuple[str, ...] = (),
        suspended: str | None = None,
        targets: frozenset[str] | None = None,
    ) -> TickResult:
        held = dict(self._held_reasons) if plan is not None else {}
        fills = tuple(self.store.fills_since(self._fill_mark))
        summary = run_summary(
            outcome, plan=plan, applied=applied, held_posts=self._held_posts,
            spec_errors=spec_errors, held=held, suspended=suspended, targets=targets,
            fills=len(fills),
        )
        mode = self.modes.summary(self.clock())
        if mode is not None:
            summary["trading_mode"] = mode
            summary["held_by_mode"] = self._held_by_mode
        if self._resolution.looked_up:
            summary["resolved"] = self._resolution.summary()
        policy = self.policy.summary() if plan is not None else None
        if policy is not None:
            summary["policy"] = policy
        summary.update(self._scope_summary())
        self.store.finish_run(run_id, outcome=outcome, summary=summary, error=error)
        if run_id % PRUNE_EVERY_RUNS == 0:
            self.store.prune()  # bound the per-tick rows of a long-running daemon
        if error:
            log.warning("pass %s: %s: %s", run_id, outcome, error)
        return TickResult(
            outcome=outcome, run_id=run_id, revision_id=revision_id, plan=plan, applied=applied,
            error=error, retry_after=retry_after, spec_errors=spec_errors, run_summary=summary,
            held=held, suspended=suspended, fills=fills,
        )


def _level_keys(spec: DesiredState) -> list[Any]:
    return [level.key for token in spec.tokens for level in token.levels]


__all__ = ["ExchangeClient", "PlanReport", "Reconciler", "TickResult"]
