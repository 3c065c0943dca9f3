"""Named outcomes: the success group is named once, and the store's filters are built from it.

`status` shows as the last success the newest run whose outcome is in `SUCCESS_OUTCOMES`, and
as the revision in force the newest run that is a pass (a shutdown sweep is not), on a real
state file. The notification codes are the reference's (clob-v2-wire.md 2.12).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.engine import TickResult
from reconciler.model import SUCCESS_OUTCOMES, NotificationType, ShutdownOutcome, TickOutcome
from reconciler.store import Store


@pytest.mark.parametrize("outcome", list(TickOutcome))
def test_status_counts_a_run_as_a_success_exactly_when_its_outcome_is_one(
    tmp_path: Path, outcome: TickOutcome
) -> None:
    with Store.open(tmp_path / "state.db") as store:
        rev = store.record_revision(digest="d", git_commit=None, valid=True, errors=[], files=[])
        store.finish_run(store.start_run(rev), outcome=outcome, summary={})
        last_success = store.status()["last_success"]
    assert (last_success is not None) is (outcome in SUCCESS_OUTCOMES)
    assert TickResult(outcome=outcome).success is (outcome in SUCCESS_OUTCOMES)


@pytest.mark.parametrize("sweep", list(ShutdownOutcome))
def test_a_shutdown_sweep_is_not_the_pass_in_force(tmp_path: Path, sweep: ShutdownOutcome) -> None:
    with Store.open(tmp_path / "state.db") as store:
        rev = store.record_revision(digest="d", git_commit=None, valid=True, errors=[], files=[])
        store.finish_run(store.start_run(rev), outcome=TickOutcome.OK, summary={})
        store.finish_run(store.start_run(None), outcome=sweep, summary={})
        status = store.status()
    assert status["revision_in_force"]["id"] == rev
    assert status["last_run"]["outcome"] == sweep.value


def test_the_success_group_is_the_outcomes_that_did_their_job() -> None:
    # "restricted": the exchange's trading mode held part of the pass; what it allows was done,
    # so the watchdog is pinged and the heartbeats go on (a restart of ours would not help).
    assert {o.value for o in SUCCESS_OUTCOMES} == {"ok", "partial", "noop", "held", "restricted"}


def test_notification_types_are_the_references_one_to_eleven() -> None:
    assert [(t.value, t.name) for t in NotificationType] == [
        (1, "ORDER_CANCELLATION"), (2, "ORDER_FILL"), (3, "MARKET_REGISTERED"),
        (4, "MARKET_RESOLVED"), (5, "REWARD_PAYOUT"), (6, "CHILD_COMMENT_CREATED"),
        (7, "YIELD_PAYOUT"), (8, "ORDER_FILL_FAILED"), (9, "AUTO_REDEEMED"),
        (10, "COMBO_AUTO_REDEEMED"), (11, "TAKER_TIER_UPGRADED"),
    ]
