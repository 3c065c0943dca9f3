"""The `reconciler` command line: every command, its flags and its help, as argparse builds them.

Options shared by every command (connection, paths, logging) are accepted before or after the
command's name. Abbreviated long options are refused (`allow_abbrev=False`): `--private-key 0x…`
must be an error, never `--private-key-file`. A usage error prints that command's usage and one
line, and exits 1 (so that `plan --detailed-exitcode`'s 2 always means "not converged").
Terraform's single-dash spellings are accepted too: `-detailed-exitcode`, `-out`, `-auto-approve`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
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
)

#: `history --limit` bounds.
HISTORY_LIMIT_MAX = 100_000

EPILOG = """\
Connection settings come from flags or the environment: CLOB_HOST, CHAIN_ID (default 137),
PRIVATE_KEY (or --private-key-file, or the systemd credential 'private_key'), API_KEY, SECRET,
PASSPHRASE (derived from the key with an L1 signature when absent), SIGNATURE_TYPE, FUNDER_ADDRESS.
--paper starts a fresh, empty paper exchange with a new throwaway key for this one command.
"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--private-key 0x…` must be an error, not `--private-key-file`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, like every other refusal, with THIS command's usage (its own options; the
        # shared connection, path and logging options are one `--help` away).
        self.exit(1, f"{self.prog}: error: {message}; usage: {self.own_usage()} (see "
                     f"`{self.prog} --help`)\n")

    def own_usage(self) -> str:
        parts = [self.prog]
        for action in self._actions:
            if action.dest in COMMON_DESTS or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                if isinstance(action, argparse._SubParsersAction):
                    parts.append("COMMAND")
                continue
            if not action.option_strings:
                metavar = action.metavar or action.dest.upper()
                shown = "..." if action.nargs == argparse.REMAINDER else str(metavar)
                parts.append(shown if action.required or action.nargs in (None, "+")
                             else f"[{shown}]")
                continue
            flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") \
                else action.option_strings[0]
            if action.nargs == 0:
                parts.append(f"[{flag}]")
            else:
                parts.append(f"[{flag} {action.metavar or action.dest.upper()}]")
        return " ".join(parts)


#: The dests of the options every command shares (not repeated in a command's one-line usage).
COMMON_DESTS = frozenset({
    "host", "chain_id", "private_key_file", "signature_type", "funder", "paper",
    "request_timeout", "landing_window", "desired", "state", "log_format", "log_level",
    "log_file",
})


class _Version(argparse.Action):
    """`--version`: the installed package's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("reconciler")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        print(f"reconciler {found}")
        parser.exit(0)


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
    logs.add_argument("--log-file", metavar="FILE",
                      help="append log lines to FILE (mode 0600; JSON lines unless --log-format "
                           "text) instead of stderr; SIGHUP re-opens it (env RECONCILER_LOG_FILE)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog="reconciler", parents=[common], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Declarative order reconciliation for the Polymarket CLOB: declare the "
                    "resting orders you want in YAML, and the daemon makes the account match.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)

    def add(name: str, text: str, handler: Callable[..., int],
            **kwargs: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=text, description=text, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
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
    p = add("plan", "Show what apply would change now. It only reads: the exchange, and the "
                    "state file (mode=ro, no lock), so it runs beside a daemon.", c.plan)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--detailed-exitcode", "-detailed-exitcode", action="store_true",
                   help="exit 0 when nothing would change and every token is converged; 2 "
                        "when changes are pending OR a token is skipped or has its posts held; "
                        "1 on error")
    p.add_argument("--out", "-out", metavar="FILE",
                   help="save the plan, with digests of what it was computed from, for "
                        "`reconciler apply FILE`")
    _target(p)
    p = add("apply", "Run one reconcile pass (cancel, then post) and exit. On a terminal it "
                     "shows the plan and asks first; with a plan FILE it applies exactly that "
                     "plan, or refuses.", c.apply)
    p.add_argument("plan_file", nargs="?", metavar="FILE",
                   help="a plan saved by `plan -out FILE`: applied only if nothing it was "
                        "computed from has changed")
    p.add_argument("--json", action="store_true", help="print the pass summary as JSON")
    p.add_argument("--auto-approve", "-auto-approve", action="store_true",
                   help="do not ask on a terminal (without a terminal it never asks)")
    _target(p)
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
    p = add("status", "Show the daemon's state: last run, the revision in force, spec errors, "
                      "and each token's condition and levels.", c.status)
    p.add_argument("--json", action="store_true", help="print as JSON")
    _wide(p)
    p = add("history", "Show the action journal (posts, cancels, lookups) and the fills, "
                       "newest first.", c.history)
    p.add_argument("--limit", type=_bounded_int(1, HISTORY_LIMIT_MAX), default=50,
                   help=f"entries to show, 1 to {HISTORY_LIMIT_MAX} (50)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    _wide(p)
    p = add("revisions", "List the newest revisions of the desired files: number, time, git "
                         "commit (dirty when uncommitted), valid or not, errors.", c.revisions)
    p.add_argument("--limit", type=_bounded_int(1, HISTORY_LIMIT_MAX), default=20,
                   help=f"revisions to show, 1 to {HISTORY_LIMIT_MAX} (20)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    _wide(p)
    p = add("suspend", "Suspend reconciling (it sticks, across restarts): passes keep reading "
                       "but post and cancel nothing until `reconciler resume`.", c.suspend)
    p.add_argument("--cancel", action="store_true",
                   help="also cancel our orders, once (the daemon does it at once; with no "
                        "daemon running, this command does it)")
    p.add_argument("--reason", metavar="TEXT", help="why, for `status` and the logs")
    add("resume", "Resume reconciling after `reconciler suspend`.", c.resume)
    p = add("state", "Look after the state file: `state backup FILE` writes a consistent copy "
                     "(SQLite's online backup API, safe while the daemon runs), mode 0600.",
            c.state_backup)
    p.add_argument("action", choices=("backup",), help="backup: copy the state file to FILE")
    p.add_argument("file", metavar="FILE", help="where to write the copy")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p = add("paper-exchange", "Run the local paper exchange; its options (--port, --markets, "
                              "...) are paperclob's own: `reconciler paper-exchange --help` "
                              "lists them.", c.paper_exchange, add_help=False)
    p.add_argument("paper_args", nargs=argparse.REMAINDER, metavar="ARGS")
    add("doctor", "Preflight: the exchange and chain, the key and funder, the API key, funds "
                  "for the declared orders, the markets, the clock, the rate-limit tier, the "
                  "state file; each PASS, WARN or FAIL with what to do (exit 1 on a FAIL).",
        c.doctor)
    p = add("keygen", "Make a new private key: `reconciler keygen > key && chmod 600 key` "
                      "(refused on a terminal), or `--out FILE` (created with mode 0600).",
            c.keygen)
    p.add_argument("--out", "-out", metavar="FILE", help="write the key to FILE (mode 0600; "
                   "never overwritten) instead of stdout")
    _client_commands(add)
    parser.set_defaults(command_parsers=dict(sub.choices))
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


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", "-target", action="append", metavar="TOKEN",
                   help="only this token (its id, or its label); repeat for more")


def _wide(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wide", action="store_true", help="show full token and order ids")


def _client_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("orders", "List the account's open orders (every page), with labels from the "
                      "desired files and the remaining size.", c.orders)
    p.add_argument("--market", default="", help="only this market (condition id)")
    p.add_argument("--token", default="", help="only this token id")
    p.add_argument("--json", action="store_true", help="print as JSON")
    _wide(p)
    p = add("order", "Show one order by id (order hash, or a unique prefix of one we know), "
                     "in any state.", c.order)
    p.add_argument("order_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p = add("trades", "List the account's trades (every page), each as OUR side of it, maker "
                      "or taker.", c.trades)
    p.add_argument("--market", default="", help="only this market (condition id)")
    p.add_argument("--token", default="", help="only this token id")
    p.add_argument("--json", action="store_true", help="print as JSON")
    _wide(p)
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
    p = add("cancel", "Cancel orders by id, or by a unique prefix of one we know (one "
                      "request).", c.cancel)
    p.add_argument("order_ids", nargs="+", metavar="ID")
    p = add("cancel-all", "Cancel EVERY open order of the account, ours or not.", c.cancel_all)
    p.add_argument("--yes", action="store_true", help="confirm")
    p = add("cancel-market", "Cancel the account's orders in one market or token.",
            c.cancel_market)
    p.add_argument("--market", default="", help="condition id")
    p.add_argument("--token", default="", help="token id")


