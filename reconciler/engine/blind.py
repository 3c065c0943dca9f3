"""Never trade blind (invariant 10), the engine's half: what a process remembers between passes,
what it writes, what it says, and adoption. The rule itself is pure (planner/blind.py).

- `BlindWatch` (one per Reconciler, so one per process): the ids open at this process's first
  complete read of open orders (`seen_at_start`), the trader's orders the state file knows
  (loaded once, then kept up to date), and the last finding it logged. Each pass it asks the
  rule, remembers the orders it watched appear as the trader's (a write only when one appears
  or leaves), holds what must wait, and logs the finding once each time it changes: one line
  saying how many orders, on which tokens, at which levels, and what to run.
- `find_adoptable` / `adopt`: `reconciler adopt` takes the blind orders (all, or one token's)
  into the inventory, journaled (store/foreign.py). It re-reads the open orders itself, so what
  it adopts is what rests now; the daemon never adopts by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler import planner
from reconciler.model import BlindToken, InventoryOrder, OpenOrder, Plan
from reconciler.spec import DesiredState
from reconciler.store import Store

if TYPE_CHECKING:
    from reconciler.engine.reconcile import Reconciler

log = logging.getLogger(__name__)

#: At most this many tokens are named in the log line (`reconciler plan` lists them all).
TOKENS_NAMED = 5


class BlindWatch:
    """What one process knows about the open orders outside its inventory (module docstring)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._seen_at_start: frozenset[str] | None = None
        self._foreign: set[str] | None = None
        self._logged: frozenset[str] = frozenset()

    def hold(
        self,
        plan: Plan,
        *,
        spec: DesiredState,
        observed: Sequence[OpenOrder],
        inventory: Sequence[InventoryOrder],
        persist: bool,
    ) -> tuple[Plan, int]:
        """The plan with what waits for blind tokens taken out, and how many posts wait.
        `persist`: remember the trader's orders and log the finding (a tick, not `plan`)."""
        if self._seen_at_start is None:
            self._seen_at_start = frozenset(o.order_id for o in observed)
        sight = sight_of(spec=spec, observed=observed, inventory=inventory, store=self._store,
                         foreign=self._known_foreign(), seen_at_start=self._seen_at_start)
        if persist:
            self._remember(sight.foreign, open_ids={o.order_id for o in observed})
            self._say(sight.blind)
        return planner.hold_blind(plan, sight.blind)

    def _known_foreign(self) -> set[str]:
        if self._foreign is None:
            self._foreign = self._store.foreign_order_ids()
        return self._foreign

    def _remember(self, appeared: Sequence[OpenOrder], *, open_ids: set[str]) -> None:
        known = self._known_foreign()
        gone = known - open_ids
        if appeared:
            self._store.remember_foreign(appeared)
            known.update(o.order_id for o in appeared)
            for order in appeared:
                log.info("order %s appeared on managed token %s while the daemon watched and is "
                         "not ours: it is the trader's, left to the token's unmanaged policy",
                         order.order_id, order.token_id)
        if gone:
            self._store.forget_foreign(gone)
            known.difference_update(gone)

    def _say(self, blind: tuple[BlindToken, ...]) -> None:
        ids = frozenset(o.order_id for b in blind for o in b.orders)
        if ids == self._logged:
            return
        self._logged = ids
        if blind:
            log.warning("%s", describe(blind))
        else:
            log.info("no token is blind any more: every open order at a declared level is "
                     "accounted for")


def describe(blind: Sequence[BlindToken]) -> str:
    """The one line that says what was found and what to do."""
    count = sum(len(b.orders) for b in blind)
    named = "; ".join(f"token {b.token_id}: {planner.describe_token(b)}"
                      for b in blind[:TOKENS_NAMED])
    more = f"; and {len(blind) - TOKENS_NAMED} more tokens" if len(blind) > TOKENS_NAMED else ""
    orders = f"{count} open order{'s' if count != 1 else ''}"
    tokens = f"{len(blind)} token{'s' if len(blind) != 1 else ''}"
    are = "are" if count != 1 else "is"
    return (f"never trading blind: {orders} at declared levels on {tokens} {are} not in this "
            "state file (is it new, restored from a backup, or replaced?), so nothing is posted "
            f"on {'those tokens' if len(blind) != 1 else 'that token'}: {named}{more}. If they "
            "are the daemon's, stop it and run `reconciler adopt` (`reconciler plan` lists "
            "them); if not, cancel them")


def sight_of(
    *,
    spec: DesiredState,
    observed: Sequence[OpenOrder],
    inventory: Sequence[InventoryOrder],
    store: Store,
    foreign: set[str],
    seen_at_start: frozenset[str] | set[str],
) -> planner.Sight:
    """Ask the rule about the orders it needs to see (those neither in the inventory nor known
    as the trader's: in a steady state, none), with the state file's records of them."""
    ours = {o.order_id for o in inventory}
    declared = {t.token_id for t in spec.tokens}
    unplaced = [o for o in observed if o.order_id not in ours and o.order_id not in foreign
                and o.token_id in declared]
    recorded = store.recorded_among(o.order_id for o in unplaced) if unplaced else set()
    return planner.assess(spec=spec, observed=unplaced, recorded=recorded, foreign=foreign,
                          seen_at_start=seen_at_start)


# --- adoption ------------------------------------------------------------------------------


def find_adoptable(
    reconciler: Reconciler, *, token_id: str | None = None
) -> tuple[BlindToken, ...] | str:
    """The blind tokens (or `token_id` alone) with their orders, as a process starting now finds
    them; or, as a string, why nothing can be adopted (no valid desired state)."""
    spec = reconciler.desired.for_plan(now=reconciler.clock()).spec
    if spec is None:
        return ("the desired state is invalid and none is in force; fix it first "
                "(`reconciler validate`)")
    if token_id is not None and token_id not in {t.token_id for t in spec.tokens}:
        return (f"token {token_id} is not declared in the desired state; only declared levels "
                "are adopted")
    observed = reconciler.client.get_open_orders()  # raises: never "no orders" (invariant 1)
    store = reconciler.store
    sight = sight_of(spec=spec, observed=observed, inventory=store.inventory(), store=store,
                     foreign=store.foreign_order_ids(),
                     seen_at_start={o.order_id for o in observed})
    return tuple(b for b in sight.blind if token_id is None or b.token_id == token_id)


def adopt(found: Sequence[BlindToken], *, store: Store) -> list[str]:
    """Record the orders of `found` as ours (journaled, one transaction); the ids adopted."""
    store.check_unchanged()
    adopted = store.adopt_orders([o for b in found for o in b.orders])
    log.info("adopted %d open orders on %d tokens: they count toward their levels now",
             len(adopted), len(found))
    return adopted


__all__ = ["BlindWatch", "adopt", "describe", "find_adoptable", "sight_of"]
