"""Review tests: invariants whose violation no earlier test caught (found by breaking the code
on purpose and watching which tests failed; see the review report).

Against the real paper exchange and a real state file (tests/test_reconcile_kit.py), except the
planner's own contract, which is pure and tested with plain values. Where a fault cannot be made
by the paper exchange (a garbled order in a page, an answer "delayed"), the real answer is
altered in flight by the test's session or a thin client wrapper; everything else is real.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from reconciler import planner
from reconciler.cli.logs import configure_logging
from reconciler.cli.settings import LogFormat
from reconciler.clob.client import ClobClient
from reconciler.clob.errors import ProtocolError
from reconciler.clob.types import OrderResult, PostArgs
from reconciler.engine import load_desired
from reconciler.model import (
    InventoryOrder,
    LevelKey,
    LevelState,
    MarketInfo,
    Plan,
    Side,
)
from reconciler.spec import state_from_dicts
from reconciler.store.store import OrderStatus
from tests.test_reconcile_kit import (
    TOKEN_A,
    TOKEN_B,
    Harness,
    apply_to,
    harness,
    level,
    make_post,
    new_account,
    paper,
    write_spec,
)

__all__ = ["harness", "paper"]

D = Decimal


def _set_faults(h: Harness, **faults: object) -> None:
    with h.paper.exchange.lock:
        h.paper.exchange.faults.update(dict(faults))


# --- 1. a garbled open-orders page is an error, never fewer orders ---------------------------


def _garble_first_order(h: Harness) -> None:
    """Make the next GET /data/orders answer carry one order with an unreadable side."""
    real = h.me.session.request
    done = {"n": 0}

    def request(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = real(method, url, *args, **kwargs)
        if "/data/orders" in str(url) and not done["n"]:
            done["n"] += 1
            page = json.loads(response.content)
            page["data"][0]["side"] = "HOLD"
            response._content = json.dumps(page).encode()
        return response

    h.me.session.request = request  # type: ignore[method-assign]


def test_a_garbled_order_in_the_open_orders_read_aborts_the_tick(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.44", "10")]})
    assert harness.reconciler.tick().success
    before = harness.resting()
    _garble_first_order(harness)
    harness.me.session.reset()
    result = harness.reconciler.tick()
    assert not result.success and "ProtocolError" in (result.error or ""), result
    assert harness.me.session.order_writes() == []
    assert harness.resting() == before


def test_a_garbled_order_makes_get_open_orders_raise(harness: Harness) -> None:
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    assert harness.reconciler.tick().success
    _garble_first_order(harness)
    with pytest.raises(ProtocolError):
        harness.me.client.get_open_orders()


# --- 2. one broken file among valid ones changes no order ------------------------------------


def test_one_broken_file_among_valid_ones_changes_no_order(harness: Harness) -> None:
    write_spec(harness.desired, {TOKEN_A: [level("BUY", "0.45", "10")]}, name="a.yaml")
    write_spec(harness.desired, {TOKEN_B: [level("BUY", "0.30", "10")]}, name="b.yaml")
    assert harness.reconciler.tick().success
    before = harness.resting()
    # a.yaml gains a level (valid); b.yaml breaks. Applying a.yaml alone would also cancel
    # TOKEN_B's order as "token removed": neither may happen.
    write_spec(
        harness.desired,
        {TOKEN_A: [level("BUY", "0.45", "10"), level("BUY", "0.40", "10")]},
        name="a.yaml",
    )
    (harness.desired / "b.yaml").write_text("version: 1\ntokens:\n  - token_id: [broken\n")
    harness.me.session.reset()
    result = harness.reconciler.tick()
    assert result.spec_errors and any("b.yaml" in e for e in result.spec_errors)
    assert harness.me.session.order_writes() == []
    assert harness.resting() == before


# --- 4. an answer with our order id and an error is an unknown outcome, not a rejection -------


class DelayedAnswers:
    """The real client, except that each POST /orders answer says "delayed" with an error: the
    exchange took the order but has not placed it yet."""

    def __init__(self, client: ClobClient) -> None:
        self._client = client

    def post_orders(self, orders: Sequence[PostArgs]) -> list[OrderResult]:
        return [
            OrderResult(
                success=False, error_msg="order delayed", order_id=r.order_id, status="delayed"
            )
            for r in self._client.post_orders(orders)
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_delayed_answer_is_unknown_and_resolved_by_hash_without_a_repost(
    harness: Harness,
) -> None:
    post = make_post("0.45")
    result = apply_to(harness, Plan(posts=(post,)), client=DelayedAnswers(harness.me.client))
    (order,) = harness.store.orders()
    # "rejected" would mean "certainly not placed", and the level would be posted again.
    assert order.status is OrderStatus.UNKNOWN and result.unknown == [order.order_id]
    assert not result.rejected
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    harness.me.session.reset()
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == []
    assert harness.store.order(order.order_id).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert harness.resting() == {(Side.BUY, D("0.45")): D("10")}


# --- 5. caps and balances ---------------------------------------------------------------------


def test_an_unreadable_share_balance_posts_no_sell(harness: Harness) -> None:
    with harness.paper.exchange.lock:
        harness.paper.exchange.fund(harness.me.wallet.address, token_id=TOKEN_A, shares="50")
    harness.write_spec(
        {TOKEN_A: [level("SELL", "0.60", "10")], TOKEN_B: [level("BUY", "0.3", "10")]}
    )
    _set_faults(harness, error_5xx_next=1, paths=["/balance-allowance"])
    result = harness.reconciler.tick()
    assert result.success, result.error
    assert harness.resting(TOKEN_A) == {}, "a sell went out without a known share balance"
    assert harness.resting(TOKEN_B) == {(Side.BUY, D("0.3")): D("10")}  # buys go on
    # Once the balance reads again, the sell goes out.
    assert harness.reconciler.tick().success
    assert harness.resting(TOKEN_A) == {(Side.SELL, D("0.6")): D("10")}


def _market(token_id: str) -> MarketInfo:
    return MarketInfo(token_id, tick_size=D("0.01"), min_order_size=D("5"), neg_risk=False)


@pytest.mark.parametrize(
    ("limits", "token_options"),
    [({}, {"max_buy_notional": "10"}), ({"max_total_buy_notional": "10"}, {})],
)
def test_planner_counts_an_unresolved_buy_toward_the_caps(
    limits: dict[str, Any], token_options: dict[str, Any]
) -> None:
    """The planner's contract (planner.py rule 6): an order whose post outcome is unknown may
    rest, so it uses cap room. 0.50 x 10 unresolved leaves 5 of 10: the 0.40 level gets 12.5."""
    doc: dict[str, Any] = {
        "version": 1,
        "tokens": [
            {
                "token_id": TOKEN_A,
                **token_options,
                "orders": [level("BUY", "0.50", "10"), level("BUY", "0.40", "100")],
            }
        ],
    }
    if limits:
        doc["limits"] = limits
    spec = state_from_dicts(doc)
    lost = LevelKey(TOKEN_A, Side.BUY, D("0.50"))
    states = {
        lv.key: LevelState(lv.key, lv.spec_digest, 1, D(0)) for t in spec.tokens for lv in t.levels
    }
    result = planner.plan(
        spec=spec,
        observed=[],
        inventory=[InventoryOrder("0xlost", lost, 1, D("10"), 1, unresolved=True)],
        levels=states,
        markets={TOKEN_A: _market(TOKEN_A)},
        now=int(time.time()),
    )
    assert [(p.key.price, p.size) for p in result.posts] == [(D("0.40"), D("12.5"))]


def test_planner_counts_an_unresolved_sell_toward_the_balance() -> None:
    spec = state_from_dicts(
        {
            "version": 1,
            "tokens": [
                {
                    "token_id": TOKEN_A,
                    "orders": [level("SELL", "0.60", "10"), level("SELL", "0.70", "10")],
                }
            ],
        }
    )
    lost = LevelKey(TOKEN_A, Side.SELL, D("0.60"))
    result = planner.plan(
        spec=spec,
        observed=[],
        inventory=[InventoryOrder("0xlost", lost, 1, D("10"), 1, unresolved=True)],
        levels={},
        markets={TOKEN_A: _market(TOKEN_A)},
        now=int(time.time()),
        balances={TOKEN_A: D("16")},
    )
    assert [(p.key.price, p.size) for p in result.posts] == [(D("0.70"), D("6"))]


def test_a_token_cap_is_not_exceeded_by_rounding_the_trimmed_size() -> None:
    """10 pUSD at 0.30 is 33.333... shares: trimmed DOWN to 33.33 (9.999), never up to 33.34."""
    spec = state_from_dicts(
        {
            "version": 1,
            "tokens": [
                {
                    "token_id": TOKEN_A,
                    "max_buy_notional": "10",
                    "orders": [level("BUY", "0.30", "100")],
                }
            ],
        }
    )
    result = planner.plan(
        spec=spec,
        observed=[],
        inventory=[],
        levels={},
        markets={TOKEN_A: _market(TOKEN_A)},
        now=int(time.time()),
    )
    (post,) = result.posts
    assert post.size == D("33.33") and post.key.price * post.size <= D("10")


# --- 4/5. an order that vanished and cannot be looked up holds its level ----------------------


def test_a_vanished_order_whose_lookup_fails_holds_its_level(harness: Harness) -> None:
    """Our order leaves the open set (it filled), the lookup fails and so does the notification
    read: we cannot tell a fill from a cancel, so nothing is posted for the level until we can
    (posting would buy again what may already have filled)."""
    harness.write_spec({TOKEN_A: [level("BUY", "0.45", "10")]})
    assert harness.reconciler.tick().success
    (ours,) = harness.open_orders(TOKEN_A)
    other = new_account(harness.url)
    assert other.client.create_and_post_order(TOKEN_A, Side.SELL, "0.45", "10").ok
    _set_faults(harness, error_5xx_next=2, paths=["/notifications", f"/data/order/{ours.order_id}"])
    harness.me.session.reset()
    harness.reconciler.tick()
    assert harness.me.session.order_writes() == [], "posted again before learning of the fill"
    assert harness.store.order(ours.order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    with harness.paper.exchange.lock:
        harness.paper.exchange.faults.reset()
    assert harness.reconciler.tick().success
    assert harness.me.session.order_writes() == []
    assert harness.store.order(ours.order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert harness.resting(TOKEN_A) == {}


# --- 2. an empty desired directory is an error, not an empty spec -----------------------------


def test_an_empty_desired_directory_is_an_error(tmp_path: Any) -> None:
    (tmp_path / "notes.txt").write_text("no yaml here")
    result = load_desired(tmp_path)
    assert result.spec is None and "no *.yaml" in str(result.errors[0])


# --- 7. the log redactor also scrubs a key written without its 0x ---------------------------


def test_logs_scrub_a_private_key_without_its_0x() -> None:
    key = "0x" + secrets.token_hex(32)
    stream = io.StringIO()
    handler = configure_logging(log_format=LogFormat.TEXT, secrets=[key], stream=stream)
    try:
        logging.getLogger("reconciler.review").error("eth said: bad key %s", key[2:])
    finally:
        logging.getLogger().removeHandler(handler)
    assert "bad key ***" in stream.getvalue()
    assert key[2:] not in stream.getvalue()
