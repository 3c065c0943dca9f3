"""What the policy reads, at its hostile boundary: a real client against a scripted loopback
server that answers GET /book and GET /balance-allowance with garbage, errors and the shapes
the sources disagree on. Garbage is never a book: the rule could not check, its token is held,
and one line says why."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from reconciler.clob import ClobClient, RateLimited
from reconciler.engine.policy_inputs import read_policy_inputs
from reconciler.model import InventoryOrder, LevelKey, OpenOrder, OrderType, Plan, Post, Side
from reconciler.planner import BookTop, PolicyNeeds, check_policy, enforce_policy
from reconciler.spec import Policy
from tests.support.loopback import LoopbackServer, Scripted

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
D = Decimal


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> dict[str, Any]:
    return {"market": "0xm", "asset_id": TOKEN, "timestamp": "1", "hash": "",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
            "min_order_size": "5", "tick_size": "0.01", "neg_risk": False}


PLAN = Plan(posts=(Post(key=LevelKey(TOKEN, Side.BUY, D("0.45")), size=D(10),
                        order_type=OrderType.GTC, post_only=True, expires_at=0, generation=1,
                        neg_risk=False, tick_size=D("0.01")),))


def _read(client: ClobClient, *, books: bool = True, shares: bool = False) -> Any:
    needs = PolicyNeeds(books=frozenset({TOKEN}) if books else frozenset(),
                        shares=frozenset({TOKEN}) if shares else frozenset())
    return read_policy_inputs(client, needs, plan=PLAN, observed=[], inventory=[])


@pytest.mark.parametrize(
    ("bids", "asks", "top"),
    [
        # Either order of levels is read by price, never by position (clob-v2-wire.md 5).
        ([("0.40", "5"), ("0.44", "5")], [("0.50", "5"), ("0.46", "5")], ("0.44", "0.46")),
        ([("0.44", "5"), ("0.40", "5")], [("0.46", "5"), ("0.50", "5")], ("0.44", "0.46")),
        ([("0.44", "0"), ("0.40", "5")], [], ("0.40", None)),  # an empty level is no level
        ([], [], (None, None)),
    ],
)
def test_a_book_is_read_by_price(server: LoopbackServer, client: ClobClient,
                                 bids: list[Any], asks: list[Any], top: tuple[Any, Any]) -> None:
    server.push(Scripted(body=_book(bids, asks)))
    read = _read(client).books[TOKEN]
    assert read == BookTop(*(D(x) if x else None for x in top))
    assert [(s.method, s.path.split("?")[0]) for s in server.seen] == [("GET", "/book")]


def test_no_orderbook_is_an_empty_market(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(status=404,
                         body={"error": "No orderbook exists for the requested token id"}))
    assert _read(client).books[TOKEN] == BookTop()


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(body=_book([("0.44", "-5")], [])),  # a negative size
        Scripted(body=_book([("1.44", "5")], [])),  # a price above 1
        Scripted(body=_book([("zero", "5")], [])),
        Scripted(body={"bids": "all of them"}),
        Scripted(body=[1, 2, 3]),
        Scripted(raw=b"<html>oops</html>"),
        Scripted(status=500, body={"error": "boom"}),
    ],
    ids=["negative-size", "price-above-one", "not-a-number", "bids-not-a-list", "a-list",
         "html", "500"],
)
def test_a_garbage_book_is_not_a_book_and_holds_the_token(
    server: LoopbackServer, client: ClobClient, answer: Scripted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.push(answer)
    with caplog.at_level(logging.WARNING, logger="reconciler.engine.policy_inputs"):
        inputs = _read(client)
    assert inputs.books[TOKEN] is None  # could not be read, which is not "empty"
    (line,) = [r.getMessage() for r in caplog.records]
    assert "the book of" in line and "could not be read" in line, line
    # Even a rule that lets an empty market through holds a book it could not read.
    rule = Policy.model_validate({"price_band": {"max_distance": "0.05",
                                                 "without_book": "advisory"}})
    verdicts = check_policy(rule, plan=PLAN, inputs=inputs, now=0)
    gate = enforce_policy(PLAN, verdicts, policy=rule, now=0)
    assert gate.plan.posts == () and list(gate.held) == [TOKEN]


def test_a_rate_limited_book_read_aborts_the_pass(server: LoopbackServer,
                                                  client: ClobClient) -> None:
    server.push(Scripted(status=429, body={"error": "Too Many Requests"},
                         headers={"Retry-After": "3"}))
    with pytest.raises(RateLimited):
        _read(client)


@pytest.mark.parametrize(
    "answer",
    [Scripted(body={"balance": "-5", "allowances": {}}), Scripted(body={"balance": "many"}),
     Scripted(status=500, body={"error": "boom"})],
    ids=["negative", "not-a-number", "500"],
)
def test_unreadable_shares_are_none_never_zero(
    server: LoopbackServer, client: ClobClient, answer: Scripted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.push(answer)
    with caplog.at_level(logging.WARNING, logger="reconciler.engine.policy_inputs"):
        inputs = _read(client, books=False, shares=True)
    assert inputs.shares[TOKEN] is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert "shares held" in line and "could not be read" in line, line
    rule = Policy.model_validate({"max_position": {"shares": "1000000"}})
    gate = enforce_policy(PLAN, check_policy(rule, plan=PLAN, inputs=inputs, now=0),
                          policy=rule, now=0)
    assert gate.plan.posts == ()


def test_shares_are_read_in_six_decimal_units(server: LoopbackServer,
                                              client: ClobClient) -> None:
    server.push(Scripted(body={"balance": "12500000", "allowances": {}}))
    assert _read(client, books=False, shares=True).shares[TOKEN] == D("12.5")
    (seen,) = server.seen
    assert "asset_type=CONDITIONAL" in seen.path and f"token_id={TOKEN}" in seen.path


def test_our_resting_orders_are_the_inventorys_only(client: ClobClient) -> None:
    ours = OpenOrder("0x1", TOKEN, Side.BUY, D("0.4"), D(10), D(0), 0)
    theirs = OpenOrder("0x2", TOKEN, Side.BUY, D("0.4"), D(10), D(0), 0)
    filled = OpenOrder("0x3", TOKEN, Side.BUY, D("0.4"), D(10), D(10), 0)
    inventory = [InventoryOrder(o.order_id, o.key, 1, D(10), 0) for o in (ours, filled)]
    inputs = read_policy_inputs(client, PolicyNeeds(), plan=Plan(),
                                observed=[ours, theirs, filled], inventory=inventory)
    assert inputs.resting == {TOKEN: frozenset({"0x1"})}
