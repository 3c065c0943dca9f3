"""What `reconciler status` reads, and the housekeeping that bounds the per-tick rows."""

from __future__ import annotations

from typing import Any

from reconciler.lifecycle import OrderStatus
from reconciler.model import SUCCESS_OUTCOMES, ShutdownOutcome
from reconciler.store.journal import Journal
from reconciler.store.orders import Orders
from reconciler.store.revisions import Revisions
from reconciler.store.schema import revision_dict, run_row, sql_in


class Reports(Revisions, Orders, Journal):
    def prune(
        self,
        *,
        keep_runs: int = 10_000,
        keep_notifications_ms: int = 30 * 86_400_000,
        keep_revision_files: int = 20,
    ) -> None:
        """Bound the growth of per-tick rows, and keep the files of the newest
        `keep_revision_files` valid revisions only (the newest is the one a restart needs).
        The journal, orders and fills are kept: they are the audit trail."""
        cutoff = self._now_ms() - keep_notifications_ms
        with self._db.atomic():
            self._db.execute(
                "DELETE FROM runs WHERE id <= (SELECT MAX(id) FROM runs) - ?", [keep_runs]
            )
            self._db.execute("DELETE FROM processed_notifications WHERE processed_ms < ?", [cutoff])
            self._db.execute(
                "DELETE FROM revision_files WHERE revision_id NOT IN (SELECT id FROM revisions"
                " WHERE valid = 1 ORDER BY id DESC LIMIT ?)",
                [max(keep_revision_files, 1)],
            )

    def _identity_row(self) -> dict[str, Any] | None:
        """The account and history the file belongs to (store/opening.py)."""
        if "state_identity" not in self._db.table_names():  # from before identities
            return None
        rows = list(self._db.query(
            "SELECT chain_id, funder, file_id, created_ms FROM state_identity WHERE id = 1"))
        return dict(rows[0]) if rows else None

    def _last_blind(self) -> list[dict[str, Any]]:
        """The blind tokens of the newest pass that planned (engine/results.py keeps them)."""
        for run in self.recent_runs(50):
            summary = run.get("summary") or {}
            if "planned_posts" in summary:
                return list(summary.get("blind") or [])
        return []

    def status(self) -> dict[str, Any]:
        """What `reconciler status` shows."""
        runs = self.recent_runs(1)
        successes, params = sql_in(sorted(SUCCESS_OUTCOMES))
        success = [
            run_row(r)
            for r in self._db.query(
                f"SELECT * FROM runs WHERE outcome IN {successes} ORDER BY id DESC LIMIT 1",
                params,
            )
        ]
        applied = (
            self.revision(success[0]["revision"]) if success and success[0]["revision"] else None
        )
        latest = self.latest_revision()
        # In force: the revision the newest pass worked from (none when it had no valid spec);
        # a cancel-all at shutdown (a ShutdownOutcome) is not a pass and has no revision.
        sweeps, sweep_params = sql_in(ShutdownOutcome)
        passes = list(
            self._db.query(
                f"SELECT revision FROM runs WHERE outcome IS NULL OR outcome NOT IN {sweeps}"
                " ORDER BY id DESC LIMIT 1",
                sweep_params,
            )
        )
        in_force = self.revision(passes[0]["revision"]) if passes and passes[0]["revision"] else None
        resting: dict[str, int] = {}
        for r in self._db.query(
            "SELECT token_id, COUNT(*) AS n FROM orders WHERE status = ? GROUP BY token_id"
            " ORDER BY token_id",
            [OrderStatus.LIVE.value],
        ):
            resting[r["token_id"]] = r["n"]
        unresolved = [o.order_id for o in self.unresolved_orders()]
        return {
            "state_file": str(self.path),
            "identity": self._identity_row(),
            "blind": self._last_blind(),
            "schema_version": self.schema_version(),
            "last_run": runs[0] if runs else None,
            "last_success": success[0] if success else None,
            "applied_revision": revision_dict(applied),
            "last_valid_revision": revision_dict(self.last_valid_revision()),
            "revision_in_force": revision_dict(in_force),
            "desired_files_valid": latest.valid if latest is not None else None,
            "spec_error": latest.errors if latest is not None and not latest.valid else None,
            "resting_orders": resting,
            "unresolved_intents": len(unresolved),
            "unresolved_order_ids": unresolved,
        }
