"""Properties of the policy gates, over random policies, plans, books, balances, clocks and
overrides (hypothesis):

- no plan the gate lets through violates a hard rule;
- a soft violation never gets through without an override of its rule;
- an advisory rule never changes the plan;

and, end to end on the paper exchange, no order a pass posts lies outside a hard price band.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperclob import PaperConfig, PaperExchange
from reconciler.model import Cancel, CancelReason, Keep, LevelKey, OrderType, Plan, Post, Side
from reconciler.planner import BookTop, PolicyInputs, check_policy, enforce_policy
from reconciler.spec import Enforcement, Policy, Rule
from tests.support.engine import TOKEN_A, level, make_harness
from tests.support.policy import quote, write_policy

TOKENS = ("1" * 20, "2" * 20, "3" * 20)
NOW = int(datetime(2026, 9, 10, tzinfo=UTC).timestamp())
LEVELS = st.sampled_from([e.value for e in Enforcement])
cents = st.integers(1, 99).map(lambda c: Decimal(c) / 100)
sizes = st.integers(1, 50).map(Decimal)


def _post(token: str, side: Side, price: Decimal, size: Decimal) -> Post:
    return Post(key=LevelKey(token, side, price), size=size, order_type=OrderType.GTC,
                post_only=True, expires_at=0, generation=1, neg_risk=False,
                tick_size=Decimal("0.01"))


orders = st.tuples(st.sampled_from(TOKENS), st.sampled_from(list(Side)), cents, sizes)


@st.composite
def plans(draw: st.DrawFn) -> tuple[Plan, dict[str, frozenset[str]]]:
    posts = [_post(*o) for o in draw(st.lists(orders, max_size=6))]
    resting_orders = draw(st.lists(orders, max_size=6))
    keeps, cancels = [], []
    for i, (token, side, price, size) in enumerate(resting_orders):
        key = LevelKey(token, side, price)
        if draw(st.booleans()):
            keeps.append(Keep(f"0x{i}", key, size))
        else:
            cancels.append(Cancel(f"0x{i}", key, size, CancelReason.LEVEL_REMOVED))
    resting: dict[str, set[str]] = {}
    for item in [*keeps, *cancels]:
        resting.setdefault(item.key.token_id, set()).add(item.order_id)
    for token in draw(st.lists(st.sampled_from(TOKENS), max_size=3)):
        resting.setdefault(token, set()).add(f"0xother{len(resting[token])}")
    plan = Plan(keeps=tuple(keeps), cancels=tuple(cancels), posts=tuple(posts))
    return plan, {t: frozenset(ids) for t, ids in resting.items()}


@st.composite
def book_tops(draw: st.DrawFn) -> BookTop | None:
    kind = draw(st.sampled_from(["unread", "empty", "bid", "ask", "both"]))
    if kind == "unread":
        return None
    bid, ask = sorted(draw(st.lists(cents, min_size=2, max_size=2, unique=True)))
    return BookTop(best_bid=bid if kind in ("bid", "both") else None,
                   best_ask=ask if kind in ("ask", "both") else None)


@st.composite
def inputs(draw: st.DrawFn, resting: dict[str, frozenset[str]]) -> PolicyInputs:
    books = {t: draw(book_tops()) for t in draw(st.sets(st.sampled_from(TOKENS)))}
    shares = {t: draw(st.none() | st.integers(0, 200).map(Decimal))
              for t in draw(st.sets(st.sampled_from(TOKENS)))}
    return PolicyInputs(books=books, shares=shares, resting=resting)


def _window(draw: st.DrawFn) -> dict[str, Any]:
    window: dict[str, Any] = {"cancel_orders": draw(st.booleans())}
    if draw(st.booleans()):
        window["tokens"] = sorted(draw(st.sets(st.sampled_from(TOKENS), min_size=1)))
    if draw(st.booleans()):
        start = NOW + draw(st.integers(-7200, 7200))
        end = start + draw(st.integers(60, 7200))
        window["start"], window["end"] = (
            datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for t in (start, end))
    else:
        start, end = draw(st.lists(st.integers(0, 23), min_size=2, max_size=2, unique=True))
        window["start"], window["end"] = f"{start:02d}:00", f"{end:02d}:30"
        if draw(st.booleans()):
            window["days"] = sorted(draw(st.sets(st.sampled_from(["mon", "wed", "thu", "sun"]),
                                                 min_size=1)))
    return window


@st.composite
def policies(draw: st.DrawFn, level: st.SearchStrategy[str] = LEVELS) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    if draw(st.booleans()):
        band: dict[str, Any] = {"enforcement": draw(level),
                                "reference": draw(st.sampled_from(["midpoint", "touch"]))}
        if draw(st.booleans()):
            band["max_distance"] = str(draw(cents))
        else:
            band["max_ticks"] = draw(st.integers(1, 20))
        if draw(st.booleans()):
            band["without_book"] = draw(level)
        rules["price_band"] = band
    if draw(st.booleans()):
        rules["max_notional_change"] = {"enforcement": draw(level),
                                        "limit": str(draw(st.integers(0, 60)))}
    if draw(st.booleans()):
        cap = "shares" if draw(st.booleans()) else "notional"
        rules["max_position"] = {"enforcement": draw(level), cap: str(draw(st.integers(0, 150)))}
    if draw(st.booleans()):
        rules["max_open_orders"] = {"enforcement": draw(level),
                                    "total": draw(st.integers(1, 10)),
                                    "per_token": draw(st.integers(1, 4))}
    if draw(st.booleans()):
        count = draw(st.integers(1, 2))
        rules["trading_windows"] = {"enforcement": draw(level),
                                    "windows": [_window(draw) for _ in range(count)]}
    return rules


def _actions(plan: Plan) -> tuple[Any, ...]:
    return (plan.posts, tuple(sorted(plan.cancels, key=lambda c: c.order_id)),
            tuple(sorted(plan.keeps, key=lambda k: k.order_id)))


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_what_the_gate_lets_through_breaks_no_hard_rule_and_no_unoverridden_soft_one(
    data: st.DataObject,
) -> None:
    policy = Policy.model_validate(data.draw(policies()))
    plan, resting = data.draw(plans())
    given_inputs = data.draw(inputs(resting))
    now = NOW + data.draw(st.integers(-86400, 86400 * 7))
    overrides = data.draw(st.sets(st.sampled_from(list(Rule))))
    verdicts = check_policy(policy, plan=plan, inputs=given_inputs, now=now)
    gate = enforce_policy(plan, verdicts, policy=policy, now=now, overrides=overrides)
    # What the gate let through is what would be applied: checked again, it breaks no hard
    # rule, and a soft one only where this pass carries an override of it.
    again = check_policy(policy, plan=gate.plan, inputs=given_inputs, now=now)
    for verdict in again:
        assert verdict.enforcement is not Enforcement.HARD, verdict
        if verdict.enforcement is Enforcement.SOFT:
            assert verdict.rule in overrides, verdict
    # Without an override, no soft verdict of the original plan gets through.
    plain = enforce_policy(plan, verdicts, policy=policy, now=now)
    assert plain.overridden == ()
    for verdict in check_policy(policy, plan=plain.plan, inputs=given_inputs, now=now):
        assert verdict.enforcement is Enforcement.ADVISORY, verdict
    # Nothing is ever added but the cancels of open windows.
    added = set(gate.plan.cancels) - set(plan.cancels)
    assert all(c.reason is CancelReason.POLICY_WINDOW for c in added)
    assert set(gate.plan.posts) <= set(plan.posts)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_an_advisory_rule_never_changes_the_plan(data: st.DataObject) -> None:
    plan, resting = data.draw(plans())
    given_inputs = data.draw(inputs(resting))
    now = NOW + data.draw(st.integers(-86400, 86400 * 7))
    overrides = data.draw(st.sets(st.sampled_from(list(Rule))))
    advisory = data.draw(policies(level=st.just("advisory")))
    policy = Policy.model_validate(advisory)
    verdicts = check_policy(policy, plan=plan, inputs=given_inputs, now=now)
    gate = enforce_policy(plan, verdicts, policy=policy, now=now, overrides=overrides)
    assert _actions(gate.plan) == _actions(plan)
    assert gate.held == {}
    # Adding advisory rules to any policy changes nothing the others decide.
    others = data.draw(policies())
    base = Policy.model_validate(others)
    merged = Policy.model_validate({**advisory, **others})
    gates = []
    for rules in (base, merged):
        found = check_policy(rules, plan=plan, inputs=given_inputs, now=now)
        gates.append(enforce_policy(plan, found, policy=rules, now=now, overrides=overrides))
    assert _actions(gates[0].plan) == _actions(gates[1].plan)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(prices=st.lists(st.integers(30, 60), min_size=1, max_size=4, unique=True),
       ticks=st.integers(1, 8))
def test_no_pass_posts_outside_a_hard_price_band(
    tmp_path_factory: Any, prices: list[int], ticks: int
) -> None:
    tmp: Path = tmp_path_factory.mktemp("band")
    paper = PaperExchange(PaperConfig(page_size=7, seed=7))
    url = paper.start()
    try:
        h = make_harness(tmp, paper, url)
        other = quote(h, TOKEN_A, Side.BUY, "0.29", "50")
        quote(h, TOKEN_A, Side.SELL, "0.61", "50", account=other)  # midpoint 0.45
        write_policy(h, {"price_band": {"max_ticks": ticks, "enforcement": "hard"}})
        wanted = [Decimal(p) / 100 for p in prices]
        h.write_spec({TOKEN_A: [level("BUY", str(p), "5") for p in wanted]})
        h.reconciler.tick()
        mine = h.resting(TOKEN_A)
        band = Decimal(ticks) / 100
        assert all(abs(price - Decimal("0.45")) <= band for _, price in mine)
        # The token is held whole when any level is outside; otherwise every level rests.
        inside = all(abs(p - Decimal("0.45")) <= band for p in wanted)
        assert set(mine) == ({(Side.BUY, p) for p in wanted} if inside else set())
        h.store.close()
    finally:
        paper.stop()
