"""Cancelling 2,500 orders on the Standard tier: requests and wall time against the minimum the
limits allow (clob-v2-wire.md 2.2 and 2.13).

The limits: at most 1,000 ids per `DELETE /orders`, and one cancel token per id from a
per-signer bucket that admits a batch whole or not at all (Standard: burst 120, refill 80/s; the
tier figures are the reference's third-party transcription). So the fewest calls are
ceil(2500 / min(1000, 120)) = 21, and the least time is the refill of what the burst does not
cover: (2500 - 120) / 80 = 29.75 s. The largest batch that ever passes on Standard is 120 ids;
one of 1,000 is answered 429 for good, one of 2,500 is answered 400.

The paper exchange runs as its own process with `--rate-tier Standard --rate-limit-mode
enforce`. The 2,500 orders are placed by the engine (so they are in the state file's inventory)
with the exchange's default tier raised to Elite for the setup, then put back to Standard with
full buckets. Two ways to cancel them are timed, each with a fresh client (which assumes
Standard until a header says otherwise):
- `ClobClient.cancel_orders`, what `reconciler cancel ID...` does;
- the shutdown sweep (`on_shutdown: cancel`), which is the engine's cancel step (apply, journal
  and store included): what the daemon does for any plan's cancels.

Run: `.venv/bin/python -m bench.bench_cancel` (prints a markdown table).
"""

from __future__ import annotations

import contextlib
import math
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from reconciler.cli.settings import Settings
from reconciler.cli.wiring import Connection, cancel_managed_orders
from reconciler.clob import (
    TIERS,
    ClobClient,
    ClobError,
    OrderBuilder,
    Wallet,
    random_private_key,
)
from reconciler.engine import apply_plan
from reconciler.model import LevelKey, OrderType, Plan, Post, Side
from reconciler.store import Store

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
ORDERS = 2500
CHAIN_ID = 137
TIER = TIERS["standard"]
MAX_IDS = 1000


class CountingSession(requests.Session):
    """Counts (method, path, status) of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[tuple[str, str, int]] = Counter()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        answer = super().request(method, url, *args, **kwargs)
        m = method.decode() if isinstance(method, bytes) else method
        u = url.decode() if isinstance(url, bytes) else url
        self.seen[(m.upper(), urlsplit(u).path, answer.status_code)] += 1
        return answer

    def count(self, method: str, path: str, status: int | None = None) -> int:
        return sum(n for (m, p, s), n in self.seen.items()
                   if m == method and p == path and (status is None or s == status))


def start_exchange() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "paperclob", "--port", "0", "--rate-tier", "Standard",
         "--rate-limit-mode", "enforce", "--page-size", "500", "--collateral", "1000000",
         "--shares", "1000000"],
        stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready:
        process.kill()
        raise RuntimeError("the paper exchange did not start")
    return process, process.stdout.readline().strip().rsplit(" ", 1)[-1]


def set_default_tier(url: str, tier: str) -> None:
    answer = requests.post(f"{url}/_admin/rate-limits", json={"tier": tier, "reset": True},
                           timeout=10)
    answer.raise_for_status()


def client_for(url: str, wallet: Wallet, creds: Any) -> tuple[ClobClient, CountingSession]:
    session = CountingSession()
    client = ClobClient(url, chain_id=CHAIN_ID, wallet=wallet, creds=creds, session=session,
                        timeout=30)
    return client, session


def place(url: str, wallet: Wallet, creds: Any, store: Store) -> list[str]:
    """ORDERS resting bids of ours, recorded in `store` as the engine records them."""
    set_default_tier(url, "Elite")  # setup only: the cancels below run on Standard
    client, _ = client_for(url, wallet, creds)
    builder = OrderBuilder(wallet, chain_id=CHAIN_ID)
    posts = tuple(
        Post(key=LevelKey(TOKEN, Side.BUY, Decimal(f"0.{1 + i % 49:02d}")), size=Decimal(5),
             order_type=OrderType.GTC, post_only=True, expires_at=0, generation=1,
             neg_risk=False, tick_size=Decimal("0.01"))
        for i in range(ORDERS)
    )
    result = apply_plan(Plan(posts=posts), client=client, signer=builder, store=store,
                        run_id=None, revision_id=None)
    if len(result.posted) != ORDERS:
        raise RuntimeError(f"setup placed {len(result.posted)} of {ORDERS}: {result.error}")
    set_default_tier(url, "Standard")
    return result.posted


def one_call_of(url: str, wallet: Wallet, creds: Any, ids: list[str]) -> int:
    """The status of one unpaced DELETE /orders of `ids` (what a splitting client never sends)."""
    client, session = client_for(url, wallet, creds)
    client.pacer.enabled = False
    with contextlib.suppress(ClobError):  # the refusal is the point
        client._l2("DELETE", "/orders", payload=ids, cost=len(ids))  # noqa: SLF001 (the raw call)
    return next(s for (m, p, s) in session.seen if p == "/orders")


def timed(label: str, run: Any, session: CountingSession, rows: list[list[str]]) -> None:
    started = time.perf_counter()
    done = run()
    wall = time.perf_counter() - started
    calls = session.count("DELETE", "/orders")
    throttled = session.count("DELETE", "/orders", 429)
    minimum_calls = math.ceil(ORDERS / min(MAX_IDS, TIER.cancel_burst))
    minimum_s = (ORDERS - TIER.cancel_burst) / TIER.cancel_rate
    rows.append([label, str(done), f"{calls} (min {minimum_calls})", str(throttled),
                 f"{wall:.2f}", f"{minimum_s:.2f}", f"{wall / minimum_s:.3f}"])


def main() -> None:
    process, url = start_exchange()
    rows: list[list[str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wallet = Wallet.from_private_key(random_private_key())
            creds = ClobClient(url, chain_id=CHAIN_ID, wallet=wallet).create_or_derive_api_key()
            with Store.open(Path(tmp) / "a.db") as store:
                ids = place(url, wallet, creds, store)
                client, session = client_for(url, wallet, creds)
                timed("ClobClient.cancel_orders (`reconciler cancel`)",
                      lambda: len(client.cancel_orders(ids).canceled), session, rows)
            with Store.open(Path(tmp) / "b.db") as store:
                ids = place(url, wallet, creds, store)
                refused_1000 = one_call_of(url, wallet, creds, ids[:MAX_IDS])
                refused_all = one_call_of(url, wallet, creds, ids)
                set_default_tier(url, "Standard")  # full buckets again
                client, session = client_for(url, wallet, creds)
                conn = Connection(settings=Settings(host=url), client=client, wallet=wallet,
                                  builder=OrderBuilder(wallet, chain_id=CHAIN_ID))
                timed("the engine's cancel step (the shutdown sweep)",
                      lambda: int(cancel_managed_orders(conn=conn, store=store).split()[1]),
                      session, rows)
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"#### Cancel {ORDERS:,} orders, Standard tier enforced (burst {TIER.cancel_burst}, "
          f"{TIER.cancel_rate:g}/s)\n")
    print("| path | cancelled | DELETE /orders | 429s | wall s | minimum s | wall / minimum |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nOne DELETE /orders of {MAX_IDS:,} ids: {refused_1000} (above the burst: can never "
          f"pass); of {ORDERS:,} ids: {refused_all} (above the 1,000-id limit).")


if __name__ == "__main__":
    main()
