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
   every buy waits), and what the exchange's trading mode refuses (modes.py).
8. Apply (not for `plan`), then record the run with its summary and outcome.

How each order's state is learnt (steps 2-5) is in ledger.py; what a pass returns in results.py;
the backoff and the market-info cache in memory.py; the trading modes in modes.py.

Trading modes (clob-v2-wire.md 2.13) are refusals, not failures: a pass refused by one (a 425
on the read during a restart, a 503 on a post) ends `restricted`, the mode is recorded in the
run's summary (`trading_mode`, which `status` shows), and from then on a pass sends only what
the mode takes until the wait the exchange named is over. While nothing at all could be sent
(trading disabled, a restart) no pass runs before that wait, and the result's `retry_after`
tells the daemon when to come back.

`plan()` runs the same steps (step 2 without re-sends), from the same spec in force, without any
write to the exchange and
without recording a run or a revision; like `terraform plan` refreshing state, it does record
what it learned from the exchange (order states, fills), which are facts, not changes. A pass
with nothing to do makes no write request.

Per-token backoff: a token whose posts failed (rejected, unknown outcome) is not posted for
2^(n-1) passes after its n-th consecutive failing pass (at most `max_backoff_passes`), while
cancels for it still go through; one failing market does not stall the others.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from reconciler import planner
from reconciler.clob import (
    AssetType,
    BalanceAllowance,
    ClobError,
    Notification,
    RateLimited,
    Trade,
    TradingRestricted,
)
from reconciler.engine import ledger, resolve, targeted
from reconciler.engine.apply import ApplyResult, Signer, WriteClient, apply_plan
from reconciler.engine.in_force import DesiredStateKeeper
from reconciler.engine.memory import MarketCache, SkipLog, TokenBackoff
from reconciler.engine.modes import TradingModes
from reconciler.engine.results import PlanReport, TickResult, applied_outcome, run_summary
from reconciler.engine.settlement import SettlementWatch
from reconciler.model import (
    InventoryOrder,
    MarketInfo,
    NotificationType,
    OpenOrder,
    Plan,
    Side,
    TickOutcome,
)
from reconciler.spec import DesiredState, EmptyDesiredState
from reconciler.store import Store

log = logging.getLogger(__name__)

PRUNE_EVERY_RUNS = 1000
NO_VALID_SPEC = "invalid desired state and no valid one loaded yet; nothing changed"
INVALID = "invalid desired state"


class ExchangeClient(WriteClient, Protocol):
    """What a pass needs from `ClobClient`."""

    def get_open_orders(self, *, market: str = "", asset_id: str = "") -> list[OpenOrder]: ...

    def get_notifications(self) -> list[Notification]: ...

    def drop_notifications(self, ids: Sequence[str]) -> None: ...

    def get_market_info(self, token_id: str) -> MarketInfo: ...

    def clear_market_cache(self, token_id: str | None = None) -> None: ...

    def get_balance_allowance(
        self, asset_type: AssetType | str = ..., token_id: str | None = None
    ) -> BalanceAllowance: ...

    def get_trades(self, *, after: int | None = None) -> list[Trade]: ...


class Reconciler:
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
        self._settlement = SettlementWatch()
        self.modes = TradingModes()
        self._held_posts = 0  # posts the last planning held back
        self._held_by_mode = 0  # of which the trading mode held
        self.landing_window = landing_window  # seconds (resolve.py: when a refusal may void)
        self._resolution = resolve.Resolution()  # what the last pass's step 2 did
        self._swept: tuple[DesiredState | None, int | None, tuple[str, ...]] = (None, None, ())
        self._scope: frozenset[str] | None = None  # the tokens of a targeted pass (targeted.py)
        self.annotate: Callable[[], dict[str, Any]] | None = None  # more for each run's summary

    @property
    def market_ttl(self) -> float:
        """Seconds market info is kept before it is read again."""
        return self._markets.ttl

    @market_ttl.setter
    def market_ttl(self, seconds: float) -> None:
        self._markets.ttl = seconds

    @property
    def managed_tokens(self) -> frozenset[str]:
        """The tokens of the spec in force at the last sweep (read from other threads)."""
        spec = self._swept[0]
        return frozenset(t.token_id for t in spec.tokens) if spec is not None else frozenset()

    def backoff_state(self) -> dict[str, tuple[int, int]]:
        """token -> (consecutive failing passes, passes still held), for status and tests."""
        return self._backoff.state()

    # --- entry points ----------------------------------------------------------------------

    def plan(self) -> PlanReport:
        """The plan a tick would apply now. No write request is sent to the exchange."""
        self._scope = None
        desired = self.desired.for_plan(now=self.clock())
        spec, errors, digest = desired.spec, desired.errors, desired.digest
        if spec is None:
            return PlanReport(None, digest, spec_errors=errors, error=INVALID)
        try:
            plan = self._observe_and_plan(spec, run_id=None, persist_notifications=False)
        except EmptyDesiredState as exc:
            return PlanReport(None, digest, spec_errors=errors, error=str(exc), refusal=str(exc))
        return PlanReport(
            plan,
            digest,
            spec_errors=errors,
            error=INVALID if errors else None,
            git_commit=desired.git_commit,
            labels=dict(spec.labels),
            kept=desired.kept if errors else None,
        )

    def tick(self, tokens: Iterable[str] | None = None) -> TickResult:
        """One pass: a sweep of every token, or with `tokens` a targeted pass over those
        (targeted.py; a sweep when only a sweep can be right). Never raises for an exchange or
        spec problem: see the result."""
        scope = None if tokens is None else frozenset(tokens)
        narrowed = None if scope is None else targeted.narrow(self._swept[0], scope)
        self._scope = scope if narrowed is not None else None
        if narrowed is None:
            desired = self.desired.for_tick(now=self.clock())
            self._swept = (desired.spec, desired.revision_id, desired.errors)
        spec, revision_id, spec_errors = narrowed or self._swept[0], *self._swept[1:]
        self._resolution = resolve.Resolution()
        run_id = self.store.start_run(revision_id)
        finish = functools.partial(self._finish, run_id, revision_id, spec_errors=spec_errors)
        self._held_by_mode = 0
        if spec is None:
            return finish(outcome=TickOutcome.INVALID_SPEC, error=NO_VALID_SPEC)
        wait = self.modes.wait_before_next_pass(self.clock())
        if wait is not None:  # trading disabled, or a restart: nothing could be sent now
            return finish(outcome=TickOutcome.RESTRICTED, retry_after=wait)
        try:
            plan = self._observe_and_plan(spec, run_id=run_id, persist_notifications=True)
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
        applied = apply_plan(
            plan,
            client=self.client,
            signer=self.builder,
            store=self.store,
            run_id=run_id,
            revision_id=revision_id,
            clock=self.clock,
        )
        self._after_apply(applied)
        self._retire_levels(spec)
        return finish(
            outcome=self._mode_outcome(self._resolution.outcome(otherwise=applied_outcome(applied))),
            plan=plan,
            applied=applied,
            error=applied.error,
            retry_after=applied.retry_after or self.modes.wait_before_next_pass(self.clock()),
        )

    def learn_trades(self, trades: Sequence[Trade]) -> None:
        """Record trades the stream brought (fills; a FAILED one taken back), through the
        code that records trades read over REST (settlement.py), then follow them."""
        self._settlement.record(trades, store=self.store, now=self.clock())

    def forget_markets(self, token_ids: Iterable[str]) -> None:
        """The market info of these tokens is stale (a tick size change): read it again."""
        for token_id in token_ids:
            self._markets.forget(token_id)

    def _retire_levels(self, spec: DesiredState) -> None:
        if self._scope is None:  # a targeted pass sees a part of the spec only
            self.store.retire_levels(keep=_level_keys(spec))

    def _after_apply(self, applied: ApplyResult) -> None:
        now = self.clock()
        self._backoff.update(failed=applied.failed_tokens, posted=applied.posted_tokens)
        # A rejection may mean the market changed (a new tick size): read it again next pass.
        self._markets.refresh(r.token_id for r in applied.rejected)
        if applied.restriction is not None:
            self.modes.refused(
                applied.restriction,
                retry_after=applied.restriction_wait,
                message=applied.restriction_message,
                now=now,
                cancel=applied.cancels_refused_by_mode,
            )
        self.modes.pass_done(refused=applied.restriction is not None, now=now)
        self._follow_client_profile()

    def _mode_outcome(self, outcome: TickOutcome) -> TickOutcome:
        """A pass the trading mode held (or refused) is `restricted`, unless it failed."""
        held = self._held_by_mode or self.modes.holding(self.clock()) is not None
        if held and outcome in (TickOutcome.OK, TickOutcome.NOOP, TickOutcome.HELD,
                                TickOutcome.PARTIAL):
            return TickOutcome.RESTRICTED
        return outcome

    # --- steps 2-7 -------------------------------------------------------------------------

    def _observe_and_plan(
        self, spec: DesiredState, *, run_id: int | None, persist_notifications: bool
    ) -> Plan:
        wanted = set(_level_keys(spec))
        self._resolution = resolve.resolve_unresolved(
            client=self.client, store=self.store, run_id=run_id, clock=self.clock,
            landing_window=self.landing_window, chain_id=self.builder.chain_id,
            resend=persist_notifications, wanted=wanted.__contains__,
        )
        # An order the exchange took (by its re-send) is a post that worked: the token's
        # backoff after the lost answer is forgiven, as after any successful post.
        self._backoff.update(failed=(), posted=self._resolution.placed_tokens)
        scope = self._scope  # raises: never "no orders" (invariant 1)
        observed = self.client.get_open_orders() if scope is None else targeted.read_open_orders(
            self.client, scope, self._markets.read(scope, now=self.clock()))
        self.modes.reads_answered(self.clock())
        open_ids = ledger.sync_observed(observed, store=self.store)
        notes = ledger.consume_notifications(
            client=self.client, store=self.store, clock=self.clock, drop=persist_notifications
        )
        if any(n.type == NotificationType.MARKET_RESOLVED for n in notes):
            self._markets.forget(None)  # a market closed: re-read what accepts orders
        ledger.look_up_vanished(open_ids, client=self.client, store=self.store, run_id=run_id,
                                tokens=scope)
        filled = self.store.take_fill_changes()
        self._settlement.watch(filled, store=self.store, now=self.clock())
        self._settlement.check(client=self.client, store=self.store, now=self.clock())
        filled |= self.store.take_fill_changes()
        # A fill or trade on a token may have moved its tick (beyond 0.96 / below 0.04).
        self._markets.refresh(set(filled.values()))
        markets = self._markets.read((t.token_id for t in spec.tokens), now=self.clock())
        inputs: dict[str, Any] = {
            "spec": spec,
            "observed": observed,
            "inventory": self.store.inventory(),
            "levels": self.store.level_states(),
            "markets": markets,
            "now": int(self.clock()),
        }
        plan = planner.plan(**inputs)
        sell_tokens = sorted({p.key.token_id for p in plan.posts if p.key.side is Side.SELL})
        if sell_tokens:
            plan = planner.plan(**inputs, balances=self._balances(sell_tokens))
        if scope is None:  # the skip log is of sweeps: a part of the spec would reset it
            self._skips.update(plan.skipped, planned=(t.token_id for t in spec.tokens))
        # A skipped token is read again every pass, so it comes back as soon as it is right.
        self._markets.refresh(s.token_id for s in plan.skipped)
        return self._hold_posts(plan)

    def _follow_client_profile(self) -> None:
        if follow_client_profile(self.client, self.builder):
            self._markets.forget(None)  # each market's signing profile follows the client's

    def _balances(self, token_ids: Sequence[str]) -> dict[str, Decimal]:
        return share_balances(self.client, token_ids)

    def _hold_posts(self, plan: Plan) -> Plan:
        """Hold back the posts that must wait (the planner's rule): see `hold_back`."""
        plan, self._held_posts, self._held_by_mode = hold_back(
            plan, now=self.clock(), modes=self.modes, backoff=self._backoff.state(),
            unresolved=[o.to_inventory() for o in self.store.unresolved_orders()],
        )
        return plan

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
    ) -> TickResult:
        summary = run_summary(
            outcome, plan=plan, applied=applied, held_posts=self._held_posts,
            spec_errors=spec_errors,
        )
        mode = self.modes.summary(self.clock())
        if mode is not None:
            summary["trading_mode"] = mode
            summary["held_by_mode"] = self._held_by_mode
        if self._resolution.looked_up:
            summary["resolved"] = self._resolution.summary()
        if self._scope is not None:
            summary["scope"] = sorted(self._scope)
        if self.annotate is not None:
            summary.update(self.annotate())
        self.store.finish_run(run_id, outcome=outcome, summary=summary, error=error)
        if run_id % PRUNE_EVERY_RUNS == 0:
            self.store.prune()  # bound the per-tick rows of a long-running daemon
        if error:
            log.warning("pass %s: %s: %s", run_id, outcome, error)
        return TickResult(
            outcome=outcome,
            run_id=run_id,
            revision_id=revision_id,
            plan=plan,
            applied=applied,
            error=error,
            retry_after=retry_after,
            spec_errors=spec_errors,
            run_summary=summary,
        )


def hold_back(
    plan: Plan, *, now: float, modes: TradingModes, backoff: dict[str, tuple[int, int]],
    unresolved: Sequence[InventoryOrder],
) -> tuple[Plan, int, int]:
    """(the plan with the posts that must wait held back, posts held, of which by the trading
    mode): tokens in backoff, tokens with an order whose outcome is still unknown after the
    lookups, and what the trading mode refuses (cancels too, in a mode that takes none)."""
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
        return plan, 0, held_by_mode
    held = dataclasses.replace(
        plan, posts=holds.kept, cancels=cancels, warnings=(*plan.warnings, *warnings)
    )
    return held, len(holds.held), held_by_mode


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


def share_balances(client: ExchangeClient, token_ids: Sequence[str]) -> dict[str, Decimal]:
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


def _level_keys(spec: DesiredState) -> list[Any]:
    return [level.key for token in spec.tokens for level in token.levels]


__all__ = ["ExchangeClient", "PlanReport", "Reconciler", "TickResult"]
