"""Paper exchange throughput: pre-signed orders posted in batches of 15 over HTTP.

The server runs as its own process (`python -m paperclob`), as it does for a user, so the poster
and the server do not share one interpreter lock. Orders are signed with our OrderBuilder before
the clock starts; the timed part is HTTP + L2 auth + signature recovery + validation + matching.

Scenarios: `resting` (bids that rest), `crossing` (a second account sells into resting bids, so
every order matches), each over one keep-alive connection and over two in parallel.

Run: `.venv/bin/python -m bench.bench_paper` (prints a markdown table).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
import time
from decimal import Decimal

import requests
from eth_account import Account

from reconciler.clob.auth import ApiCreds, l1_headers, l2_headers
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.signing import Wallet
from reconciler.model import Side

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
BATCH = 15
ORDERS = 3000  # per scenario


def start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paperclob",
            "--port",
            "0",
            "--collateral",
            "1000000",
            "--shares",
            "1000000",
            "--page-size",
            "500",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready:
        process.kill()
        raise RuntimeError("the paper exchange did not start")
    return process, process.stdout.readline().strip().rsplit(" ", 1)[-1]


class Poster:
    def __init__(self, url: str) -> None:
        self.url = url
        self.wallet = Wallet.from_private_key("0x" + bytes(Account.create().key).hex())
        self.builder = OrderBuilder(self.wallet, chain_id=137)
        self.session = requests.Session()
        headers = l1_headers(self.wallet, chain_id=137, timestamp=int(time.time()))
        data = self.session.post(url + "/auth/api-key", headers=headers, timeout=10).json()
        self.creds = ApiCreds(data["apiKey"], data["secret"], data["passphrase"])

    def bodies(self, side: Side, count: int) -> list[bytes]:
        """Pre-signed POST /orders bodies (outside the timed part)."""
        entries = []
        for i in range(count):
            price = Decimal(10 + i % 40) / 100
            order = self.builder.build_limit(TOKEN, side, price, Decimal(5), Decimal("0.01"), False)
            entries.append(
                {
                    "order": order.to_wire(),
                    "owner": self.creds.api_key,
                    "orderType": "GTC",
                    "postOnly": False,
                }
            )
        return [
            json.dumps(entries[i : i + BATCH], separators=(",", ":")).encode()
            for i in range(0, len(entries), BATCH)
        ]

    def post_all(self, bodies: list[bytes]) -> tuple[int, int]:
        """(orders accepted, of which matched on arrival)."""
        accepted = matched = 0
        for body in bodies:
            headers = l2_headers(
                self.creds,
                address=self.wallet.address,
                timestamp=int(time.time()),
                method="POST",
                path="/orders",
                body=body,
            )
            response = self.session.post(
                self.url + "/orders", data=body, headers=headers, timeout=30
            )
            response.raise_for_status()
            results = response.json()
            accepted += sum(1 for r in results if r["success"])
            matched += sum(1 for r in results if r["status"] == "matched")
        return accepted, matched


def run(url: str, *, side: Side, connections: int, seed_bids: bool) -> tuple[int, int, float]:
    posters = [Poster(url) for _ in range(connections)]
    if seed_bids:  # resting bids for the sellers to hit
        seeder = Poster(url)
        seeder.post_all(seeder.bodies(Side.BUY, ORDERS))
    work = [p.bodies(side, ORDERS // connections) for p in posters]
    results = [(0, 0)] * connections

    def post(index: int) -> None:
        results[index] = posters[index].post_all(work[index])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return sum(r[0] for r in results), sum(r[1] for r in results), seconds


def main() -> None:
    process, url = start_server()
    try:
        rows = []
        for name, side, seed in (("resting", Side.BUY, False), ("crossing", Side.SELL, True)):
            for connections in (1, 2):
                accepted, matched, seconds = run(
                    url, side=side, connections=connections, seed_bids=seed
                )
                rows.append((name, connections, accepted, matched, seconds, accepted / seconds))
    finally:
        process.terminate()
        process.communicate(timeout=30)
    print("### Paper exchange: POST /orders, batches of 15, pre-signed V2 orders\n")
    print("| scenario | connections | accepted | matched | seconds | orders/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, connections, accepted, matched, seconds, rate in rows:
        print(f"| {name} | {connections} | {accepted} | {matched} | {seconds:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
