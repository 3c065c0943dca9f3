"""The fill log: one row per fill of our orders that we learn of, partial ones included.

Every way a fill is learnt (the matched size in the open-orders read, a lookup by hash, a fill
notification) ends in `Orders._raise_matched`, which records here what the order's matched size
grew by, at the order's price (a resting limit order fills at its own price), and whether we
were the maker: a post-only order can only ever rest, so its fills are maker fills; for an order
that was not post-only the state file cannot tell (it may have crossed when it was placed), and
says `unknown` (`reconciler trades` shows the exchange's word for it).

A fill taken back because its trade did not settle (invariant 12: `Orders.reverse_fill`) is
recorded here too, as a row of kind `reversed` with the size that came off the order's matched
size and the matched size after it, so `history` and the daemon's log show the reversal next to
the fill (a failure that takes nothing off, its fill never counted, writes no row).

It is an audit trail for `history` and the daemon's log, never arithmetic: fill counts come from
the `fills` table and each order's matched size (orders.py), as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reconciler.store.base import StoreBase
from reconciler.store.schema import StoredOrder, decimal_text

MAKER = "maker"
UNKNOWN_ROLE = "unknown"
FILL = "fill"  # a row's kind: a fill we learnt of
REVERSED = "reversed"  # a row's kind: a fill taken back, its trade failed (invariant 12)


class FillLog(StoreBase):
    def log_fill(self, order: StoredOrder, *, size: Decimal, matched: Decimal,
                 kind: str = FILL) -> None:
        """Record that `order` filled `size` more (its matched size is now `matched`); with
        `kind=REVERSED`, that a fill of `size` was taken back (its trade did not settle)."""
        if size <= 0 or not self._has_fill_log():
            return
        self._db.execute(
            "INSERT INTO fill_log (order_id, token_id, side, price, size, matched, role, kind,"
            " at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [order.order_id, order.key.token_id, order.key.side.value,
             decimal_text(order.key.price), decimal_text(size), decimal_text(matched),
             MAKER if order.post_only else UNKNOWN_ROLE, kind, self._now_ms()],
        )

    def fill_log_mark(self) -> int:
        """The id of the newest fill row (0: none), to read what comes after it."""
        if not self._has_fill_log():
            return 0
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM fill_log").fetchone()[0])

    def fills_since(self, mark: int) -> list[dict[str, Any]]:
        """Fill rows after `mark`, oldest first, each with its order's size."""
        if not self._has_fill_log():
            return []
        return [self._fill_log_row(r) for r in self._db.query(
            "SELECT f.*, o.size AS order_size FROM fill_log f LEFT JOIN orders o"
            " ON o.order_id = f.order_id WHERE f.id > ? ORDER BY f.id", [mark])]

    def recent_fills(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` fill rows, newest first (for `history`)."""
        if not self._has_fill_log():
            return []
        return [self._fill_log_row(r) for r in self._db.query(
            "SELECT f.*, o.size AS order_size FROM fill_log f LEFT JOIN orders o"
            " ON o.order_id = f.order_id ORDER BY f.id DESC LIMIT ?", [limit])]

    @staticmethod
    def _fill_log_row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"], "order_id": r["order_id"], "token_id": r["token_id"],
            "side": r["side"], "price": r["price"], "size": r["size"],
            "matched": r["matched"], "order_size": r["order_size"], "role": r["role"],
            "kind": r["kind"], "at_ms": r["at_ms"],
        }

    def _has_fill_log(self) -> bool:
        found = getattr(self, "_fill_log_exists", None)
        if found is None:
            found = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fill_log'"
            ).fetchone() is not None
            self._fill_log_exists = found
        return bool(found)
