"""Idle-tick CPU at 100 / 1,000 / 10,000 resting orders, beside the minimal work of a tick.

The minimal work of an idle tick is reading and parsing every page of open orders: a tick must
do that much to stay level-triggered. Both are measured in this process, on the same client and
keep-alive connection, in alternation (read, tick, read, tick, ...), as CPU time of this process
(`time.process_time`: every thread, user + system), so the paper exchange's own work (another
process) is not counted in either. Wall time is shown beside it.

Setup per size: a paper exchange process holding the orders (10 levels per token: 100 orders
= 10 tokens, 10,000 = 1,000 tokens), placed by one `reconciler apply` whose state file is
copied here, so the orders are ours. The reconciler is built the way `reconciler run` builds it
(`cli.wiring.connect`, `open_store`, `make_reconciler`, from `load_settings`), and its first tick
(a warm restart: per-process caches are cold) is shown apart, not counted as idle. Every idle
tick must come back `noop`: otherwise it was not idle and the figure would be wrong.
Target (DESIGN.md): an idle tick at 10,000 orders costs at most 2x the minimal read.

Run: `.venv/bin/python -m bench.bench_idle` (`--quick`: 20 and 100 orders, 3 ticks).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import NOISE, command, median, quick, quick_note, verdict, warm
from reconciler.cli.settings import load_settings
from reconciler.cli.wiring import connect, make_reconciler, open_store

PER_TOKEN = 10


def sizes() -> tuple[list[int], int]:
    """(token counts, idle ticks measured at each size)."""
    return ([2, 10], 3) if quick() else ([10, 100, 1000], 9)


@dataclass
class Cost:
    cpu: float
    wall: float


def measure(action: Callable[[], Any]) -> tuple[Cost, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return Cost(cpu=time.process_time() - cpu, wall=time.perf_counter() - wall), result


@dataclass
class Row:
    orders: int
    first: Cost
    ticks: list[Cost]
    reads: list[Cost]

    @property
    def ratio(self) -> float:
        return median(c.cpu for c in self.ticks) / median(c.cpu for c in self.reads)


def one_size(tokens: int, count: int) -> Row:
    book = warm(tokens, PER_TOKEN)
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        desired, state = book.fresh_copy(Path(tmp))
        settings = load_settings(
            flags={"desired": str(desired), "state": str(state)},
            env={"CLOB_HOST": book.exchange.url, "PRIVATE_KEY": book.key},
        )
        with connect(settings) as conn, open_store(settings, conn) as store:
            reconciler = make_reconciler(conn, store)
            first, result = measure(reconciler.tick)
            if not result.success:
                raise AssertionError(f"the first tick failed: {result.summary}")
            ticks, reads = [], []
            for _ in range(count):
                cost, orders = measure(conn.client.get_open_orders)
                if len(orders) != book.orders:
                    raise AssertionError(f"read {len(orders)} open orders, not {book.orders}")
                reads.append(cost)
                cost, result = measure(reconciler.tick)
                if result.outcome != "noop":
                    raise AssertionError(f"an idle tick came back {result.summary!r}")
                ticks.append(cost)
    return Row(orders=book.orders, first=first, ticks=ticks, reads=reads)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main() -> None:
    token_counts, count = sizes()
    rows = [one_size(tokens, count) for tokens in token_counts]
    print("### Idle tick CPU vs the minimal read (every page of open orders, read and parsed)\n")
    print(quick_note(), end="")
    print("| open orders | idle tick CPU ms | minimal read CPU ms | ratio | idle tick wall ms "
          "| minimal read wall ms | first tick after start CPU / wall ms | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        target = (f"<= 2x: {verdict(row.ratio <= 2)}" if row is rows[-1] else "")
        print(f"| {row.orders:,} | {ms(median(c.cpu for c in row.ticks))} | "
              f"{ms(median(c.cpu for c in row.reads))} | {row.ratio:.2f}x | "
              f"{ms(median(c.wall for c in row.ticks))} | "
              f"{ms(median(c.wall for c in row.reads))} | "
              f"{ms(row.first.cpu)} / {ms(row.first.wall)} | {target} |")
    print(f"\nMedians of {count} idle ticks and {count} reads per size, alternating, in one "
          f"process (CPU = `time.process_time`, every thread of the ticking process; the paper "
          f"exchange runs in its own process and is not counted). 10 orders per token; pages "
          f"of 100 orders. The DESIGN target applies at 10,000. {NOISE}\n\n"
          f"Command: {command('bench_idle')}\n")


if __name__ == "__main__":
    main()
