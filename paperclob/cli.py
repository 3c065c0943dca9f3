"""`python -m paperclob` / `reconciler paper-exchange`: run a paper exchange until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from paperclob.config import PaperConfig, RateLimit
from paperclob.markets import MarketError, parse_tick
from paperclob.server import PaperExchange


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number: {text!r}")
    return value


def _tick(text: str) -> Decimal:
    try:
        return parse_tick(text)
    except MarketError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate_limit(text: str) -> RateLimit:
    try:
        return RateLimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperclob",
        description=(
            "A local paper exchange speaking the Polymarket CLOB protocol (V2, or V1 with "
            "--protocol v1) over HTTP on loopback. It verifies L1/L2 auth and order signatures, "
            "matches orders, keeps paper balances, and can inject faults. Unknown tokens are "
            "listed on first use; new accounts start funded."
        ),
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    add("--port", type=int, default=8080, help="port to listen on (0 = any free port)")
    add("--chain-id", type=int, default=137, help="chain id orders are signed for (137 or 80002)")
    add("--protocol", choices=("v2", "v1"), default="v2", help="what GET /version reports")
    add(
        "--strict-version",
        action="store_true",
        help="refuse orders of the other protocol with order_version_mismatch",
    )
    add("--markets", type=Path, metavar="FILE", help="YAML/JSON: token -> tick, min size, neg_risk")
    add(
        "--page-size", type=int, default=100, help="items per page of /data/orders and /data/trades"
    )
    add(
        "--tick-size",
        type=_tick,
        default=Decimal("0.01"),
        help="tick of tokens listed on first use",
    )
    add("--min-size", type=_decimal, default=Decimal("5"), help="minimum order size of new tokens")
    add(
        "--collateral",
        type=_decimal,
        default=Decimal("10000"),
        help="paper pUSD a new account starts with",
    )
    add(
        "--shares",
        type=_decimal,
        default=Decimal("10000"),
        help="paper shares of every token a new account starts with",
    )
    add("--latency-ms", type=int, default=0, help="delay added to every request")
    add("--fail-5xx-rate", type=float, default=0.0, help="fraction of requests answered with 500")
    add(
        "--rate-limit",
        type=_rate_limit,
        metavar="N[/SECONDS]",
        help="per-signer limit, e.g. 100/10; over it -> 429 with Retry-After",
    )
    add(
        "--heartbeat-timeout",
        type=float,
        default=10.0,
        help="seconds without a heartbeat before a key's orders are cancelled",
    )
    add("--seed", type=int, help="fix API-key derivation and fault randomness")
    add("--no-admin", action="store_true", help="disable the /_admin endpoints")
    add("--verbose", action="store_true", help="log every request")
    return parser


def config_from_args(args: argparse.Namespace) -> PaperConfig:
    return PaperConfig(
        host=args.host,
        port=args.port,
        chain_id=args.chain_id,
        protocol=args.protocol,
        strict_version=args.strict_version,
        page_size=args.page_size,
        markets_file=args.markets,
        default_tick=args.tick_size,
        default_min_size=args.min_size,
        initial_collateral=args.collateral,
        initial_shares=args.shares,
        latency_ms=args.latency_ms,
        fail_5xx_rate=args.fail_5xx_rate,
        rate_limit=args.rate_limit,
        heartbeat_timeout_s=args.heartbeat_timeout,
        seed=args.seed,
        admin=not args.no_admin,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        exchange = PaperExchange(config_from_args(args), verbose=args.verbose)
        url = exchange.start()
    except (OSError, ValueError) as exc:
        print(f"paperclob: cannot start: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    # Announce only once the handlers are in: a supervisor that signals as soon as it reads
    # this line must get a clean stop, not the default SIGTERM death.
    print(f"paper exchange listening on {url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        exchange.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("paper exchange stopped", flush=True)
    return 0
