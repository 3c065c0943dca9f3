"""Exactly once under late landings and kills (issue 9), the daemon and the exchange as processes.

The figures the issue asks for: kills, over-fills, faults converged. Two runs, each on a fresh
paper exchange process with a counting proxy in front (tests/support/processes.py, imported):

1. SIGKILLs during a held POST: `reconciler run` posts two levels; the exchange holds that POST
   (`hold_ms`, varied from sample to sample so that the restart meets it still held or already
   landed); the daemon is killed with SIGKILL while the POST is inside, and restarted at once.
2. Held POSTs past the client's timeout: one daemon with `--request-timeout 1 --interval 1`;
   each sample adds a level and the exchange holds its POST 4 s, so the daemon's request times
   out and the order lands after two more passes (past the token's one-pass backoff) have had
   their chance to look it up, find nothing, and post the level again.

During both, the account's book is read over HTTP every 20 ms; a level counts as over-filled if
ANY sample shows more resting there than its target, and as duplicated if any sample shows two
orders there. Run: `.venv/bin/python -m bench.bench_exactly_once [KILLS] [HELD]` (9 and 30).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from reconciler.model import Side
from tests.support.processes import (
    DaemonProcess,
    Stack,
    open_stack,
    paper_admin,
    spec,
    wait_until,
    write_yaml,
)
from tests.support.sampler import HttpBookSampler

A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
KILL_LEVELS = {A: [("BUY", "0.45", "10"), ("BUY", "0.44", "20")]}
KILL_HOLDS_MS = (800, 1500, 2500, 4000)
HELD_MS = 4000


def _faults(stack: Stack) -> dict[str, int]:
    return dict(paper_admin(stack.paper.url, "faults"))


def _target(levels: dict[str, list[tuple[str, str, str]]]) -> dict[tuple[str, Side, Decimal], Decimal]:
    return {(t, Side(s), Decimal(p).normalize()): Decimal(z)
            for t, rows in levels.items() for s, p, z in rows}


def kill_sample(directory: Path, hold_ms: int) -> tuple[int, int, bool]:
    """(over-filled levels, duplicated levels, converged) of one SIGKILL during a held POST."""
    with open_stack(directory) as stack:
        write_yaml(stack.desired / "book.yaml", spec(KILL_LEVELS))
        paper_admin(stack.paper.url, "faults",
                    {"hold_next": 1, "hold_ms": hold_ms, "paths": ["/orders"]})
        observer = stack.observer()
        target = _target(KILL_LEVELS)
        with HttpBookSampler(observer.open_orders) as book:
            first = stack.start_daemon("--interval", "1")
            wait_until(lambda: _faults(stack)["received"] == 1, what="the held post")
            first.stop(signal.SIGKILL)
            stack.start_daemon("--interval", "1")
            wait_until(lambda: _faults(stack)["released"] == 1, what="the late landing")
            with contextlib.suppress(AssertionError):  # not converging is counted below
                wait_until(lambda: observer.book() == target, timeout=20, what="convergence")
            time.sleep(2.5)  # two more passes: a late duplicate would show now
            converged = observer.book() == target
        return len(book.over(target)), sum(1 for n in book.orders.values() if n > 1), converged


def held_samples(directory: Path, count: int) -> tuple[int, int, int]:
    """(over-filled levels, duplicated levels, levels converged) over `count` held POSTs."""
    levels: dict[str, list[tuple[str, str, str]]] = {A: [("BUY", "0.60", "5")]}
    with open_stack(directory) as stack:
        observer = stack.observer()
        write_yaml(stack.desired / "book.yaml", spec(levels))
        daemon: DaemonProcess = stack.start_daemon("--interval", "1", "--request-timeout", "1")
        wait_until(lambda: observer.book() == _target(levels), what="the first level")
        with HttpBookSampler(observer.open_orders) as book:
            for i in range(count):
                released = _faults(stack)["released"]
                paper_admin(stack.paper.url, "faults",
                            {"hold_next": 1, "hold_ms": HELD_MS, "paths": ["/orders"]})
                levels[A].append(("BUY", f"{Decimal('0.10') + Decimal(i) / 100:.2f}", "5"))
                write_yaml(stack.desired / "book.yaml", spec(levels))
                wait_until(lambda before=released: _faults(stack)["released"] > before,
                           what="the landing")
                wait_until(lambda: observer.book() == _target(levels), timeout=20,
                           what="the level to rest")
            time.sleep(2.5)
        assert daemon.stop() == 0
        target = _target(levels)
        converged = sum(1 for k, v in observer.book().items() if target.get(k) == v)
        return len(book.over(target)), sum(1 for n in book.orders.values() if n > 1), converged


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    kills = int(args[0]) if args else 9
    held = int(args[1]) if len(args) > 1 else 30
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kill_results = [kill_sample(root / f"kill-{i}", KILL_HOLDS_MS[i % len(KILL_HOLDS_MS)])
                        for i in range(kills)]
        over, dup, levels_converged = held_samples(root / "held", held)
    print("| run | samples | over-filled levels | duplicated levels | converged (final book) |")
    print("|---|---|---|---|---|")
    print(f"| SIGKILL while the exchange holds the POST (held {', '.join(map(str, KILL_HOLDS_MS))}"
          f" ms) | {kills} kills, {2 * kills} levels | {sum(r[0] for r in kill_results)} | "
          f"{sum(r[1] for r in kill_results)} | {sum(1 for r in kill_results if r[2])}/{kills} |")
    print(f"| POST held {HELD_MS / 1000:g} s against a 1 s request timeout, 1 s interval | "
          f"{held} | {over} | {dup} | "
          f"{levels_converged}/{held + 1} levels |")
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
