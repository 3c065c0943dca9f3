"""Text and JSON renderings of a Plan: exact text, Decimals as strings, same counts in both."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

from reconciler.cli.render import render_json, render_text
from reconciler.model import (
    Cancel,
    CancelReason,
    InventoryOrder,
    Keep,
    LevelGeneration,
    LevelKey,
    MarketInfo,
    OpenOrder,
    OrderType,
    Plan,
    Post,
    Side,
    SkippedToken,
)
from reconciler.planner import plan
from reconciler.spec import load_text

T = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
U = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
OID = "0x" + "ab" * 32


def sample_plan() -> Plan:
    bid, ask = LevelKey(T, Side.BUY, D("0.45")), LevelKey(T, Side.SELL, D("0.55"))
    return Plan(
        keeps=(Keep(OID, bid, D("60")),),
        cancels=(Cancel("0x" + "cd" * 32, LevelKey(T, Side.BUY, D("0.40")), D("10"),
                        CancelReason.LEVEL_REMOVED),),
        posts=(
            Post(bid, D("40.00"), OrderType.GTC, True, 0, 2, False, D("0.01")),
            Post(ask, D("12.5"), OrderType.GTD, False, 1798761600, 1, False, D("0.01")),
        ),
        skipped=(SkippedToken(U, "the market is not accepting orders (closed or resolved)"),),
        warnings=("BUY 0.44 @ 7132104567…: not posting 3.00: below the market's minimum order "
                  "size 5",),
        generations=(LevelGeneration(bid, "f00d", 2),),
    )


def test_text_rendering_reads_like_terraform_plan() -> None:
    text = render_text(sample_plan(), labels={T: "Election, YES"})
    assert text == (
        f"token {U}\n"
        "  ! skipped: the market is not accepting orders (closed or resolved)\n"
        "\n"
        f"token {T}  (Election, YES)\n"
        "  - BUY  0.40 x 10.00  0xcdcdcdcd…cdcd  (level removed from desired state)\n"
        "  + BUY  0.45 x 40.00  (GTC, post-only; gen 2)\n"
        "  = BUY  0.45 x 60.00  0xabababab…abab\n"
        "  + SELL 0.55 x 12.50  (GTD, expires 2027-01-01T00:00:00Z; gen 1)\n"
        "\n"
        "Warnings:\n"
        "  ! BUY 0.44 @ 7132104567…: not posting 3.00: below the market's minimum order size 5\n"
        "\n"
        "Plan: 2 to post, 1 to cancel, 1 unchanged.\n"
    )


def test_text_rendering_can_hide_unchanged_orders() -> None:
    text = render_text(sample_plan(), keeps=False)
    assert "  = " not in text and "0xabababab" not in text
    assert text.endswith("Plan: 2 to post, 1 to cancel, 1 unchanged.\n")


def test_an_empty_plan_says_so() -> None:
    key = LevelKey(T, Side.BUY, D("0.45"))
    text = render_text(Plan(keeps=(Keep(OID, key, D(5)),)))
    assert "No changes." in text
    assert text.endswith("Plan: 0 to post, 0 to cancel, 1 unchanged.\n")
    assert render_text(Plan()) == (
        "No changes. The open orders match the desired state.\n"
        "Plan: 0 to post, 0 to cancel, 0 unchanged.\n"
    )


def test_an_empty_plan_with_a_skipped_token_does_not_claim_everything_matches() -> None:
    text = render_text(Plan(skipped=(SkippedToken(T, "live tick 0.001 differs from 0.01"),)))
    assert "  ! skipped: live tick 0.001 differs from 0.01" in text
    assert "match the desired state" in text and "1 token skipped and left untouched" in text
    assert "The open orders match the desired state." not in text


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_json_rendering_keeps_money_as_strings() -> None:
    data = render_json(sample_plan())
    json.dumps(data)
    assert not any(isinstance(v, float | D) for v in _walk(data))
    assert data["summary"] == {"post": 2, "cancel": 1, "keep": 1, "skipped": 1, "empty": False}
    assert data["posts"][1] == {
        "token_id": T, "side": "SELL", "price": "0.55", "size": "12.5", "order_type": "GTD",
        "post_only": False, "expires_at": 1798761600, "generation": 1, "neg_risk": False,
        "tick_size": "0.01",
    }
    assert data["cancels"][0]["reason"] == "LEVEL_REMOVED"
    assert data["cancels"][0]["reason_text"] == "level removed from desired state"
    assert data["keeps"] == [{"token_id": T, "side": "BUY", "price": "0.45", "order_id": OID,
                              "remaining": "60"}]
    assert data["generations"] == [{"token_id": T, "side": "BUY", "price": "0.45",
                                    "spec_digest": "f00d", "generation": 2}]


def test_text_and_json_come_from_the_same_planned_plan() -> None:
    result = load_text(
        f'version: 1\ntokens:\n  - token_id: "{T}"\n    label: "Yes side"\n    orders:\n'
        "      - {side: BUY, price: 0.1, size: 100}\n      - {side: SELL, price: 0.9, size: 5}\n"
    )
    assert result.spec is not None
    resting = OpenOrder(OID, T, Side.BUY, D("0.1"), D("150"), D("0"), 1)
    p = plan(
        spec=result.spec, observed=[resting],
        inventory=[InventoryOrder(OID, resting.key, 1, D(150), 1000)], levels={},
        markets={T: MarketInfo(T, D("0.01"), D("5"), False)}, now=1_800_000_000,
    )
    text, data = render_text(p, labels=result.spec.labels), render_json(p)
    summary = data["summary"]
    assert f"Plan: {summary['post']} to post, {summary['cancel']} to cancel, " \
           f"{summary['keep']} unchanged." in text
    assert "(Yes side)" in text
    assert [D(x["size"]) for x in data["posts"]] == [x.size for x in p.posts]
    assert [x["price"] for x in data["posts"]] == ["0.1", "0.9"]  # exact, as written in YAML
