"""Carry out a Plan through the client, journaling every step so a crash never duplicates an order.

The order of operations is the safety argument (DESIGN invariants 3, 4, 8, 11):

1. Build and sign every post first: the order ID is the EIP-712 hash, known before sending.
2. ONE transaction writes the level generations, an `intent` row per order (its hash, and the
   exact signed order it sends, without the owner) and a journal intent per post and cancel.
   From here on, a crash leaves intents that the next pass resolves (engine/resolve.py) by hash
   and by re-sending those very bytes, before posting anything for their levels again.
3. Cancels first, in ONE batch call. Ids the exchange did not cancel ("already canceled", "not
   found") are looked up once to learn whether they filled or were cancelled. If the batch call
   fails, nothing is posted (the plan assumed those cancels, e.g. for caps): the post intents
   become `void`, which is certain because no post request was sent. The same after a 429 on
   a lookup. An order whose cancel was refused and that still rests holds its token's posts,
   and every buy under a total buy cap (the room it held may have been given to another token).
4. Posts in batches of at most 15; one result per order, in order. A rejection is recorded with
   the exchange's message and not retried here (the caller backs the token off). A batch whose
   outcome is unknown (timeout, reset, lost response, 5xx) marks its orders `unknown` (noting
   when they went unanswered); the next pass re-sends the IDENTICAL signed order (invariant 11),
   never the level anew. A rate limit stops the pass and reports the wait. A GTD whose expiry
   is less than 180 s away when its batch is about to go is voided: `void` here means a request
   that certainly never left (an earlier step failed, a 429, a 401, no connection).

What each outcome means for an order, as a lifecycle event (`reconciler.lifecycle`):
    placed (live/matched/delayed) -> POST_ACCEPTED: live (the next read says whether it rests)
    rejected (no order id back)   -> POST_REJECTED: rejected, with the exchange's text
    lost / 5xx                    -> OUTCOME_LOST: unknown (resolved by hash and re-send)
    an id or status with an error -> ANSWER_UNCLEAR: unknown
    never sent                    -> NEVER_SENT: void
    cancelled                     -> CANCEL_CONFIRMED: canceled
Which posts wait after the cancels is the planner's rule (`planner.hold_posts`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler import planner
from reconciler.clob import (
    AuthenticationFailed,
    CancelResult,
    ClobError,
    CredentialsRequired,
    ExchangeRejected,
    OrderResult,
    PostArgs,
    Profile,
    ProtocolError,
    RateLimited,
    SignedOrder,
    TransportError,
)
from reconciler.engine.ledger import LookupState, OrderLookup, look_up_order
from reconciler.lifecycle import Event
from reconciler.model import GTD_MIN_LIFETIME_SECONDS, Cancel, OrderType, Plan, Post, in_batches
from reconciler.store import JournalKind, JournalOutcome, Store

log = logging.getLogger(__name__)


class WriteClient(OrderLookup, Protocol):
    """What apply needs from `ClobClient`."""

    def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult: ...

    def post_orders(self, orders: Sequence[PostArgs]) -> list[OrderResult]: ...


class Signer(Protocol):
    """What apply needs from `OrderBuilder`."""

    profile: Profile  # the order protocol it signs with; reconcile follows the client's
    chain_id: int  # the chain its orders are signed for (a stored order's hash is checked)

    def build_limit(
        self,
        token_id: int | str,
        side: Any,
        price: Any,
        size: Any,
        tick_size: Any,
        neg_risk: bool,
        *,
        expiration: int = 0,
    ) -> SignedOrder: ...


@dataclass(frozen=True)
class Rejection:
    token_id: str
    order_id: str  # "" when the order could not even be built
    message: str


@dataclass
class ApplyResult:
    """What one apply did. `retry_after` is set when the exchange rate-limited us."""

    posted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    void: list[str] = field(default_factory=list)
    not_cancelled: dict[str, str] = field(default_factory=dict)
    still_live: set[str] = field(default_factory=set)  # cancel refused and the order rests
    failed_tokens: set[str] = field(default_factory=set)
    posted_tokens: set[str] = field(default_factory=set)
    write_requests: int = 0
    retry_after: float | None = None
    error: str | None = None

    def run_summary(self) -> dict[str, Any]:
        """What this apply adds to its run row's summary (the whole of it for a shutdown sweep)."""
        return {
            "posted": len(self.posted),
            "cancelled": len(self.cancelled),
            "rejected": [
                {"token_id": r.token_id, "order_id": r.order_id, "message": r.message}
                for r in self.rejected
            ],
            "unknown": list(self.unknown),
            "void": len(self.void),
            "not_cancelled": dict(self.not_cancelled),
            "write_requests": self.write_requests,
            "retry_after": self.retry_after,
            "error": self.error,
        }


@dataclass(frozen=True)
class _Signed:
    post: Post
    order: SignedOrder


def apply_plan(
    plan: Plan,
    *,
    client: WriteClient,
    signer: Signer,
    store: Store,
    run_id: int | None,
    revision_id: int | None,
    clock: Callable[[], float] = time.time,
) -> ApplyResult:
    """Carry out `plan`; never raises for an exchange error (it is in the result).
    `clock` (unix seconds) checks a GTD's remaining lifetime just before it is sent."""
    result = ApplyResult()
    signed = _sign_posts(plan.posts, signer=signer, store=store, run_id=run_id, result=result)
    journal = _journal_intents(plan, signed, store=store, run_id=run_id, revision_id=revision_id)
    if plan.cancels and not _cancel(
        plan.cancels, client=client, store=store, run_id=run_id, journal=journal, result=result
    ):
        _void(signed, store=store, journal=journal, result=result, why="cancel step failed")
        return result
    if result.retry_after is not None:  # a lookup after the cancel was rate limited
        _void(signed, store=store, journal=journal, result=result, why="rate limited")
        return result
    to_post = _hold_for_leftovers(plan, signed, store=store, journal=journal, result=result)
    _post(to_post, client=client, store=store, journal=journal, result=result, clock=clock)
    return result


# --- steps -----------------------------------------------------------------------------------


def _sign_posts(
    posts: Sequence[Post],
    *,
    signer: Signer,
    store: Store,
    run_id: int | None,
    result: ApplyResult,
) -> list[_Signed]:
    signed: list[_Signed] = []
    for post in posts:
        try:
            order = signer.build_limit(
                post.key.token_id,
                post.key.side,
                post.key.price,
                post.size,
                post.tick_size,
                post.neg_risk,
                expiration=post.expires_at,
            )
        except ValueError as exc:  # amounts/tick checks: this order cannot exist as specified
            message = f"could not build the order: {exc}"
            jid = store.journal_intent(
                run_id=run_id, kind=JournalKind.POST, order_id=None, payload=_post_payload(post)
            )
            store.journal_result(jid, outcome=JournalOutcome.REJECTED, result=message)
            result.rejected.append(Rejection(post.key.token_id, "", message))
            result.failed_tokens.add(post.key.token_id)
            continue
        signed.append(_Signed(post=post, order=order))
    return signed


def _journal_intents(
    plan: Plan,
    signed: Sequence[_Signed],
    *,
    store: Store,
    run_id: int | None,
    revision_id: int | None,
) -> dict[str, int]:
    """ONE transaction: generations, order intents, journal intents. Returns journal ids."""
    journal: dict[str, int] = {}
    with store.atomic():
        store.record_generations(plan.generations)
        for cancel in plan.cancels:
            journal[f"cancel:{cancel.order_id}"] = store.journal_intent(
                run_id=run_id,
                kind=JournalKind.CANCEL,
                order_id=cancel.order_id,
                payload={
                    "token_id": cancel.key.token_id,
                    "side": cancel.key.side.value,
                    "price": str(cancel.key.price),
                    "remaining": str(cancel.remaining),
                    "reason": cancel.reason.value,
                },
            )
        for s in signed:
            store.add_order_intent(
                order_id=s.order.order_id, post=s.post, revision=revision_id, run_id=run_id,
                signed_order=s.order.to_wire(), profile=s.order.profile.value,
            )
            journal[f"post:{s.order.order_id}"] = store.journal_intent(
                run_id=run_id,
                kind=JournalKind.POST,
                order_id=s.order.order_id,
                payload=_post_payload(s.post),
            )
    return journal


def _cancel(
    cancels: Sequence[Cancel],
    *,
    client: WriteClient,
    store: Store,
    run_id: int | None,
    journal: dict[str, int],
    result: ApplyResult,
) -> bool:
    """One batch cancel. Returns False when the call failed (then nothing is posted)."""
    ids = [c.order_id for c in cancels]
    result.write_requests += 1
    try:
        answer = client.cancel_orders(ids)
    except ClobError as exc:
        outcome = JournalOutcome.UNKNOWN if exc.outcome_unknown else _failure_outcome(exc)
        with store.atomic():
            for oid in ids:
                store.journal_result(journal[f"cancel:{oid}"], outcome=outcome, result=str(exc))
        _note_failure(exc, result, what="cancel")
        return False
    canceled = set(answer.canceled)
    with store.atomic():
        for oid in ids:
            jid = journal[f"cancel:{oid}"]
            if oid in canceled:
                store.apply_event(oid, Event.CANCEL_CONFIRMED)
                store.journal_result(jid, outcome=JournalOutcome.OK, result="canceled")
                result.cancelled.append(oid)
            elif oid in answer.not_canceled:
                store.journal_result(
                    jid, outcome=JournalOutcome.NOT_CANCELED, result=answer.not_canceled[oid]
                )
            else:
                store.journal_result(
                    jid, outcome=JournalOutcome.UNKNOWN, result="absent from the answer"
                )
    for oid in ids:
        if oid not in canceled:
            reason = answer.not_canceled.get(oid, "absent from the answer")
            state = LookupState.UNKNOWN
            try:
                if result.retry_after is None:  # after a 429, send nothing more this pass
                    state = look_up_order(oid, client=client, store=store, run_id=run_id)
            except RateLimited as exc:
                _note_failure(exc, result, what="lookup after cancel")
            result.not_cancelled[oid] = f"{reason} (now: {state})"
            if state in (LookupState.LIVE, LookupState.UNKNOWN):
                result.still_live.add(oid)
    return True


def _hold_for_leftovers(
    plan: Plan,
    signed: Sequence[_Signed],
    *,
    store: Store,
    journal: dict[str, int],
    result: ApplyResult,
) -> list[_Signed]:
    """Void the posts that must wait for a cancel that did not take effect (the planner's rule,
    `planner.hold_posts`); return the others, in order."""
    holds = planner.hold_posts(
        [s.post for s in signed],
        max_total_buy_notional=plan.max_total_buy_notional,
        still_live=[c for c in plan.cancels if c.order_id in result.still_live],
    )
    # hold_posts hands back the very Post objects it was given: match them by identity.
    reasons = {id(h.post): h.reason for h in holds.held}
    by_reason: dict[str, list[_Signed]] = {}
    for s in signed:
        if id(s.post) in reasons:
            by_reason.setdefault(reasons[id(s.post)], []).append(s)
    for why, group in by_reason.items():
        _void(group, store=store, journal=journal, result=result, why=why)
    return [s for s in signed if id(s.post) not in reasons]


def _post(
    signed: Sequence[_Signed],
    *,
    client: WriteClient,
    store: Store,
    journal: dict[str, int],
    result: ApplyResult,
    clock: Callable[[], float],
) -> None:
    batches = in_batches(signed)  # the plan's batching (Plan.post_batches), of what is left
    for index, batch in enumerate(batches):
        # Reads, cancels and earlier batches took time since planning: a GTD must still have
        # its minimum lifetime when it is sent, or it is not sent (void, certainly not placed).
        earliest = int(clock()) + GTD_MIN_LIFETIME_SECONDS
        late = [
            s for s in batch if s.post.order_type is OrderType.GTD and s.post.expires_at < earliest
        ]
        _void(late, store=store, journal=journal, result=result, why="GTD expiry < 180 s away")
        if not (batch := [s for s in batch if s not in late]):
            continue
        result.write_requests += 1
        try:
            answers = client.post_orders(
                [PostArgs(s.order, s.post.order_type, s.post.post_only) for s in batch]
            )
        except ClobError as exc:
            if _batch_failed(exc, batch, store=store, journal=journal, result=result,
                             clock=clock):
                rest = [s for later in batches[index + 1 :] for s in later]
                why = f"not sent: an earlier batch failed ({type(exc).__name__})"
                _void(rest, store=store, journal=journal, result=result, why=why)
                return
            continue
        _record_batch(batch, answers, store=store, journal=journal, result=result, clock=clock)


def _batch_failed(
    exc: ClobError,
    batch: Sequence[_Signed],
    *,
    store: Store,
    journal: dict[str, int],
    result: ApplyResult,
    clock: Callable[[], float],
) -> bool:
    """Record a failed batch call. Returns True when the remaining batches must not be sent."""
    tokens = {s.post.key.token_id for s in batch}
    if (
        isinstance(exc, RateLimited)
        or (isinstance(exc, TransportError) and not exc.outcome_unknown)
        or isinstance(exc, AuthenticationFailed | CredentialsRequired)
    ):
        _void(batch, store=store, journal=journal, result=result, why=str(exc))
        _note_failure(exc, result, what="post")
        if not isinstance(exc, RateLimited):
            result.failed_tokens |= tokens
        return True
    if exc.outcome_unknown or not isinstance(exc, ExchangeRejected):
        with store.atomic():
            for s in batch:
                oid = s.order.order_id
                store.apply_event(oid, Event.OUTCOME_LOST, error=str(exc))
                store.note_unanswered_send(oid, at_ms=int(clock() * 1000))
                store.journal_result(
                    journal[f"post:{oid}"], outcome=JournalOutcome.UNKNOWN, result=str(exc)
                )
                result.unknown.append(oid)
        result.failed_tokens |= tokens
        if isinstance(exc, ProtocolError):  # an untrusted answer: send nothing more (inv. 9)
            _note_failure(exc, result, what="post")
        # A transport failure will most likely hit the next batch too; a 5xx may be one market.
        return isinstance(exc, TransportError | ProtocolError)
    # The exchange refused the whole batch (4xx): nothing of it was placed.
    with store.atomic():
        for s in batch:
            oid = s.order.order_id
            store.apply_event(oid, Event.POST_REJECTED, error=exc.message)
            store.journal_result(
                journal[f"post:{oid}"], outcome=JournalOutcome.REJECTED, result=exc.message
            )
            result.rejected.append(Rejection(s.post.key.token_id, oid, exc.message))
    result.failed_tokens |= tokens
    return False


def _record_batch(
    batch: Sequence[_Signed],
    answers: Sequence[OrderResult],
    *,
    store: Store,
    journal: dict[str, int],
    result: ApplyResult,
    clock: Callable[[], float],
) -> None:
    with store.atomic():
        for s, answer in zip(batch, answers, strict=True):
            oid = s.order.order_id
            jid = journal[f"post:{oid}"]
            detail = {
                "status": answer.status,
                "order_id": answer.order_id,
                "error": answer.error_msg,
            }
            if answer.ok and answer.order_id.lower() == oid.lower():
                store.apply_event(oid, Event.POST_ACCEPTED)
                store.journal_result(jid, outcome=JournalOutcome.OK, result=detail)
                result.posted.append(oid)
                result.posted_tokens.add(s.post.key.token_id)
            elif answer.order_id or answer.status:
                # An id or a status with an error (e.g. "delayed"), or an id that is not the
                # hash we signed: the exchange may hold an order. Resolve it by hash.
                store.apply_event(oid, Event.ANSWER_UNCLEAR, error=answer.error_msg)
                store.note_unanswered_send(oid, at_ms=int(clock() * 1000))
                store.journal_result(jid, outcome=JournalOutcome.UNKNOWN, result=detail)
                result.unknown.append(oid)
                result.failed_tokens.add(s.post.key.token_id)
            else:
                message = answer.error_msg or "rejected without a message"
                store.apply_event(oid, Event.POST_REJECTED, error=message)
                store.journal_result(jid, outcome=JournalOutcome.REJECTED, result=detail)
                result.rejected.append(Rejection(s.post.key.token_id, oid, message))
                result.failed_tokens.add(s.post.key.token_id)


def _void(
    signed: Sequence[_Signed],
    *,
    store: Store,
    journal: dict[str, int],
    result: ApplyResult,
    why: str,
) -> None:
    """Orders whose post request was certainly never sent."""
    if not signed:
        return
    with store.atomic():
        for s in signed:
            oid = s.order.order_id
            store.apply_event(oid, Event.NEVER_SENT, error=why)
            store.journal_result(journal[f"post:{oid}"], outcome=JournalOutcome.VOID, result=why)
            result.void.append(oid)


# --- helpers ---------------------------------------------------------------------------------


def _post_payload(post: Post) -> dict[str, Any]:
    return {
        "token_id": post.key.token_id,
        "side": post.key.side.value,
        "price": str(post.key.price),
        "size": str(post.size),
        "order_type": post.order_type.value,
        "post_only": post.post_only,
        "expires_at": post.expires_at,
        "generation": post.generation,
    }


def _failure_outcome(exc: ClobError) -> JournalOutcome:
    if isinstance(exc, RateLimited):
        return JournalOutcome.RATE_LIMITED
    if isinstance(exc, ExchangeRejected):
        return JournalOutcome.REJECTED
    return JournalOutcome.ERROR


def _note_failure(exc: ClobError, result: ApplyResult, *, what: str) -> None:
    if isinstance(exc, RateLimited):
        result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
        result.error = f"{what}: rate limited; retry after {exc.retry_after:g} s"
    else:
        result.error = f"{what}: {type(exc).__name__}: {exc}"
    log.warning("apply %s failed: %s", what, result.error)
