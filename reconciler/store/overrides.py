"""Overrides of soft policy rules: the audit trail of `reconciler apply --override RULE --reason`.

An override lets one rule's soft verdicts through for one pass. It is recorded when the pass
uses it, before that pass sends anything, in one transaction: a `policy_overrides` row (the
rule, the reason, the OS user, the digest of the plan it let through, the verdicts) and a
journal row of kind `override`, so `reconciler history` shows it beside the posts and cancels
it allowed. Nothing here is secret: the reason was checked not to look like a key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.store.journal import Journal
from reconciler.store.schema import JournalKind, JournalOutcome


class Overrides(Journal):
    def record_override(
        self,
        *,
        run_id: int | None,
        rule: str,
        reason: str,
        user: str,
        plan_digest: str,
        verdicts: Sequence[Mapping[str, Any]],
    ) -> int:
        """Record one used override (and its journal row); returns its id."""
        now = self._now_ms()
        tokens = sorted({t for v in verdicts for t in v.get("tokens", ())})
        with self._db.atomic():
            override_id = self._insert(
                "policy_overrides",
                {
                    "run_id": run_id,
                    "rule": rule,
                    "reason": reason,
                    "user": user,
                    "plan_digest": plan_digest,
                    "verdicts": json.dumps(list(verdicts), sort_keys=True, default=str),
                    "created_ms": now,
                },
            )
            payload = {
                "override_id": override_id,
                "rule": rule,
                "reason": reason,
                "user": user,
                "plan_digest": plan_digest,
                "tokens": tokens,
            }
            journal_id = self.journal_intent(
                run_id=run_id, kind=JournalKind.OVERRIDE, order_id=None, payload=payload
            )
            self.journal_result(
                journal_id,
                outcome=JournalOutcome.OK,
                result=f"{rule} overridden by {user}: {reason} (plan {plan_digest[:12]})",
            )
        return override_id

    def overrides(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` overrides, newest first ([] for a file from before them)."""
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'policy_overrides'"
        ).fetchone()
        if not exists:
            return []
        rows = self._db.query(
            "SELECT * FROM policy_overrides ORDER BY id DESC LIMIT ?", [limit]
        )
        return [{**r, "verdicts": json.loads(r["verdicts"])} for r in rows]
