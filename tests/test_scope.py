"""A pass limited to some tokens (`--target`) never breaks the total buy cap: a buy that only
fits because a buy elsewhere is cancelled waits when that cancel is left out."""

from __future__ import annotations

from decimal import Decimal as D

from reconciler.engine.scope import TOTAL_CAP_ELSEWHERE, restrict_plan
from reconciler.model import Cancel, CancelReason, LevelKey, OrderType, Plan, Post, Side

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
B = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def post(token: str, side: Side, price: str) -> Post:
    return Post(LevelKey(token, side, D(price)), D(10), OrderType.GTC, True, 0, 1, False, D("0.01"))


def cap_plan(cap: D | None) -> Plan:
    return Plan(
        cancels=(Cancel("0x" + "aa" * 32, LevelKey(A, Side.BUY, D("0.40")), D(10),
                        CancelReason.CAP),),
        posts=(post(B, Side.BUY, "0.45"), post(B, Side.SELL, "0.60"), post(A, Side.BUY, "0.41")),
        max_total_buy_notional=cap,
    )


def test_a_target_keeps_only_its_tokens() -> None:
    cut, _ = restrict_plan(cap_plan(None), frozenset({B}), held={})
    assert [(p.key.token_id, p.key.side) for p in cut.posts] == [(B, Side.BUY), (B, Side.SELL)]
    assert cut.cancels == () and cut.warnings == ()


def test_under_a_total_cap_a_targets_buys_wait_for_a_buy_cancel_left_out() -> None:
    cut, _ = restrict_plan(cap_plan(D(100)), frozenset({B}), held={})
    assert [(p.key.token_id, p.key.side) for p in cut.posts] == [(B, Side.SELL)]
    assert cut.warnings == (f"token {B}: buys {TOTAL_CAP_ELSEWHERE}",)
    whole, _ = restrict_plan(cap_plan(D(100)), frozenset({A, B}), held={})  # the cancel is inside: all go
    assert len(whole.posts) == 3 and len(whole.cancels) == 1
