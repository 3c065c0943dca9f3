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
before any sweep has run (no spec in force yet), and under a global buy cap
(`max_total_buy_notional`), which counts the buys of every token, so it needs them all read.

This is the smallest targeted pass the stream needs. The REST sweep stays the source of truth
and runs every interval; a targeted pass only brings a token's turn forward.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Protocol

from reconciler.model import MarketInfo, OpenOrder
from reconciler.spec import DesiredState


class TokenOrders(Protocol):
    def get_open_orders(self, *, market: str = "", asset_id: str = "") -> list[OpenOrder]: ...


def narrow(spec: DesiredState | None, tokens: Collection[str]) -> DesiredState | None:
    """`spec` cut down to `tokens` (an empty result is allowed: nothing to plan), or None when
    only a sweep can be right (see the module docstring)."""
    if spec is None or spec.max_total_buy_notional is not None:
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


__all__ = ["narrow", "read_open_orders"]
