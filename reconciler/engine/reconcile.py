"""One reconcile pass: observe the exchange, plan, apply. Used by `plan`, `apply` and every tick.

A pass, in order (each step's failure mode is the point):

1. Load the desired files (desired_state.py). Invalid files are recorded as an invalid revision
   with their errors; the last valid revision stays in force (invariant 2), after a restart too:
   it is rebuilt from its files kept in the state file. With no valid revision at all the pass
   changes nothing.
2. Resolve our unresolved orders (intent or unknown: a crash, or a lost answer) by asking the
   exchange for each order hash, before anything can be posted for their levels (invariant 4).
3. Read the open orders. A failure aborts the pass: it is never read as "no orders"
   (invariant 1). Our orders seen there are live, with their matched size.
4. Consume notifications: fills (type 2) are recorded toward their level (idempotent per trade)
   and cancels (type 1) settle our order; the processed ids are COMMITTED to SQLite BEFORE they
   are dropped on the exchange, so a crash in between re-reads them and skips them, never loses
   or double counts a fill. (Fills are also learned from the cumulative matched size of every
   order read; the store keeps the larger of the two, so nothing counts twice.)
5. Our orders that vanished from the open set are looked up once: filled or cancelled. A failed
   lookup marks the order unknown, which holds its level (step 2 retries next pass).
6. Market info per declared token (cached for `market_ttl` seconds); share balances for tokens
   the plan would sell, so sells never exceed what we hold (invariant 5; an unreadable balance
   counts as zero: no new sells).
7. Plan (the pure planner), then hold back the posts of tokens in backoff (invariant 8) and of
   tokens with an order still unknown after step 2 (it may rest unseen and count toward a cap;
   under a global buy cap every buy waits).
8. Apply (not for `plan`), then record the run with its summary and outcome.

`plan()` runs the same steps, from the same spec in force, without any write to the exchange and
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from reconciler import planner
from reconciler.clob import ClobError, RateLimited
from reconciler.clob.types import AssetType, BalanceAllowance, Notification, order_id_key
from reconciler.engine.apply import ApplyResult, Signer, WriteClient, apply_plan, look_up_order
from reconciler.engine.in_force import DesiredStateKeeper
from reconciler.model import MarketInfo, OpenOrder, Plan, Post, Side
from reconciler.spec import DesiredState, EmptyDesiredState
from reconciler.store import INVENTORY_STATUSES, OrderStatus, Store

log = logging.getLogger(__name__)

CANCEL_NOTIFICATION = 1
FILL_NOTIFICATION = 2
RESOLVED_NOTIFICATION = 4
PRUNE_EVERY_RUNS = 1000
#: Outcomes of a pass that did its job (the daemon pings the watchdog after them).
SUCCESS_OUTCOMES = ("ok", "partial", "noop", "held")
NO_VALID_SPEC = "invalid desired state and no valid one loaded yet; nothing changed"
INVALID = "invalid desired state"


class ExchangeClient(WriteClient, Protocol):
    """What a pass needs from `ClobClient`."""

    def get_open_orders(self) -> list[OpenOrder]: ...

    def get_notifications(self) -> list[Notification]: ...

    def drop_notifications(self, ids: Sequence[str]) -> None: ...

    def get_market_info(self, token_id: str) -> MarketInfo: ...

    def clear_market_cache(self, token_id: str | None = None) -> None: ...

    def get_balance_allowance(
        self, asset_type: AssetType | str = ..., token_id: str | None = None
    ) -> BalanceAllowance: ...


@dataclass(frozen=True)
class PlanReport:
    """What `reconciler plan` shows: the plan a pass would apply now, and why not if none.
    The CLI renders it (`cli.render.report_text`, `report_json`)."""

    plan: Plan | None
    digest: str
    spec_errors: tuple[str, ...] = ()
    error: str | None = None
    git_commit: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    kept: str | None = None  # the revision kept in force while the files are invalid
    refusal: str | None = None  # why there is no plan (an empty desired state)

    @property
    def has_changes(self) -> bool:
        return self.plan is not None and not self.plan.is_empty


@dataclass(frozen=True)
class TickResult:
    """The outcome of one pass, for the daemon (loop backoff, sd_notify, metrics)."""

    success: bool
    outcome: str  # ok | partial | noop | held | error | rate_limited | invalid_spec | refused
    run_id: int | None = None
    revision_id: int | None = None
    plan: Plan | None = None
    applied: ApplyResult | None = None
    error: str | None = None
    retry_after: float | None = None
    spec_errors: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # what the run row records

    @property
    def summary(self) -> str:
        """One line for people and systemd's STATUS=."""
        parts = [self.outcome]
        if self.applied is not None:
            parts.append(f"posted {self.posted}, cancelled {self.cancelled}")
            if self.rejected or self.unknown:
                parts.append(f"rejected {self.rejected}, unknown {self.unknown}")
        elif self.plan is not None:
            parts.append(f"{len(self.plan.keeps)} orders resting as desired")
        if self.spec_errors:
            parts.append(f"desired state invalid ({len(self.spec_errors)} errors)")
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)

    # Action counts, as the daemon's metrics read them.
    posted = property(lambda self: len(self.applied.posted) if self.applied else 0)
    cancelled = property(lambda self: len(self.applied.cancelled) if self.applied else 0)
    rejected = property(lambda self: len(self.applied.rejected) if self.applied else 0)
    unknown = property(lambda self: len(self.applied.unknown) if self.applied else 0)

    @property
    def drift(self) -> int | None:
        """Actions the pass found necessary (0 when everything rested as desired)."""
        return None if self.plan is None else len(self.plan.posts) + len(self.plan.cancels)

    @property
    def spec_valid(self) -> bool:
        return not self.spec_errors


@dataclass
class _Backoff:
    failures: int = 0
    skip_remaining: int = 0


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
    ) -> None:
        self.client = client
        self.store = store
        self.desired_dir = Path(desired_dir)
        self.builder = builder
        self.clock = clock
        self.git_commit_of = git_commit_of
        self.market_ttl = market_ttl
        self.max_backoff_passes = max_backoff_passes
        self.desired = DesiredStateKeeper(
            store=store, desired_dir=self.desired_dir, git_commit_of=git_commit_of
        )
        self._markets: dict[str, tuple[MarketInfo, float]] = {}
        self._backoff: dict[str, _Backoff] = {}
        self._held_posts = 0  # posts the last planning held back

    # --- entry points ----------------------------------------------------------------------

    def plan(self) -> PlanReport:
        """The plan a tick would apply now. No write request is sent to the exchange."""
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

    def tick(self) -> TickResult:
        """One full pass. Never raises for an exchange or spec problem: see the result."""
        desired = self.desired.for_tick(now=self.clock())
        spec, revision_id, spec_errors = desired.spec, desired.revision_id, desired.errors
        run_id = self.store.start_run(revision_id)
        finish = functools.partial(self._finish, run_id, revision_id, spec_errors=spec_errors)
        if spec is None:
            return finish(outcome="invalid_spec", error=NO_VALID_SPEC)
        try:
            plan = self._observe_and_plan(spec, run_id=run_id, persist_notifications=True)
        except EmptyDesiredState as exc:
            return finish(outcome="refused", error=str(exc))
        except RateLimited as exc:
            return finish(outcome="rate_limited", error=str(exc), retry_after=exc.retry_after)
        except ClobError as exc:
            return finish(outcome="error", error=f"{type(exc).__name__}: {exc}")
        self._count_backoff_pass()
        if plan.is_empty:
            # Generations still need recording (a spec edit that needs no order change).
            self.store.record_generations(plan.generations)
            self.store.retire_levels(keep=_level_keys(spec))
            # "held": nothing sent, but posts wait for a backoff or an unknown outcome.
            return finish(outcome="held" if self._held_posts else "noop", plan=plan)
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
        self._update_backoff(applied)
        for token_id in applied.failed_tokens:
            self._forget_market(token_id)  # a rejection may mean a new tick size: re-read
        self.store.retire_levels(keep=_level_keys(spec))
        return finish(
            outcome=_outcome(applied),
            plan=plan,
            applied=applied,
            error=applied.error,
            retry_after=applied.retry_after,
        )

    # --- steps 2-7 -------------------------------------------------------------------------

    def _observe_and_plan(
        self, spec: DesiredState, *, run_id: int | None, persist_notifications: bool
    ) -> Plan:
        self._resolve_unresolved(run_id)
        observed = self.client.get_open_orders()  # raises: never "no orders" (invariant 1)
        open_ids = self._sync_observed(observed)
        self._consume_notifications(drop=persist_notifications)
        self._look_up_vanished(open_ids, run_id)
        markets = self._market_info(spec)
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
        return self._hold_posts(plan, spec=spec)

    def _follow_client_profile(self) -> None:
        """After an order_version_mismatch the client re-reads /version and switches profile;
        sign with the profile it switched to, or every later post is refused the same way."""
        profile = getattr(self.client, "profile", None)
        if profile is not None and profile is not self.builder.profile:
            log.warning("the exchange speaks order protocol %s now (was %s): signing with it",
                        profile.value, self.builder.profile.value)
            self.builder.profile = profile

    def _resolve_unresolved(self, run_id: int | None) -> None:
        for order in self.store.unresolved_orders():
            state = look_up_order(
                order.order_id, client=self.client, store=self.store, run_id=run_id
            )
            log.info("resolved order %s (was %s): %s", order.order_id, order.status.value, state)

    def _sync_observed(self, observed: Sequence[OpenOrder]) -> set[str]:
        ids = {o.order_id for o in observed}
        with self.store.atomic():
            for o in observed:
                mine = self.store.order(o.order_id)
                if mine is None:
                    continue
                self.store.observe_matched(o.order_id, o.size_matched)
                if mine.status is not OrderStatus.LIVE:
                    self.store.mark_order(o.order_id, status=OrderStatus.LIVE)
                    self.store.close_open_journal(o.order_id, outcome="resolved", result="live")
        return ids

    def _consume_notifications(self, *, drop: bool) -> None:
        try:
            notes = self.client.get_notifications()
        except RateLimited:
            raise
        except ClobError as exc:
            # Fills are also learned from order reads; a missing notification read loses none.
            log.warning("could not read notifications (%s); continuing", exc)
            return
        if not notes:
            return
        if any(n.type == RESOLVED_NOTIFICATION for n in notes):
            self._forget_market(None)  # a market closed: re-read what accepts orders
        done = self.store.processed_notification_ids(n.id for n in notes)
        with self.store.atomic():
            for note in notes:
                if note.id not in done:
                    self._record_notification(note)
                    self.store.mark_notification_processed(note.id, type_=note.type)
            self.store.set_cursor("notifications", max((n.id for n in notes), key=_id_order))
        if drop:
            try:
                self.client.drop_notifications([n.id for n in notes])
            except ClobError as exc:
                log.warning("could not drop notifications (%s); they are skipped next time", exc)

    def _record_notification(self, note: Notification) -> None:
        """Fills count toward their level; a cancel is terminal, so the order needs no lookup.
        Resolutions (type 4) change nothing here: the market's orders are cancelled (type 1)."""
        if note.type not in (CANCEL_NOTIFICATION, FILL_NOTIFICATION):
            return
        payload = note.payload
        order_id = order_id_key(payload.get("order_id"))
        ours = self.store.order(order_id)
        if ours is None:
            return
        try:
            original = Decimal(str(payload.get("original_size", "0")))
            remaining = Decimal(str(payload.get("remaining_size", original)))
            size = Decimal(str(payload.get("matched_size", "0")))
            price = Decimal(str(payload.get("price", "0")))
        except ArithmeticError:
            log.warning("notification %s: unreadable amounts; skipped", note.id)
            return
        if note.type == FILL_NOTIFICATION:
            fill_id = str(payload.get("trade_id") or f"notification:{note.id}")
            at_ms = int(self.clock() * 1000)
            self.store.add_fill(
                order_id=order_id, fill_id=fill_id, size=size, price=price, at_ms=at_ms
            )
        if original > 0:
            self.store.observe_matched(order_id, original - remaining)
        if note.type == CANCEL_NOTIFICATION and ours.status in INVENTORY_STATUSES:
            self.store.mark_order(order_id, status=OrderStatus.CANCELED, error="cancel notified")
            self.store.close_open_journal(order_id, outcome="resolved", result="canceled")

    def _look_up_vanished(self, open_ids: set[str], run_id: int | None) -> None:
        for order in self.store.orders(statuses=[OrderStatus.LIVE]):
            if order.order_id in open_ids:
                continue
            state = look_up_order(
                order.order_id, client=self.client, store=self.store, run_id=run_id
            )
            if state == "live":
                # Live by lookup yet missing from the open-orders read the planner works from:
                # hold its level (as unresolved) rather than plan as if it did not rest.
                self.store.mark_order(
                    order.order_id,
                    status=OrderStatus.UNKNOWN,
                    error="live on lookup but absent from the open-orders read",
                )
            elif state == "unknown":
                # Could not learn whether it filled: hold its level until we know.
                self.store.mark_order(
                    order.order_id,
                    status=OrderStatus.UNKNOWN,
                    error="vanished from open orders; lookup failed",
                )

    def _market_info(self, spec: DesiredState) -> dict[str, MarketInfo]:
        now = self.clock()
        markets: dict[str, MarketInfo] = {}
        for token in spec.tokens:
            cached = self._markets.get(token.token_id)
            if cached is not None and now - cached[1] < self.market_ttl:
                markets[token.token_id] = cached[0]
                continue
            # Our TTL decides: the client's own cache must not hand back an older answer.
            self.client.clear_market_cache(token.token_id)
            try:
                info = self.client.get_market_info(token.token_id)
            except RateLimited:
                raise
            except ClobError as exc:
                log.warning(
                    "market info for %s unavailable (%s); token skipped", token.token_id, exc
                )
                continue
            self._markets[token.token_id] = (info, now)
            markets[token.token_id] = info
        return markets

    def _forget_market(self, token_id: str | None) -> None:
        """Drop cached market info (ours and the client's) for one token, or all."""
        if token_id is None:
            self._markets.clear()
        else:
            self._markets.pop(token_id, None)
        self.client.clear_market_cache(token_id)

    def _balances(self, token_ids: Sequence[str]) -> dict[str, Decimal]:
        balances: dict[str, Decimal] = {}
        for token_id in token_ids:
            try:
                answer = self.client.get_balance_allowance(AssetType.CONDITIONAL, token_id)
            except RateLimited:
                raise
            except ClobError as exc:
                log.warning("share balance of %s unavailable (%s); no new sells", token_id, exc)
                balances[token_id] = Decimal(0)
                continue
            balances[token_id] = answer.balance_decimal
        return balances

    # --- backoff and bookkeeping -----------------------------------------------------------

    def _hold_posts(self, plan: Plan, *, spec: DesiredState) -> Plan:
        """Hold back posts the planner cannot judge: tokens in backoff (invariant 8), and tokens
        with an order whose outcome is still unknown after the lookups. Such an order may rest
        unseen, so its notional and shares could break a cap or the balance (invariant 5); with
        a global buy cap, every buy waits for it."""
        reasons: dict[str, str] = {
            t: f"held back after {b.failures} failing passes ({b.skip_remaining} more)"
            for t, b in self._backoff.items()
            if b.skip_remaining > 0
        }
        unresolved = self.store.unresolved_orders()
        for order in unresolved:
            reasons[order.key.token_id] = f"order {order.order_id} has an unknown outcome"
        all_buys = spec.max_total_buy_notional is not None and any(
            o.key.side is Side.BUY for o in unresolved
        )
        kept: list[Post] = []
        held: set[str] = set()
        self._held_posts = 0
        for post in plan.posts:
            token = post.key.token_id
            if token in reasons or (all_buys and post.key.side is Side.BUY):
                held.add(token)
            else:
                kept.append(post)
        if not held:
            return plan
        self._held_posts = len(plan.posts) - len(kept)
        warnings = [
            f"token {t}: posts {reasons.get(t, 'held: a buy elsewhere has an unknown outcome')}"
            for t in sorted(held)
        ]
        return dataclasses.replace(plan, posts=tuple(kept), warnings=(*plan.warnings, *warnings))

    def _count_backoff_pass(self) -> None:
        """A pass happened: held tokens are one pass closer to being tried again."""
        for state in self._backoff.values():
            state.skip_remaining = max(state.skip_remaining - 1, 0)

    def _update_backoff(self, applied: ApplyResult) -> None:
        for token_id in applied.failed_tokens:
            state = self._backoff.setdefault(token_id, _Backoff())
            state.failures += 1
            state.skip_remaining = min(2 ** (state.failures - 1), self.max_backoff_passes)
            log.warning(
                "token %s: posts failed; holding its posts for %d passes",
                token_id,
                state.skip_remaining,
            )
        for token_id in applied.posted_tokens - applied.failed_tokens:
            self._backoff.pop(token_id, None)

    def backoff_state(self) -> dict[str, tuple[int, int]]:
        """token -> (consecutive failing passes, passes still held), for status and tests."""
        return {t: (b.failures, b.skip_remaining) for t, b in self._backoff.items()}

    def _finish(
        self,
        run_id: int,
        revision_id: int | None,
        *,
        outcome: str,
        plan: Plan | None = None,
        applied: ApplyResult | None = None,
        error: str | None = None,
        retry_after: float | None = None,
        spec_errors: tuple[str, ...] = (),
    ) -> TickResult:
        summary: dict[str, Any] = {"outcome": outcome}
        if plan is not None:
            summary.update(
                planned_posts=len(plan.posts),
                planned_cancels=len(plan.cancels),
                kept=len(plan.keeps),
                skipped=[s.token_id for s in plan.skipped],
                warnings=list(plan.warnings),
                held_posts=self._held_posts,
            )
        if applied is not None:
            summary.update(applied.summary())
        if spec_errors:
            summary["spec_errors"] = list(spec_errors)
        self.store.finish_run(run_id, outcome=outcome, summary=summary, error=error)
        if run_id % PRUNE_EVERY_RUNS == 0:
            self.store.prune()  # bound the per-tick rows of a long-running daemon
        if error:
            log.warning("pass %s: %s: %s", run_id, outcome, error)
        return TickResult(
            success=outcome in SUCCESS_OUTCOMES,
            outcome=outcome,
            run_id=run_id,
            revision_id=revision_id,
            plan=plan,
            applied=applied,
            error=error,
            retry_after=retry_after,
            spec_errors=spec_errors,
            details=summary,
        )


def _outcome(applied: ApplyResult) -> str:
    if applied.retry_after is not None:
        return "rate_limited"
    if applied.error is not None:
        return "error"
    if applied.rejected or applied.unknown or applied.void or applied.not_cancelled:
        return "partial"
    return "ok"


def _level_keys(spec: DesiredState) -> list[Any]:
    return [level.key for token in spec.tokens for level in token.levels]


def _id_order(notification_id: str) -> tuple[int, str]:
    # Notification ids are integers on the exchange; compare them as such when they are.
    return (int(notification_id), "") if notification_id.isdigit() else (-1, notification_id)


__all__ = ["PlanReport", "Reconciler", "TickResult"]
