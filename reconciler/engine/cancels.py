"""The cancel step of an apply: every cancel of the plan through the client's splitting and
pacing, and what came of each id.

`ClobClient.cancel_orders` sends the ids in as few `DELETE /orders` as the 1000-id limit and
the tier's cancel burst allow (a batch above the burst can never pass: clob-v2-wire.md 2.2,
2.13), each paced against the cancel bucket, and merges the answers. When a call fails part
way, the error's `.partial` holds what the earlier calls did. So each id ends as one of:

- cancelled (in an answer's `canceled`): CANCEL_CONFIRMED;
- not cancelled, by the exchange's word (`not_canceled`, or left out of an answer): looked up
  once by hash to learn whether it filled or was cancelled, unless the pass must stop sending;
- not answered, because a call failed: with an unknown outcome (a timeout, a 5xx) the cancel
  may have happened; after a definite refusal (a 4xx, a trading mode, a 429) it did not;
- never sent (`CancelResult.never_sent` of the error's partial: the chunks after the one that
  failed): journaled `void`, whatever the failure was. Either way the order may still rest.

An order that may still rest is `still_live`: apply holds only what the planner's rule says
must wait for it (`planner.hold_posts`: its token's posts, or every buy under a total buy cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.clob import (
    CancelResult,
    ClobError,
    ExchangeRejected,
    RateLimited,
    TradingRestricted,
)
from reconciler.engine.ledger import LookupState, OrderLookup, look_up_order
from reconciler.lifecycle import Event
from reconciler.model import Cancel
from reconciler.store import JournalOutcome, Store


class CancelClient(OrderLookup, Protocol):
    def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult: ...


@dataclass
class CancelOutcome:
    cancelled: list[str] = field(default_factory=list)
    not_cancelled: dict[str, str] = field(default_factory=dict)  # id -> why, and what it is now
    still_live: set[str] = field(default_factory=set)  # may still rest: holds what depends on it
    failure: ClobError | None = None  # the error that stopped the cancels part way (or at once)
    lookup_failure: RateLimited | None = None  # a 429 on a lookup after the cancels


def cancel_step(
    cancels: Sequence[Cancel],
    *,
    client: CancelClient,
    store: Store,
    run_id: int | None,
    journal: dict[str, int],
) -> CancelOutcome:
    """Cancel every id of `cancels` (journaled under `journal["cancel:<id>"]`); see the module
    docstring for what each id ends as. Never raises for an exchange error."""
    ids = [c.order_id for c in cancels]
    outcome = CancelOutcome()
    try:
        answer = client.cancel_orders(ids)
    except ClobError as exc:
        outcome.failure = exc
        answer = exc.partial if isinstance(exc.partial, CancelResult) else CancelResult()
    canceled, never_sent = set(answer.canceled), set(answer.never_sent)
    with store.atomic():
        for oid in ids:
            jid = journal[f"cancel:{oid}"]
            if oid in never_sent:
                store.journal_result(
                    jid, outcome=JournalOutcome.VOID,
                    result=f"never sent: an earlier cancel call failed ({outcome.failure})",
                )
            elif oid in canceled:
                store.apply_event(oid, Event.CANCEL_CONFIRMED)
                store.journal_result(jid, outcome=JournalOutcome.OK, result="canceled")
                outcome.cancelled.append(oid)
            elif oid in answer.not_canceled:
                store.journal_result(
                    jid, outcome=JournalOutcome.NOT_CANCELED, result=answer.not_canceled[oid]
                )
            elif outcome.failure is None:
                store.journal_result(
                    jid, outcome=JournalOutcome.UNKNOWN, result="absent from the answer"
                )
            else:
                failed = outcome.failure
                store.journal_result(jid, outcome=_unanswered(failed), result=str(failed))
    _learn_what_rests(ids, answer, outcome, client=client, store=store, run_id=run_id)
    return outcome


def _learn_what_rests(
    ids: Sequence[str],
    answer: CancelResult,
    outcome: CancelOutcome,
    *,
    client: CancelClient,
    store: Store,
    run_id: int | None,
) -> None:
    # After a 429 or a trading-mode refusal nothing more is sent this pass (a restart refuses
    # reads too); otherwise the ids the exchange answered about are looked up once.
    may_look = not isinstance(outcome.failure, RateLimited | TradingRestricted)
    canceled, never_sent = set(answer.canceled), set(answer.never_sent)
    for oid in ids:
        if oid in canceled:
            continue
        answered = oid in answer.not_canceled or outcome.failure is None
        if not answered:
            failure = outcome.failure
            if oid in never_sent:
                what = "never sent"
            elif failure and failure.outcome_unknown:
                what = "outcome unknown"
            else:
                what = "not cancelled"
            outcome.not_cancelled[oid] = f"{what}: {type(failure).__name__}"
            outcome.still_live.add(oid)
            continue
        reason = answer.not_canceled.get(oid, "absent from the answer")
        state = LookupState.UNKNOWN
        if may_look and outcome.lookup_failure is None:
            try:
                state = look_up_order(oid, client=client, store=store, run_id=run_id)
            except RateLimited as exc:
                outcome.lookup_failure = exc
        outcome.not_cancelled[oid] = f"{reason} (now: {state})"
        if state in (LookupState.LIVE, LookupState.UNKNOWN):
            outcome.still_live.add(oid)


def _unanswered(failure: ClobError) -> JournalOutcome:
    """The journal outcome of an id whose call failed (or was never made)."""
    if failure.outcome_unknown:
        return JournalOutcome.UNKNOWN
    if isinstance(failure, RateLimited):
        return JournalOutcome.RATE_LIMITED
    if isinstance(failure, ExchangeRejected):
        return JournalOutcome.REJECTED
    return JournalOutcome.ERROR


__all__ = ["CancelClient", "CancelOutcome", "cancel_step"]
