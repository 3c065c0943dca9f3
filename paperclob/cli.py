"""`python -m paperclob` / `reconciler paper-exchange`: run a paper exchange until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from paperclob.config import PaperConfig, RateLimit, WireForms
from paperclob.markets import MarketError, parse_tick
from paperclob.ratelimit import tier_named
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


def _tier(text: str) -> str:
    try:
        return tier_named(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    return float(_decimal(text))


ADMIN_HELP = """\
admin routes (loopback; off with --no-admin), JSON in and out, e.g.
  curl -s -XPOST http://127.0.0.1:8080/_admin/trading-mode -d '{"mode": "post-only"}'

  POST /_admin/market          {"token_id": "123", "tick_size": "0.001", "version": "v2"}
                               {"token_id": "123", "resolve": true, "winner": "123"}
  GET|POST|DELETE /_admin/faults {"error_5xx_next": 2, "paths": ["/order"]}
  POST /_admin/balance         {"address": "0x..", "collateral": "50"}
  POST /_admin/clock           {"advance_s": 90}
  GET|POST /_admin/trading-mode {"mode": "disabled|cancel-only|post-only|restarting|normal",
                                 "address": "0x.." (optional), "duration_s": 90,
                                 "retry_after_s": 79}
                               {"address": "0x..", "restriction": "closed-only|banned|none"}
  GET|POST /_admin/rate-limits {"mode": "warn", "tier": "Gold", "address": "0x..", "reset": true}
  GET|POST /_admin/settlement  {"fail": ["<trade id>"], "fail_next": 1, "delay_s": 0.5}
  POST /_admin/notifications   {"type": 11, "address": "0x.."}  (1/2/8 take "order_id",
                               3/4 take "token_id" or "condition_id"; "payload" overrides keys)
  GET|POST /_admin/wire        {"heartbeat_error_key": "error", "unknown_order": "null",
                                "order_status": "prefixed", "trade_status": "plain",
                                "orders_end_cursor": "", "stream_frames": "array",
                                "stream_timestamp": "ms"}
  GET|POST|DELETE /_admin/stream {"drop": ["user"], "refuse_next": 1, "rules": [{"action":
                                "lose|cut|delay", "channel": "user", "event_type": "trade",
                                "match": "MATCHED", "count": 1, "delay_ms": 500}]}

WebSocket channels on the same port: ws://127.0.0.1:PORT/ws/user and /ws/market.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperclob",
        description=(
            "A local paper exchange speaking the Polymarket CLOB protocol (V2, or V1 with "
            "--protocol v1) over HTTP on loopback. It verifies L1/L2 auth and order signatures, "
            "matches orders, settles trades asynchronously, streams the user and market "
            "channels over WebSocket, meters per-signer token buckets, "
            "keeps paper balances, and can inject faults. Unknown tokens are listed on first "
            "use; new accounts start funded."
        ),
        epilog=ADMIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    add(
        "--rate-tier",
        type=_tier,
        default="Standard",
        help="per-signer token-bucket tier: Standard (default), Copper, Bronze, Silver, Gold, "
        "Platinum, Diamond, Elite",
    )
    add(
        "--rate-limit-mode",
        choices=("enforce", "warn", "off"),
        default="enforce",
        help="token buckets: enforce (429, default), warn (Poly-RateLimit-Warning), off",
    )
    add(
        "--settle-delay",
        type=_seconds,
        default=1.0,
        help="seconds per settlement step: MATCHED -> MINED -> CONFIRMED (default 1; 0 = at once)",
    )
    add(
        "--no-auto-tick",
        action="store_true",
        help="never change a market's tick on its own (beyond 0.96 / below 0.04)",
    )
    add(
        "--heartbeat-error-key",
        choices=WireForms.CHOICES["heartbeat_error_key"],
        default="error_msg",
        help="key of the stale-heartbeat 400's message: error_msg (SDKs, default) or error",
    )
    add(
        "--unknown-order",
        choices=WireForms.CHOICES["unknown_order"],
        default="404",
        help="GET /data/order/{unknown}: 404 Order not found (default) or 200 null",
    )
    add(
        "--order-status",
        choices=WireForms.CHOICES["order_status"],
        default="plain",
        help="REST order statuses: plain LIVE (default) or prefixed ORDER_STATUS_LIVE",
    )
    add(
        "--trade-status",
        choices=WireForms.CHOICES["trade_status"],
        default="prefixed",
        help="REST trade statuses: prefixed TRADE_STATUS_MATCHED (default) or plain",
    )
    add(
        "--orders-end-cursor",
        choices=("LTE=", "empty"),
        default="LTE=",
        help="next_cursor of the last /data/orders page: LTE= (default) or empty",
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
        rate_limit_tier=args.rate_tier,
        rate_limit_mode=args.rate_limit_mode,
        settle_delay_s=args.settle_delay,
        auto_tick=not args.no_auto_tick,
        wire=WireForms(
            heartbeat_error_key=args.heartbeat_error_key,
            unknown_order=args.unknown_order,
            order_status=args.order_status,
            trade_status=args.trade_status,
            orders_end_cursor="" if args.orders_end_cursor == "empty" else "LTE=",
        ),
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
