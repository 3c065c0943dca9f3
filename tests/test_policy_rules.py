"""The policy rules by themselves (reconciler.planner.policy): a table per rule, then one per
enforcement level. Pure: a policy, a plan and book data in, verdicts and the gated plan out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from reconciler.model import Cancel, CancelReason, Keep, LevelKey, OrderType, Plan, Post, Side
from reconciler.planner import (
    BookTop,
    Override,
    PolicyInputs,
    Verdict,
    check_policy,
    enforce_policy,
    override_problem,
    plan_digest,
    policy_needs,
)
from reconciler.spec import Enforcement, Policy, Rule, state_from_dicts

A = "1" * 20
B = "2" * 20
NOW = int(datetime(2026, 9, 10, 0, 0, tzinfo=UTC).timestamp())  # a Thursday


def policy(**rules: Any) -> Policy:
    return Policy.model_validate(rules)


def post(price: str, size: str = "10", *, token: str = A, side: Side = Side.BUY,
         tick: str = "0.01") -> Post:
    return Post(key=LevelKey(token, side, Decimal(price)), size=Decimal(size),
                order_type=OrderType.GTC, post_only=True,
                expires_at=0, generation=1, neg_risk=False, tick_size=Decimal(tick))


def keep(price: str, size: str = "10", *, token: str = A, side: Side = Side.BUY,
         order_id: str = "0xk") -> Keep:
    return Keep(order_id, LevelKey(token, side, Decimal(price)), Decimal(size))


def cancel(price: str, size: str = "10", *, token: str = A, side: Side = Side.BUY,
           order_id: str = "0xc", reason: CancelReason = CancelReason.LEVEL_REMOVED) -> Cancel:
    return Cancel(order_id, LevelKey(token, side, Decimal(price)), Decimal(size), reason)


def book(bid: str | None, ask: str | None) -> BookTop:
    return BookTop(Decimal(bid) if bid else None, Decimal(ask) if ask else None)


def verdicts(rules: Policy, plan: Plan, *, now: int = NOW, **inputs: Any) -> list[Verdict]:
    return list(check_policy(rules, plan=plan, inputs=PolicyInputs(**inputs), now=now))


def held_tokens(rules: Policy, plan: Plan, *, overrides: tuple[Rule, ...] = (),
                now: int = NOW, **inputs: Any) -> tuple[Plan, dict[str, str]]:
    found = check_policy(rules, plan=plan, inputs=PolicyInputs(**inputs), now=now)
    gate = enforce_policy(plan, found, policy=rules, now=now, overrides=overrides)
    return gate.plan, dict(gate.held)


# --- price_band ------------------------------------------------------------------------------

MID_BAND = {"price_band": {"max_distance": "0.05"}}


@pytest.mark.parametrize(
    ("rule", "price", "side", "top", "violates"),
    [
        (MID_BAND, "0.45", Side.BUY, ("0.44", "0.46"), False),
        (MID_BAND, "0.50", Side.BUY, ("0.44", "0.46"), False),  # exactly the band
        (MID_BAND, "0.51", Side.BUY, ("0.44", "0.46"), True),
        (MID_BAND, "0.94", Side.BUY, ("0.44", "0.46"), True),  # the fat finger
        (MID_BAND, "0.04", Side.SELL, ("0.39", "0.41"), True),  # "0.04" typed for "0.40"
        (MID_BAND, "0.40", Side.SELL, ("0.39", "0.41"), False),
        ({"price_band": {"max_ticks": 5}}, "0.50", Side.BUY, ("0.44", "0.46"), False),
        ({"price_band": {"max_ticks": 5}}, "0.51", Side.BUY, ("0.44", "0.46"), True),
        ({"price_band": {"max_ticks": 4}}, "0.50", Side.BUY, ("0.44", "0.46"), True),
        ({"price_band": {"max_distance": "0.02", "reference": "touch"}}, "0.38", Side.BUY,
         ("0.40", "0.50"), False),
        ({"price_band": {"max_distance": "0.02", "reference": "touch"}}, "0.37", Side.BUY,
         ("0.40", "0.50"), True),
        ({"price_band": {"max_distance": "0.02", "reference": "touch"}}, "0.52", Side.SELL,
         ("0.40", "0.50"), False),
        ({"price_band": {"max_distance": "0.02", "reference": "touch"}}, "0.53", Side.SELL,
         ("0.40", "0.50"), True),
        # One side only: the touch form draws the band around the side there is.
        ({"price_band": {"max_distance": "0.02", "reference": "touch"}}, "0.43", Side.BUY,
         ("0.40", None), True),
        ({"price_band": {"max_distance": "0.02", "reference": "touch"}}, "0.42", Side.BUY,
         ("0.40", None), False),
    ],
)
def test_price_band(rule: dict[str, Any], price: str, side: Side, top: tuple[Any, Any],
                    violates: bool) -> None:
    plan = Plan(posts=(post(price, side=side),))
    found = verdicts(policy(**rule), plan, books={A: book(*top)})
    assert [v.tokens for v in found] == ([(A,)] if violates else [])
    assert all(v.rule is Rule.PRICE_BAND and v.checked for v in found)


def test_price_band_in_ticks_follows_each_market_tick() -> None:
    rule = policy(price_band={"max_ticks": 5})
    plan = Plan(posts=(post("0.456", tick="0.001"), post("0.50", token=B)))
    found = verdicts(rule, plan, books={A: book("0.44", "0.46"), B: book("0.44", "0.46")})
    assert [v.tokens for v in found] == [(A,)]  # 0.006 is 6 ticks of 0.001; 0.05 is 5 of 0.01


@pytest.mark.parametrize(
    ("rule", "top", "level"),
    [
        ({"max_distance": "0.05"}, book(None, None), Enforcement.SOFT),
        ({"max_distance": "0.05", "enforcement": "hard"}, book(None, None), Enforcement.HARD),
        ({"max_distance": "0.05", "without_book": "advisory"}, book(None, None),
         Enforcement.ADVISORY),
        # A one-sided book has no midpoint: known, so without_book applies.
        ({"max_distance": "0.05", "without_book": "advisory"}, book("0.40", None),
         Enforcement.ADVISORY),
        ({"max_distance": "0.05", "reference": "touch"}, book(None, None), Enforcement.SOFT),
        # A book that could not be read is not known to be empty: the rule's own level.
        ({"max_distance": "0.05", "without_book": "advisory"}, None, Enforcement.SOFT),
    ],
)
def test_price_band_without_a_book_could_not_be_checked(
    rule: dict[str, Any], top: BookTop | None, level: Enforcement
) -> None:
    found = verdicts(policy(price_band=rule), Plan(posts=(post("0.45"),)), books={A: top})
    assert [(v.enforcement, v.checked, v.tokens) for v in found] == [(level, False, (A,))]
    assert "could not be checked" in found[0].message


def test_price_band_counts_a_token_not_read_as_unchecked() -> None:
    found = verdicts(policy(**MID_BAND), Plan(posts=(post("0.45"),)), books={})
    assert [(v.checked, v.enforcement) for v in found] == [(False, Enforcement.SOFT)]


def test_price_band_looks_at_posts_only() -> None:
    plan = Plan(keeps=(keep("0.94"),), cancels=(cancel("0.04"),))
    assert verdicts(policy(**MID_BAND), plan, books={A: book("0.44", "0.46")}) == []


def test_price_band_message_names_the_level_and_the_distance() -> None:
    found = verdicts(policy(**MID_BAND), Plan(posts=(post("0.94", "100"),)),
                     books={A: book("0.44", "0.46")})
    assert "BUY 0.94" in found[0].message and "0.49 from the midpoint 0.45" in found[0].message


# --- max_notional_change ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "violates"), [("90", False), ("89.99", True), ("1000", False)]
)
def test_max_notional_change_counts_posts_and_cancels(limit: str, violates: bool) -> None:
    plan = Plan(posts=(post("0.50", "100"),),  # 50 pUSD
                cancels=(cancel("0.40", "100", token=B),))  # 40 pUSD
    found = verdicts(policy(max_notional_change={"limit": limit}), plan)
    assert [v.tokens for v in found] == ([(A, B)] if violates else [])


def test_max_notional_change_does_not_count_window_cancels() -> None:
    plan = Plan(cancels=(cancel("0.50", "1000", reason=CancelReason.POLICY_WINDOW),))
    assert verdicts(policy(max_notional_change={"limit": "1"}), plan) == []


# --- max_position ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "held", "violates"),
    [
        ({"shares": "110"}, "80", False),  # 80 + 10 kept + 20 posted = 110
        ({"shares": "109.99"}, "80", True),
        ({"shares": "1000", "per_token": [{"token_id": A, "shares": "100"}]}, "80", True),
        ({"per_token": [{"token_id": B, "shares": "1"}]}, "80", False),  # no cap for A
        # pUSD: 80 held at the midpoint 0.5 = 40, + 10 x 0.4 + 20 x 0.45 = 13 -> 53
        ({"notional": "53"}, "80", False),
        ({"notional": "52.99"}, "80", True),
    ],
)
def test_max_position(rule: dict[str, Any], held: str, violates: bool) -> None:
    plan = Plan(keeps=(keep("0.40", "10"),), posts=(post("0.45", "20"),))
    found = verdicts(policy(max_position=rule), plan, shares={A: Decimal(held)},
                     books={A: book("0.49", "0.51")})
    assert [v.tokens for v in found] == ([(A,)] if violates else [])


def test_max_position_in_pusd_values_held_shares_at_one_without_a_midpoint() -> None:
    plan = Plan(posts=(post("0.10", "10"),))
    rule = policy(max_position={"notional": "50"})
    # 49.5 held at 1 + 10 x 0.10 = 50.5; at the midpoint 0.10: 4.95 + 1 = 5.95
    assert verdicts(rule, plan, shares={A: Decimal("49.5")}, books={A: book("0.09", None)})
    assert not verdicts(rule, plan, shares={A: Decimal("49.5")},
                        books={A: book("0.09", "0.11")})


def test_max_position_never_blocks_a_pass_that_posts_no_buy() -> None:
    plan = Plan(keeps=(keep("0.40", "500"),), posts=(post("0.60", "10", side=Side.SELL),),
                cancels=(cancel("0.30"),))
    assert verdicts(policy(max_position={"shares": "1"}), plan, shares={A: Decimal(900)}) == []


def test_max_position_with_unreadable_shares_could_not_be_checked() -> None:
    found = verdicts(policy(max_position={"shares": "100", "enforcement": "hard"}),
                     Plan(posts=(post("0.45"),)), shares={A: None})
    assert [(v.checked, v.enforcement) for v in found] == [(False, Enforcement.HARD)]


# --- max_open_orders -------------------------------------------------------------------------


def test_max_open_orders_per_token_counts_what_rests_after_the_pass() -> None:
    rule = policy(max_open_orders={"per_token": 2})
    resting = {A: frozenset({"0x1", "0x2"})}
    adding = Plan(keeps=(keep("0.40", order_id="0x1"),), posts=(post("0.45"),))
    assert [v.tokens for v in verdicts(rule, adding, resting=resting)] == [(A,)]
    swapping = Plan(cancels=(cancel("0.40", order_id="0x2"),), posts=(post("0.45"),))
    assert verdicts(rule, swapping, resting=resting) == []
    over = {A: frozenset({"0x1", "0x2", "0x3"})}  # above the cap already, and nothing added
    assert verdicts(rule, Plan(keeps=(keep("0.40", order_id="0x1"),)), resting=over) == []


def test_max_open_orders_total_holds_every_token_that_posts() -> None:
    rule = policy(max_open_orders={"total": 3})
    resting = {A: frozenset({"0x1", "0x2"}), B: frozenset({"0x3"})}
    plan = Plan(posts=(post("0.45"), post("0.46", token=B)))
    found = verdicts(rule, plan, resting=resting)
    assert [v.tokens for v in found] == [(A, B)]
    assert verdicts(rule, Plan(), resting=resting) == []  # over, but the pass adds nothing


# --- trading_windows -------------------------------------------------------------------------

DEBATE = {"name": "debate", "start": "2026-09-10T00:55:00Z", "end": "2026-09-10T03:00:00Z"}


@pytest.mark.parametrize(
    ("window", "at", "open_"),
    [
        (DEBATE, "2026-09-10T00:54:59", False),
        (DEBATE, "2026-09-10T00:55:00", True),
        (DEBATE, "2026-09-10T02:59:59", True),
        (DEBATE, "2026-09-10T03:00:00", False),
        ({"start": "22:00", "end": "02:00"}, "2026-09-10T23:00:00", True),
        ({"start": "22:00", "end": "02:00"}, "2026-09-10T01:59:00", True),
        ({"start": "22:00", "end": "02:00"}, "2026-09-10T02:00:00", False),
        # Thursday 01:00 belongs to Wednesday's occurrence of a window past midnight.
        ({"start": "22:00", "end": "02:00", "days": ["wed"]}, "2026-09-10T01:00:00", True),
        ({"start": "22:00", "end": "02:00", "days": ["thu"]}, "2026-09-10T01:00:00", False),
        ({"start": "22:00", "end": "02:00", "days": ["thu"]}, "2026-09-10T22:00:00", True),
        ({"start": "00:00", "end": "24:00", "dates": ["2026-09-10"]}, "2026-09-10T23:59:59",
         True),
        ({"start": "00:00", "end": "24:00", "dates": ["2026-09-10"]}, "2026-09-11T00:00:00",
         False),
        ({"start": "09:00", "end": "17:00", "days": ["sat", "sun"]}, "2026-09-12T12:00:00",
         True),
        ({"start": "09:00", "end": "17:00", "days": ["sat", "sun"]}, "2026-09-11T12:00:00",
         False),
    ],
)
def test_trading_window_opens_and_closes_on_the_clock(window: dict[str, Any], at: str,
                                                       open_: bool) -> None:
    now = int(datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp())
    rule = policy(trading_windows={"windows": [window]})
    found = verdicts(rule, Plan(posts=(post("0.45"),)), now=now)
    assert [v.tokens for v in found] == ([(A,)] if open_ else [])


def test_trading_window_covers_only_its_tokens() -> None:
    rule = policy(trading_windows={"windows": [{**DEBATE, "tokens": [B]}]})
    plan = Plan(posts=(post("0.45"), post("0.45", token=B)))
    now = NOW + 3600
    after, held = held_tokens(rule, plan, now=now)
    assert set(held) == {B}
    assert [p.key.token_id for p in after.posts] == [A]


def test_trading_window_with_cancel_orders_cancels_ours_and_posts_nothing() -> None:
    rule = policy(trading_windows={"windows": [{**DEBATE, "cancel_orders": True}]})
    plan = Plan(keeps=(keep("0.40", order_id="0x1"), keep("0.40", token=B, order_id="0x2")),
                posts=(post("0.45"),), cancels=(cancel("0.30", order_id="0x3"),))
    after, held = held_tokens(rule, plan, now=NOW + 3600)
    assert held == {}
    assert after.posts == () and after.keeps == ()
    assert {(c.order_id, c.reason) for c in after.cancels} == {
        ("0x1", CancelReason.POLICY_WINDOW), ("0x2", CancelReason.POLICY_WINDOW),
        ("0x3", CancelReason.POLICY_WINDOW),  # the plan's own cancel goes, as the window's
    }


@pytest.mark.parametrize(("level", "overrides"), [("advisory", ()), ("soft", ("trading_windows",))])
def test_trading_window_cancels_nothing_when_advisory_or_overridden(
    level: str, overrides: tuple[Rule, ...]
) -> None:
    rule = policy(trading_windows={"enforcement": level,
                                   "windows": [{**DEBATE, "cancel_orders": True}]})
    plan = Plan(keeps=(keep("0.40"),), posts=(post("0.45"),))
    after, held = held_tokens(rule, plan, now=NOW + 3600, overrides=overrides)
    assert (after.keeps, after.posts, after.cancels, held) == (plan.keeps, plan.posts, (), {})


# --- enforcement levels ----------------------------------------------------------------------

FAT = Plan(posts=(post("0.94"), post("0.45", token=B)), cancels=(cancel("0.90", order_id="0x9"),),
           keeps=(keep("0.45", token=B, order_id="0x8"),))
BOOKS = {A: book("0.44", "0.46"), B: book("0.44", "0.46")}


def test_advisory_warns_and_changes_nothing() -> None:
    rule = policy(price_band={"max_distance": "0.05", "enforcement": "advisory"})
    after, held = held_tokens(rule, FAT, books=BOOKS)
    assert held == {}
    assert (after.posts, after.cancels, after.keeps) == (FAT.posts, FAT.cancels, FAT.keeps)
    assert any("advisory: applied anyway" in w for w in after.warnings)


def test_soft_holds_the_token_and_the_rest_goes_on() -> None:
    after, held = held_tokens(policy(**MID_BAND), FAT, books=BOOKS)
    assert list(held) == [A]
    assert [p.key.token_id for p in after.posts] == [B]
    assert after.cancels == ()  # the token's cancel waits too
    assert any("held until the files change or an override is applied" in w
               for w in after.warnings)


def test_soft_lets_through_once_with_an_override_of_its_rule() -> None:
    found = check_policy(policy(**MID_BAND), plan=FAT, inputs=PolicyInputs(books=BOOKS), now=NOW)
    gate = enforce_policy(FAT, found, policy=policy(**MID_BAND), now=NOW,
                          overrides=(Rule.PRICE_BAND,))
    assert gate.held == {} and gate.overridden == found
    assert gate.plan.posts == FAT.posts and gate.plan.cancels == FAT.cancels
    other = enforce_policy(FAT, found, policy=policy(**MID_BAND), now=NOW,
                           overrides=(Rule.MAX_POSITION,))
    assert list(other.held) == [A]


def test_hard_holds_whatever_the_overrides() -> None:
    rule = policy(price_band={"max_distance": "0.05", "enforcement": "hard"})
    after, held = held_tokens(rule, FAT, books=BOOKS, overrides=tuple(Rule))
    assert list(held) == [A]
    assert any("hard: no override" in w for w in after.warnings)


def test_no_policy_no_verdict_and_the_same_plan() -> None:
    assert check_policy(None, plan=FAT, inputs=PolicyInputs(), now=NOW) == ()
    gate = enforce_policy(FAT, (), policy=None, now=NOW)
    assert gate.plan is FAT


# --- overrides, digests and what is read -----------------------------------------------------


def _spec(rules: dict[str, Any]) -> Any:
    return state_from_dicts({"version": 1, "policy": rules, "tokens": []})


def test_an_override_of_a_rule_not_set_or_hard_is_refused() -> None:
    spec = _spec({"price_band": {"max_ticks": 5, "enforcement": "hard"},
                  "max_position": {"shares": 10}})
    user = "alice"
    assert override_problem(spec, [Override(Rule.MAX_POSITION, "ok", user)]) is None
    hard = override_problem(spec, [Override(Rule.PRICE_BAND, "ok", user)])
    assert hard is not None and "hard" in hard
    absent = override_problem(spec, [Override(Rule.MAX_OPEN_ORDERS, "ok", user)])
    assert absent is not None and "sets no max_open_orders" in absent


@pytest.mark.parametrize("reason", ["", "   ", "x" * 301, "a bell\x07", "0x" + "ab" * 32])
def test_an_override_needs_a_reason_of_one_line_that_is_not_a_key(reason: str) -> None:
    with pytest.raises(ValueError):
        Override(Rule.PRICE_BAND, reason, "alice")


def test_an_override_keeps_its_reason_on_one_line() -> None:
    override = Override(Rule.PRICE_BAND, "  the  debate\tmoved\nearly ", "a")
    assert override.reason == "the debate moved early"


def test_the_plan_digest_names_what_would_be_sent() -> None:
    one = Plan(posts=(post("0.45"), post("0.46", token=B)), cancels=(cancel("0.40"),))
    same = Plan(posts=(post("0.46", token=B), post("0.45")), cancels=(cancel("0.40"),),
                keeps=(keep("0.30"),))
    other = Plan(posts=(post("0.45", "11"), post("0.46", token=B)), cancels=(cancel("0.40"),))
    assert plan_digest(one) == plan_digest(same) != plan_digest(other)
    assert len(plan_digest(one)) == 64


def test_the_rules_need_the_book_and_shares_of_posting_tokens_only() -> None:
    rules = policy(price_band={"max_ticks": 5}, max_position={"notional": "10"})
    plan = Plan(posts=(post("0.45"), post("0.55", token=B, side=Side.SELL)),
                keeps=(keep("0.40", token="3" * 20),))
    needs = policy_needs(rules, plan)
    assert needs.books == {A, B} and needs.shares == {A}
    assert policy_needs(rules, Plan(keeps=plan.keeps)).books == frozenset()
    assert policy_needs(None, plan).books == frozenset()
    shares_only = policy_needs(policy(max_position={"shares": "10"}), plan)
    assert shares_only.books == frozenset() and shares_only.shares == {A}
