"""The `reconciler` command: a thin argparse layer over the library.

Each command parses its flags, builds `Settings` (flags, then environment, then files), calls the
library, and prints. No logic lives here: the daemon is `daemon.Daemon`, a pass is
`reconcile.Reconciler`, the wiring is `wiring.connect`, the printing is `cli_output`.

Secrets never come from argv: the private key is read from PRIVATE_KEY, from a file named by
`--private-key-file`, or from systemd's credentials directory; API credentials from API_KEY,
SECRET and PASSPHRASE (or derived from the key). Exit codes: 0 success, 1 error (usage errors
too, so that `plan --detailed-exitcode`'s 2 always means "changes pending").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from reconciler.cli import commands as c
from reconciler.cli.policy_view import add_override_options, policy_check
from reconciler.cli.settings import (
    DEBOUNCE_BOUNDS,
    INTERVAL_BOUNDS,
    LANDING_WINDOW_BOUNDS,
    LOG_LEVELS,
    REQUEST_TIMEOUT_BOUNDS,
    STOP_TIMEOUT_BOUNDS,
    LogFormat,
    SettingsError,
    load_settings,
)
from reconciler.clob import ClobError
from reconciler.daemon import LockHeld
from reconciler.spec import EmptyDesiredState
from reconciler.store import STORE_ERRORS, StateFileError, describe_sqlite_error

#: `history --limit` bounds.
HISTORY_LIMIT_MAX = 100_000

EPILOG = """\
Connection settings come from flags or the environment: CLOB_HOST, CHAIN_ID (default 137),
PRIVATE_KEY (or --private-key-file, or the systemd credential 'private_key'), API_KEY, SECRET,
PASSPHRASE (derived from the key with an L1 signature when absent), SIGNATURE_TYPE, FUNDER_ADDRESS.
--paper runs everything against an embedded paper exchange with a throwaway key.
"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--private-key 0x…` must be an error, not `--private-key-file`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, like every other refusal; the usage is one `--help` away.
        self.exit(1, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}")
        return value

    parse.__name__ = "whole number"
    return parse


def _bounds(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g} to {bounds[1]:g}"


def _common_options() -> _Parser:
    """Options every command accepts, before or after its name (defaults: not given)."""
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    conn = common.add_argument_group("connection")
    conn.add_argument("--host", metavar="URL", help="CLOB API URL (env CLOB_HOST); no default")
    conn.add_argument("--chain-id", type=int, metavar="N",
                      help="chain id, a positive integer (env CHAIN_ID; 137)")
    conn.add_argument("--private-key-file", metavar="FILE",
                      help="file holding the private key (else env PRIVATE_KEY or the systemd "
                           "credential 'private_key'); never pass the key itself")
    conn.add_argument("--signature-type", type=int, choices=(0, 1, 2, 3),
                      help="0 EOA, 1 proxy, 2 Safe, 3 deposit wallet (env SIGNATURE_TYPE)")
    conn.add_argument("--funder", metavar="ADDRESS",
                      help="wallet holding the funds for types 1-3 (env FUNDER_ADDRESS)")
    conn.add_argument("--paper", action="store_true",
                      help="start an embedded paper exchange and use it with a throwaway key")
    conn.add_argument("--request-timeout", type=float, metavar="SECONDS",
                      help=f"timeout of each HTTP request, {_bounds(REQUEST_TIMEOUT_BOUNDS)} (10)")
    conn.add_argument("--landing-window", type=float, metavar="SECONDS",
                      help="how long a post may stay inside the exchange after it was sent: an "
                           "unanswered order is given up only after its identical re-send is "
                           f"refused this long after, {_bounds(LANDING_WINDOW_BOUNDS)} "
                           "(2 x --request-timeout + 30)")
    paths = common.add_argument_group("paths")
    paths.add_argument("--desired", metavar="DIR",
                       help="desired-state directory (env RECONCILER_DESIRED; desired/)")
    paths.add_argument("--state", metavar="FILE",
                       help="SQLite state file (env RECONCILER_STATE; state/reconciler.db)")
    logs = common.add_argument_group("logging")
    logs.add_argument("--log-format", choices=[f.value for f in LogFormat],
                      help="auto: JSON lines under systemd, text on a terminal")
    logs.add_argument("--log-level", metavar="LEVEL", help=f"one of {', '.join(LOG_LEVELS)} "
                      "(default INFO for run and apply, WARNING otherwise)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog="reconciler", parents=[common], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Declarative order reconciliation for the Polymarket CLOB: declare the "
                    "resting orders you want in YAML, and the daemon makes the account match.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)

    def add(name: str, text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=text, description=text, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(handler=handler)
        return p

    p = add("validate", "Check the desired YAML files; print file:line:col errors.", c.validate)
    p.add_argument("dir", nargs="?", metavar="DIR", help="directory to check (default --desired)")
    add("schema", "Print the JSON Schema of one desired-state file (for editors).", c.schema)
    p = add("policy-check", "Check every declared level against the policy's price band (the "
                            "public book) and trading windows: no key, no state file (for CI); "
                            "exit 1 when a token would be held.", policy_check)
    p.add_argument("dir", nargs="?", metavar="DIR", help="directory to check (default --desired)")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p = add("plan", "Show what apply would change now (reads the exchange, writes nothing "
                    "to it).", c.plan)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="exit 0 when nothing would change, 2 when changes are pending, 1 on "
                        "error")
    p = add("apply", "Run one reconcile pass (cancel, then post) and exit.", c.apply)
    p.add_argument("--json", action="store_true", help="print the pass summary as JSON")
    add_override_options(p)
    p = add("adopt", "Take the account's open orders at declared levels that this state file "
                     "has no record of (a new, restored or replaced state file: `plan` lists "
                     "them) into the inventory as the daemon's; shows them and asks first.",
            c.adopt)
    p.add_argument("--token", default=None, metavar="ID", help="only this token's orders")
    p.add_argument("--yes", action="store_true", help="adopt without asking")
    p = add("run", "Run the daemon: reconcile on a timer and on every change to the desired "
                   "files.", c.run)
    _run_options(p)
    p = add("status", "Show the daemon's state: last run, applied revision, spec errors, "
                      "resting orders.", c.status)
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("history", "Show the action journal (posts, cancels, lookups), newest first.",
            c.history)
    p.add_argument("--limit", type=_bounded_int(1, HISTORY_LIMIT_MAX), default=50,
                   help=f"entries to show, 1 to {HISTORY_LIMIT_MAX} (50)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("state", "Look after the state file: `state backup FILE` writes a consistent copy "
                     "(SQLite's online backup API, safe while the daemon runs), mode 0600.",
            c.state_backup)
    p.add_argument("action", choices=("backup",), help="backup: copy the state file to FILE")
    p.add_argument("file", metavar="FILE", help="where to write the copy")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p = add("paper-exchange", "Run the local paper exchange; its options (--port, --markets, "
                              "...) go to `python -m paperclob` (see `python -m paperclob "
                              "--help`).", c.paper_exchange)
    p.add_argument("paper_args", nargs=argparse.REMAINDER, metavar="ARGS")
    _client_commands(add)
    return parser


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=float, metavar="SECONDS",
                   help=f"seconds between ticks when nothing changes, {_bounds(INTERVAL_BOUNDS)} "
                        "(env RECONCILER_INTERVAL; 10)")
    p.add_argument("--debounce", type=float, metavar="SECONDS",
                   help="quiet period after a file change before the tick, "
                        f"{_bounds(DEBOUNCE_BOUNDS)} (0.15)")
    p.add_argument("--stop-timeout", type=float, metavar="SECONDS",
                   help="how long a stop waits for the tick in flight, "
                        f"{_bounds(STOP_TIMEOUT_BOUNDS)} (20)")
    p.add_argument("--on-shutdown", choices=("leave", "cancel"),
                   help="on stop: leave our orders resting (default) or cancel them "
                        "(env RECONCILER_ON_SHUTDOWN)")
    p.add_argument("--heartbeat", action="store_true",
                   help="post exchange heartbeats every 5 s. WARNING: once started, if they "
                        "stop for ~10 s the exchange cancels EVERY order of the API key")
    p.add_argument("--heartbeat-interval", type=float, metavar="SECONDS",
                   help="seconds between heartbeats, 0.1 up to (not including) 10 (5)")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (1-65535; checked "
                        "free before the daemon starts)")
    p.add_argument("--ws-url", metavar="URL",
                   help="base URL of the exchange's WebSocket channels, ending in /ws (env "
                        "CLOB_WS_URL; default: derived from the host, "
                        "wss://ws-subscriptions-clob.polymarket.com/ws for "
                        "https://clob.polymarket.com)")
    p.add_argument("--no-stream", action="store_true",
                   help="do not listen to the user and market channels: react to fills only "
                        "at the next tick (polling, as before the stream)")
    p.add_argument("--once-and-show", action="store_true",
                   help="converge once, print the plan applied and the open orders, exit "
                        "(the `make run` demo)")


def _client_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("orders", "List the account's open orders (every page).", c.orders)
    p.add_argument("--market", default="", help="only this market (condition id)")
    p.add_argument("--token", default="", help="only this token id")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("order", "Show one order by id (order hash), in any state.", c.order)
    p.add_argument("order_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("trades", "List the account's trades (every page).", c.trades)
    p.add_argument("--market", default="", help="only this market (condition id)")
    p.add_argument("--token", default="", help="only this token id")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("balance", "Show the collateral balance and allowances, or a token's shares.",
            c.balance)
    p.add_argument("--token", default=None, help="show this token's shares instead")
    p.add_argument("--update", action="store_true",
                   help="ask the exchange to refresh its cached on-chain values first")
    p = add("keys", "List this wallet's API keys, or delete the one in use.", c.keys)
    p.add_argument("action", nargs="?", choices=("list", "delete"), default="list")
    p.add_argument("--yes", action="store_true", help="confirm `delete`")
    p = add("notifications", "List the account's notifications (fills, cancels, resolutions).",
            c.notifications)
    p.add_argument("--drop", action="store_true", help="drop them on the exchange after listing")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("cancel", "Cancel orders by id (one request).", c.cancel)
    p.add_argument("order_ids", nargs="+", metavar="ID")
    p = add("cancel-all", "Cancel EVERY open order of the account, ours or not.", c.cancel_all)
    p.add_argument("--yes", action="store_true", help="confirm")
    p = add("cancel-market", "Cancel the account's orders in one market or token.",
            c.cancel_market)
    p.add_argument("--market", default="", help="condition id")
    p.add_argument("--token", default="", help="token id")


#: Commands that never talk to the exchange: a broken key or host in the environment (a
#: pre-commit hook's, say) must not stop them.
OFFLINE_COMMANDS = frozenset({"validate", "schema", "status", "history", "state",
                              "paper-exchange"})


def settings_from(args: argparse.Namespace) -> Any:
    flags = {k: v for k, v in vars(args).items() if k not in ("handler", "command")}
    env = None
    if args.command in OFFLINE_COMMANDS:
        env = {k: v for k, v in os.environ.items() if k.startswith("RECONCILER_")}
    return load_settings(flags=flags, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "paper-exchange":
        # Its options are paperclob's own: `reconciler paper-exchange --port 8080` passes through.
        args.paper_args = [*unknown, *args.paper_args]
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    settings = None
    try:
        settings = settings_from(args)
        return int(args.handler(args, settings))
    except (SettingsError, LockHeld, EmptyDesiredState, StateFileError) as exc:
        print(f"reconciler: {exc}", file=sys.stderr)
        return 1
    except STORE_ERRORS as exc:  # a full disk or a lock mid-command: one line, not a traceback
        where = settings.state_path if settings is not None else Path("the state file")
        print(f"reconciler: {describe_sqlite_error(exc, where)}", file=sys.stderr)
        return 1
    except ClobError as exc:
        print(f"reconciler: the exchange said no: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reconciler: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `reconciler schema | head`: the reader left; say nothing more on a closed pipe.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout is closed at exit)
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
