"""One reconcile pass against the real paper exchange and a real state file."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from reconciler.cli.render import report_json, report_text
from reconciler.model import OrderType, Side
from reconciler.store.store import OrderStatus
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, converge, level, sell_into

D = Decimal


def cancelled_ids(h: Harness) -> list[str]:
    return [e["order_id"] for e in h.store.history(100) if e["kind"] == "cancel"]


def test_converges_from_nothing_then_a_second_tick_sends_no_write(harness: Harness) -> None:
    harness.write_spec(
        {
            TOKEN_A: [
                level("BUY", "0.45", "10"),
                level("BUY", "0.44", "25"),
                level("SELL", "0.55", "10"),
            ],
            TOKEN_B: [level("BUY", "0.30", "20")],
        }
    )
    first = harness.reconciler.tick()
    assert first.success, first.error
    assert first.outcome == "ok"
    assert harness.resting(TOKEN_A) == {
        (Side.BUY, D("0.45")): D("10"),
        (Side.BUY, D("0.44")): D("25"),
        (Side.SELL, D("0.55")): D("10"),
    }
    assert harness.resting(TOKEN_B) == {(Side.BUY, D("0.3")): D("20")}
    # Exactly one batch post for 4 orders, no cancel.
    assert harness.me.session.order_writes() == [("POST", "/orders")]
    harness.me.session.reset()
    second = harness.reconciler.tick()
    assert second.success and second.outcome == "noop", second.run_summary
    assert harness.me.session.writes() == []
    # Market info is cached: the second tick read only orders and notifications.
    paths = {p for _, p in harness.me.session.sent}
    assert paths <= {"/data/orders", "/notifications"}, paths
    st = harness.store.status()
    assert st["resting_orders"] == {TOKEN_A: 3, TOKEN_B: 1}
    assert st["last_success"]["outcome"] == "noop"


def test_twenty_posts_go_in_two_batches(harness: Harness) -> None:
    prices = [f"0.{p:02d}" for p in range(20, 40)]
    harness.write_spec({TOKEN_A: [level("BUY", p, "5") for p in prices]})
    result = harness.reconciler.tick()
    assert result.success and result.applied is not None
    assert len(result.applied.posted) == 20
    assert harness.me.session.order_writes() == [("POST", "/orders"), ("POST", "/orders")]


def test_moving_a_price_is_one_cancel_and_one_post(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")]})
    before = {o.price: o.order_id for o in harness.open_orders(TOKEN_A)}
    harness.write_spec({TOKEN_A: [level("BUY", "0.46", "10"), level("BUY", "0.40", "10")]})
    result = harness.reconciler.tick()
    assert result.success and result.applied is not None
    assert harness.me.session.order_writes() == [("DELETE", "/orders"), ("POST", "/orders")]
    assert result.applied.cancelled == [before[D("0.45")]]
    assert len(result.applied.posted) == 1
    assert harness.resting(TOKEN_A) == {
        (Side.BUY, D("0.46")): D("10"),
        (Side.BUY, D("0.4")): D("10"),
    }
    # The untouched level kept its order (and its queue priority).
    assert before[D("0.40")] in {o.order_id for o in harness.open_orders(TOKEN_A)}


def test_growing_a_level_tops_it_up_and_shrinking_cancels_and_reposts(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    first_id = harness.open_orders(TOKEN_A)[0].order_id
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "16")]})
    grow = harness.reconciler.tick()
    assert grow.success and grow.applied is not None
    assert harness.me.session.order_writes() == [("POST", "/orders")]
    sizes = sorted(o.original_size for o in harness.open_orders(TOKEN_A))
    assert sizes == [D("6"), D("10")]
    harness.me.session.reset()
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    shrink = harness.reconciler.tick()
    assert shrink.success
    assert harness.me.session.order_writes() == [("DELETE", "/orders")]
    # Newest first: the 6 goes, the oldest order keeps its place in the queue.
    assert [o.order_id for o in harness.open_orders(TOKEN_A)] == [first_id]
    harness.me.session.reset()
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "7")]})
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == [("DELETE", "/orders"), ("POST", "/orders")]
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("7")}


def test_removing_a_level_and_a_token_cancels_only_ours(harness: Harness) -> None:
    converge(
        harness,
        {
            TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")],
            TOKEN_B: [level("BUY", "0.30", "10")],
        },
    )
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    result = harness.reconciler.tick()
    assert result.success and result.applied is not None
    assert len(result.applied.cancelled) == 2
    assert harness.me.session.order_writes() == [("DELETE", "/orders")]
    assert harness.resting() == {(Side.BUY, D("0.45")): D("10")}
    assert harness.store.status()["resting_orders"] == {TOKEN_A: 1}


def test_a_filled_level_is_not_reposted_without_replenish(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")]})
    sell_into(harness, "0.45", "10")
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.me.session.order_writes() == []
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.4")): D("10")}
    key = next(k for k in harness.store.level_states() if k.price == D("0.45"))
    assert harness.store.level_states()[key].filled == D("10")
    filled = [o for o in harness.store.orders() if o.status is OrderStatus.FILLED]
    assert len(filled) == 1 and filled[0].size_matched == D("10")
    # And it stays done on the next tick too.
    assert harness.reconciler.tick().outcome == "noop"


def test_a_partly_filled_level_without_replenish_rests_only_the_rest(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "20")]})
    sell_into(harness, "0.45", "8")
    result = harness.reconciler.tick()
    assert result.outcome == "noop", result.run_summary
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("12")}


def test_a_filled_level_is_reposted_with_replenish(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10", replenish=True)]})
    sell_into(harness, "0.45", "10")
    assert harness.resting(TOKEN_A) == {}
    result = harness.reconciler.tick()
    assert result.success and result.applied is not None
    assert len(result.applied.posted) == 1
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}


def test_a_partial_fill_with_replenish_is_topped_up(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "20", replenish=True)]})
    sell_into(harness, "0.45", "7")
    result = harness.reconciler.tick()
    assert result.success and result.applied is not None and len(result.applied.posted) == 1
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("20")}


def test_fill_notifications_are_committed_before_drop_and_never_double_counted(
    harness: Harness,
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "20")]})
    sell_into(harness, "0.45", "6")
    faults = harness.paper.exchange.faults
    with harness.paper.exchange.lock:
        faults.update({"error_5xx_next": 1, "paths": ["/notifications"]})
    # The GET of notifications fails first: the fill is still learned from the order read.
    harness.reconciler.tick()
    key = next(iter(harness.store.level_states()))
    assert harness.store.level_states()[key].filled == D("6")
    with harness.paper.exchange.lock:
        faults.reset()
    notes = harness.me.client.get_notifications()
    fill_ids = [n.id for n in notes if n.type == 2]
    assert fill_ids, "the paper exchange sent no fill notification"
    # The next tick processes them; its DELETE fails, and at that moment the processed ids must
    # already be committed to SQLite.
    original_drop = harness.me.client.drop_notifications
    calls: list[list[str]] = []

    def failing_drop(ids: list[str]) -> None:
        calls.append(list(ids))
        # Read through a second connection: only committed rows are visible there.
        other = sqlite3.connect(harness.store.path)
        marks = ",".join("?" for _ in ids)
        seen = {
            r[0]
            for r in other.execute(
                f"SELECT id FROM processed_notifications WHERE id IN ({marks})", list(ids)
            )
        }
        other.close()
        assert seen == set(ids)
        raise harness_error()

    harness.me.client.drop_notifications = failing_drop  # type: ignore[method-assign]
    harness.reconciler.tick()
    assert calls and set(fill_ids) <= set(calls[0])
    harness.me.client.drop_notifications = original_drop  # type: ignore[method-assign]
    harness.reconciler.tick()  # seen again: skipped, then dropped
    assert harness.me.client.get_notifications() == []
    assert harness.store.level_states()[key].filled == D("6")
    assert [f["fill_id"] for f in harness.store.fills()] == [
        n.payload["trade_id"] for n in notes if n.type == 2
    ]


def harness_error() -> Exception:
    from reconciler.clob.errors import ServerError

    return ServerError("injected: DELETE /notifications failed", status=500)


def test_plan_shows_what_tick_does_and_sends_no_write(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")]})
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.41", "10")]})
    report = harness.reconciler.plan()
    assert harness.me.session.writes() == []
    assert report.plan is not None and report.has_changes
    assert len(report.plan.cancels) == 1 and len(report.plan.posts) == 1
    assert "Plan: 1 to post, 1 to cancel" in report_text(report)
    assert report_json(report) is not None
    result = harness.reconciler.tick()
    assert result.plan is not None
    assert [c.order_id for c in result.plan.cancels] == [c.order_id for c in report.plan.cancels]
    assert [(p.key, p.size) for p in result.plan.posts] == [
        (p.key, p.size) for p in report.plan.posts
    ]
    assert harness.reconciler.plan().has_changes is False


def test_invalid_spec_from_the_start_changes_nothing(harness: Harness) -> None:
    (harness.desired / "orders.yaml").write_text("version: 1\ntokens:\n  - token_id: [\n")
    result = harness.reconciler.tick()
    assert not result.success and result.outcome == "invalid_spec"
    assert result.spec_errors and "orders.yaml:" in result.spec_errors[0]
    assert harness.me.session.sent == []
    assert harness.store.status()["spec_error"]
    report = harness.reconciler.plan()
    assert report.plan is None and report.spec_errors


def test_an_empty_desired_state_is_refused(harness: Harness) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    (harness.desired / "orders.yaml").write_text("version: 1\ntokens: []\n")
    result = harness.reconciler.tick()
    assert result.outcome == "refused", result
    assert harness.me.session.order_writes() == []
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}
    (harness.desired / "orders.yaml").write_text(
        "version: 1\nlimits:\n  allow_empty: true\ntokens: []\n"
    )
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.resting() == {}


def test_market_info_is_refreshed_after_its_ttl(harness: Harness) -> None:
    now = [1_000_000.0]
    harness.reconciler.clock = lambda: now[0]
    harness.reconciler.market_ttl = 60
    asked: list[str] = []
    real = harness.me.client.get_market_info

    def counting(token_id: str):  # type: ignore[no-untyped-def]
        asked.append(token_id)
        return real(token_id)

    harness.me.client.get_market_info = counting  # type: ignore[method-assign]
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    assert asked == [TOKEN_A]
    harness.reconciler.tick()
    now[0] += 59
    harness.reconciler.tick()
    assert asked == [TOKEN_A]
    now[0] += 2
    harness.me.session.reset()
    harness.reconciler.tick()
    assert asked == [TOKEN_A, TOKEN_A]
    # ... and it went to the exchange, not to the client's own cache.
    assert [p for _, p in harness.me.session.sent if p not in ("/data/orders", "/notifications")]


def test_tick_result_speaks_to_the_daemon(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]})
    result = harness.reconciler.tick()
    assert (result.posted, result.cancelled, result.rejected, result.unknown) == (2, 0, 0, 0)
    assert result.drift == 2 and result.spec_valid
    assert result.status_line.startswith("ok; posted 2, cancelled 0")
    again = harness.reconciler.tick()
    assert again.drift == 0 and again.status_line == "noop; 2 orders resting as desired"
    run = harness.store.recent_runs(2)[1]
    assert run["summary"]["posted"] == 2 and run["outcome"] == "ok"


def test_gtd_levels_are_posted_with_their_expiry_and_then_left_alone(harness: Harness) -> None:
    harness.write_spec(
        {
            TOKEN_A: [
                level("BUY", "0.45", "10", order_type="GTD", expires_at="2099-01-01T00:00:00Z"),
                level("BUY", "0.44", "10"),
            ]
        }
    )
    assert harness.reconciler.tick().outcome == "ok"
    by_price = {o.price: o for o in harness.open_orders(TOKEN_A)}
    assert by_price[D("0.45")].order_type is OrderType.GTD
    assert by_price[D("0.45")].expiration == 4070908800
    assert by_price[D("0.44")].order_type is OrderType.GTC
    assert harness.reconciler.tick().outcome == "noop"


def test_the_state_file_holds_no_secret(harness: Harness) -> None:
    """Keys, API secret and passphrase never reach the database, whatever happened."""
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "20"), level("BUY", "0.44", "10")]})
    sell_into(harness, "0.45", "6")
    with harness.paper.exchange.lock:
        harness.paper.exchange.faults.update({"lose_response_next": 1})
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "20"), level("BUY", "0.43", "10")]})
    harness.reconciler.tick()
    harness.reconciler.tick()
    (harness.desired / "orders.yaml").write_text("version: 1\ntokens: [\n")
    harness.reconciler.tick()
    path = harness.store.path
    harness.store.close()
    blobs = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    assert len(blobs) > 10_000
    for secret in harness.secrets_used:
        assert secret.encode() not in blobs
        assert secret.lower().encode() not in blobs
    harness.store = type(harness.store).open(path)  # for the fixture's close


def test_a_cancel_by_hand_is_learned_from_its_notification_and_the_level_reposted(
    harness: Harness,
) -> None:
    converge(harness, {TOKEN_A: [level("BUY", "0.45", "10")]})
    (order,) = harness.open_orders(TOKEN_A)
    assert harness.me.client.cancel_order(order.order_id).canceled == (order.order_id,)
    harness.me.session.reset()
    result = harness.reconciler.tick()
    assert result.success and result.posted == 1
    # Known from the notification: no lookup of the cancelled order was needed.
    assert not [p for _, p in harness.me.session.sent if p.startswith("/data/order/")]
    stored = harness.store.order(order.order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELED
    assert harness.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}


def test_a_resolved_market_is_skipped_and_the_others_go_on(harness: Harness) -> None:
    converge(
        harness, {TOKEN_A: [level("BUY", "0.45", "10")], TOKEN_B: [level("BUY", "0.30", "10")]}
    )
    exchange = harness.paper.exchange
    with exchange.lock:
        exchange.resolve_market(exchange.markets.get(TOKEN_A).condition_id, None)
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.me.session.order_writes() == []
    assert result.plan is not None and [s.token_id for s in result.plan.skipped] == [TOKEN_A]
    assert {o.status for o in harness.store.orders() if o.key.token_id == TOKEN_A} == {
        OrderStatus.CANCELED
    }
    assert harness.resting() == {(Side.BUY, D("0.3")): D("10")}


def test_after_a_version_mismatch_the_next_passes_sign_with_the_servers_protocol(
    tmp_path: Path,
) -> None:
    """A V1-only exchange refuses our V2 orders once; then we sign V1 and converge."""
    from paperclob import PaperConfig, PaperExchange
    from reconciler.clob.profiles import Profile
    from tests.support.engine import make_harness

    exchange = PaperExchange(PaperConfig(seed=7, protocol="v1", strict_version=True))
    url = exchange.start()
    h = make_harness(tmp_path, exchange, url)
    try:
        h.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
        outcomes = []
        for _ in range(4):  # the refused token may sit out a backoff pass
            outcomes.append(h.reconciler.tick().outcome)
            if h.resting(TOKEN_A):
                break
        assert h.resting(TOKEN_A) == {(Side.BUY, D("0.45")): D("10")}, outcomes
        assert h.reconciler.builder.profile is Profile.V1
    finally:
        h.store.close()
        exchange.stop()
