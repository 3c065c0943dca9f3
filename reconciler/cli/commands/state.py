"""The state file's commands: `status`, `history`, `revisions`, `state backup`. They only read
(`mode=ro`), so they run beside a daemon on the same file, and never reach the exchange."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.commands.common import existing_store, labels
from reconciler.cli.policy_view import status_policy_text
from reconciler.cli.settings import Settings
from reconciler.cli.status_view import gather, git_text, status_text, trading_mode
from reconciler.cli.tables import history_rows
from reconciler.daemon import holder_pid
from reconciler.store import backup_state_file


def status(args: argparse.Namespace, settings: Settings) -> int:
    with existing_store(settings) as store:
        view = gather(store)
    pid = holder_pid(settings.state_path)
    if args.json:
        print(out.dumps({**view, "daemon_pid": pid, "trading_mode": trading_mode(view)}))
    else:
        print(status_text(view, daemon_pid=pid, wide=args.wide) + "\n"
              + status_policy_text(view))
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


def revisions(args: argparse.Namespace, settings: Settings) -> int:
    """The newest revisions of the desired files: number, time, git commit, valid or not."""
    with existing_store(settings) as store:
        found = store.recent_revisions(args.limit)
        in_force = store.status().get("revision_in_force") or {}
    if args.json:
        print(out.dumps([{**r, "in_force": r["id"] == in_force.get("id")} for r in found]))
        return 0
    rows = [
        (f"#{r['id']}" + (" *" if r["id"] == in_force.get("id") else ""), out.when(r["created_ms"]),
         git_text(r["git_commit"]) if r["git_commit"] else "-",
         "valid" if r["valid"] else f"INVALID ({out.plural(len(r['errors']), 'error')})",
         out.plural(len(r["files"]), "file"),
         (r["errors"][0] if args.wide else _clip(r["errors"][0], 70)) if r["errors"] else "")
        for r in found
    ]
    out.print_table(("REVISION", "TIME", "GIT", "VALID", "FILES", "FIRST ERROR"), rows)
    if in_force:
        print(f"* in force: revision #{in_force['id']}")
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


#: The fill log's kinds (store/fill_log.py) as history kinds.
_FILL_KINDS = {"fill": "fill", "reversed": "fill_reversed"}


def _merged(journal: list[dict[str, Any]], fills: list[dict[str, Any]], *,
            limit: int) -> list[dict[str, Any]]:
    """The journal and the fill log as one history, newest first: a fill is an entry of kind
    `fill` saying token, side, price, size, and maker or taker; a fill taken back because its
    trade did not settle (invariant 12) is one of kind `fill_reversed`, with the size taken
    back."""
    as_entries = [{
        "id": f["id"], "kind": _FILL_KINDS.get(f.get("kind") or "fill", "fill"), "run_id": None, "order_id": f["order_id"],
        "intent_ms": f["at_ms"], "outcome": f["role"],
        "payload": {"token_id": f["token_id"], "side": f["side"], "price": f["price"],
                    "size": f["size"]},
        "result": {"matched": f["matched"], "order_size": f["order_size"], "role": f["role"]},
    } for f in fills]
    both = sorted([*journal, *as_entries],
                  key=lambda e: (e.get("intent_ms") or 0, e["kind"] not in _FILL_KINDS.values(),
                                 e["id"]),
                  reverse=True)
    return both[:limit]


def state_backup(args: argparse.Namespace, settings: Settings) -> int:
    destination = Path(args.file)
    backup_state_file(settings.state_path, destination, overwrite=bool(args.force))
    print(f"backed up {settings.state_path} to {destination}")
    return 0
