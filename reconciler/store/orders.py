"""Orders and levels: the inventory of orders WE posted (it alone decides ownership, invariant 3),
each order's state as the lifecycle table moves it, its fills, and the level generations they
count toward.

An order row is written with status `intent` BEFORE the request that places it (invariant 4),
together with the exact signed order that request sends, so an unknown outcome is resolved by
sending those very bytes again (invariant 11); after that, its status changes only through
`apply_event`, which asks `reconciler.lifecycle`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from reconciler import lifecycle
from reconciler.lifecycle import INVENTORY_STATUSES, UNRESOLVED_STATUSES, Event, Move, OrderStatus
from reconciler.model import InventoryOrder, LevelGeneration, LevelKey, LevelState, Post, decimal_of
from reconciler.store.fill_log import REVERSED, FillLog
from reconciler.store.schema import (
    FAILED_FILL,
    StoredOrder,
    decimal_text,
    intent_row,
    key_params,
    row_key,
    sql_in,
    stored_order,
)


class Orders(FillLog):
    # --- levels ----------------------------------------------------------------------------

    def level_states(self) -> dict[LevelKey, LevelState]:
        states: dict[LevelKey, LevelState] = {}
        for r in self._db.query("SELECT * FROM levels"):
            key = row_key(r)
            states[key] = LevelState(
                key=key,
                spec_digest=r["spec_digest"],
                generation=r["generation"],
                filled=decimal_of(r["filled"]),
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
        # A negative amount takes a failed fill back (never below zero), so the level is served
        # again (invariant 12).
        rows = list(
            self._db.query(
                "SELECT filled FROM levels WHERE token_id = ? AND side = ? AND price = ?",
                key_params(key),
            )
        )
        if not rows or amount == 0:
            return
        filled = max(decimal_of(rows[0]["filled"]) + amount, Decimal(0))
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
            marks, wanted = sql_in(OrderStatus(s) for s in statuses)
            rows = self._db.query(
                f"SELECT * FROM orders WHERE status IN {marks} ORDER BY posted_at_ms, order_id",
                wanted,
            )
        return [stored_order(r) for r in rows]

    def order(self, order_id: str) -> StoredOrder | None:
        rows = list(self._db.query("SELECT * FROM orders WHERE order_id = ?", [order_id]))
        return stored_order(rows[0]) if rows else None

    def unresolved_orders(self) -> list[StoredOrder]:
        return self.orders(statuses=UNRESOLVED_STATUSES)

    def add_order_intent(
        self,
        *,
        order_id: str,
        post: Post,
        revision: int | None,
        run_id: int | None,
        signed_order: Mapping[str, Any] | None = None,
        profile: str | None = None,
    ) -> None:
        """Record an order we are about to post (status intent), with the signed order it sends
        (its wire `order` object, without the owner) and the profile it was signed for. Call
        inside `atomic()` with the journal intent, before the request is sent."""
        row = intent_row(
            order_id=order_id,
            post=post,
            revision=revision,
            run_id=run_id,
            now_ms=self._now_ms(),
            signed_order=None if signed_order is None else json.dumps(dict(signed_order)),
            profile=profile,
        )
        self._db.table("orders").insert(row)

    def note_unanswered_send(self, order_id: str, *, at_ms: int) -> None:
        """A send of this order may have left at or before `at_ms` without an answer (a lost
        answer, a crash between send and record): the landing window counts from the latest."""
        self._db.execute(
            "UPDATE orders SET unanswered_ms = MAX(COALESCE(unanswered_ms, 0), ?) WHERE order_id = ?",
            [int(at_ms), order_id],
        )

    # --- the lifecycle ---------------------------------------------------------------------

    def apply_event(self, order_id: str, event: Event, *, error: str | None = None) -> Move | None:
        """Move one of our orders by `event`, as the lifecycle table says. Returns the move, or
        None when the order is not ours.

        An event the table does not allow in the order's state raises `IllegalTransition` and
        changes nothing. A move to the state the order has writes nothing. A change records
        `error` (the exchange's message), or else the table's note, as the order's message; with
        neither, the previous message stays."""
        with self._db.atomic():
            rows = list(self._db.query("SELECT status FROM orders WHERE order_id = ?", [order_id]))
            if not rows:
                return None
            move = lifecycle.step(order_id, OrderStatus(rows[0]["status"]), event)
            if move.changed:
                self._db.execute(
                    "UPDATE orders SET status = ?, error = COALESCE(?, error), updated_ms = ?"
                    " WHERE order_id = ?",
                    [move.after.value, move.note if error is None else error, self._now_ms(),
                     order_id],
                )
        return move

    # --- fills -----------------------------------------------------------------------------

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
            if order is None or self._fill_row(order_id, FAILED_FILL + fill_id) is not None:
                return False  # not ours, or a fill already taken back (its trade failed)
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO fills (order_id, fill_id, size, price, at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                [order_id, fill_id, decimal_text(size), decimal_text(price), at_ms],
            )
            if cursor.rowcount == 0:
                return False
            total = self._recorded_fills(order_id)
            if total > order.size_matched:
                self._raise_matched(order, total)
        return True

    def reverse_fill(
        self, *, order_id: str, trade_id: str, size: Decimal, price: Decimal, at_ms: int
    ) -> Decimal | None:
        """A fill of this order did not settle (its trade FAILED, or an ORDER_FILL_FAILED
        notification): take it back, once per (order, trade), whoever reports it first.
        Returns what came off the order's matched size and its level's fill count, or None
        when this failure was taken back before (or the order is not ours).

        The amount is the fill recorded for that trade when there is one (what was counted),
        else `size` as the exchange reports the failure (and the fill is recorded with it). It
        is kept as a contra entry (fill id `failed:<trade id>`, negative size) in the same
        transaction, so a repeat, a crash and a late report of the same fill all change
        nothing; the matched size never drops below the fills still recorded for other trades
        (facts of their own)."""
        with self._db.atomic():
            order = self.order(order_id)
            if order is None:
                return None
            if self._fill_row(order_id, FAILED_FILL + trade_id) is not None:
                return None
            recorded = self._fill_row(order_id, trade_id)
            amount = size if recorded is None else decimal_of(recorded["size"])
            others = self._recorded_fills(order_id) - (0 if recorded is None else amount)
            # A fill first learnt from its failure is recorded too, so the pair nets to zero
            # and the other fills' sum stays what it is.
            rows = [(FAILED_FILL + trade_id, -amount)]
            if recorded is None:
                rows.insert(0, (trade_id, amount))
            for fill_id, signed in rows:
                self._db.execute(
                    "INSERT INTO fills (order_id, fill_id, size, price, at_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [order_id, fill_id, decimal_text(signed), decimal_text(price), at_ms],
                )
            lowered = order.size_matched - max(others, order.size_matched - amount, Decimal(0))
            if lowered <= 0:
                return Decimal(0)
            self._db.execute(
                "UPDATE orders SET size_matched = ?, updated_ms = ? WHERE order_id = ?",
                [decimal_text(order.size_matched - lowered), self._now_ms(), order_id],
            )
            self._add_to_level_filled(order.key, -lowered)
            # The fill log (audit only) shows what came off the count, for `history`.
            self.log_fill(order, size=lowered, matched=order.size_matched - lowered,
                          kind=REVERSED)
            self._fill_changes[order_id] = order.key.token_id
        return lowered

    def take_fill_changes(self) -> dict[str, str]:
        """order id -> token id of our orders whose fills changed (up or down) since the last
        call: the engine re-reads their markets and watches their trades settle."""
        changes, self._fill_changes = self._fill_changes, {}
        return changes

    def orders_with_fills_since(self, at_ms: int) -> list[str]:
        """Our orders with a fill recorded at or after `at_ms` (to watch their settlement
        again after a restart)."""
        return [
            r["order_id"]
            for r in self._db.query(
                "SELECT DISTINCT order_id FROM fills WHERE at_ms >= ? ORDER BY order_id", [at_ms]
            )
        ]

    def _fill_row(self, order_id: str, fill_id: str) -> dict[str, Any] | None:
        rows = list(
            self._db.query(
                "SELECT * FROM fills WHERE order_id = ? AND fill_id = ?", [order_id, fill_id]
            )
        )
        return rows[0] if rows else None

    def _recorded_fills(self, order_id: str) -> Decimal:
        """The sum of an order's recorded fills, less the ones taken back."""
        return sum(
            (
                decimal_of(r["size"])
                for r in self._db.query("SELECT size FROM fills WHERE order_id = ?", [order_id])
            ),
            Decimal(0),
        )

    def _raise_matched(self, order: StoredOrder, size_matched: Decimal) -> Decimal:
        delta = size_matched - order.size_matched
        with self._db.atomic():
            self._db.execute(
                "UPDATE orders SET size_matched = ?, updated_ms = ? WHERE order_id = ?",
                [decimal_text(size_matched), self._now_ms(), order.order_id],
            )
            self._add_to_level_filled(order.key, delta)
            self.log_fill(order, size=delta, matched=size_matched)  # fill_log.py (audit only)
            self._fill_changes[order.order_id] = order.key.token_id
        return delta

    def fills(self, *, order_id: str | None = None) -> list[dict[str, Any]]:
        if order_id is None:
            return list(self._db.query("SELECT * FROM fills ORDER BY id"))
        return list(
            self._db.query("SELECT * FROM fills WHERE order_id = ? ORDER BY id", [order_id])
        )
