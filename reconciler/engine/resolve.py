"""Resolving our unresolved orders, exactly once: by hash, and by re-sending the IDENTICAL signed
order (DESIGN invariants 4 and 11). Step 2 of a pass: before the open-orders read, and before
anything can be posted for their levels (the planner holds a token's posts while it has one).

For each unresolved order (intent, unknown, vanished), oldest first:

1. A send with no answer recorded (its journal row is still open: the process stopped between
   send and record) is closed as `unknown`, and "now" is noted as the latest moment it may have
   left: this process started after it.
2. It is looked up by hash. Found (live, filled, cancelled): resolved, and every journal row of
   it is closed. A vanished order that is absent is gone. A rate limit stops the pass, and so
   does an answer that cannot be trusted (a ProtocolError: invariant 9), before anything is
   re-sent or posted.
3. Absent on lookup (or the lookup failed), it is still unresolved: "absent" alone never voids it,
   since the first request may still be held inside the exchange. Then:
   - a GTD whose `expiration` has passed, absent on lookup, is void (`expired`): the exchange no
     longer accepts it (clob-v1-wire.md 7.1: the effective expiry is 60 s before `expiration`
     and an expiration inside that window is refused), so no request can land it any more;
   - otherwise the IDENTICAL signed order is sent again (the stored wire object: same salt,
     timestamp, signature and hash; the owner is attached at send time), in batches of at most
     15. What the answer means (the exchange refuses a second copy of a hash: clob-v1-wire.md
     6.3 INVALID_ORDER_DUPLICATED, 8 "Duplicate"):
       placed under our hash  -> resent_placed: live. The first request can never land as a
                                 second order now.
       "Duplicated"           -> resent_duplicate: an earlier send placed it. Live; the
                                 open-orders read of this pass and the lookups track it.
       timeout, reset, 5xx,
       an unclear answer      -> resend_lost: still unknown, re-sent next pass (an answer
                                 that cannot be trusted also stops the pass).
       429                    -> the pass stops (RateLimited is raised), as for any request.
       a trading mode (cancel-
       only, post-only, 425)  -> resend_refused: it says nothing about the order.
       refused, another reason -> within the landing window: resend_refused (still unknown);
                                 past it: refused_past_window (void).
   - with nothing to re-send (a row from before signed orders were kept, a stored order that
     does not hash to its id) or a level that is no longer wanted: looked up each pass, and void
     once absent past the landing window (`absent_past_window`).

The landing window (our rule; the reference is silent on how long the exchange may hold a request
it has received). A refusal of the identical bytes proves that the exchange did not have the
order at that moment, not that an earlier request still held inside it will not land afterwards.
So a refusal voids an order only once every send of it that went without an answer is older than
the window: `landing_window` seconds, by default twice the client's request timeout plus 30 s
(the client gives up on a request after one timeout; we assume the exchange acts on a request
within twice that, with a margin). An order voided by a window that proved too short is taken
back as live the moment the open-orders read shows it (the lifecycle's `(void, seen_open)`).

`plan()` runs steps 1-2 only: no re-send (no write request) and no void.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.clob import (
    AuthenticationFailed,
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
    order_from_wire,
    recover_order_signer,
)
from reconciler.engine.ledger import LookupState, OrderLookup, look_up_order
from reconciler.lifecycle import RESENDABLE_STATUSES, Event
from reconciler.model import LevelKey, OrderType, TickOutcome, in_batches
from reconciler.store import JournalKind, JournalOutcome, Store, StoredOrder

log = logging.getLogger(__name__)

#: The default landing window, from the client's request timeout (see the module docstring).
LANDING_MARGIN_SECONDS = 30.0


def default_landing_window(request_timeout: float) -> float:
    return 2 * request_timeout + LANDING_MARGIN_SECONDS


#: How the exchange words a second copy of a hash (clob-v1-wire.md 6.3): `order is invalid.
#: Duplicated. Same order has already been placed, can't be placed again`, as HTTP 400
#: {"error": ...} on POST /order and as an entry's errorMsg in POST /orders. Matched without
#: case, on either part, so a prefix (the V2 texts put `order 0x<hash>` first) changes nothing.
_DUPLICATE_MARKERS = ("duplicated", "same order has already been placed")


def is_duplicate(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _DUPLICATE_MARKERS)


class ResendClient(OrderLookup, Protocol):
    """What resolution needs from `ClobClient`."""

    def post_orders(self, orders: Sequence[PostArgs]) -> list[OrderResult]: ...


@dataclass
class Resolution:
    """What one resolution step did (the run summary's `resolved`)."""

    looked_up: int = 0
    resent: list[str] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)  # by the re-send
    duplicates: list[str] = field(default_factory=list)  # placed by an earlier send
    lost: list[str] = field(default_factory=list)  # the re-send's outcome unknown too
    refused: dict[str, str] = field(default_factory=dict)  # refused, still unresolved
    voided: dict[str, str] = field(default_factory=dict)  # order id -> why
    placed_tokens: set[str] = field(default_factory=set)  # tokens the exchange took an order of
    write_requests: int = 0

    def outcome(self, *, otherwise: TickOutcome) -> TickOutcome:
        """A pass's outcome with this step in it: re-sends are writes, so a pass that made
        them did something (partial when one is still unresolved)."""
        if not self.resent or otherwise not in (TickOutcome.NOOP, TickOutcome.HELD,
                                                TickOutcome.OK):
            return otherwise
        return TickOutcome.PARTIAL if self.lost or self.refused else TickOutcome.OK

    def summary(self) -> dict[str, Any]:
        return {
            "looked_up": self.looked_up,
            "resent": len(self.resent),
            "placed": len(self.placed),
            "duplicates": len(self.duplicates),
            "lost": list(self.lost),
            "refused": dict(self.refused),
            "voided": dict(self.voided),
            "write_requests": self.write_requests,
        }


@dataclass(frozen=True)
class _Resend:
    stored: StoredOrder
    order: SignedOrder
    journal_id: int = 0


def resolve_unresolved(
    *,
    client: ResendClient,
    store: Store,
    run_id: int | None,
    clock: Callable[[], float],
    landing_window: float,
    chain_id: int,
    resend: bool = True,
    wanted: Callable[[LevelKey], bool] | None = None,
) -> Resolution:
    """Resolve every unresolved order (see the module docstring). `resend=False` (a `plan`)
    only looks up. `wanted` says whether a level is still in the desired state: an order of a
    level that is not is never re-sent (it would only be cancelled again). Raises RateLimited
    (the pass must stop), and AuthenticationFailed / CredentialsRequired from a re-send."""
    done = Resolution()
    candidates: list[_Resend] = []
    for order in store.unresolved_orders():
        stored = _note_lost_sends(order, store=store, clock=clock)
        state = look_up_order(order.order_id, client=client, store=store, run_id=run_id,
                              strict=True)
        done.looked_up += 1
        log.info("resolved order %s (was %s): %s", order.order_id, order.status.value, state)
        if not resend or state not in (LookupState.ABSENT, LookupState.UNKNOWN):
            continue
        current = store.order(order.order_id)
        if current is None or current.status not in RESENDABLE_STATUSES:
            continue
        if _expired(current, clock):
            if state is LookupState.ABSENT:
                _void(current, Event.EXPIRED, "void: its GTD expiry passed", store=store,
                      done=done)
            continue  # a failed lookup proves nothing: an expired order may have filled first
        signed = _stored_signed_order(stored, chain_id=chain_id)
        if signed is None or (wanted is not None and not wanted(current.key)):
            if state is LookupState.ABSENT and _past_window(current, clock, landing_window):
                why = "void: absent on lookup past the landing window"
                _void(current, Event.ABSENT_PAST_WINDOW, why, store=store, done=done)
            continue
        candidates.append(_Resend(stored=current, order=signed))
    for batch in in_batches(candidates):
        if not _resend_batch(batch, client=client, store=store, run_id=run_id, clock=clock,
                             landing_window=landing_window, done=done):
            break
    return done


# --- steps -----------------------------------------------------------------------------------


def _note_lost_sends(order: StoredOrder, *, store: Store, clock: Callable[[], float]) -> StoredOrder:
    """Step 1: close the sends of this order that never got an answer recorded; the latest one
    may have left as late as now. An unresolved order with no such moment noted gets now too
    (a row from before the moment was kept)."""
    lost = store.open_sends(order.order_id)
    resendable = order.status in RESENDABLE_STATUSES
    if not lost and (order.unanswered_ms is not None or not resendable):
        return order
    now_ms = int(clock() * 1000)
    with store.atomic():
        for journal_id in lost:
            store.journal_result(
                journal_id,
                outcome=JournalOutcome.UNKNOWN,
                result="no answer recorded: the process stopped between send and record",
            )
        if resendable:
            store.note_unanswered_send(order.order_id, at_ms=now_ms)
    return store.order(order.order_id) or order


def _resend_batch(
    batch: Sequence[_Resend],
    *,
    client: ResendClient,
    store: Store,
    run_id: int | None,
    clock: Callable[[], float],
    landing_window: float,
    done: Resolution,
) -> bool:
    """Send one batch of identical orders again and record each answer. Returns False when no
    further batch should be sent this pass."""
    with store.atomic():
        journaled = [
            _Resend(
                stored=r.stored,
                order=r.order,
                journal_id=store.journal_intent(
                    run_id=run_id,
                    kind=JournalKind.RESEND,
                    order_id=r.stored.order_id,
                    payload=_resend_payload(r.stored),
                ),
            )
            for r in batch
        ]
    done.write_requests += 1
    done.resent.extend(r.stored.order_id for r in journaled)
    args = [
        PostArgs(r.order, OrderType(r.stored.order_type), r.stored.post_only) for r in journaled
    ]
    try:
        answers = client.post_orders(args)
    except ClobError as exc:
        return _batch_failed(exc, journaled, store=store, clock=clock,
                             landing_window=landing_window, done=done)
    for r, answer in zip(journaled, answers, strict=True):
        _record_answer(r, answer, store=store, clock=clock, landing_window=landing_window,
                       done=done)
    return True


def _record_answer(
    r: _Resend,
    answer: OrderResult,
    *,
    store: Store,
    clock: Callable[[], float],
    landing_window: float,
    done: Resolution,
) -> None:
    oid = r.stored.order_id
    detail = {"status": answer.status, "order_id": answer.order_id, "error": answer.error_msg}
    if answer.ok and answer.order_id.lower() == oid.lower():
        _settled(r, Event.RESENT_PLACED, JournalOutcome.OK, detail, "placed by the re-send",
                 store=store)
        done.placed.append(oid)
        done.placed_tokens.add(r.stored.key.token_id)
    elif answer.error_msg and is_duplicate(answer.error_msg):
        _settled(r, Event.RESENT_DUPLICATE, JournalOutcome.DUPLICATE, detail,
                 "placed by an earlier send (the re-send was a duplicate)", store=store)
        done.duplicates.append(oid)
        done.placed_tokens.add(r.stored.key.token_id)
    elif answer.order_id or answer.status:
        # An id or a status with an error (e.g. "delayed"), or another id: still unknown.
        _lost(r, answer.error_msg or "an unclear answer", detail, store=store, clock=clock,
              done=done)
    else:
        message = answer.error_msg or "refused without a message"
        _refused(r, message, detail, mode=answer.restriction is not None, store=store,
                 clock=clock, landing_window=landing_window, done=done)


def _batch_failed(
    exc: ClobError,
    batch: Sequence[_Resend],
    *,
    store: Store,
    clock: Callable[[], float],
    landing_window: float,
    done: Resolution,
) -> bool:
    """The re-send call failed as a whole. Returns False when no further batch may be sent."""
    if isinstance(exc, RateLimited | AuthenticationFailed | CredentialsRequired) or (
        isinstance(exc, TransportError) and not exc.outcome_unknown
    ):
        # Nothing was done (a 429, a 401, or the connection never opened): the orders stay as
        # they were. A rate limit or a key problem stops the pass.
        outcome = (
            JournalOutcome.RATE_LIMITED if isinstance(exc, RateLimited) else JournalOutcome.ERROR
        )
        with store.atomic():
            for r in batch:
                store.journal_result(r.journal_id, outcome=outcome, result=str(exc))
        log.warning("re-send failed, nothing sent: %s", exc)
        if isinstance(exc, RateLimited | AuthenticationFailed | CredentialsRequired):
            raise exc
        return False
    if exc.outcome_unknown or not isinstance(exc, ExchangeRejected):
        for r in batch:
            _lost(r, str(exc), str(exc), store=store, clock=clock, done=done)
        if isinstance(exc, ProtocolError):
            raise exc  # an answer that cannot be trusted aborts the pass (invariant 9)
        return not isinstance(exc, TransportError)  # a transport failure hits the next too
    # The whole batch refused (4xx). A one-order batch refused as a duplicate was placed.
    if len(batch) == 1 and is_duplicate(exc.message):
        r = batch[0]
        _settled(r, Event.RESENT_DUPLICATE, JournalOutcome.DUPLICATE, exc.message,
                 "placed by an earlier send (the re-send was a duplicate)", store=store)
        done.duplicates.append(r.stored.order_id)
        done.placed_tokens.add(r.stored.key.token_id)
        return True
    for r in batch:
        _refused(r, exc.message, exc.message, mode=isinstance(exc, TradingRestricted),
                 store=store, clock=clock, landing_window=landing_window, done=done)
    return True


# --- recording -------------------------------------------------------------------------------


def _settled(
    r: _Resend,
    event: Event,
    outcome: JournalOutcome,
    detail: dict[str, Any] | str,
    how: str,
    *,
    store: Store,
) -> None:
    """The re-send says the order is on the exchange: live, and every open row of it closed."""
    with store.atomic():
        store.apply_event(r.stored.order_id, event)
        store.journal_result(r.journal_id, outcome=outcome, result=detail)
        store.close_open_journal(r.stored.order_id, outcome=JournalOutcome.RESOLVED, result=how)


def _lost(
    r: _Resend,
    message: str,
    detail: dict[str, Any] | str,
    *,
    store: Store,
    clock: Callable[[], float],
    done: Resolution,
) -> None:
    with store.atomic():
        store.apply_event(r.stored.order_id, Event.RESEND_LOST, error=message)
        store.note_unanswered_send(r.stored.order_id, at_ms=int(clock() * 1000))
        store.journal_result(r.journal_id, outcome=JournalOutcome.UNKNOWN, result=detail)
    done.lost.append(r.stored.order_id)


def _refused(
    r: _Resend,
    message: str,
    detail: dict[str, Any] | str,
    *,
    mode: bool,
    store: Store,
    clock: Callable[[], float],
    landing_window: float,
    done: Resolution,
) -> None:
    """The identical order was refused: void once past the landing window (never for a trading
    mode, which says nothing about the order); until then still unresolved."""
    oid = r.stored.order_id
    current = store.order(oid) or r.stored
    with store.atomic():
        store.journal_result(r.journal_id, outcome=JournalOutcome.REJECTED, result=detail)
        if not mode and _past_window(current, clock, landing_window):
            store.apply_event(oid, Event.REFUSED_PAST_WINDOW, error=message)
            why = f"void: refused again past the landing window ({message})"
            store.close_open_journal(oid, outcome=JournalOutcome.RESOLVED, result=why)
            done.voided[oid] = why
        else:
            store.apply_event(oid, Event.RESEND_REFUSED, error=message)
            done.refused[oid] = message


def _void(
    order: StoredOrder, event: Event, why: str, *, store: Store, done: Resolution
) -> None:
    with store.atomic():
        store.apply_event(order.order_id, event)
        store.close_open_journal(order.order_id, outcome=JournalOutcome.RESOLVED, result=why)
    done.voided[order.order_id] = why
    log.info("order %s: %s", order.order_id, why)


# --- helpers ---------------------------------------------------------------------------------


def _expired(order: StoredOrder, clock: Callable[[], float]) -> bool:
    return order.order_type == OrderType.GTD.value and 0 < order.expires_at <= clock()


def _past_window(order: StoredOrder, clock: Callable[[], float], landing_window: float) -> bool:
    """Every send of this order that went without an answer is older than the landing window."""
    if order.unanswered_ms is None:
        return False  # never happens after step 1; if it did, wait rather than void
    return clock() * 1000 - order.unanswered_ms >= landing_window * 1000


def _stored_signed_order(order: StoredOrder, *, chain_id: int) -> SignedOrder | None:
    """The signed order as it was first sent, rebuilt from its stored wire object; None when
    there is none or it is not exactly the order journaled under this id (its hash differs, or
    it does not read back to the same bytes). Then the order is resolved by lookups alone."""
    if order.signed_order is None or order.profile is None or order.neg_risk is None:
        return None
    try:
        wire = json.loads(order.signed_order)
        profile = Profile(order.profile)
        _, digest = recover_order_signer(
            wire, chain_id=chain_id, profile=profile, neg_risk=order.neg_risk
        )
        signed = SignedOrder(
            order=order_from_wire(wire, profile=profile),
            signature=str(wire["signature"]),
            order_id=order.order_id,
            profile=profile,
        )
    except (ValueError, KeyError, TypeError) as exc:
        log.error("order %s: the stored signed order is unreadable (%s); resolved by lookups "
                  "alone", order.order_id, exc)
        return None
    if digest.lower() != order.order_id.lower() or signed.to_wire() != wire:
        log.error("order %s: the stored signed order is not the order journaled under that id; "
                  "resolved by lookups alone", order.order_id)
        return None
    return signed


def _resend_payload(order: StoredOrder) -> dict[str, Any]:
    return {
        "token_id": order.key.token_id,
        "side": order.key.side.value,
        "price": str(order.key.price),
        "size": str(order.size),
        "order_type": order.order_type,
        "post_only": order.post_only,
        "expires_at": order.expires_at,
        "generation": order.generation,
    }


__all__ = [
    "LANDING_MARGIN_SECONDS",
    "Resolution",
    "ResendClient",
    "default_landing_window",
    "is_duplicate",
    "resolve_unresolved",
]
