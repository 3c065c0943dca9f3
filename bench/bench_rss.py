"""Peak RSS of the daemon managing 10,000 orders (VmHWM of /proc/PID/status).

Two ways to arrive at 10,000 managed orders, each followed by idle ticks (`--interval 1`):
- warm restart: the orders rest already (one `reconciler apply` placed them) and the daemon
  starts on a copy of the state file that apply left, so it owns them all and changes nothing;
- cold start: a fresh paper exchange and account, an empty state file: the daemon's first tick
  places all 10,000 orders.
The daemon is `python -m reconciler run` (a process; the paper exchange is another). Its ticks
are counted on $NOTIFY_SOCKET (a socket of this process), where the daemon sends WATCHDOG=1
after every successful tick; after READY=1 and IDLE_TICKS more ticks, VmHWM (the peak resident
set of the process's life) and VmRSS are read. The daemon's CPU time per idle tick, from
/proc/PID/stat between the first and the last of those ticks, is shown beside it as a cross-check
of bench_idle (it includes the daemon's scheduler and logging; /proc counts in 10 ms ticks).
Target (DESIGN.md / issue 12): at most 100 MiB at 10,000 managed orders.

Run: `.venv/bin/python -m bench.bench_rss` (`--quick`: 100 orders, 2 idle ticks).
"""

from __future__ import annotations

import shutil
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
    paper,
    proc_cpu_seconds,
    proc_status_kib,
    quick,
    quick_note,
    verdict,
    warm,
)
from tests.support.accounts import new_key
from tests.support.processes import Account, DaemonProcess

PER_TOKEN = 10
TIMEOUT = 300.0  # a cold start places 10,000 orders: generous on a loaded machine
TARGET_MIB = 100.0


def sizes() -> tuple[int, int, int, int]:
    """(tokens, warm rounds, cold rounds, idle ticks after READY)."""
    return (10, 1, 1, 2) if quick() else (1000, 3, 2, 5)


@dataclass
class Sample:
    ready: float  # fork -> READY=1
    hwm_mib: float
    rss_mib: float
    cpu_per_tick: float


def run_daemon(*, host: str, key: str, desired: Path, state: Path, root: Path,
               idle_ticks: int) -> Sample:
    notify = NotifySocket(root / "notify.sock")
    daemon = None
    try:
        started = time.perf_counter()
        daemon = DaemonProcess(host=host, key=key, desired=desired, state=state,
                               extra_args=("--interval", "1"),
                               env={"NOTIFY_SOCKET": str(notify.path)})
        ready = notify.wait_for("READY=1", timeout=TIMEOUT) - started
        notify.wait_for("WATCHDOG=1", timeout=TIMEOUT)  # the first tick's, right after READY
        cpu = proc_cpu_seconds(daemon.pid)
        for _ in range(idle_ticks):
            notify.wait_for("WATCHDOG=1", timeout=TIMEOUT)
        cpu_per_tick = (proc_cpu_seconds(daemon.pid) - cpu) / idle_ticks
        hwm, rss = proc_status_kib(daemon.pid, "VmHWM"), proc_status_kib(daemon.pid, "VmRSS")
        idle = [r for r in daemon.records() if str(r.get("msg", "")).startswith("tick:")]
        if idle:  # idle ticks log at DEBUG only: an INFO tick line means it changed orders
            raise AssertionError(f"a tick after READY changed orders: {idle[0]}")
    finally:
        if daemon is not None:
            daemon.stop(timeout=TIMEOUT)
        notify.close()
    return Sample(ready=ready, hwm_mib=hwm / 1024, rss_mib=rss / 1024, cpu_per_tick=cpu_per_tick)


def warm_round(book: Warm, idle_ticks: int) -> Sample:
    with tempfile.TemporaryDirectory(prefix="bench-rss-warm-") as tmp:
        desired, state = book.fresh_copy(Path(tmp))
        return run_daemon(host=book.exchange.url, key=book.key, desired=desired, state=state,
                          root=Path(tmp), idle_ticks=idle_ticks)


def cold_round(book: Warm, idle_ticks: int) -> Sample:
    with tempfile.TemporaryDirectory(prefix="bench-rss-cold-") as tmp:
        root = Path(tmp)
        desired = root / "desired"
        shutil.copytree(book.desired, desired)
        exchange = paper()
        try:
            key = new_key()
            sample = run_daemon(host=exchange.url, key=key, desired=desired,
                                state=root / "state" / "reconciler.db", root=root,
                                idle_ticks=idle_ticks)
            placed = len(Account.connect(exchange.url, key).open_orders())
            if placed != book.orders:
                raise AssertionError(f"the cold start left {placed} orders, not {book.orders}")
            return sample
        finally:
            exchange.stop()


def main() -> None:
    tokens, warm_rounds, cold_rounds, idle_ticks = sizes()
    book = warm(tokens, PER_TOKEN)
    runs = {
        "warm restart (the orders rest, the state file knows them)":
            [warm_round(book, idle_ticks) for _ in range(warm_rounds)],
        "cold start (the first tick places every order)":
            [cold_round(book, idle_ticks) for _ in range(cold_rounds)],
    }
    print(f"### Daemon peak RSS at {book.orders:,} managed orders\n")
    print(quick_note(), end="")
    print("| start | rounds | VmHWM median MiB | min-max MiB | VmRSS median MiB | READY median s "
          "| daemon CPU per idle tick, median ms | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, samples in runs.items():
        hwm = [s.hwm_mib for s in samples]
        print(f"| {name} | {len(samples)} | {median(hwm):.1f} | {min(hwm):.1f}-{max(hwm):.1f} | "
              f"{median(s.rss_mib for s in samples):.1f} | "
              f"{median(s.ready for s in samples):.2f} | "
              f"{median(s.cpu_per_tick for s in samples) * 1000:,.0f} | "
              f"<= {TARGET_MIB:.0f} MiB: {verdict(median(hwm) <= TARGET_MIB)} |")
    print(f"\nVmHWM is read after READY=1 and {idle_ticks} idle ticks (`--interval 1`). For "
          f"comparison, the one-shot `reconciler apply` that placed the warm book peaked at "
          f"{book.apply_max_rss_kib / 1024:.1f} MiB (`wait4` ru_maxrss) and took "
          f"{book.apply_seconds:.1f} s. {NOISE}\n\nCommand: {command('bench_rss')}\n")


if __name__ == "__main__":
    main()
