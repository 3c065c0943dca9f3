"""Exactly once by construction (DESIGN invariants 4 and 11, issue 9): an unknown outcome is
resolved by re-sending the IDENTICAL signed order, never by posting the level anew, and
"absent on lookup" alone never voids an order whose first request may still land.

Against the real paper exchange on 127.0.0.1 and a real state file. The late landing is real:
the exchange's `hold` fault keeps the POST inside it past the client's timeout, and a sampler
thread watches the book the whole time (a level above its target at ANY moment fails).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from paperclob import PaperExchange
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import recover_order_signer
from reconciler.engine.reconcile import Reconciler
from reconciler.lifecycle import OrderStatus
from reconciler.model import Side
from reconciler.store import JournalKind
from tests.support.clock import ManualClock
from tests.support.engine import (
    CHAIN_ID,
    TOKEN_A,
    TOKEN_B,
    Harness,
    clear_faults,
    level,
    make_harness,
    make_post,
    new_account,
    set_faults,
)
from tests.support.sampler import BookSampler

D = Decimal
BUY = Side.BUY
TIMEOUT = 0.4  # the client's request timeout in these tests (seconds)
HOLD_MS = 1500  # how long the exchange holds a POST: well past TIMEOUT


def sampler(h: Harness) -> BookSampler:
    return BookSampler(h.paper, h.me.wallet.address)


def impatient(h: Harness, **options: Any) -> Reconciler:
    """A reconciler whose client gives up after TIMEOUT (and a landing window of 60 s)."""
    options.setdefault("landing_window", 60.0)
    return h.new_reconciler(client=h.impatient_client(TIMEOUT), **options)


def wait_landed(h: Harness, count: int = 1) -> None:
    assert h.paper.exchange.holds.wait(holding=0, released=count), "the held POST never landed"


def all_orders_of(h: Harness) -> list[Any]:
    """Every order the exchange ever accepted from me (resting, filled or cancelled)."""
    address = h.me.wallet.address.lower()
    with h.paper.exchange.lock:
        return [o for o in h.paper.exchange.engine.orders.values() if o.address == address]


def journal_of(h: Harness, order_id: str) -> list[dict[str, Any]]:
    return [e for e in reversed(h.store.history(500)) if e["order_id"] == order_id]


def posted_orders(body: bytes) -> dict[str, dict[str, Any]]:
    """The wire `order` objects of one POST /orders body, by the hash they sign."""
    orders = {}
    for entry in json.loads(body):
        wire = entry["order"]
        _, order_id = recover_order_signer(wire, chain_id=CHAIN_ID, profile=Profile.V2,
                                           neg_risk=False)
        orders[order_id] = {**wire, "orderType": entry["orderType"],
                            "postOnly": entry["postOnly"], "owner": entry["owner"]}
    return orders


TARGET = {(TOKEN_A, BUY, D("0.45")): D("10"), (TOKEN_A, BUY, D("0.44")): D("10")}
SPEC = {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]}


def test_a_post_answered_after_the_client_timeout_rests_once(harness: Harness) -> None:
    h = harness
    h.write_spec(SPEC)
    reconciler = impatient(h)
    set_faults(h, hold_next=1, hold_ms=HOLD_MS, paths=["/orders"])
    with sampler(h) as book:
        first = reconciler.tick()
        assert first.applied is not None and len(first.applied.unknown) == 2, first.run_summary
        assert h.paper.exchange.holds.holding == 1  # our timeout came first: still held
        # The next passes, while the first POST is still held (the token's one-pass backoff
        # after the lost answer included): the lookups find nothing, and the identical orders
        # are sent again (placed now; the held copy can only be refused).
        later = [reconciler.tick() for _ in range(3)]
        assert all(r.success for r in later), [r.error for r in later]
        assert h.paper.exchange.holds.holding == 1, "the hold ended before the passes"
        wait_landed(h)
        last = reconciler.tick()
    assert book.over(TARGET) == {}, f"over target during the run: {book.size}"
    assert set(book.orders.values()) == {1}  # never two orders at one level
    assert [r.outcome.value for r in later] == ["ok", "noop", "noop"]
    assert last.outcome == "noop", last.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.45")): D("10"), (BUY, D("0.44")): D("10")}
    assert len(all_orders_of(h)) == 2
    # The re-send was the identical signed order: same bytes (salt, timestamp, signature ...),
    # so the same hash; the owner is the API key attached at send time.
    first_body, resent_body = h.me.session.posted[:2]
    assert len(h.me.session.posted) == 2
    assert posted_orders(first_body) == posted_orders(resent_body)
    assert set(posted_orders(first_body)) == set(first.applied.unknown)
    # What is kept to re-send is the signed order alone: no owner, no key, no secret.
    stored = [json.loads(o.signed_order or "{}") for o in h.store.orders()]
    assert all(w and "owner" not in w and w["signature"].startswith("0x") for w in stored)
    creds = h.me.client.creds
    assert creds is not None
    state_bytes = Path(h.store.path).read_bytes() + Path(f"{h.store.path}-wal").read_bytes()
    for secret in [*h.secrets_used, creds.api_key]:
        assert secret.encode() not in state_bytes
    # The store and `history` say what happened.
    assert {o.status for o in h.store.orders()} == {OrderStatus.LIVE}
    assert h.store.open_journal_entries() == []
    for order_id in first.applied.unknown:
        kinds = [(e["kind"], e["outcome"]) for e in journal_of(h, order_id)]
        assert kinds[0] == ("post", "resolved") and ("resend", "ok") in kinds, kinds
        post_row = journal_of(h, order_id)[0]
        assert post_row["result"].startswith("placed by the re-send (was: ")
        assert "no answer from the exchange" in post_row["result"]
        assert all("absent" not in str(e["result"]) or e["kind"] == "lookup"
                   for e in journal_of(h, order_id))


def test_a_lookup_that_finds_nothing_while_the_post_is_held_does_not_void_it(
    harness: Harness,
) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    reconciler = impatient(h)
    # Both the post and its first re-send are held past the client's timeout.
    set_faults(h, hold_next=2, hold_ms=HOLD_MS, paths=["/orders"])
    with sampler(h) as book:
        first = reconciler.tick()
        (order_id,) = first.applied.unknown if first.applied else ()
        # `plan` (no writes): the lookup finds nothing, and the order stays unknown.
        report = reconciler.plan()
        assert h.store.order(order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
        assert report.plan is not None and report.plan.posts == ()
        # A tick: absent again, re-sent, and the re-send times out too: still unknown.
        second = reconciler.tick()
        assert h.store.order(order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
        assert second.plan is not None and second.plan.posts == ()
        wait_landed(h, 2)
        third = reconciler.tick()
    assert third.success
    assert h.store.order(order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert book.over({(TOKEN_A, BUY, D("0.45")): D("10")}) == {}
    assert [o.order_id for o in all_orders_of(h)] == [order_id]
    assert h.store.open_journal_entries() == []


def test_a_re_send_that_meets_duplicate_tracks_the_order_from_there(harness: Harness) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]})
    reconciler = impatient(h)
    set_faults(h, hold_next=1, hold_ms=800, paths=["/orders"])
    first = reconciler.tick()
    assert first.applied is not None and len(first.applied.unknown) == 2
    wait_landed(h)  # both orders are on the book now, unknown to us
    resting, filled = sorted(first.applied.unknown,
                             key=lambda oid: h.store.order(oid).key.price)  # type: ignore[union-attr]
    # A counterparty fills the 0.45 order; the lookups fail (5xx), so the re-sends go out and
    # meet "Duplicated": both were placed by the first request.
    other = new_account(h.url)
    assert other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.45", "10").ok
    set_faults(h, error_5xx_next=2, paths=[f"/data/order/{resting}", f"/data/order/{filled}"])
    h.me.session.reset()
    second = reconciler.tick()
    assert second.success, second.error
    assert second.run_summary["resolved"]["duplicates"] == 2, second.run_summary
    # From there the read and the lookups track them: one rests, the other filled (and its
    # level is done: nothing is posted there again).
    assert h.store.order(resting).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert h.store.order(filled).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert [p for m, p in h.me.session.order_writes()] == ["/orders"]  # the re-send only
    assert len(all_orders_of(h)) == 2
    for order_id in (resting, filled):
        rows = journal_of(h, order_id)
        assert [r["outcome"] for r in rows if r["kind"] == JournalKind.RESEND] == ["duplicate"]
        assert rows[0]["outcome"] == "resolved"
        assert "placed by an earlier send" in rows[0]["result"]
    assert h.store.open_journal_entries() == []


def test_a_re_send_refused_while_the_first_may_land_waits_then_the_window_voids(
    harness: Harness,
) -> None:
    h = harness
    clock = ManualClock()
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    reconciler = impatient(h, clock=clock, landing_window=50.0)
    set_faults(h, hold_next=1, hold_ms=HOLD_MS, paths=["/orders"])
    first = reconciler.tick()
    (order_id,) = first.applied.unknown if first.applied else ()
    # A counterparty's ask at 0.45: our post-only bid would cross, so the re-send is refused,
    # for a reason other than "duplicate", while the first request is still held.
    other = new_account(h.url)
    ask = other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.45", "5", post_only=True)
    assert ask.ok
    second = reconciler.tick()
    assert "crosses" in second.run_summary["resolved"]["refused"][order_id]
    assert h.store.order(order_id).status is OrderStatus.UNKNOWN  # not voided: it may land
    other.client.cancel_order(ask.order_id)
    wait_landed(h)  # ... and it does
    third = reconciler.tick()
    assert third.success
    assert h.store.order(order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert [o.order_id for o in h.open_orders(TOKEN_A)] == [order_id]

    # Past the window: a refusal of the identical bytes voids it, and the level is planned anew
    # (another token, so that its crossing ask does not meet our 0.45 bid).
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.43", "10")]})
    set_faults(h, error_5xx_next=1, paths=["/orders"])  # refused before placing; unknown to us
    fourth = reconciler.tick()
    (lost,) = fourth.applied.unknown if fourth.applied else ()
    clear_faults(h)
    ask = other.client.create_and_post_order(TOKEN_B, Side.SELL, "0.43", "5", post_only=True)
    assert ask.ok
    assert reconciler.tick().run_summary["resolved"]["refused"].keys() == {lost}
    assert h.store.order(lost).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    clock.advance(51)
    last = reconciler.tick()
    assert h.store.order(lost).status is OrderStatus.VOID  # type: ignore[union-attr]
    assert "past the landing window" in last.run_summary["resolved"]["voided"][lost]
    assert last.plan is not None and [p.key.price for p in last.plan.posts] == [D("0.43")]
    post_row = journal_of(h, lost)[0]
    assert post_row["outcome"] == "resolved" and "refused again past the landing window" in (
        post_row["result"]
    )


def test_an_unknown_gtd_past_its_expiry_is_voided_and_the_level_planned_anew(
    tmp_path: Path, paper_factory: Callable[..., PaperExchange], clock: ManualClock
) -> None:
    paper = paper_factory(page_size=7)  # on the manual clock, like the reconciler below
    h = make_harness(tmp_path, paper, paper.url)
    reconciler = h.new_reconciler(clock=clock)
    first_expiry = int(clock()) + 600
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10", order_type="GTD",
                                  expires_at=_rfc3339(first_expiry))]})
    set_faults(h, error_5xx_next=1, paths=["/orders"])  # unknown: a 5xx after sending
    first = reconciler.tick()
    (expired,) = first.applied.unknown if first.applied else ()
    clear_faults(h)
    clock.advance(700)  # past its expiration: the exchange no longer accepts it
    later = int(clock()) + 600
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10", order_type="GTD",
                                  expires_at=_rfc3339(later))]})
    h.me.session.reset()
    second = reconciler.tick()
    assert second.success, second.error
    gone = h.store.order(expired)
    assert gone is not None and gone.status is OrderStatus.VOID
    assert gone.error == "expired before it was known to be placed"
    assert second.run_summary["resolved"]["voided"] == {expired: "void: its GTD expiry passed"}
    assert reconciler.tick().success  # the token's one-pass backoff after the 5xx is over
    assert h.me.session.posted and expired not in posted_orders(h.me.session.posted[0])
    (new,) = h.open_orders(TOKEN_A)
    assert new.order_id != expired and new.expiration == later
    assert journal_of(h, expired)[0]["result"].startswith("void: its GTD expiry passed (was: ")
    h.store.close()


def test_an_order_without_a_stored_signed_order_waits_the_window_then_voids(
    harness: Harness,
) -> None:
    """A row written before signed orders were kept (or whose stored order does not hash to its
    id) cannot be re-sent: it is looked up each pass and voided once absent past the window."""
    h = harness
    clock = ManualClock()
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    old = h.me.builder.build_limit(TOKEN_A, BUY, D("0.45"), D("10"), D("0.01"), False)
    tampered = {**old.to_wire(), "salt": old.order.salt + 1}  # not the order journaled as `old`
    other = h.me.builder.build_limit(TOKEN_A, BUY, D("0.44"), D("10"), D("0.01"), False)
    with h.store.atomic():
        h.store.add_order_intent(order_id=old.order_id, post=make_post("0.45"), revision=None,
                                 run_id=None)
        h.store.add_order_intent(order_id=other.order_id, post=make_post("0.44"),
                                 revision=None, run_id=None, signed_order=tampered,
                                 profile="v2")
    reconciler = h.restart(clock=clock, landing_window=30.0)
    assert reconciler.tick().success
    assert {o.status for o in h.store.orders()} == {OrderStatus.INTENT}  # nothing to re-send
    assert [p for _, p in h.me.session.order_writes()] == []
    assert h.resting() == {}
    clock.advance(31)
    assert reconciler.tick().success
    assert {h.store.order(o.order_id).status for o in (old, other)} == {  # type: ignore[union-attr]
        OrderStatus.VOID
    }
    # The 0.44 order is not in the desired state: only 0.45 is posted anew.
    assert h.resting() == {(BUY, D("0.45")): D("10")}
    assert h.store.open_journal_entries() == []


def test_a_level_no_longer_wanted_is_not_re_sent(harness: Harness) -> None:
    h = harness
    clock = ManualClock()
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    reconciler = h.new_reconciler(clock=clock, landing_window=30.0)
    set_faults(h, error_5xx_next=1, paths=["/orders"])
    (lost,) = reconciler.tick().applied.unknown  # type: ignore[union-attr]
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})  # the 0.45 level is gone
    h.me.session.reset()
    assert reconciler.tick().success
    assert h.store.order(lost).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    assert all(lost not in posted_orders(body) for body in h.me.session.posted)
    assert h.resting() == {}  # the token's posts wait while the order is unresolved
    clock.advance(31)
    assert reconciler.tick().success
    assert h.store.order(lost).status is OrderStatus.VOID  # type: ignore[union-attr]
    assert h.resting() == {(BUY, D("0.4")): D("10")}


def test_a_crash_during_a_re_send_is_an_unanswered_send(harness: Harness) -> None:
    """The process dies after a re-send left and before its answer was recorded: the next
    process closes that row as unknown, counts the landing window from its own start, and sends
    the identical order once more."""
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    set_faults(h, error_5xx_next=1, paths=["/orders"])
    (order_id,) = h.reconciler.tick().applied.unknown  # type: ignore[union-attr]
    clear_faults(h)

    class Crash(BaseException):
        """The process dies here."""

    class DiesAfterSending:
        def __init__(self, client: Any) -> None:
            self._client = client

        def post_orders(self, orders: Any) -> Any:
            self._client.post_orders(orders)
            raise Crash

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

    with pytest.raises(Crash):
        h.new_reconciler(client=DiesAfterSending(h.me.client)).tick()
    (open_row,) = h.store.open_journal_entries()
    assert (open_row["kind"], open_row["order_id"]) == ("resend", order_id)
    before = h.store.order(order_id)
    reconciler = h.restart()
    # The new process's lookup fails (5xx), so it sends the identical order once more.
    set_faults(h, error_5xx_next=1, paths=[f"/data/order/{order_id}"])
    assert reconciler.tick().success
    after = h.store.order(order_id)
    assert after is not None and after.status is OrderStatus.LIVE
    assert before is not None and after.unanswered_ms > before.unanswered_ms  # type: ignore[operator]
    rows = journal_of(h, order_id)
    crashed = next(r for r in rows if r["id"] == open_row["id"])
    assert crashed["outcome"] == "resolved" and crashed["result"] == (
        "placed by an earlier send (the re-send was a duplicate) (was: no answer recorded: the "
        "process stopped between send and record)"
    )
    assert [r["outcome"] for r in rows if r["kind"] == "resend"][-1] == "duplicate"
    assert [o.order_id for o in h.open_orders(TOKEN_A)] == [order_id]
    assert h.store.open_journal_entries() == []


def _rfc3339(unix: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _garble_next(h: Harness, path_part: str, change: Callable[[Any], None]) -> None:
    """Alter the next answer whose URL contains `path_part` in flight (`change` edits its
    JSON), the way a hostile or broken exchange would answer."""
    real = h.me.session.request
    done = {"n": 0}

    def request(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(method, url, *args, **kwargs)
        if path_part in str(url) and not done["n"]:
            done["n"] += 1
            data = json.loads(response.content)
            change(data)
            response._content = json.dumps(data).encode()
        return response

    h.me.session.request = request  # type: ignore[method-assign]


def test_a_garbled_lookup_of_an_unresolved_order_aborts_the_pass_before_any_send(
    harness: Harness,
) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.30", "10")]})
    set_faults(h, lose_response_next=1, paths=["/orders"])  # placed, the answer lost
    (unknown, other) = h.reconciler.tick().applied.unknown  # type: ignore[union-attr]
    _garble_next(h, "/data/order/", lambda order: order.update(size_matched="99"))
    h.me.session.reset()
    result = h.reconciler.tick()
    # size_matched above original_size is a protocol error: nothing is re-sent or posted, and
    # the orders stay unresolved (invariant 9).
    assert not result.success and "ProtocolError" in (result.error or ""), result
    assert h.me.session.order_writes() == []
    assert {h.store.order(o).status for o in (unknown, other)} == {  # type: ignore[union-attr]
        OrderStatus.UNKNOWN
    }
    assert h.reconciler.tick().success  # read straight, both are found live
    assert {h.store.order(o).status for o in (unknown, other)} == {  # type: ignore[union-attr]
        OrderStatus.LIVE
    }


def test_a_garbled_answer_to_a_re_send_leaves_it_unknown_and_aborts_the_pass(
    harness: Harness,
) -> None:
    h = harness
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    set_faults(h, error_5xx_next=1, paths=["/orders"])
    (order_id,) = h.reconciler.tick().applied.unknown  # type: ignore[union-attr]
    h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.30", "10")]})
    _garble_next(h, "/orders", lambda entries: entries[0].update(success="yes"))
    h.me.session.reset()
    result = h.reconciler.tick()
    assert not result.success and "ProtocolError" in (result.error or ""), result
    assert [p for _, p in h.me.session.order_writes()] == ["/orders"]  # the re-send, nothing else
    assert h.store.order(order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    assert h.resting(TOKEN_B) == {}
    assert h.reconciler.tick().success  # the re-send had been placed: found live
    assert h.store.order(order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert [o.order_id for o in h.open_orders(TOKEN_A)] == [order_id]


def test_re_sends_go_in_batches_of_at_most_15_and_a_429_stops_the_pass(
    harness: Harness,
) -> None:
    h = harness
    prices = [f"0.{p}" for p in range(20, 40)]
    h.write_spec({TOKEN_A: [level("BUY", p, "5") for p in prices]})
    set_faults(h, error_5xx_next=2, paths=["/orders"])  # both batches: unknown, not placed
    first = h.reconciler.tick()
    assert first.applied is not None and len(first.applied.unknown) == 20
    set_faults(h, throttle_next=1, retry_after_s=3, paths=["/orders"])
    h.me.session.reset()
    limited = h.reconciler.tick()
    assert limited.outcome == "rate_limited" and limited.retry_after == 3, limited.run_summary
    assert [p for _, p in h.me.session.order_writes()] == ["/orders"]  # the first batch only
    assert {o.status for o in h.store.orders()} == {OrderStatus.UNKNOWN}
    rows = [e for e in h.store.history(200) if e["kind"] == "resend"]
    assert len(rows) == 15 and {e["outcome"] for e in rows} == {"rate_limited"}
    h.me.session.reset()
    assert h.reconciler.tick().success
    assert [len(json.loads(body)) for body in h.me.session.posted] == [15, 5]
    assert {o.status for o in h.store.orders()} == {OrderStatus.LIVE}
    assert len(all_orders_of(h)) == 20 and h.store.open_journal_entries() == []
