"""`reconciler run` to READY on a warm restart with 10,000 orders resting.

A warm restart: the paper exchange (its own process) holds 10,000 orders (1,000 tokens x 10
levels) that one `reconciler apply` placed, and the daemon starts on a copy of the state file
that apply left, so it owns every order and has nothing to change. The daemon sends READY=1 to
$NOTIFY_SOCKET after its first successful tick (reconciler/daemon/daemon.py); here the socket is
a datagram socket of this process, as systemd's would be. The clock runs from just before the
fork of `python -m reconciler run` to the arrival of READY=1. The daemon's JSON log of that first
tick splits it into start-up (interpreter, imports, settings, locks, store, API key: fork ->
tick start) and the tick itself; the tick must change nothing (a warm restart that posts or
cancels would not be the case measured). Each round uses a fresh copy of the state file.
Target (DESIGN.md): READY under 1 s.

Run: `.venv/bin/python -m bench.bench_ready` (`--quick`: 100 orders, 2 rounds).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    NOISE,
    NotifySocket,
    Warm,
    command,
    median,
    quick,
    quick_note,
    spread,
    verdict,
    warm,
)
from tests.support.processes import DaemonProcess

PER_TOKEN = 10
TIMEOUT = 120.0  # one start-up never takes longer than this, even on a loaded machine


def sizes() -> tuple[int, int]:
    """(tokens, rounds)."""
    return (10, 2) if quick() else (1000, 5)


@dataclass
class Start:
    ready: float  # fork -> READY=1 received
    to_tick: float  # fork -> the first tick started (daemon log)
    tick: float  # the first tick's duration (daemon log)


def one_start(book: Warm) -> Start:
    with tempfile.TemporaryDirectory(prefix="bench-ready-") as tmp:
        root = Path(tmp)
        desired, state = book.fresh_copy(root)
        notify = NotifySocket(root / "notify.sock")
        daemon = None
        try:
            started_wall, started = time.time(), time.perf_counter()
            daemon = DaemonProcess(host=book.exchange.url, key=book.key, desired=desired,
                                   state=state, extra_args=("--interval", "600"),
                                   env={"NOTIFY_SOCKET": str(notify.path)})
            ready = notify.wait_for("READY=1", timeout=TIMEOUT) - started
            record = daemon.wait_for_log("first tick done", timeout=TIMEOUT)
        finally:
            if daemon is not None:
                daemon.stop(timeout=TIMEOUT)
            notify.close()
    if record.get("outcome") != "noop" or record.get("posted") or record.get("cancelled"):
        raise AssertionError(f"the warm restart's first tick changed orders: {record}")
    return Start(ready=ready, to_tick=float(record["tick_started"]) - started_wall,
                 tick=float(record["tick_seconds"]))


def main() -> None:
    tokens, rounds = sizes()
    book = warm(tokens, PER_TOKEN)
    starts = [one_start(book) for _ in range(rounds)]
    ready = [s.ready for s in starts]
    print(f"### `reconciler run` to READY=1, warm restart with {book.orders:,} orders resting\n")
    print(quick_note(), end="")
    print("| orders | READY median ms | min-max ms | fork -> first tick start, median ms "
          "| first tick median ms | target |")
    print("|---:|---:|---:|---:|---:|---|")
    print(f"| {book.orders:,} | {median(ready) * 1000:,.0f} | {spread(ready)} | "
          f"{median(s.to_tick for s in starts) * 1000:,.0f} | "
          f"{median(s.tick for s in starts) * 1000:,.0f} | "
          f"< 1 s: {verdict(median(ready) < 1.0)} |")
    print(f"\n{rounds} restarts, each on a fresh copy of the state file one `reconciler apply` "
          f"left ({tokens:,} tokens x {PER_TOKEN} levels, in {book.files} "
          f"files); READY=1 arrives on a datagram socket of the bench process "
          f"($NOTIFY_SOCKET). The split comes from the daemon's JSON log (wall clocks of two "
          f"processes, so it is good to a millisecond or so). {NOISE}\n\n"
          f"Command: {command('bench_ready')}\n")


if __name__ == "__main__":
    main()
