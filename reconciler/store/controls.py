"""The operator's controls, kept in the state file so they outlast a restart: `suspend`.

Suspended (Flux's suspend, the kill switch that sticks): every pass still reads the exchange and
records what it learns, but posts and cancels nothing, until `resume`. `suspend --cancel` also
asks for our orders to be cancelled ONCE: the next pass does it and records when, and with what
result. The row says who suspended and when, for `status`.

A state file from before migration 4 (read by a read-only command that does not migrate) has
no `controls` table: it is not suspended.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.store.base import StoreBase

SUSPEND = "suspend"


@dataclass(frozen=True)
class Suspension:
    by: str  # user@host (pid N) of the command that suspended
    at_ms: int
    reason: str = ""
    cancel_requested: bool = False
    cancel_done_ms: int | None = None
    cancel_result: str | None = None

    @property
    def cancel_pending(self) -> bool:
        """`--cancel` was asked for and has not been carried out yet."""
        return self.cancel_requested and self.cancel_done_ms is None


class Controls(StoreBase):
    def suspend(self, *, by: str, reason: str = "", cancel: bool = False) -> Suspension:
        """Suspend (or stay suspended). `cancel` asks for one cancel of our orders, again if
        one was done already; who and when are those of the first suspend still in force."""
        now = self._now_ms()
        with self._db.atomic():
            current = self.suspension()
            if current is None:
                self._db.execute(
                    "INSERT INTO controls (name, set_by, set_ms, reason, cancel_requested)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [SUSPEND, by, now, reason, int(cancel)],
                )
            elif cancel:
                self._db.execute(
                    "UPDATE controls SET cancel_requested = 1, cancel_done_ms = NULL,"
                    " cancel_result = NULL WHERE name = ?",
                    [SUSPEND],
                )
        found = self.suspension()
        if found is None:
            raise RuntimeError("the suspension just written is not in the state file")
        return found

    def resume(self) -> Suspension | None:
        """End the suspension; returns the one that was in force (None: there was none)."""
        with self._db.atomic():
            current = self.suspension()
            self._db.execute("DELETE FROM controls WHERE name = ?", [SUSPEND])
        return current

    def suspension(self) -> Suspension | None:
        if not self._has_controls():
            return None
        rows = list(self._db.query("SELECT * FROM controls WHERE name = ?", [SUSPEND]))
        if not rows:
            return None
        r = rows[0]
        return Suspension(
            by=r["set_by"], at_ms=r["set_ms"], reason=r["reason"],
            cancel_requested=bool(r["cancel_requested"]), cancel_done_ms=r["cancel_done_ms"],
            cancel_result=r["cancel_result"],
        )

    def record_suspend_cancel(self, result: str) -> None:
        """`--cancel` was carried out (once): when, and what came of it."""
        self._db.execute(
            "UPDATE controls SET cancel_done_ms = ?, cancel_result = ? WHERE name = ?",
            [self._now_ms(), result, SUSPEND],
        )

    def _has_controls(self) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'controls'"
        ).fetchone()
        return row is not None
