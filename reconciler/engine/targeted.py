"""A targeted pass: the same pass as a sweep, over a few tokens only (the stream's events).

`Reconciler.tick(tokens=...)` runs the steps of reconcile.py with three narrowings, and nothing
else differs (the same resolve, ledger, planner, holds, apply and journal):
- the spec is the one in force at the last sweep, cut down to these tokens (`narrow`); files
  are not re-read (a file change brings a sweep of its own, through the watcher);
- the open orders read are those tokens' only (`read_open_orders`: one read per token, with
  its market's condition id as the exchange wants since the 2026-12-14 order-query change,
  clob-v2-wire.md 2.9), and only those tokens' orders missing from it are looked up;
- what concerns the whole account stays with the sweep: the per-token backoff counts sweeps
  only, levels of removed tokens are retired by sweeps, the skip log is kept by sweeps.

When a targeted pass cannot be right on its own, it is a sweep instead (`narrow` says None):
before any sweep has run (no spec in force yet), and under a rule that counts every token's
orders, so it needs them all read: a global buy cap (`max_total_buy_notional`) and the
policy's `max_open_orders.total`. The policy's other rules are per token, or per pass
(`max_notional_change`: a targeted pass is a pass), and hold there as in a sweep.

This is the smallest targeted pass the stream needs. The REST sweep stays the source of truth
and runs every interval; a targeted pass only brings a token's turn forward.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.clob import Trade
from reconciler.model import MarketInfo, OpenOrder
from reconciler.spec import DesiredState

if TYPE_CHECKING:
    from reconciler.engine.in_force import DesiredStateKeeper
    from reconciler.engine.memory import MarketCache
    from reconciler.engine.settlement import SettlementWatch
    from reconciler.store import Store


class TokenOrders(Protocol):
    def get_open_orders(self, *, market: str = "", asset_id: str = "") -> list[OpenOrder]: ...


def narrow(spec: DesiredState | None, tokens: Collection[str]) -> DesiredState | None:
    """`spec` cut down to `tokens` (an empty result is allowed: nothing to plan), or None when
    only a sweep can be right (see the module docstring)."""
    if spec is None or spec.max_total_buy_notional is not None:
        return None
    if spec.policy is not None and spec.policy.max_open_orders is not None \
            and spec.policy.max_open_orders.total is not None:
        return None
    return dataclasses.replace(
        spec, tokens=tuple(t for t in spec.tokens if t.token_id in tokens), allow_empty=True
    )


def read_open_orders(
    client: TokenOrders, tokens: Collection[str], markets: Mapping[str, MarketInfo]
) -> list[OpenOrder]:
    """Every open order of these tokens, all pages of each (a failed read raises: never "no
    orders", invariant 1)."""
    observed: list[OpenOrder] = []
    for token_id in sorted(tokens):
        info = markets.get(token_id)
        observed += client.get_open_orders(
            market=info.condition_id if info is not None else "", asset_id=token_id
        )
    return observed


class TargetedPasses:
    """What `Reconciler` needs to narrow a pass to a few tokens, and what the daemon's stream
    calls between passes (a mixin: the state it keeps is the Reconciler's own)."""

    # Provided by the Reconciler.
    client: Any
    clock: Callable[[], float]
    store: Store
    desired: DesiredStateKeeper
    _markets: MarketCache
    _settlement: SettlementWatch

    def __init__(self) -> None:
        # The spec in force at the last sweep, its revision and the files' errors.
        self._swept: tuple[DesiredState | None, int | None, tuple[str, ...]] = (None, None, ())
        self._scope: frozenset[str] | None = None  # the tokens of this pass (None: a sweep)
        self._swept_digest = ""  # the digest of the files the last sweep read (saved plans)
        self.annotate: Callable[[], dict[str, Any]] | None = None  # more for each run's summary

    @property
    def managed_tokens(self) -> frozenset[str]:
        """The tokens of the spec in force at the last sweep (read from other threads)."""
        spec = self._swept[0]
        return frozenset(t.token_id for t in spec.tokens) if spec is not None else frozenset()

    def learn_trades(self, trades: Sequence[Trade]) -> None:
        """Record trades the stream brought (fills; a FAILED one taken back), through the
        code that records trades read over REST (settlement.py), then follow them."""
        self._settlement.record(trades, store=self.store, now=self.clock())

    def forget_markets(self, token_ids: Iterable[str]) -> None:
        """The market info of these tokens is stale (a tick size change): read it again."""
        for token_id in token_ids:
            self._markets.forget(token_id)

    # --- inside a pass ---------------------------------------------------------------------

    def _in_force_for(
        self, tokens: Iterable[str] | None
    ) -> tuple[DesiredState | None, int | None, tuple[str, ...]]:
        """(spec, revision id, file errors) of this pass, and its scope set: a sweep reads the
        files; a targeted pass narrows the last sweep's spec, or is a sweep (`narrow`)."""
        scope = None if tokens is None else frozenset(tokens)
        narrowed = None if scope is None else narrow(self._swept[0], scope)
        self._scope = scope if narrowed is not None else None
        if narrowed is None:
            desired = self.desired.for_tick(now=self.clock())
            self._swept = (desired.spec, desired.revision_id, desired.errors)
            self._swept_digest = desired.digest
        return narrowed or self._swept[0], self._swept[1], self._swept[2]

    def _whole_spec(self, spec: DesiredState) -> DesiredState:
        """The whole spec in force: which levels are wanted is its business, also in a
        targeted pass (an unresolved order of another token must not look unwanted)."""
        return (self._swept[0] if self._scope is not None else None) or spec

    def _read_open_orders(self) -> list[OpenOrder]:
        if self._scope is None:
            return list(self.client.get_open_orders())
        return read_open_orders(self.client, self._scope,
                                self._markets.read(self._scope, now=self.clock()))

    def _retire_levels(self, spec: DesiredState) -> None:
        if self._scope is None:  # a targeted pass sees a part of the spec only
            self.store.retire_levels(keep=[lv.key for t in spec.tokens for lv in t.levels])

    def _scope_summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        if self._scope is not None:
            summary["scope"] = sorted(self._scope)
        if self.annotate is not None:
            summary.update(self.annotate())
        return summary


__all__ = ["TargetedPasses", "narrow", "read_open_orders"]
