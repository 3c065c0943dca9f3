"""The state file: one SQLite database (through sqlite-utils) that makes restarts and crashes safe.

What it remembers, and why:
- revisions: every distinct content of the desired directory seen, valid or not, so `status` can
  say which revision is in force and what is wrong with the newest one (invariant 2); and the
  exact files of the valid ones, so the last valid revision stays in force across a restart.
- levels: the generation in force for each (token, side, price) and what has filled since it
  began, so `replenish: false` levels are not posted again after a fill.
- orders: the inventory of orders WE posted. It alone decides ownership (invariant 3).
  An order row is written with status `intent` BEFORE the request that places it (invariant 4);
  `unknown` means a request was sent and its answer lost; both are resolved by asking the exchange
  for that order hash before anything is posted for that level again.
- journal: every request that changes state on the exchange (post, cancel) or resolves an
  uncertainty (lookup), with its intent written before the request and its outcome after.
- runs, cursors, processed_notifications, fills: the daemon's own bookkeeping.

Only this module (and store_schema) speaks SQLite. Money is TEXT holding a canonical Decimal.
Nothing secret is ever written here. Access is serialised by the caller (the daemon runs one tick
at a time); the connection allows use from the daemon's worker thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlite_utils

from reconciler.model import InventoryOrder, LevelGeneration, LevelKey, LevelState, Post
from reconciler.store.opening import StateIdentity, open_state_file, read_identity
from reconciler.store.opening import migrate as migrate  # re-exported: opening owns it
from reconciler.store.schema import (
    INVENTORY_STATUSES,
    UNRESOLVED_STATUSES,
    OrderStatus,
    Revision,
    StoredOrder,
    decimal_text,
    file_text,
    intent_row,
    journal_row,
    key_params,
    revision_dict,
    revision_from_row,
    row_key,
    run_row,
    stored_order,
)


class Store:
    """The state file. Open with `Store.open(path)`; every method commits before it returns,
    except inside `with store.atomic():`, which makes several calls one transaction."""

    def __init__(self, db: sqlite_utils.Database, *, path: Path, clock: Callable[[], float]):
        self._db = db
        self.path = path
        self._clock = clock

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        identity: StateIdentity | None = None,
        read_only: bool = False,
        busy_timeout: float = 10.0,
    ) -> Store:
        """Open the state file at `path` after proving it is ours and, when `identity` is given,
        this account's (store/opening.py). Writable: created if needed (mode 0600, WAL) and
        migrated. `read_only`: never created, migrated or chmodded. Raises StateFileError."""
        path = Path(path)
        conn = open_state_file(path, identity=identity, read_only=read_only,
                               busy_timeout=busy_timeout, clock=clock)
        return cls(sqlite_utils.Database(conn), path=path, clock=clock)

    def identity(self) -> StateIdentity | None:
        """The account this state file belongs to (None: not bound to one)."""
        return read_identity(self._db.conn)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[Store]:
        """Run several store calls as one transaction (nested calls use savepoints)."""
        with self._db.atomic():
            yield self

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        rowid = self._db.table(table).insert(row).last_rowid
        if rowid is None:
            raise RuntimeError(f"SQLite did not report the id of the new {table} row")
        return int(rowid)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # --- revisions -------------------------------------------------------------------------

    def record_revision(
        self,
        *,
        digest: str,
        git_commit: str | None,
        valid: bool,
        errors: Sequence[str] | str,
        files: Sequence[str | Path],
        contents: Mapping[str, bytes] | None = None,
    ) -> int:
        """Record what the desired directory held; a repeat of the newest revision is not
        recorded again (a daemon re-reads the files every tick) and returns its id.

        `contents` ({path relative to the directory: bytes}) of a VALID revision are kept once,
        so `revision_files` can rebuild it after a restart; an invalid one's never are."""
        errors_text = errors if isinstance(errors, str) else "\n".join(str(e) for e in errors)
        row = {
            "digest": digest,
            "git_commit": git_commit,
            "valid": int(valid),
            "errors": errors_text,
            "files": json.dumps([str(f) for f in files]),
            "created_ms": self._now_ms(),
        }
        with self._db.atomic():
            latest = self.latest_revision()
            if latest is not None and latest.repeats(row):
                revision_id = latest.id
            else:
                revision_id = self._insert("revisions", row)
            if valid and contents:
                self._keep_revision_files(revision_id, contents)
        return revision_id

    def _keep_revision_files(self, revision_id: int, contents: Mapping[str, bytes]) -> None:
        # Once per revision: when first recorded, or (a file from before migration 2) on the
        # first valid read after the upgrade.
        kept = self._db.query(
            "SELECT 1 FROM revision_files WHERE revision_id = ? LIMIT 1", [revision_id]
        )
        if any(True for _ in kept):
            return
        rows = [
            {"revision_id": revision_id, "name": name, "content": file_text(name, data)}
            for name, data in sorted(contents.items())
        ]
        self._db.table("revision_files").insert_all(rows)

    def revision_files(self, revision_id: int) -> dict[str, bytes]:
        """The exact files kept for a valid revision, {relative name: bytes}; empty when none
        were kept (an invalid revision, pruned, or recorded before migration 2)."""
        rows = self._db.query(
            "SELECT name, content FROM revision_files WHERE revision_id = ? ORDER BY name",
            [revision_id],
        )
        return {r["name"]: r["content"].encode("utf-8") for r in rows}

    def latest_revision(self) -> Revision | None:
        return self._one_revision("SELECT * FROM revisions ORDER BY id DESC LIMIT 1")

    def last_valid_revision(self) -> Revision | None:
        return self._one_revision(
            "SELECT * FROM revisions WHERE valid = 1 ORDER BY id DESC LIMIT 1"
        )

    def revision(self, revision_id: int) -> Revision | None:
        return self._one_revision("SELECT * FROM revisions WHERE id = ?", [revision_id])

    def _one_revision(self, sql: str, params: Sequence[Any] = ()) -> Revision | None:
        rows = list(self._db.query(sql, params))
        return revision_from_row(rows[0]) if rows else None

    # --- levels ----------------------------------------------------------------------------

    def level_states(self) -> dict[LevelKey, LevelState]:
        states: dict[LevelKey, LevelState] = {}
        for r in self._db.query("SELECT * FROM levels"):
            key = row_key(r)
            states[key] = LevelState(
                key=key,
                spec_digest=r["spec_digest"],
                generation=r["generation"],
                filled=Decimal(r["filled"]),
            )
        return states

    def record_generations(self, generations: Iterable[LevelGeneration]) -> None:
        """Start the given level generations: their fill count restarts at zero."""
        now = self._now_ms()
        with self._db.atomic():
            for g in generations:
                self._db.execute(
                    "INSERT INTO levels (token_id, side, price, spec_digest, generation, filled,"
                    " updated_ms) VALUES (?, ?, ?, ?, ?, '0', ?)"
                    " ON CONFLICT (token_id, side, price) DO UPDATE SET"
                    " spec_digest = excluded.spec_digest, generation = excluded.generation,"
                    " filled = '0', updated_ms = excluded.updated_ms"
                    " WHERE levels.generation != excluded.generation"
                    " OR levels.spec_digest != excluded.spec_digest",
                    [*key_params(g.key), g.spec_digest, g.generation, now],
                )

    def retire_levels(self, *, keep: Iterable[LevelKey]) -> int:
        """Forget level rows not in `keep` (levels removed from the desired state), so a level
        that comes back later starts a fresh generation. Returns how many were forgotten."""
        keep_set = {key_params(k) for k in keep}
        doomed = [
            (r["token_id"], r["side"], r["price"])
            for r in self._db.query("SELECT token_id, side, price FROM levels")
            if (r["token_id"], r["side"], r["price"]) not in keep_set
        ]
        with self._db.atomic():
            for params in doomed:
                self._db.execute(
                    "DELETE FROM levels WHERE token_id = ? AND side = ? AND price = ?", params
                )
        return len(doomed)

    def _add_to_level_filled(self, key: LevelKey, amount: Decimal) -> None:
        # A fill counts toward the generation in force when we learn of it: orders resting
        # from an earlier generation serve the current one (DESIGN: they count toward it).
        rows = list(
            self._db.query(
                "SELECT filled FROM levels WHERE token_id = ? AND side = ? AND price = ?",
                key_params(key),
            )
        )
        if not rows or amount <= 0:
            return
        filled = Decimal(rows[0]["filled"]) + amount
        self._db.execute(
            "UPDATE levels SET filled = ?, updated_ms = ? WHERE token_id = ? AND side = ?"
            " AND price = ?",
            [decimal_text(filled), self._now_ms(), *key_params(key)],
        )

    # --- inventory -------------------------------------------------------------------------

    def inventory(self) -> list[InventoryOrder]:
        """Our orders that are, or may be, resting (live, unknown, intent)."""
        return [o.to_inventory() for o in self.orders(statuses=INVENTORY_STATUSES)]

    def orders(self, *, statuses: Iterable[OrderStatus] | None = None) -> list[StoredOrder]:
        if statuses is None:
            rows = self._db.query("SELECT * FROM orders ORDER BY posted_at_ms, order_id")
        else:
            wanted = [OrderStatus(s).value for s in statuses]
            marks = ", ".join("?" for _ in wanted)
            rows = self._db.query(
                f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY posted_at_ms, order_id",
                wanted,
            )
        return [stored_order(r) for r in rows]

    def order(self, order_id: str) -> StoredOrder | None:
        rows = list(self._db.query("SELECT * FROM orders WHERE order_id = ?", [order_id]))
        return stored_order(rows[0]) if rows else None

    def unresolved_orders(self) -> list[StoredOrder]:
        return self.orders(statuses=UNRESOLVED_STATUSES)

    def add_order_intent(
        self, *, order_id: str, post: Post, revision: int | None, run_id: int | None
    ) -> None:
        """Record an order we are about to post (status intent). Call inside `atomic()` with
        the journal intent, before the request is sent."""
        row = intent_row(
            order_id=order_id, post=post, revision=revision, run_id=run_id, now_ms=self._now_ms()
        )
        self._db.table("orders").insert(row)

    def mark_order(self, order_id: str, *, status: OrderStatus, error: str | None = None) -> bool:
        """Set an order's status (and the exchange's message for a rejection). Returns False
        when the order is not ours."""
        cursor = self._db.execute(
            "UPDATE orders SET status = ?, error = COALESCE(?, error), updated_ms = ?"
            " WHERE order_id = ?",
            [OrderStatus(status).value, error, self._now_ms(), order_id],
        )
        return cursor.rowcount > 0

    def observe_matched(self, order_id: str, size_matched: Decimal) -> Decimal:
        """The exchange says `size_matched` of this order has filled (a cumulative figure).
        Returns the newly learned amount, which is added to the level's fill count."""
        with self._db.atomic():
            order = self.order(order_id)
            if order is None or size_matched <= order.size_matched:
                return Decimal(0)
            return self._raise_matched(order, size_matched)

    def add_fill(
        self, *, order_id: str, fill_id: str, size: Decimal, price: Decimal, at_ms: int
    ) -> bool:
        """Record one fill (a trade or fill notification) of one of our orders, once per
        (order, fill id). Returns False for a repeat or an order that is not ours.

        The order's matched size becomes the larger of what the exchange last reported and the
        sum of its recorded fills: both are lower bounds of the truth, so taking the larger
        never counts a fill twice when it is learned both ways."""
        with self._db.atomic():
            order = self.order(order_id)
            if order is None:
                return False
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO fills (order_id, fill_id, size, price, at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                [order_id, fill_id, decimal_text(size), decimal_text(price), at_ms],
            )
            if cursor.rowcount == 0:
                return False
            total = sum(
                (
                    Decimal(r["size"])
                    for r in self._db.query("SELECT size FROM fills WHERE order_id = ?", [order_id])
                ),
                Decimal(0),
            )
            if total > order.size_matched:
                self._raise_matched(order, total)
        return True

    def _raise_matched(self, order: StoredOrder, size_matched: Decimal) -> Decimal:
        delta = size_matched - order.size_matched
        with self._db.atomic():
            self._db.execute(
                "UPDATE orders SET size_matched = ?, updated_ms = ? WHERE order_id = ?",
                [decimal_text(size_matched), self._now_ms(), order.order_id],
            )
            self._add_to_level_filled(order.key, delta)
        return delta

    def fills(self, *, order_id: str | None = None) -> list[dict[str, Any]]:
        if order_id is None:
            return list(self._db.query("SELECT * FROM fills ORDER BY id"))
        return list(
            self._db.query("SELECT * FROM fills WHERE order_id = ? ORDER BY id", [order_id])
        )

    # --- journal ---------------------------------------------------------------------------

    def journal_intent(
        self, *, run_id: int | None, kind: str, order_id: str | None, payload: dict[str, Any]
    ) -> int:
        """Write what we are about to ask the exchange, before asking (no secrets in payload)."""
        if kind not in ("post", "cancel", "lookup"):
            raise ValueError(f"unknown journal kind {kind!r}")
        row = {
            "run_id": run_id,
            "kind": kind,
            "order_id": order_id,
            "payload": json.dumps(payload, sort_keys=True, default=str),
            "intent_ms": self._now_ms(),
            "outcome": None,
            "result": None,
            "result_ms": None,
        }
        return self._insert("journal", row)

    def journal_result(
        self, journal_id: int, *, outcome: str, result: dict[str, Any] | str | None = None
    ) -> None:
        """Write what came of a journaled request (ok, rejected, unknown, error, ...)."""
        text = (
            result
            if isinstance(result, str) or result is None
            else json.dumps(result, sort_keys=True, default=str)
        )
        self._db.execute(
            "UPDATE journal SET outcome = ?, result = ?, result_ms = ? WHERE id = ?",
            [outcome, text, self._now_ms(), journal_id],
        )

    def open_journal_entries(self) -> list[dict[str, Any]]:
        """Journal rows with an intent and no outcome yet (a crash, or a lost answer)."""
        return [
            journal_row(r)
            for r in self._db.query("SELECT * FROM journal WHERE outcome IS NULL ORDER BY id")
        ]

    def close_open_journal(self, order_id: str, *, outcome: str, result: str) -> int:
        """Give an outcome to every open post intent of an order once it is resolved."""
        cursor = self._db.execute(
            "UPDATE journal SET outcome = ?, result = ?, result_ms = ?"
            " WHERE order_id = ? AND kind = 'post' AND (outcome IS NULL OR outcome = 'unknown')",
            [outcome, result, self._now_ms(), order_id],
        )
        return cursor.rowcount

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
        self, run_id: int, *, outcome: str, summary: dict[str, Any], error: str | None = None
    ) -> None:
        self._db.execute(
            "UPDATE runs SET finished_ms = ?, outcome = ?, summary = ?, error = ? WHERE id = ?",
            [
                self._now_ms(),
                outcome,
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

    # --- housekeeping and reports ----------------------------------------------------------

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

    def status(self) -> dict[str, Any]:
        """What `reconciler status` shows."""
        runs = self.recent_runs(1)
        success = [
            run_row(r)
            for r in self._db.query(
                "SELECT * FROM runs WHERE outcome IN ('ok', 'partial', 'noop', 'held')"
                " ORDER BY id DESC LIMIT 1"
            )
        ]
        applied = (
            self.revision(success[0]["revision"]) if success and success[0]["revision"] else None
        )
        latest = self.latest_revision()
        # In force: the revision the newest pass worked from (none when it had no valid spec);
        # a cancel-all at shutdown (outcome shutdown_*) is not a pass and has no revision.
        passes = list(
            self._db.query(
                "SELECT revision FROM runs WHERE outcome IS NULL OR outcome NOT LIKE 'shutdown%'"
                " ORDER BY id DESC LIMIT 1"
            )
        )
        in_force = self.revision(passes[0]["revision"]) if passes and passes[0]["revision"] else None
        resting: dict[str, int] = {}
        for r in self._db.query(
            "SELECT token_id, COUNT(*) AS n FROM orders WHERE status = 'live' GROUP BY token_id"
            " ORDER BY token_id"
        ):
            resting[r["token_id"]] = r["n"]
        unresolved = [o.order_id for o in self.unresolved_orders()]
        return {
            "state_file": str(self.path),
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
