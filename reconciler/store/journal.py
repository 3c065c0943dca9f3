"""The journal and the daemon's own bookkeeping.

- journal: every request that changes state on the exchange (post, re-send, cancel) or resolves
  an uncertainty (lookup), with its intent written before the request and its outcome after;
  every row of an order is closed once its fate is known (`close_open_journal`), so `history`
  never leaves a row "(no answer)" for an order whose fate is known.
- runs: one row per pass, with its outcome and summary (`runs.summary`, the one thing called a
  summary: what the pass planned and did, as JSON).
- processed notifications and cursors: so a notification is acted on once, across restarts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.model import ShutdownOutcome, TickOutcome
from reconciler.store.base import StoreBase
from reconciler.store.schema import JournalKind, JournalOutcome, journal_row, run_row


class Journal(StoreBase):
    # --- journal ---------------------------------------------------------------------------

    def journal_intent(
        self,
        *,
        run_id: int | None,
        kind: JournalKind | str,
        order_id: str | None,
        payload: dict[str, Any],
    ) -> int:
        """Write what we are about to ask the exchange, before asking (no secrets in payload)."""
        try:
            kind = JournalKind(kind)
        except ValueError:
            raise ValueError(f"unknown journal kind {kind!r}") from None
        row = {
            "run_id": run_id,
            "kind": kind.value,
            "order_id": order_id,
            "payload": json.dumps(payload, sort_keys=True, default=str),
            "intent_ms": self._now_ms(),
            "outcome": None,
            "result": None,
            "result_ms": None,
        }
        return self._insert("journal", row)

    def journal_result(
        self,
        journal_id: int,
        *,
        outcome: JournalOutcome | str,
        result: dict[str, Any] | str | None = None,
    ) -> None:
        """Write what came of a journaled request (ok, rejected, unknown, error, ...)."""
        text = (
            result
            if isinstance(result, str) or result is None
            else json.dumps(result, sort_keys=True, default=str)
        )
        self._db.execute(
            "UPDATE journal SET outcome = ?, result = ?, result_ms = ? WHERE id = ?",
            [JournalOutcome(outcome).value, text, self._now_ms(), journal_id],
        )

    def open_journal_entries(self) -> list[dict[str, Any]]:
        """Journal rows with an intent and no outcome yet (a crash, or a lost answer)."""
        return [
            journal_row(r)
            for r in self._db.query("SELECT * FROM journal WHERE outcome IS NULL ORDER BY id")
        ]

    def close_open_journal(
        self, order_id: str, *, outcome: JournalOutcome | str, result: str
    ) -> int:
        """Once an order's fate is known, close every journal row of it that does not say so
        yet: rows with no answer (a crash, of any kind) and sends whose outcome was unknown
        (post, re-send, cancel). The fate comes first, then what the row said before, as
        `fate (was: ...)`, so `history` shows how it ended and what was lost. Returns how many
        were closed."""
        cursor = self._db.execute(
            "UPDATE journal SET outcome = ?,"
            " result = CASE WHEN result IS NULL OR result = '' THEN ?"
            " ELSE ? || ' (was: ' || result || ')' END, result_ms = ?"
            " WHERE order_id = ? AND (outcome IS NULL OR (outcome = ? AND kind IN (?, ?, ?)))",
            [JournalOutcome(outcome).value, result, result, self._now_ms(), order_id,
             JournalOutcome.UNKNOWN.value, JournalKind.POST.value, JournalKind.RESEND.value,
             JournalKind.CANCEL.value],
        )
        return cursor.rowcount

    def open_sends(self, order_id: str) -> list[int]:
        """Ids of the post and re-send rows of an order that never got an answer recorded."""
        return [
            r["id"]
            for r in self._db.query(
                "SELECT id FROM journal WHERE order_id = ? AND outcome IS NULL AND kind IN (?, ?)"
                " ORDER BY id",
                [order_id, JournalKind.POST.value, JournalKind.RESEND.value],
            )
        ]

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` journal entries, newest first (for `reconciler history`)."""
        return [
            journal_row(r)
            for r in self._db.query("SELECT * FROM journal ORDER BY id DESC LIMIT ?", [limit])
        ]

    # --- runs ------------------------------------------------------------------------------

    def start_run(self, revision_id: int | None) -> int:
        row = {"revision": revision_id, "started_ms": self._now_ms()}
        return self._insert("runs", row)

    def finish_run(
        self,
        run_id: int,
        *,
        outcome: TickOutcome | ShutdownOutcome | str,
        summary: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE runs SET finished_ms = ?, outcome = ?, summary = ?, error = ? WHERE id = ?",
            [
                self._now_ms(),
                str(outcome),
                json.dumps(summary, sort_keys=True, default=str),
                error,
                run_id,
            ],
        )

    def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return [
            run_row(r)
            for r in self._db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit])
        ]

    # --- notifications ---------------------------------------------------------------------

    def processed_notification_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(str(i) for i in ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(
                r["id"]
                for r in self._db.query(
                    f"SELECT id FROM processed_notifications WHERE id IN ({marks})", chunk
                )
            )
        return found

    def mark_notification_processed(self, notification_id: str, *, type_: int | None) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO processed_notifications (id, type, processed_ms)"
            " VALUES (?, ?, ?)",
            [str(notification_id), type_, self._now_ms()],
        )

    def cursor(self, name: str) -> str | None:
        rows = list(self._db.query("SELECT value FROM cursors WHERE name = ?", [name]))
        return rows[0]["value"] if rows else None

    def set_cursor(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO cursors (name, value, updated_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_ms = excluded.updated_ms",
            [name, value, self._now_ms()],
        )
