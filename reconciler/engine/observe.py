"""Steps 2-5 of a pass (reconcile.py): what the exchange says, learnt into the state file.

Resolve our unresolved orders (resolve.py), read the open orders (a failure raises: never "no
orders", invariant 1), consume the notifications, look up the orders that vanished (ledger.py),
and follow the trades of orders whose fills changed until they settle (settlement.py, invariant
12); the markets of tokens that filled are read again (their tick may have moved).

A targeted pass (targeted.py, the stream's) reads its tokens' open orders only, and looks up only
its tokens' orders missing from that read.

A read-only `plan` (beside a running daemon) does none of that: it views the open orders
against the state file without writing it (readonly.py), and the orders it cannot judge are
`pending`, left for the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.clob import (
    AssetType,
    BalanceAllowance,
    Notification,
    OrderBook,
    Trade,
)
from reconciler.engine import ledger, resolve
from reconciler.engine.apply import WriteClient
from reconciler.engine.memory import MarketCache, TokenBackoff
from reconciler.engine.modes import TradingModes
from reconciler.engine.readonly import observe_read_only, unresolved_of
from reconciler.engine.settlement import SettlementWatch
from reconciler.model import (
    InventoryOrder,
    LevelKey,
    LevelState,
    MarketInfo,
    NotificationType,
    OpenOrder,
)
from reconciler.store import Store


class ExchangeClient(WriteClient, Protocol):
    """What a pass needs from `ClobClient`."""

    def get_open_orders(self, *, market: str = "", asset_id: str = "") -> list[OpenOrder]: ...

    def get_notifications(self) -> list[Notification]: ...

    def drop_notifications(self, ids: Sequence[str]) -> None: ...

    def get_market_info(self, token_id: str) -> MarketInfo: ...

    def clear_market_cache(self, token_id: str | None = None) -> None: ...

    def get_balance_allowance(
        self, asset_type: AssetType | str = ..., token_id: str | None = None
    ) -> BalanceAllowance: ...

    def get_trades(self, *, after: int | None = None) -> list[Trade]: ...

    def get_order_book(self, token_id: str) -> OrderBook: ...


@dataclass(frozen=True)
class Observation:
    observed: list[OpenOrder]
    inventory: list[InventoryOrder]
    levels: dict[LevelKey, LevelState]
    unresolved: list[InventoryOrder]  # our orders whose levels are held
    pending: tuple[str, ...] = ()  # a read-only plan's orders left for the daemon to resolve
    resolution: resolve.Resolution = field(default_factory=resolve.Resolution)


class Observer:
    """Steps 2-5, with what they keep between passes: the trades being followed."""

    def __init__(self, *, markets: MarketCache, modes: TradingModes, backoff: TokenBackoff,
                 settlement: SettlementWatch) -> None:
        self.markets, self.modes, self.backoff = markets, modes, backoff
        self.settlement = settlement

    def observe(
        self,
        client: ExchangeClient,
        store: Store,
        *,
        wanted: Collection[LevelKey],
        read: Callable[[], list[OpenOrder]],
        scope: Collection[str] | None,
        clock: Callable[[], float],
        run_id: int | None,
        persist: bool,
        read_only: bool,
        landing_window: float,
        chain_id: int,
        progress: Callable[[str, Any], None] | None = None,
    ) -> Observation:
        """What the exchange says now (module docstring). `wanted`: the levels of the whole
        spec in force (an unresolved order of a level no longer wanted is never re-sent);
        `read`: the open-orders read of this pass, over `scope` (None: every token);
        `persist`: a tick (re-sends, drops the notifications it consumed); `read_only`: write
        nothing at all. `clock`: the reconciler's, asked at each step (a test may move it)."""
        if read_only:
            view = observe_read_only(client, store=store)
            self.modes.reads_answered(clock())
            return Observation(view.observed, view.inventory, view.levels, unresolved_of(view),
                               pending=view.pending)
        if progress is not None:
            progress("resolving", len(store.unresolved_orders()))
        resolution = resolve.resolve_unresolved(
            client=client, store=store, run_id=run_id, clock=clock,
            landing_window=landing_window, chain_id=chain_id, resend=persist,
            wanted=wanted.__contains__,
        )
        # An order the exchange took (by its re-send) is a post that worked: the token's
        # backoff after the lost answer is forgiven, as after any successful post.
        self.backoff.update(failed=(), posted=resolution.placed_tokens)
        observed = read()  # raises: never "no orders" (invariant 1)
        self.modes.reads_answered(clock())
        open_ids = ledger.sync_observed(observed, store=store)
        notes = ledger.consume_notifications(client=client, store=store, clock=clock,
                                             drop=persist)
        if any(n.type == NotificationType.MARKET_RESOLVED for n in notes):
            self.markets.forget(None)  # a market closed: re-read what accepts orders
        ledger.look_up_vanished(open_ids, client=client, store=store, run_id=run_id,
                                tokens=scope)
        filled = store.take_fill_changes()
        self.settlement.watch(filled, store=store, now=clock())
        self.settlement.check(client=client, store=store, now=clock())
        filled |= store.take_fill_changes()
        # A fill or trade on a token may have moved its tick (beyond 0.96 / below 0.04).
        self.markets.refresh(set(filled.values()))
        return Observation(observed, store.inventory(), store.level_states(),
                           [o.to_inventory() for o in store.unresolved_orders()],
                           resolution=resolution)
