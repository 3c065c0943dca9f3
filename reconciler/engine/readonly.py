"""What a read-only `plan` knows: the state file as it is, adjusted in memory, never written.

`reconciler plan` runs beside a daemon on the same state file, opened with `mode=ro`. It must
not learn into the file (that is the daemon's job, and two writers would race), and it must not
resolve anything: a post whose answer was lost may still land, and only the process that sent
it may judge it. So, instead of ledger.py's steps that write:

- our orders in the open-orders read: what they filled since the state file last saw them is
  added to their level's fill count IN MEMORY, as `sync_observed` would add it in the file;
- our orders the state file has as live but the read no longer shows (filled, cancelled, or
  simply not seen yet by the daemon), and those whose outcome is unknown, count as unresolved:
  the planner holds their levels, exactly as a tick holds them until it has looked them up;
- notifications are not read (reading without recording would tell nothing the next read does
  not say again).

`pending` lists the orders left unresolved, so `plan` can say that the daemon owns resolving
them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.lifecycle import INVENTORY_STATUSES, OrderStatus
from reconciler.model import InventoryOrder, LevelKey, LevelState, OpenOrder
from reconciler.store import Store


@dataclass(frozen=True)
class ReadOnlyView:
    observed: list[OpenOrder]
    inventory: list[InventoryOrder]
    levels: dict[LevelKey, LevelState]
    pending: tuple[str, ...]  # our orders this plan did not resolve (their levels are held)


class OpenOrders(Protocol):
    def get_open_orders(self) -> list[OpenOrder]: ...


def observe_read_only(client: OpenOrders, *, store: Store) -> ReadOnlyView:
    """Read the open orders (a failure raises: never "no orders", invariant 1) and view them
    against the state file without writing it."""
    return read_only_view(client.get_open_orders(), store=store)


def read_only_view(observed: Sequence[OpenOrder], *, store: Store) -> ReadOnlyView:
    seen = {o.order_id: o for o in observed}
    levels = dict(store.level_states())
    inventory: list[InventoryOrder] = []
    pending: list[str] = []
    for order in store.orders(statuses=INVENTORY_STATUSES):
        item = order.to_inventory()
        open_order = seen.get(order.order_id)
        if open_order is not None:
            learned = open_order.size_matched - order.size_matched
            state = levels.get(order.key)
            if learned > 0 and state is not None:
                levels[order.key] = dataclasses.replace(state, filled=state.filled + learned)
        elif order.status is OrderStatus.LIVE:
            item = dataclasses.replace(item, unresolved=True)  # gone from the read: not judged
        if item.unresolved and open_order is None:
            pending.append(order.order_id)
        inventory.append(item)
    return ReadOnlyView(observed=list(observed), inventory=inventory, levels=levels,
                        pending=tuple(pending))


def unresolved_of(view: ReadOnlyView) -> list[InventoryOrder]:
    """Our orders left unresolved and not resting in the read (their levels are held)."""
    pending = set(view.pending)
    return [o for o in view.inventory if o.order_id in pending]
