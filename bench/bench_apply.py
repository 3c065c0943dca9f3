"""Whole-process `reconciler apply` against a script on the official SDK, and requests per change.

1. From nothing: 1,500 orders placed by
   `python -m reconciler apply` (a process, the key in its environment, the API key derived on
   the way, as a user runs it) and by `python -m bench.sdk_apply` (py_clob_client_v2:
   create_order + post_orders in batches of 15, post-only, the same orders), in two shapes:
   100 tokens x 15 levels (8 bids, 7 asks) and 20 tokens x 75 levels (38 bids, 37 asks), since
   per-token reads weigh on one and per-order signing on the other. Rounds alternate
   (ours, SDK, ours, SDK, ...); each round gets a fresh paper exchange process (started before
   the clock) and a fresh account, so no round inherits a book or a cache. The clock runs from
   just before the fork to the process's exit; every round is then checked on the exchange
   (all orders resting), outside the clock. Target: ours <= 0.5x the SDK's time (medians).
2. Requests: one more from-nothing round of each goes through a counting proxy (tests/support
   CountingProxy), so the two clients' requests can be compared by kind. Then a one-shot
   `apply` of a 10% change (150 of the 1,500 orders move: every token's lowest bid, and every
   other token's second lowest) is counted against the minimum: every page of open orders once,
   the cancels in calls of at most 1000 ids, the posts in batches of 15. It runs twice: with
   only the private key in the environment (the API key derived), and with API_KEY, SECRET and
   PASSPHRASE set as a deployment would have them.

Run: `.venv/bin/python -m bench.bench_apply` (`--quick`: 4 tokens x 15 levels, one round each).
The bench takes about two minutes at full size.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from bench.common import (
    NOISE,
    PAGE_SIZE,
    Book,
    Finished,
    book,
    check,
    clean_env,
    command,
    median,
    paper,
    quick,
    quick_note,
    reconciler_argv,
    run_process,
    token_id,
    verdict,
    write_desired,
)
from reconciler.model import Side
from tests.support.accounts import new_key
from tests.support.processes import ORDER_WRITES, Account, CountingProxy

BATCH = 15
CANCEL_LIMIT = 1000  # ids per DELETE /orders (wire reference, 2026-06-15 changelog entry)


def sizes() -> tuple[list[tuple[int, int]], int]:
    """([(tokens, levels per token), ...], rounds of each client per shape). The first shape
    is the one the requests are counted on."""
    return ([(4, 15)], 1) if quick() else ([(100, 15), (20, 75)], 7)


def expected(tokens: Book) -> Counter[tuple[str, Side, str]]:
    return Counter((t, Side(s), p) for t, rows in tokens.items() for s, p, _ in rows)


def resting(url: str, key: str) -> Counter[tuple[str, Side, str]]:
    return Counter((o.token_id, o.side, f"{o.price:.2f}")
                   for o in Account.connect(url, key).open_orders())


def run_ours(url: str, tokens: Book, root: Path, *, env: dict[str, str] | None = None,
             key: str, fresh: bool = True) -> Finished:
    desired = write_desired(root / "desired", tokens, files=10)
    argv = reconciler_argv("apply", "--desired", str(desired),
                           "--state", str(root / "state" / "reconciler.db"),
                           "--log-level", "WARNING")
    return check(run_process(argv, env=env or clean_env(CLOB_HOST=url, PRIVATE_KEY=key)),
                 "reconciler apply")


def run_sdk(url: str, tokens: Book, root: Path, *, key: str) -> Finished:
    orders = root / "orders.json"
    orders.write_text(json.dumps([[t, s, p, z] for t, rows in tokens.items()
                                  for s, p, z in rows]))
    argv = [sys.executable, "-m", "bench.sdk_apply", str(orders)]
    return check(run_process(argv, env=clean_env(CLOB_HOST=url, PRIVATE_KEY=key)),
                 "the SDK script")


def one_round(client: str, tokens: Book) -> Finished:
    with tempfile.TemporaryDirectory(prefix=f"bench-apply-{client}-") as tmp:
        exchange = paper()
        try:
            key = new_key()  # a new account: no API key yet, no orders
            runner = run_ours if client == "ours" else run_sdk
            finished = runner(exchange.url, tokens, Path(tmp), key=key)
            seen = resting(exchange.url, key)
            if seen != expected(tokens):
                raise AssertionError(f"{client}: {sum(seen.values())} orders rest, "
                                     f"expected {sum(expected(tokens).values())}")
            return finished
        finally:
            exchange.stop()


def shape(path: str) -> str:
    return "/".join("{id}" if len(part) > 20 else part for part in path.split("/"))


def kinds(requests: list[tuple[str, str]]) -> Counter[str]:
    return Counter(f"{method} {shape(path)}" for method, path in requests)


def changed(tokens: Book) -> Book:
    """10% of the orders move: each token's lowest bid down 1 cent, every other token's second
    lowest down 3 cents (to prices no other level of the token uses)."""
    moved: Book = {}
    for n, (token, rows) in enumerate(tokens.items()):
        new = list(rows)
        side, price, size = new[0]
        new[0] = (side, str(Decimal(price) - Decimal("0.01")), size)
        if n % 2 == 0:
            side, price, size = new[1]
            new[1] = (side, str(Decimal(price) - Decimal("0.03")), size)
        moved[token] = new
    return moved


def minimum(open_orders: int, cancels: int, posts: int) -> dict[str, int]:
    return {"GET /data/orders": max(1, math.ceil(open_orders / PAGE_SIZE)),
            "DELETE /orders": math.ceil(cancels / CANCEL_LIMIT),
            "POST /orders": math.ceil(posts / BATCH)}


def moves(before: Book, after: Book) -> int:
    return sum(len(set(before[t]) - set(after[t])) for t in before)


def counted_rounds(tokens: Book) -> tuple[Counter[str], Counter[str], list[tuple[str, Counter[str],
                                                                               dict[str, int]]]]:
    """Requests of a from-nothing round of each client, then of the two 10% changes (ours)."""
    changes = []
    with tempfile.TemporaryDirectory(prefix="bench-apply-count-") as tmp:
        root = Path(tmp)
        sdk_exchange, ours_exchange = paper(), paper()
        sdk_proxy, proxy = CountingProxy(sdk_exchange.url), CountingProxy(ours_exchange.url)
        try:
            run_sdk(sdk_proxy.url, tokens, root, key=new_key())
            sdk_counts = kinds(sdk_proxy.since(0))

            key = new_key()
            run_ours(proxy.url, tokens, root / "ours", key=key)
            ours_counts = kinds(proxy.since(0))
            owner = Account.connect(ours_exchange.url, key)  # after the run: derives its key
            creds = owner.client.creds
            assert creds is not None
            with_creds = clean_env(CLOB_HOST=proxy.url, PRIVATE_KEY=owner.key,
                                   API_KEY=creds.api_key, SECRET=creds.secret,
                                   PASSPHRASE=creds.passphrase)
            moved = changed(tokens)
            for label, current, target, env in (
                ("key only (API key derived)", tokens, moved, None),
                ("API_KEY/SECRET/PASSPHRASE set", moved, tokens, with_creds),
            ):
                mark = proxy.mark()
                finished = run_ours(proxy.url, target, root / "ours", key=owner.key, env=env)
                if resting(ours_exchange.url, owner.key) != expected(target):
                    raise AssertionError(f"the 10% change ({label}) did not converge")
                n = moves(current, target)
                changes.append((f"{label}, {finished.wall:.2f} s", kinds(proxy.since(mark)),
                                minimum(sum(len(r) for r in current.values()), n, n)))
        finally:
            for stop in (sdk_proxy.stop, proxy.stop, sdk_exchange.stop, ours_exchange.stop):
                stop()
    return ours_counts, sdk_counts, changes


def requests_text(counts: Counter[str]) -> str:
    writes = sum(n for k, n in counts.items() if k.split(" ", 1)[1] in ORDER_WRITES
                 and not k.startswith("GET"))
    return f"{sum(counts.values())} ({writes} order writes)"


def listing(counts: Counter[str]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())) or "none"


Runs = dict[str, list[Finished]]
Counted = tuple[Counter[str], Counter[str], list[tuple[str, Counter[str], dict[str, int]]]]


def rounds_table(tokens: int, per_token: int, runs: Runs) -> None:
    print(f"#### {tokens * per_token:,} orders from nothing: {tokens} tokens x {per_token} "
          f"levels, round by round\n")
    print("| round | `reconciler apply` s | CPU s | peak RSS MiB | SDK script s | CPU s "
          "| peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, (a, b) in enumerate(zip(runs["ours"], runs["sdk"], strict=True), 1):
        print(f"| {n} | {a.wall:.2f} | {a.cpu:.2f} | {a.max_rss_kib / 1024:.1f} | {b.wall:.2f} "
              f"| {b.cpu:.2f} | {b.max_rss_kib / 1024:.1f} |")
    print()


def summary_table(shapes: list[tuple[int, int, Runs]]) -> None:
    print("| orders from nothing | ours wall | SDK wall | ratio | target | median of the rounds' "
          "ratios | ours CPU | SDK CPU | CPU ratio |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for tokens, per_token, runs in shapes:
        ours, sdk = (median(f.wall for f in runs[c]) for c in ("ours", "sdk"))
        ours_cpu, sdk_cpu = (median(f.cpu for f in runs[c]) for c in ("ours", "sdk"))
        paired = median(a.wall / b.wall for a, b in zip(runs["ours"], runs["sdk"], strict=True))
        print(f"| {tokens * per_token:,} ({tokens} tokens x {per_token} levels) | {ours:.2f} s "
              f"| {sdk:.2f} s | {ours / sdk:.2f}x | <= 0.5x: {verdict(ours / sdk <= 0.5)} | "
              f"{paired:.2f}x | {ours_cpu:.2f} s | {sdk_cpu:.2f} s | {ours_cpu / sdk_cpu:.2f}x |")
    print(f"\nMedians of {len(shapes[0][2]['ours'])} rounds of each, alternating, each on a "
          "fresh paper exchange and account; 'the rounds' ratios' pairs each of our rounds with "
          "the SDK round right after it, which cancels slow drifts of the machine's load. Wall: fork to exit of the process. CPU: user + "
          "system time of that process alone (`wait4`); the rest of the wall time is waiting "
          "for the exchange (and, on this machine, for a core).\n")


def print_tables(shapes: list[tuple[int, int, Runs]], counted: Counted) -> None:
    print("### Whole-process apply from nothing, ours vs a script on the official SDK\n")
    print(quick_note(), end="")
    summary_table(shapes)
    for tokens, per_token, runs in shapes:
        rounds_table(tokens, per_token, runs)
    tokens, per_token, _ = shapes[0]
    ours_counts, sdk_counts, changes = counted
    print(f"Requests of one more round of each ({tokens * per_token:,} orders, {tokens} tokens), "
          f"through a counting proxy: ours {requests_text(ours_counts)}: "
          f"{listing(ours_counts)}. SDK {requests_text(sdk_counts)}: {listing(sdk_counts)}.\n")
    print(f"### One-shot apply of a 10% change on {tokens * per_token:,} resting orders "
          f"({tokens} tokens): requests\n")
    print("| run | requests | minimum | met | beyond the minimum |\n|---|---:|---:|---|---|")
    for label, counts, floor in changes:
        extra = counts.copy()
        extra.subtract(floor)
        over = Counter({k: n for k, n in extra.items() if n > 0})
        ok = all(counts.get(k, 0) == n for k, n in floor.items()) and not over
        print(f"| {label} | {sum(counts.values())} | {sum(floor.values())} "
              f"({listing(Counter(floor))}) | {'yes' if ok else 'no'} | {listing(over)} |")
    base = book(tokens, per_token)
    print(f"\nThe change moves {moves(base, changed(base)):,} orders: every token's lowest bid, "
          f"and every other token's second lowest. The minimum: every page of open orders once (pages of {PAGE_SIZE}, the paper exchange's "
          f"default), cancels in calls of at most {CANCEL_LIMIT} ids, posts in batches of "
          f"{BATCH}. Every run is checked on the exchange afterwards (the exact book rests). "
          f"{NOISE}\n\nCommand: {command('bench_apply')}\n")


def main() -> None:
    shapes, rounds = sizes()
    measured = []
    for tokens, per_token in shapes:
        desired = book(tokens, per_token)
        assert len({token_id(i) for i in range(tokens)}) == tokens
        runs: Runs = {"ours": [], "sdk": []}
        for _ in range(rounds):
            for client in ("ours", "sdk"):
                runs[client].append(one_round(client, desired))
        measured.append((tokens, per_token, runs))
    print_tables(measured, counted_rounds(book(*shapes[0])))


if __name__ == "__main__":
    main()
