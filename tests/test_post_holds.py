"""Which posts wait (planner rule 8, `planner.hold_posts`): one pure rule, by table and by property.

The engine asks it after planning (backoff, unknown outcomes) and apply asks it after the cancel
step (cancels that did not take effect); tests/test_invariants.py and test_review_apply.py show
both against the paper exchange.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from reconciler import planner
from reconciler.model import (
    Cancel,
    CancelReason,
    InventoryOrder,
    LevelKey,
    OrderType,
    Post,
    Side,
)

A, B, C = "1" * 10, "2" * 10, "3" * 10
D = Decimal


def key(token: str, side: Side = Side.BUY, price: str = "0.40") -> LevelKey:
    return LevelKey(token, side, D(price))


def post(token: str, side: Side = Side.BUY, price: str = "0.40") -> Post:
    return Post(key=key(token, side, price), size=D("10"), order_type=OrderType.GTC,
                post_only=True, expires_at=0, generation=1, neg_risk=False,
                tick_size=D("0.01"))


def unresolved(token: str, side: Side = Side.BUY) -> InventoryOrder:
    return InventoryOrder(f"0x{token[:4]}", key(token, side, "0.30"), 1, D("5"), 1,
                          unresolved=True)


def leftover(token: str, side: Side = Side.BUY) -> Cancel:
    return Cancel(f"0xc{token[:4]}", key(token, side, "0.30"), D("5"), CancelReason.CAP)


def reasons(holds: planner.PostHolds) -> dict[tuple[str, Side], str]:
    return {(h.post.key.token_id, h.post.key.side): h.reason for h in holds.held}


POSTS = [post(A), post(A, Side.SELL, "0.60"), post(B), post(B, Side.SELL, "0.60"), post(C)]


def test_nothing_to_wait_for_keeps_every_post_in_order() -> None:
    holds = planner.hold_posts(POSTS, max_total_buy_notional=D("100"))
    assert holds.kept == tuple(POSTS) and holds.held == ()


def test_a_token_in_backoff_waits_while_it_has_passes_left() -> None:
    holds = planner.hold_posts(POSTS, max_total_buy_notional=None,
                               backoff={A: (3, 2), B: (1, 0)})
    assert reasons(holds) == {
        (A, Side.BUY): "held back after 3 failing passes (2 more)",
        (A, Side.SELL): "held back after 3 failing passes (2 more)",
    }
    assert holds.kept == (POSTS[2], POSTS[3], POSTS[4])


def test_an_unknown_outcome_holds_its_token_and_without_a_total_cap_only_it() -> None:
    holds = planner.hold_posts(POSTS, max_total_buy_notional=None, unresolved=[unresolved(A)])
    assert set(reasons(holds)) == {(A, Side.BUY), (A, Side.SELL)}
    assert reasons(holds)[(A, Side.BUY)] == "order 0x1111 has an unknown outcome"


def test_an_unknown_buy_under_a_total_cap_holds_every_buy_but_not_other_sells() -> None:
    holds = planner.hold_posts(POSTS, max_total_buy_notional=D("100"),
                               unresolved=[unresolved(A)])
    assert reasons(holds) == {
        (A, Side.BUY): "order 0x1111 has an unknown outcome",
        (A, Side.SELL): "order 0x1111 has an unknown outcome",
        (B, Side.BUY): planner.UNKNOWN_BUY_ELSEWHERE,
        (C, Side.BUY): planner.UNKNOWN_BUY_ELSEWHERE,
    }
    assert holds.kept == (POSTS[3],)


def test_an_unknown_sell_under_a_total_cap_holds_only_its_token() -> None:
    holds = planner.hold_posts(POSTS, max_total_buy_notional=D("100"),
                               unresolved=[unresolved(A, Side.SELL)])
    assert set(reasons(holds)) == {(A, Side.BUY), (A, Side.SELL)}


def test_a_cancel_that_did_not_take_effect_holds_its_token_and_every_buy_under_a_cap() -> None:
    alone = planner.hold_posts(POSTS, max_total_buy_notional=None, still_live=[leftover(B)])
    assert reasons(alone) == {(B, Side.BUY): planner.LEFTOVER_LIVE,
                              (B, Side.SELL): planner.LEFTOVER_LIVE}
    capped = planner.hold_posts(POSTS, max_total_buy_notional=D("1"), still_live=[leftover(B)])
    assert reasons(capped) == {
        (A, Side.BUY): planner.LEFTOVER_LIVE,
        (B, Side.BUY): planner.LEFTOVER_LIVE,
        (B, Side.SELL): planner.LEFTOVER_LIVE,
        (C, Side.BUY): planner.LEFTOVER_LIVE,
    }


def test_an_unknown_outcome_names_its_order_over_a_backoff() -> None:
    holds = planner.hold_posts([post(A)], max_total_buy_notional=None,
                               backoff={A: (1, 1)}, unresolved=[unresolved(A)])
    assert holds.reasons_by_token() == {A: "order 0x1111 has an unknown outcome"}


tokens = st.sampled_from([A, B, C])
sides = st.sampled_from(list(Side))


@given(
    posts=st.lists(st.builds(post, tokens, sides), max_size=8),
    cap=st.sampled_from([None, D("50")]),
    backoff=st.dictionaries(tokens, st.tuples(st.integers(1, 5), st.integers(0, 3)), max_size=2),
    unknown=st.lists(st.builds(unresolved, tokens, sides), max_size=2),
    live=st.lists(st.builds(leftover, tokens, sides), max_size=2),
)
def test_a_post_waits_exactly_when_its_token_or_every_buy_must(
    posts: list[Post],
    cap: Decimal | None,
    backoff: dict[str, tuple[int, int]],
    unknown: list[InventoryOrder],
    live: list[Cancel],
) -> None:
    holds = planner.hold_posts(posts, max_total_buy_notional=cap, backoff=backoff,
                               unresolved=unknown, still_live=live)
    waiting_tokens = {t for t, (_, left) in backoff.items() if left > 0}
    waiting_tokens |= {o.key.token_id for o in unknown} | {c.key.token_id for c in live}
    every_buy = cap is not None and any(
        o.key.side is Side.BUY for o in [*unknown, *live]  # type: ignore[attr-defined]
    )
    held = [p for p in posts
            if p.key.token_id in waiting_tokens or (every_buy and p.key.side is Side.BUY)]
    assert [h.post for h in holds.held] == held
    assert list(holds.kept) == [p for p in posts if p not in held]
