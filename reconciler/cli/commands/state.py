"""The state file's commands: `status`, `history`, `revisions`, `state backup`. They only read
(`mode=ro`), so they run beside a daemon on the same file, and never reach the exchange."""

from __future__ import annotations

import argparse
from pathlib import Path

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
        entries = store.history(args.limit)
    if args.json:
        print(out.dumps([{**e, "result": out.parsed(e.get("result"))} for e in entries]))
        return 0
    rows = history_rows(entries, labels=labels(settings), wide=args.wide)
    out.print_table(rows.headers, rows.rows)
    return 0


def state_backup(args: argparse.Namespace, settings: Settings) -> int:
    destination = Path(args.file)
    backup_state_file(settings.state_path, destination, overwrite=bool(args.force))
    print(f"backed up {settings.state_path} to {destination}")
    return 0
