"""Carry out a Plan through the client, journaling every step so a crash never duplicates an order.

The order of operations is the safety argument (DESIGN invariants 3, 4, 8, 11):

1. Build and sign every post first: the order ID is the EIP-712 hash, known before sending.
2. ONE transaction writes the level generations, an `intent` row per order (its hash, and the
   exact signed order it sends, without the owner) and a journal intent per post and cancel.
   From here on, a crash leaves intents that the next pass resolves (engine/resolve.py) by hash
   and by re-sending those very bytes, before posting anything for their levels again.
3. Cancels first, through the client's splitting and pacing (as few `DELETE /orders` as the
   1000-id limit and the cancel burst allow; cancels.py). What was cancelled is recorded, also
   when a call fails part way (the error's `.partial`). Ids the exchange did not cancel ("already
   canceled", "not found") are looked up once. An order that may still rest (its cancel was
   refused, failed or never sent) holds only what depends on it, by the planner's rule
   (`planner.hold_posts`): its token's posts, and every buy under a total buy cap (the room it
   held may have been given to another token). After a 429 (on a cancel or a lookup), or an
   authentication failure, nothing more is sent: every post intent becomes `void`, which is
   certain because no post request was sent.
4. Posts in batches of at most 15; one result per order, in order. A rejection is recorded with
   the exchange's message and not retried here (the caller backs the token off). A batch whose
   outcome is unknown (timeout, reset, lost response, 5xx) marks its orders `unknown` (noting
   when they went unanswered); the next pass re-sends the IDENTICAL signed order (invariant 11),
   never the level anew. A rate limit stops the pass and reports the wait. A GTD whose expiry
   is less than 180 s away when its batch is about to go is voided: `void` here means a request
   that certainly never left (an earlier step failed, a 429, a 401, no connection).
5. A trading mode (clob-v2-wire.md 2.13) is a definite refusal, never an unknown outcome: a
   refused request placed or cancelled nothing, the later post batches are not sent, and the
   result names the restriction (`ApplyResult.restriction`) for the engine to hold by it.
   A batch entry refused by the mode (post-only, closed-only) is `rejected` without counting
   as a failure of its token.

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
from dataclasses import dataclass
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
    TradingRestricted,
    TransportError,
)
from reconciler.engine.cancels import CancelOutcome, cancel_step
from reconciler.engine.ledger import OrderLookup
from reconciler.engine.results import ApplyResult, Rejection
from reconciler.lifecycle import Event
from reconciler.model import GTD_MIN_LIFETIME_SECONDS, OrderType, Plan, Post, in_batches
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
        profile: Profile | None = None,
    ) -> SignedOrder: ...


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
    if plan.cancels:
        outcome = cancel_step(
            plan.cancels, client=client, store=store, run_id=run_id, journal=journal
        )
        stop = _record_cancels(outcome, result)
        if stop is not None:
            _void(signed, store=store, journal=journal, result=result, why=stop)
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
                profile=Profile(post.order_profile),  # its market's own exchange (2.4)
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
        restriction=result.restriction,  # a cancel refused by a trading mode
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
    if isinstance(exc, TradingRestricted):
        # A definite refusal: nothing of the batch was placed, and it is not the tokens' fault.
        _refused_by_mode(batch, exc.message, store=store, journal=journal, result=result)
        result.note_restriction(exc.restriction, wait=exc.retry_after, message=exc.message)
        return True
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
            elif answer.restriction is not None:  # e.g. post-only mode, in its entry form
                _refused_by_mode([s], answer.error_msg, store=store, journal=journal,
                                 result=result)
                result.note_restriction(answer.restriction, wait=None, message=answer.error_msg)
            else:
                message = answer.error_msg or "rejected without a message"
                store.apply_event(oid, Event.POST_REJECTED, error=message)
                store.journal_result(jid, outcome=JournalOutcome.REJECTED, result=detail)
                result.rejected.append(Rejection(s.post.key.token_id, oid, message))
                result.failed_tokens.add(s.post.key.token_id)


def _refused_by_mode(
    signed: Sequence[_Signed],
    message: str,
    *,
    store: Store,
    journal: dict[str, int],
    result: ApplyResult,
) -> None:
    """Orders the exchange's trading mode refused: certainly not placed (the next pass posts
    them again once the mode allows), and no failure of their token (no backoff)."""
    with store.atomic():
        for s in signed:
            oid = s.order.order_id
            store.apply_event(oid, Event.POST_REJECTED, error=message)
            store.journal_result(
                journal[f"post:{oid}"], outcome=JournalOutcome.REJECTED, result=message
            )
            result.refused_by_mode.append(oid)


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


def _record_cancels(outcome: CancelOutcome, result: ApplyResult) -> str | None:
    """Copy what the cancel step did into `result`; return why no post may go this pass (None:
    posts go, holding only what the planner's rule says must wait)."""
    result.cancelled.extend(outcome.cancelled)
    result.not_cancelled.update(outcome.not_cancelled)
    result.still_live |= outcome.still_live
    failure = outcome.failure
    result.write_requests += 1
    if isinstance(failure, TradingRestricted):
        result.note_restriction(
            failure.restriction, wait=failure.retry_after, message=failure.message
        )
        result.cancels_refused_by_mode = True
        if failure.restriction.allows_cancels:  # not for the cancels: they would have gone
            return None
        return f"not sent: the exchange is in {failure.restriction.value} mode"
    if failure is not None:
        _note_failure(failure, result, what="cancel")
    if outcome.lookup_failure is not None:
        _note_failure(outcome.lookup_failure, result, what="lookup after cancel")
    if result.retry_after is not None:
        return "rate limited"  # a 429 is honoured: nothing more is sent this pass
    if isinstance(failure, AuthenticationFailed | CredentialsRequired):
        return f"not sent: the cancel step failed ({type(failure).__name__})"
    return None


def _note_failure(exc: ClobError, result: ApplyResult, *, what: str) -> None:
    if isinstance(exc, RateLimited):
        result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
        result.error = f"{what}: rate limited; retry after {exc.retry_after:g} s"
    else:
        result.error = f"{what}: {type(exc).__name__}: {exc}"
    log.warning("apply %s failed: %s", what, result.error)


__all__ = ["ApplyResult", "Rejection", "Signer", "WriteClient", "apply_plan"]
