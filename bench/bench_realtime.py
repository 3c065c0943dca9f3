"""Fill -> replenished on the paper book, with the stream and without, side by side.

The idea: measure what a market maker with `replenish: true` loses after a fill: the time its
level is not fully on the book. `reconciler run` and `python -m paperclob` run as processes on
127.0.0.1 (tests/support/processes.py); the daemon ticks every 10 s (the default interval)
and declares one bid of 10 at 0.40 on each of 50 tokens. A second account sells 10 into each
bid once, at seeded random moments over two intervals (the same schedule for both runs), so
fills land anywhere in the daemon's cycle, as they do in life.

The clock of one fill runs from just before the counterparty's POST /order (signed ahead) to
the moment the paper exchange places the daemon's new order at that token: an observer holds
the daemon's own user channel (the same API key, derived again) and takes the PLACEMENT
event, which the exchange sends as it puts the order on the book. The observer is the same in
both runs; only the daemon differs: with its stream (the default) or with --no-stream (it
learns of the fill at its next 10 s sweep).

Reported: p50, p90, p99 and max over every fill (nearest rank: of 50 fills, p99 is the worst), how many passes of each kind the daemon ran and how long its targeted passes took (from
its state file, read once the daemon stopped). Target (DESIGN "Performance"): with the stream, p50 under 5% of the
interval, i.e. 500 ms.

Run: `.venv/bin/python -m bench.bench_realtime` (`--quick`: 12 fills over one interval).
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench.common import NOISE, bytecode_env, quick, quick_note, token_id, verdict
from reconciler.clob import (
    ClobClient,
    OrderEvent,
    OrderEventType,
    TransportError,
    Wallet,
    user_connection,
    ws_base_url,
)
from reconciler.model import OrderType, Side
from reconciler.store import Store
from tests.support.accounts import new_key
from tests.support.processes import DaemonProcess, PaperProcess, spec, wait_until, write_yaml

INTERVAL_S = 10.0
PRICE, SIZE = Decimal("0.40"), Decimal(10)
TARGET_FRACTION = 0.05
SEED = 13
WAIT_S = 60.0  # the longest one replenishment may take before the bench gives up on it


@dataclass(frozen=True)
class Shape:
    fills: int
    window_s: float


FULL = Shape(fills=50, window_s=2 * INTERVAL_S)
QUICK = Shape(fills=12, window_s=INTERVAL_S)


class Placements:
    """The observer: the daemon's user channel, read in a thread; when each token got a new
    order placed (monotonic seconds), newest last."""

    def __init__(self, url: str, key: str) -> None:
        client = ClobClient(url, chain_id=137, wallet=Wallet.from_private_key(key))
        creds = client.create_or_derive_api_key()  # the daemon's key: derive gives it back
        self._stream = user_connection(ws_base_url(url), creds)
        self._stream.connect()
        self.seen: dict[str, list[float]] = {}
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._stream.receive(timeout=0.2)
            except TransportError:
                return
            now = time.monotonic()
            with self._lock:
                for event in events:
                    if isinstance(event, OrderEvent) and event.kind is OrderEventType.PLACEMENT:
                        self.seen.setdefault(event.asset_id, []).append(now)
                self._lock.notify_all()

    def placed_after(self, token: str, moment: float, *, timeout: float) -> float:
        """The first placement at `token` after `moment`; raises when none came in time."""
        def found() -> float | None:
            return next((t for t in self.seen.get(token, []) if t > moment), None)

        with self._lock:
            self._lock.wait_for(lambda: found() is not None, timeout=timeout)
            placed = found()
        if placed is None:
            raise RuntimeError(f"token {token}: not replenished within {timeout:g} s")
        return placed

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._stream.close()


def run(*, stream: bool, shape: Shape, root: Path) -> tuple[list[float], dict[str, int]]:
    """One daemon, every fill of the schedule; (latencies in seconds, passes by kind)."""
    tokens = [token_id(i) for i in range(shape.fills)]
    bytecode_env()
    paper = PaperProcess()
    daemon = None
    observer = None
    try:
        key = new_key()
        desired = root / ("stream" if stream else "polling") / "desired"
        state = desired.parent / "state" / "reconciler.db"
        desired.mkdir(parents=True)
        write_yaml(desired / "book.yaml", spec({t: [("BUY", f"{PRICE}", f"{SIZE}")]
                                                for t in tokens}, replenish=True))
        ws = paper.url.replace("http://", "ws://") + "/ws"
        daemon = DaemonProcess(host=paper.url, key=key, desired=desired, state=state,
                               extra_args=("--interval", f"{INTERVAL_S:g}", "--log-level",
                                           "WARNING"), ws_url=ws if stream else None)
        observer = Placements(paper.url, key)
        mine = ClobClient(paper.url, chain_id=137, wallet=Wallet.from_private_key(key))
        mine.creds = mine.create_or_derive_api_key()
        wait_until(lambda: len(mine.get_open_orders()) == len(tokens), timeout=WAIT_S,
                   what="every bid resting")
        time.sleep(1.0)  # let the sweeps the daemon's connections asked for pass
        seller = ClobClient(paper.url, chain_id=137, wallet=Wallet.from_private_key(new_key()))
        seller.creds = seller.create_or_derive_api_key()
        sells = [seller.create_order(t, Side.SELL, PRICE, SIZE) for t in tokens]
        rng = random.Random(SEED)
        offsets = sorted(rng.uniform(0, shape.window_s) for _ in tokens)
        begin = time.monotonic()
        fills: list[tuple[str, float]] = []
        for token, order, offset in zip(tokens, sells, offsets, strict=True):
            pause = begin + offset - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            moment = time.monotonic()
            answer = seller.post_order(order, OrderType.GTC)
            if not answer.ok or answer.status != "matched":
                raise RuntimeError(f"the sell into {token} did not fill: {answer}")
            fills.append((token, moment))
        latencies = [observer.placed_after(t, m, timeout=WAIT_S) - m for t, m in fills]
        daemon.stop()  # its state file, complete, for the count of passes
        with Store.open(state, read_only=True) as store:
            rows = [r for r in store.recent_runs(100_000) if r["summary"] is not None]
        targeted = [r for r in rows if r["summary"].get("scope")]
        passes = {"targeted": len(targeted),
                  "sweeps": sum(1 for r in rows if not r["summary"].get("scope")),
                  "targeted_ms": round(statistics.median(
                      r["finished_ms"] - r["started_ms"] for r in targeted)) if targeted else 0}
        return latencies, passes
    finally:
        if observer is not None:
            observer.close()
        if daemon is not None:
            daemon.stop()
        paper.stop()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: a figure that was measured)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def row(name: str, values: list[float], passes: dict[str, int]) -> str:
    cells = [percentile(values, q) * 1000 for q in (0.5, 0.9, 0.99)] + [max(values) * 1000]
    return (f"| {name} | {len(values)} | " + " | ".join(f"{c:,.0f}" for c in cells)
            + f" | {statistics.mean(values) * 1000:,.0f} | {passes['targeted']} | "
              f"{passes['targeted_ms'] or '-'} | {passes['sweeps']} |")


def main() -> None:
    shape = QUICK if quick() else FULL
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        on, on_passes = run(stream=True, shape=shape, root=Path(tmp))
        off, off_passes = run(stream=False, shape=shape, root=Path(tmp))
    target_ms = INTERVAL_S * TARGET_FRACTION * 1000
    p50_on, p50_off = percentile(on, 0.5), percentile(off, 0.5)
    print(quick_note(), end="")
    print(f"#### Fill -> replenished on the paper book, interval {INTERVAL_S:g} s, "
          f"{shape.fills} fills over {shape.window_s:g} s\n")
    print("| daemon | fills | p50 ms | p90 ms | p99 ms | max ms | mean ms | targeted passes "
          "| targeted pass p50 ms | sweeps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(row("with the stream (default)", on, on_passes))
    print(row("--no-stream (polling)", off, off_passes))
    print(f"\nWith the stream, p50 is {p50_on * 1000:,.0f} ms = "
          f"{p50_on / INTERVAL_S:.1%} of the interval (target: under "
          f"{TARGET_FRACTION:.0%}, {target_ms:,.0f} ms: {verdict(p50_on * 1000 < target_ms)}); "
          f"polling, {p50_off * 1000:,.0f} ms ({p50_off / p50_on:,.0f}x as long).\n")
    print(NOISE + "\n")


if __name__ == "__main__":
    main()
