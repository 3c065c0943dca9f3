"""Order signing throughput: our OrderBuilder vs py-clob-client-v2's OrderBuilder.build_order.

Both build and sign the same N limit orders (V2 profile, EOA wallet, chain 137, tick 0.01, prices
and sizes varying per order) in one process; the SDK is the test-only oracle dependency. Run:

    .venv/bin/python -m bench.bench_signing [N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from decimal import Decimal

N_DEFAULT = 2000
KEY = "0x" + "11" * 32  # the public throwaway key of the reference vectors
TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def _inputs(n: int) -> list[tuple[str, Decimal, Decimal]]:
    return [
        ("BUY" if i % 2 else "SELL", Decimal(1 + i % 98) / 100, Decimal(100 + i % 5000) / 10)
        for i in range(n)
    ]


def _ours(inputs: list[tuple[str, Decimal, Decimal]]) -> Callable[[], None]:
    from reconciler.clob.builder import OrderBuilder
    from reconciler.clob.signing import Wallet

    builder = OrderBuilder(Wallet.from_private_key(KEY), chain_id=137)
    tick = Decimal("0.01")

    def run() -> None:
        for side, price, size in inputs:
            builder.build_limit(TOKEN_ID, side, price, size, tick, False)  # type: ignore[arg-type]

    return run


def _sdk(inputs: list[tuple[str, Decimal, Decimal]]) -> Callable[[], None]:
    from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
    from py_clob_client_v2.order_builder.builder import OrderBuilder
    from py_clob_client_v2.signer import Signer

    builder = OrderBuilder(Signer(KEY, 137))
    options = CreateOrderOptions(tick_size="0.01", neg_risk=False)
    args = [
        OrderArgsV2(token_id=TOKEN_ID, price=float(p), size=float(s), side=side)
        for side, p, s in inputs
    ]

    def run() -> None:
        for a in args:
            builder.build_order(a, options, version=2)

    return run


def _rate(run: Callable[[], None], n: int) -> float:
    run()  # warm-up: imports, caches
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n / best


def main(n: int = N_DEFAULT) -> dict[str, float]:
    inputs = _inputs(n)
    ours = _rate(_ours(inputs), n)
    sdk = _rate(_sdk(inputs), n)
    print(f"### Order signing ({n} V2 limit orders, EOA, best of 3)\n")
    print("| builder | orders/s |")
    print("|---|---:|")
    print(f"| reconciler OrderBuilder.build_limit | {ours:,.0f} |")
    print(f"| py_clob_client_v2 OrderBuilder.build_order | {sdk:,.0f} |")
    print(f"| ratio | {ours / sdk:.1f}x |\n")
    return {"ours_per_s": ours, "sdk_per_s": sdk, "ratio": ours / sdk}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N_DEFAULT)
