"""Planner speed: 10,000 levels against 10,000 open orders (DESIGN.md: under 100 ms).

100 tokens x 100 levels (50 bids, 50 asks), tick 0.01, caps set on every token and globally.
Scenarios, each timed as the median of 9 runs of `plan()` alone (inputs built first, a
`gc.collect()` before each run, the collector left on during it):

- converged: every level carried by one of our orders of the right size; the plan is empty
  (10,000 keeps) — what every daemon tick computes in steady state;
- churn: the same orders, but a quarter oversized, a quarter of the wrong order type, a quarter
  at levels no longer declared and a quarter partly filled, plus 2,000 foreign orders;
- cold start: no open order at all; 10,000 posts, trimmed by the caps.

Also timed (for information, not part of the 100 ms goal): loading the same 10,000 levels from
100 YAML files with `load_desired`.

Run: `.venv/bin/python -m bench.bench_planner` (prints a markdown table).
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from reconciler.engine import load_desired
from reconciler.model import (
    InventoryOrder,
    LevelKey,
    LevelState,
    MarketInfo,
    OpenOrder,
    OrderType,
    Side,
)
from reconciler.planner import plan
from reconciler.spec import DesiredState, state_from_dicts

TOKENS = 100
NOW = 1_800_000_000
RUNS = 9
BIDS = [Decimal(f"0.{p:02d}") for p in range(1, 51)]
ASKS = [Decimal(f"0.{p:02d}") for p in range(50, 100)]


def token_id(n: int) -> str:
    return str(10**76 + n * 7919)


def token_doc(n: int) -> dict[str, Any]:
    levels = [{"side": "BUY", "price": str(p), "size": "100"} for p in BIDS]
    levels += [{"side": "SELL", "price": str(p), "size": "100"} for p in ASKS]
    return {"token_id": token_id(n), "max_buy_notional": "2000", "orders": levels}


def build_spec() -> DesiredState:
    document = {
        "version": 1,
        "limits": {"max_total_buy_notional": "150000"},
        "tokens": [token_doc(n) for n in range(TOKENS)],
    }
    return state_from_dicts(document)


def one_order_per_level(spec: DesiredState, *, churn: bool) -> list[OpenOrder]:
    orders = []
    for i, level in enumerate(lv for t in spec.tokens for lv in t.levels):
        size, matched, kind, price = Decimal(100), Decimal(0), OrderType.GTC, level.key.price
        if churn:
            quarter = i % 4
            if quarter == 0:
                size = Decimal(130)  # oversized
            elif quarter == 1:
                kind = OrderType.GTD  # wrong type: cancel and re-post
            elif quarter == 2:
                price = price + Decimal("0.001")  # a level no longer declared
            else:
                matched = Decimal(40)  # partly filled
        orders.append(
            OpenOrder(
                order_id=f"0x{i:064x}",
                token_id=level.key.token_id,
                side=level.key.side,
                price=price,
                original_size=size,
                size_matched=matched,
                created_at=NOW - 1000 + i % 500,
                order_type=kind,
                expiration=NOW + 86_400 if kind is OrderType.GTD else 0,
            )
        )
    return orders


def foreign_orders(count: int) -> list[OpenOrder]:
    return [
        OpenOrder(
            f"0xf{i:063x}",
            token_id(i % TOKENS),
            Side.BUY,
            Decimal("0.33"),
            Decimal(10),
            Decimal(0),
            NOW - 5,
        )
        for i in range(count)
    ]


def inputs(spec: DesiredState, observed: list[OpenOrder], ours: list[OpenOrder]) -> dict[str, Any]:
    inventory = [
        InventoryOrder(o.order_id, o.key, 1, o.original_size, o.created_at * 1000) for o in ours
    ]
    levels: dict[LevelKey, LevelState] = {
        lv.key: LevelState(lv.key, lv.spec_digest, 1, Decimal(0))
        for t in spec.tokens
        for lv in t.levels
    }
    markets = {
        t.token_id: MarketInfo(t.token_id, Decimal("0.01"), Decimal(5), False) for t in spec.tokens
    }
    return dict(
        spec=spec, observed=observed, inventory=inventory, levels=levels, markets=markets, now=NOW
    )


def timed(fn: Callable[[], object]) -> tuple[list[float], object]:
    samples, result = [], None
    for _ in range(RUNS):
        # Start each run from a collected heap, as a daemon tick would after its last plan;
        # the garbage collector still runs during the timed call.
        result = None
        gc.collect()
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def write_yaml(directory: Path, spec_docs: list[dict[str, Any]]) -> None:
    for n, doc in enumerate(spec_docs):
        lines = ["version: 1", "tokens:", f'  - token_id: "{doc["token_id"]}"', "    orders:"]
        lines += [
            f'      - {{side: {lv["side"]}, price: "{lv["price"]}", size: {lv["size"]}}}'
            for lv in doc["orders"]
        ]
        (directory / f"t{n:03d}.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    spec = build_spec()
    steady = one_order_per_level(spec, churn=False)
    churn = one_order_per_level(spec, churn=True)
    foreign = foreign_orders(2000)
    scenarios = {
        "converged": inputs(spec, steady, steady),
        "churn (+2,000 foreign)": inputs(spec, churn + foreign, churn),
        "cold start": inputs(spec, [], []),
    }
    rows = []
    for name, kwargs in scenarios.items():
        samples, result = timed(lambda kw=kwargs: plan(**kw))  # type: ignore[misc]
        p = result
        rows.append((name, len(kwargs["observed"]), samples, p))
    print(
        "| scenario | levels | open orders | keeps | cancels | posts | median ms | min ms | max ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    levels = sum(len(t.levels) for t in spec.tokens)
    for name, observed, samples, p in rows:
        print(
            f"| {name} | {levels:,} | {observed:,} | {len(p.keeps):,} | {len(p.cancels):,} | "  # type: ignore[attr-defined]
            f"{len(p.posts):,} | {statistics.median(samples):.1f} | {min(samples):.1f} | "  # type: ignore[attr-defined]
            f"{max(samples):.1f} |"
        )
    with tempfile.TemporaryDirectory() as tmp:
        write_yaml(Path(tmp), [token_doc(n) for n in range(TOKENS)])
        samples, result = timed(lambda: load_desired(Path(tmp)))
        assert result.spec is not None  # type: ignore[attr-defined]
    print(
        f"\nload_desired, {levels:,} levels in {TOKENS} YAML files: median "
        f"{statistics.median(samples):.0f} ms (min {min(samples):.0f}, max {max(samples):.0f}), "
        f"{RUNS} runs"
    )


if __name__ == "__main__":
    main()
