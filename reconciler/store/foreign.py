"""What the state file knows about open orders that are not in its inventory (invariant 10).

- Which of a few order ids it has a record of at all (`recorded_among`): a row in `orders`, in
  any state, means the order is ours (posted or adopted).
- The trader's own orders (`foreign_order_ids`, `remember_foreign`, `forget_foreign`): orders
  on declared tokens that a process of this file watched appear (planner/blind.py). Only the
  ids still open are kept; a row is written when one appears and deleted when it leaves.
- Adoption (`adopt_orders`): open orders taken into the inventory by `reconciler adopt`. An
  adopted order is born `live` (the exchange shows it resting), not `intent` like an order we
  post: there is no request to journal before, so its journal row (kind `adopt`) is written with
  its outcome, in the same transaction as its order row. Its matched size so far is recorded as
  already known, so only fills from now on count toward its level.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.lifecycle import OrderStatus
from reconciler.model import OpenOrder
from reconciler.store.base import StoreBase
from reconciler.store.schema import JournalKind, JournalOutcome, decimal_text, key_params

_CHUNK = 500  # ids per `IN (...)`: far below SQLite's limit on parameters


class Foreign(StoreBase):
    def recorded_among(self, order_ids: Iterable[str]) -> set[str]:
        """The ids among `order_ids` that have a row in `orders` (ours, in any state)."""
        return self._ids_in("orders", order_ids)

    def foreign_order_ids(self) -> set[str]:
        """The open orders known as the trader's own (seen appearing by a process of this
        file). A file too old to have the table (opened read-only, so never migrated) knows
        none."""
        if not self._has_foreign_table():
            return set()
        return {r["order_id"] for r in self._db.query("SELECT order_id FROM foreign_orders")}

    def remember_foreign(self, orders: Iterable[OpenOrder]) -> None:
        now = self._now_ms()
        with self._db.atomic():
            for order in orders:
                self._db.execute(
                    "INSERT OR IGNORE INTO foreign_orders (order_id, token_id, seen_ms)"
                    " VALUES (?, ?, ?)",
                    [order.order_id, order.token_id, now],
                )

    def forget_foreign(self, order_ids: Iterable[str]) -> None:
        """Forget orders that left the book (their ids never come back)."""
        wanted = list(order_ids)
        with self._db.atomic():
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                self._db.execute(f"DELETE FROM foreign_orders WHERE order_id IN ({marks})", chunk)

    def adopt_orders(self, orders: Sequence[OpenOrder]) -> list[str]:
        """Take open orders into the inventory as ours (`reconciler adopt`): one `live` order
        row and one `adopt` journal row each, all in one transaction. Orders that already have
        a row are left as they are. Returns the ids adopted."""
        with self._db.atomic():
            known = self.recorded_among(o.order_id for o in orders)
            fresh = [o for o in orders if o.order_id not in known]
            generations = self._level_generations()
            now = self._now_ms()
            for order in fresh:
                self._db.table("orders").insert(
                    _adopted_row(order, generation=generations.get(key_params(order.key), 1),
                                 now_ms=now)
                )
                self._insert("journal", {
                    "run_id": None,
                    "kind": JournalKind.ADOPT.value,
                    "order_id": order.order_id,
                    "payload": _payload(order),
                    "intent_ms": now,
                    "outcome": JournalOutcome.OK.value,
                    "result": "adopted: counted as ours from now on",
                    "result_ms": now,
                })
            if fresh and self._has_foreign_table():
                self.forget_foreign(o.order_id for o in fresh)
        return [o.order_id for o in fresh]

    # --- helpers ---------------------------------------------------------------------------

    def _ids_in(self, table: str, order_ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(order_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            found.update(r["order_id"] for r in self._db.query(
                f"SELECT order_id FROM {table} WHERE order_id IN ({marks})", chunk))
        return found

    def _level_generations(self) -> dict[tuple[str, str, str], int]:
        return {
            (r["token_id"], r["side"], r["price"]): int(r["generation"])
            for r in self._db.query("SELECT token_id, side, price, generation FROM levels")
        }

    def _has_foreign_table(self) -> bool:
        return bool(list(self._db.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'foreign_orders'")))


def _adopted_row(order: OpenOrder, *, generation: int, now_ms: int) -> dict[str, Any]:
    token_id, side, price = key_params(order.key)
    return {
        "order_id": order.order_id,
        "token_id": token_id,
        "side": side,
        "price": price,
        "generation": generation,
        "size": decimal_text(order.original_size),
        "size_matched": decimal_text(order.size_matched),
        "status": OrderStatus.LIVE.value,
        "order_type": order.order_type.value,
        "expires_at": order.expiration,
        # Unknown for an order we did not build; it does not matter to an order that rests.
        "post_only": 1,
        "revision": None,
        "run_id": None,
        # When it was placed, as the exchange says (the planner trims newest-first by it).
        "posted_at_ms": order.created_at * 1000 if order.created_at > 0 else now_ms,
        "updated_ms": now_ms,
        "error": None,
    }


def _payload(order: OpenOrder) -> str:
    return json.dumps({
        "token_id": order.token_id,
        "side": order.side.value,
        "price": decimal_text(order.price),
        "original_size": decimal_text(order.original_size),
        "size_matched": decimal_text(order.size_matched),
        "order_type": order.order_type.value,
        "created_at": order.created_at,
    }, sort_keys=True)
