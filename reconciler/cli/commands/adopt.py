"""`reconciler adopt [--token ID] [--yes]`: never trade blind (invariant 10).

Takes the blind tokens' open orders (at declared levels, and neither in this state file nor
known as the trader's own: `plan` lists them) into the inventory as the daemon's, after showing
them and asking on a terminal (or with --yes). It holds the same locks as `apply`.
"""

from __future__ import annotations

import argparse
import sys

from reconciler.cli.blind_text import orders_lines
from reconciler.cli.commands.common import labels, setup_logging, writer
from reconciler.cli.settings import Settings, SettingsError
from reconciler.cli.wiring import make_reconciler
from reconciler.engine import adopt as adopt_orders
from reconciler.engine import find_adoptable


def adopt(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging(args, settings, default="WARNING")
    with writer(settings) as (conn, store):
        found = find_adoptable(make_reconciler(conn, store), token_id=args.token)
        if isinstance(found, str):
            raise SettingsError(found)
        if not found:
            print("Nothing to adopt: every open order at a declared level is in this state file "
                  "or known as the trader's own.")
            return 0
        count = sum(len(b.orders) for b in found)
        print("\n".join(orders_lines(found, labels=labels(settings))))
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
