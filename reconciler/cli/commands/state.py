"""The state file's commands: `status`, `history`, `revisions`, `state backup`. They only read
(`mode=ro`), so they run beside a daemon on the same file, and never reach the exchange."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.commands.common import existing_store, labels
from reconciler.cli.settings import Settings
from reconciler.cli.status_view import gather, status_text
from reconciler.cli.tables import history_rows
from reconciler.daemon import holder_pid
from reconciler.store import backup_state_file


def status(args: argparse.Namespace, settings: Settings) -> int:
    with existing_store(settings) as store:
        view = gather(store)
    pid = holder_pid(settings.state_path)
    if args.json:
        print(out.dumps({**view, "daemon_pid": pid}))
    else:
        print(status_text(view, daemon_pid=pid, wide=args.wide))
    return 0


def history(args: argparse.Namespace, settings: Settings) -> int:
    with existing_store(settings) as store:
        entries = _merged(store.history(args.limit), store.recent_fills(args.limit),
                          limit=args.limit)
    if args.json:
        print(out.dumps([{**e, "result": out.parsed(e.get("result"))} for e in entries]))
        return 0
    rows = history_rows(entries, labels=labels(settings), wide=args.wide)
    out.print_table(rows.headers, rows.rows)
    return 0


def _merged(journal: list[dict[str, Any]], fills: list[dict[str, Any]], *,
            limit: int) -> list[dict[str, Any]]:
    """The journal and the fill log as one history, newest first: a fill is an entry of kind
    `fill` saying token, side, price, size, and maker or taker."""
    as_entries = [{
        "id": f["id"], "kind": "fill", "run_id": None, "order_id": f["order_id"],
        "intent_ms": f["at_ms"], "outcome": f["role"],
        "payload": {"token_id": f["token_id"], "side": f["side"], "price": f["price"],
                    "size": f["size"]},
        "result": {"matched": f["matched"], "order_size": f["order_size"], "role": f["role"]},
    } for f in fills]
    both = sorted([*journal, *as_entries], key=lambda e: (e.get("intent_ms") or 0,
                                                           e["kind"] != "fill", e["id"]),
                  reverse=True)
    return both[:limit]


def state_backup(args: argparse.Namespace, settings: Settings) -> int:
    destination = Path(args.file)
    backup_state_file(settings.state_path, destination, overwrite=bool(args.force))
    print(f"backed up {settings.state_path} to {destination}")
    return 0
