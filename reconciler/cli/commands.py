"""The CLI's command handlers: `(args, settings) -> exit code`, one short function each.

Each one wires library calls together and prints; the decisions are in the library. Commands
that write the state file (`plan` records what it learns, `apply`, `run`) hold the state lock,
so they never run beside a daemon on the same file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.blind_text import orders_lines
from reconciler.cli.logs import configure_logging
from reconciler.cli.policy_view import overrides_from, policy_text, status_policy_text
from reconciler.cli.render import render_json, render_text, report_json, report_text
from reconciler.cli.settings import Settings, SettingsError, ShutdownPolicy
from reconciler.cli.wiring import (
    cancel_managed_orders,
    connect,
    heartbeat_sender,
    make_reconciler,
    open_store,
    stream_setup,
)
from reconciler.clob import AssetType, CancelResult, ClobError
from reconciler.daemon import (
    AccountLock,
    Daemon,
    DaemonOptions,
    LockHeld,
    StateLock,
    SystemdNotifier,
    check_port_free,
    holder_pid,
)
from reconciler.engine import TickResult, find_adoptable, load_desired, validate_directory
from reconciler.engine import adopt as adopt_orders
from reconciler.model import NotificationType
from reconciler.spec import json_schema
from reconciler.store import Store, backup_state_file

log = logging.getLogger("reconciler.cli.main")

#: `run --once-and-show` gives up (exit 1) after this many failed ticks in a row.
ONCE_MAX_FAILURES = 5


def _logging(args: argparse.Namespace, settings: Settings, *, default: str) -> None:
    level = settings.log_level if getattr(args, "log_level", None) else default
    configure_logging(log_format=settings.log_format, level=level, secrets=settings.secrets())


# --- desired state, no exchange --------------------------------------------------------------


def validate(args: argparse.Namespace, settings: Settings) -> int:
    directory = Path(args.dir) if args.dir else settings.desired_dir
    return validate_directory(directory, sys.stdout)


def schema(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


# --- reconcile -------------------------------------------------------------------------------


def plan(args: argparse.Namespace, settings: Settings) -> int:
    _logging(args, settings, default="WARNING")
    try:
        lock = StateLock(settings.state_path)
        lock.acquire()
    except LockHeld as exc:
        # plan records what it learns (order states, fills) and resolves unanswered posts: beside
        # a running daemon it could judge a post in flight as lost.
        raise SettingsError(f"{exc} `plan` updates the state file too, so it cannot run beside "
                            "the daemon; `reconciler status` and `reconciler orders` can.") from None
    with _writer(settings, lock) as (conn, store):
        report = make_reconciler(conn, store).plan()
    if args.json:
        print(out.dumps({"plan": report_json(report), "error": report.error,
                         "spec_errors": list(report.spec_errors), "digest": report.digest,
                         "has_changes": report.has_changes, "policy": report.policy}))
    else:
        print(report_text(report) + policy_text(report.policy))
    if report.error:
        return 1
    return 2 if args.detailed_exitcode and report.has_changes else 0


def apply(args: argparse.Namespace, settings: Settings) -> int:
    _logging(args, settings, default="INFO")
    overrides = overrides_from(args)
    with _writer(settings, StateLock(settings.state_path)) as (conn, store):
        result = make_reconciler(conn, store).tick(overrides=overrides)
    if args.json:
        print(out.dumps({"success": result.success, "outcome": result.outcome,
                         "error": result.error, "summary": result.status_line,
                         "plan": render_json(result.plan) if result.plan else None,
                         "policy": result.run_summary.get("policy")}))
    else:
        if result.plan is not None:
            print(render_text(result.plan, labels=_labels(settings)))
        print("\n".join(filter(None, [policy_text(result.run_summary.get("policy")),
                                      result.status_line])))
    # Broken files fail a one-shot apply even when the kept revision was applied (the daemon, in
    # contrast, counts that pass as a success so it keeps its watchdog and cadence).
    return 0 if result.success and result.spec_valid else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    _logging(args, settings, default="INFO")
    once = bool(args.once_and_show)
    if settings.metrics_port is not None:
        try:
            check_port_free(settings.metrics_port)
        except OSError as exc:
            raise SettingsError(f"--metrics-port {settings.metrics_port} cannot be served on "
                                f"127.0.0.1 ({exc.strerror}); choose a free port") from None
    with _writer(settings, StateLock(settings.state_path)) as (conn, store):
        options = DaemonOptions(
            interval_seconds=settings.interval_seconds,
            debounce_seconds=settings.debounce_seconds,
            stop_timeout_seconds=settings.stop_timeout_seconds,
            heartbeat_seconds=settings.heartbeat_seconds if settings.heartbeat else None,
            exit_after_first_success=once,
            max_failures=ONCE_MAX_FAILURES if once else None,
        )
        cancel_on_stop = settings.on_shutdown is ShutdownPolicy.CANCEL
        reconciler = make_reconciler(conn, store)
        daemon = Daemon(
            ticker=reconciler, desired_dir=settings.desired_dir,
            options=options, notifier=SystemdNotifier(), metrics_port=settings.metrics_port,
            on_shutdown=(lambda: cancel_managed_orders(conn=conn, store=store))
            if cancel_on_stop else None,
            heartbeat=heartbeat_sender(conn) if settings.heartbeat else None,
            stream=stream_setup(conn, reconciler),
        )
        # A long paced tick keeps making requests: that is progress, not a hang (heartbeats).
        conn.client.on_progress = daemon.health.progress
        code = daemon.run(install_signals=True)
        if once:
            _show_converged(daemon.last_result, conn=conn, labels=_labels(settings))
    return code


def adopt(args: argparse.Namespace, settings: Settings) -> int:
    """Take the blind tokens' open orders into the inventory (invariant 10), after showing them
    and asking (or with --yes). Holds the same locks as `apply`."""
    _logging(args, settings, default="WARNING")
    with _writer(settings, StateLock(settings.state_path)) as (conn, store):
        found = find_adoptable(make_reconciler(conn, store), token_id=args.token)
        if isinstance(found, str):
            raise SettingsError(found)
        if not found:
            print("Nothing to adopt: every open order at a declared level is in this state file "
                  "or known as the trader's own.")
            return 0
        count = sum(len(b.orders) for b in found)
        print("\n".join(orders_lines(found, labels=_labels(settings))))
        if not args.yes and not _confirm(f"Adopt these {count} order(s) as the daemon's?"):
            print("Nothing adopted.")
            return 1
        adopted = adopt_orders(found, store=store)
    print(f"Adopted {len(adopted)} order(s) on {len(found)} token(s); they count toward their "
          "levels now.")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise SettingsError("`adopt` asks before it adopts, and there is no terminal to ask on; "
                            "check `reconciler plan`, then add --yes")
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


@contextmanager
def _writer(settings: Settings, state_lock: StateLock) -> Iterator[tuple[Any, Store]]:
    """What every command that writes the state file holds, in this order: the state lock, the
    connection, the account lock (one reconciler per account on this machine), the store."""
    with state_lock, connect(settings) as conn, \
            AccountLock(account=conn.wallet.maker, chain_id=settings.chain_id), \
            open_store(settings, conn) as store:
        yield conn, store


def _labels(settings: Settings) -> dict[str, str]:
    loaded = load_desired(settings.desired_dir)
    return dict(loaded.spec.labels) if loaded.spec is not None else {}


def _show_converged(result: TickResult | None, *, conn: Any, labels: dict[str, str]) -> None:
    """Print what the one converge did, then the book as the exchange has it."""
    if result is None:
        print("no tick ran")
        return
    print(f"\n== plan applied ({conn.host}) ==")
    plan = result.plan
    print(render_text(plan, labels=labels) if plan is not None else "(no plan)")
    print(result.status_line)
    print("\n== open orders on the exchange ==")
    print(out.orders_table(conn.client.get_open_orders(), labels=labels))


def status(args: argparse.Namespace, settings: Settings) -> int:
    store = _existing_store(settings)
    with store:
        state = store.status()
    pid = holder_pid(settings.state_path)
    if args.json:
        print(out.dumps({**state, "daemon_pid": pid, "trading_mode": out.trading_mode(state)}))
    else:
        print(out.status_text(state, daemon_pid=pid) + "\n" + status_policy_text(state))
    return 0


def history(args: argparse.Namespace, settings: Settings) -> int:
    store = _existing_store(settings)
    with store:
        entries = store.history(args.limit)
    print(out.dumps(entries) if args.json else out.history_text(entries))
    return 0


def _existing_store(settings: Settings) -> Store:
    """The state file, read-only: never created, migrated or chmodded (StateFileError)."""
    return Store.open(settings.state_path, read_only=True)


def state_backup(args: argparse.Namespace, settings: Settings) -> int:
    destination = Path(args.file)
    backup_state_file(settings.state_path, destination, overwrite=bool(args.force))
    print(f"backed up {settings.state_path} to {destination}")
    return 0


def paper_exchange(args: argparse.Namespace, settings: Settings) -> int:
    from paperclob import main as paper_main

    rest = list(args.paper_args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return int(paper_main(rest) or 0)


# --- the client's methods, by hand -----------------------------------------------------------


def orders(args: argparse.Namespace, settings: Settings) -> int:
    with connect(settings) as conn:
        found = conn.client.get_open_orders(market=args.market, asset_id=args.token)
    print(out.dumps(found) if args.json else out.orders_table(found))
    return 0


def order(args: argparse.Namespace, settings: Settings) -> int:
    with connect(settings) as conn:
        found = conn.client.get_order(args.order_id)
    if found is None:
        print(f"reconciler: the exchange has no order {args.order_id}", file=sys.stderr)
        return 1
    if args.json:
        print(out.dumps(found))
    else:
        for key, value in out.to_jsonable(found).items():
            print(f"{key}: {value}")
    return 0


def trades(args: argparse.Namespace, settings: Settings) -> int:
    with connect(settings) as conn:
        found = conn.client.get_trades(market=args.market, asset_id=args.token)
    print(out.dumps(found) if args.json else out.trades_table(found))
    return 0


def balance(args: argparse.Namespace, settings: Settings) -> int:
    kind = AssetType.CONDITIONAL if args.token else AssetType.COLLATERAL
    with connect(settings) as conn:
        if args.update:
            conn.client.update_balance_allowance(kind, args.token)
        found = conn.client.get_balance_allowance(kind, args.token)
    what = f"token {args.token} shares" if args.token else "collateral (pUSD)"
    print(f"{what}: {found.balance_decimal}")
    for spender, amount in sorted(found.allowances.items()):
        # Base units to pUSD exactly (a string-built Decimal is not rounded; a float would be).
        shown = Decimal(f"{amount}e-6") if amount < 10**30 else "unlimited"
        print(f"  allowance {spender}: {shown}")
    return 0


def keys(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "delete" and not args.yes:
        raise SettingsError("`keys delete` deletes the API key in use; add --yes to confirm")
    with connect(settings) as conn:
        if args.action == "delete":
            conn.client.delete_api_key()
            print("deleted the API key in use")
        else:
            print("\n".join(conn.client.get_api_keys()) or "(none)")
    return 0


def notifications(args: argparse.Namespace, settings: Settings) -> int:
    with connect(settings) as conn:
        found = conn.client.get_notifications()
        if args.drop and found:
            conn.client.drop_notifications([n.id for n in found])
    if args.json:
        print(out.dumps(found))
    else:
        rows = [(n.id, _NOTIFICATION_WORDS.get(n.type, n.type),
                 json.dumps(dict(n.payload), sort_keys=True, default=str)[:100]) for n in found]
        print(out.table(("ID", "TYPE", "PAYLOAD"), rows))
    return 0


#: How `notifications` names the types the daemon acts on (others print as their number).
_NOTIFICATION_WORDS: dict[int, str] = {
    NotificationType.ORDER_CANCELLATION: "cancelled",
    NotificationType.ORDER_FILL: "filled",
    NotificationType.ORDER_FILL_FAILED: "fill failed",
    NotificationType.MARKET_RESOLVED: "resolved",
}


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel by id, through the client's splitting and pacing (1000 ids and the tier's cancel
    burst per request); a failure part way still prints what was cancelled before it."""
    with connect(settings) as conn:
        try:
            result = conn.client.cancel_orders(args.order_ids)
        except ClobError as exc:
            if isinstance(exc.partial, CancelResult):
                _print_cancel(exc.partial)
                print(f"reconciler: stopped after {len(exc.partial.canceled)} cancelled; the "
                      "other ids were not cancelled, or their outcome is unknown: check with "
                      "`reconciler orders`", file=sys.stderr)
            raise
    return _print_cancel(result)


def cancel_all(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        raise SettingsError("`cancel-all` cancels EVERY open order of the account (also ones "
                            "the daemon did not place); add --yes to confirm")
    with connect(settings) as conn:
        return _print_cancel(conn.client.cancel_all())


def cancel_market(args: argparse.Namespace, settings: Settings) -> int:
    if not args.market and not args.token:
        raise SettingsError("`cancel-market` needs --market CONDITION_ID or --token TOKEN_ID")
    with connect(settings) as conn:
        return _print_cancel(conn.client.cancel_market_orders(market=args.market,
                                                              asset_id=args.token))


def _print_cancel(result: Any) -> int:
    for order_id in result.canceled:
        print(f"cancelled {order_id}")
    for order_id, reason in sorted(result.not_canceled.items()):
        print(f"not cancelled {order_id}: {reason}")
    if result.canceled:
        print("note: a running daemon re-posts declared levels; edit the YAML to remove them")
    return 0 if not result.not_canceled else 1
