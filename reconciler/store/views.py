"""Reads for the operator's commands (and one housekeeping write): order ids by prefix, recent
revisions, and closing the run rows a process left open when it was interrupted or killed."""

from __future__ import annotations

import re
from typing import Any

from reconciler.store.base import StoreBase
from reconciler.store.schema import revision_from_row

_HEX_PREFIX = re.compile(r"^0x[0-9a-f]*$")


class Views(StoreBase):
    def order_ids_with_prefix(self, prefix: str, *, limit: int = 20) -> list[str]:
        """Our order ids (any state) that start with `prefix` (0x and hex digits, any case)."""
        wanted = prefix.lower()
        if not _HEX_PREFIX.match(wanted):
            return []
        rows = self._db.query(
            "SELECT order_id FROM orders WHERE lower(order_id) LIKE ? ORDER BY order_id LIMIT ?",
            [wanted + "%", limit],
        )
        return [r["order_id"] for r in rows]

    def recent_revisions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest `limit` revisions, newest first (for `reconciler revisions`)."""
        rows = self._db.query("SELECT * FROM revisions ORDER BY id DESC LIMIT ?", [limit])
        found = []
        for r in rows:
            rev = revision_from_row(r)
            found.append({
                "id": rev.id, "created_ms": rev.created_ms, "digest": rev.digest,
                "git_commit": rev.git_commit, "valid": rev.valid,
                "errors": [e for e in rev.errors.splitlines() if e],
                "files": list(rev.files),
            })
        return found

    def close_unfinished_runs(self, *, outcome: str, error: str) -> list[int]:
        """Give an outcome to every run row without one (a pass interrupted by Ctrl-C, or a
        process that died): the caller holds the state lock, so no other pass is running.
        Returns the ids closed."""
        ids = [r["id"] for r in self._db.query("SELECT id FROM runs WHERE outcome IS NULL")]
        with self._db.atomic():
            for run_id in ids:
                self._db.execute(
                    "UPDATE runs SET finished_ms = ?, outcome = ?, error = ?,"
                    " summary = COALESCE(summary, '{}') WHERE id = ?",
                    [self._now_ms(), outcome, error, run_id],
                )
        return ids

    def run_actions(self, run_id: int) -> dict[str, int]:
        """What one run did to our orders, by outcome: posted (placed), unknown (sent, answer
        not known, or never answered), void (certainly never sent), cancelled."""
        counts = {"posted": 0, "unknown": 0, "void": 0, "cancelled": 0, "rejected": 0}
        for r in self._db.query(
            "SELECT kind, outcome, COUNT(*) AS n FROM journal WHERE run_id = ? AND kind IN"
            " ('post', 'cancel') GROUP BY kind, outcome",
            [run_id],
        ):
            kind, outcome, n = r["kind"], r["outcome"], r["n"]
            if kind == "cancel":
                if outcome == "ok":
                    counts["cancelled"] += n
            elif outcome in ("ok", "resolved"):
                counts["posted"] += n
            elif outcome in (None, "unknown"):
                counts["unknown"] += n
            elif outcome == "void":
                counts["void"] += n
            elif outcome == "rejected":
                counts["rejected"] += n
        return counts
