"""The `reconciler` command: a thin argparse layer over the library.

Each command parses its flags (parser.py), builds `Settings` (flags, then environment, then
files), calls the library, and prints. No logic lives here: the daemon is `daemon.Daemon`, a
pass is `reconcile.Reconciler`, the wiring is `wiring.connect`, the printing is `output`.

Secrets never come from argv: the private key is read from PRIVATE_KEY, from a file named by
`--private-key-file`, or from systemd's credentials directory; API credentials from API_KEY,
SECRET and PASSPHRASE (or derived from the key). Exit codes: 0 success, 1 error (usage errors
too, so that `plan --detailed-exitcode`'s 2 always means "not converged"), 130 on Ctrl-C
(`run` and `apply` alike).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.cli.commands.common import INTERRUPTED
from reconciler.cli.errors import describe_exchange_error
from reconciler.cli.parser import build_parser
from reconciler.cli.settings import SettingsError, load_settings
from reconciler.clob import ClobError
from reconciler.daemon import LockHeld
from reconciler.spec import EmptyDesiredState
from reconciler.store import STORE_ERRORS, StateFileError, describe_sqlite_error

#: Commands that never talk to the exchange: a broken key or host in the environment (a
#: pre-commit hook's, say) must not stop them.
OFFLINE_COMMANDS = frozenset({"validate", "schema", "status", "history", "revisions", "state",
                              "paper-exchange", "keygen", "resume"})


def settings_from(args: argparse.Namespace) -> Any:
    flags = {k: v for k, v in vars(args).items()
             if k not in ("handler", "command", "command_parsers")}
    env = None
    # `suspend` is a kill switch: it only writes the state file, whatever the environment holds
    # (`suspend --cancel` with no daemon running reaches the exchange itself).
    offline = args.command in OFFLINE_COMMANDS or (args.command == "suspend" and not args.cancel)
    if offline:
        env = {k: v for k, v in os.environ.items() if k.startswith("RECONCILER_")}
    return load_settings(flags=flags, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "paper-exchange":
        # Its options are paperclob's own: `reconciler paper-exchange --port 8080` passes through.
        args.paper_args = [*unknown, *args.paper_args]
    elif unknown:  # this command's usage, not the top-level one
        args.command_parsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
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
        print(f"reconciler: {describe_exchange_error(exc, settings)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reconciler: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # `reconciler schema | head`: the reader left; say nothing more on a closed pipe.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout is closed at exit)
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
