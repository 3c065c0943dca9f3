"""What the policy rules need from the exchange, read for the tokens they need it for.

The checks themselves are pure (`reconciler.planner.policy`); `policy_needs` says which tokens'
books and shares a plan's checks need, and only those are read, once each per pass: nothing
when the plan posts nothing (a steady book costs no request), a GET /book per token the plan
posts on under `price_band` (or buys on under a pUSD `max_position`), and a GET
/balance-allowance per token the plan buys on under `max_position`.

The book: GET /book (clob-v2-wire.md 2.2), levels sorted by price here, never by position
(their order differs between sources, §5). The best bid is the highest bid, the best ask the
lowest ask, each with a size above zero. A 404 ("No orderbook exists for the requested token
id", clob-v1-wire.md 8) is an empty book: the planner only posts on tokens whose market info it
read, so the token exists. Any other failed read gives None, "could not be read", which the
rule treats as unchecked at its own level (it is not known to be empty); a 429 aborts the pass,
as every other read's does (invariant 8).

Shares held: GET /balance-allowance with `asset_type` CONDITIONAL, or CONDITIONAL-V2 for a
Protocol-V2 market (signing profile "v3", clob-v2-wire.md 2.4), in 6-decimal units. Unlike the
planner's sell balances (where an unreadable balance counts as zero, which only stops sells),
an unreadable one is None here: zero would let a position cap pass unchecked.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

from reconciler.clob import (
    AssetType,
    BalanceAllowance,
    ClobError,
    NotFound,
    OrderBook,
    RateLimited,
)
from reconciler.model import InventoryOrder, OpenOrder, Plan
from reconciler.planner import BookTop, PolicyInputs, PolicyNeeds

log = logging.getLogger(__name__)


class PolicyClient(Protocol):
    """What the reads need from `ClobClient`."""

    def get_order_book(self, token_id: str) -> OrderBook: ...

    def get_balance_allowance(
        self, asset_type: AssetType | str = ..., token_id: str | None = None
    ) -> BalanceAllowance: ...


def read_policy_inputs(
    client: PolicyClient,
    needs: PolicyNeeds,
    *,
    plan: Plan,
    observed: Sequence[OpenOrder],
    inventory: Iterable[InventoryOrder],
) -> PolicyInputs:
    """The books and shares `needs` names, and which of our orders rest on each token."""
    profiles = {p.key.token_id: p.order_profile for p in plan.posts}
    books = {token: read_book(client, token) for token in sorted(needs.books)}
    shares = {
        token: read_shares(client, token, profile=profiles.get(token, "v2"))
        for token in sorted(needs.shares)
    }
    ours = {o.order_id for o in inventory}
    resting: dict[str, set[str]] = defaultdict(set)
    for order in observed:
        if order.order_id in ours and order.remaining > 0:
            resting[order.token_id].add(order.order_id)
    return PolicyInputs(
        books=books,
        shares=shares,
        resting={token: frozenset(ids) for token, ids in resting.items()},
    )


def read_book(
    client: PolicyClient, token_id: str, *, ticks: dict[str, Decimal] | None = None
) -> BookTop | None:
    """The top of a token's book; an empty BookTop for none; None when it could not be read.
    `ticks`, when given, gets the market's tick from the book read."""
    try:
        book = client.get_order_book(token_id)
    except NotFound:
        return BookTop()
    except RateLimited:
        raise
    except ClobError as exc:
        log.warning("policy: the book of %s could not be read (%s); its posts are not checked",
                    token_id, exc)
        return None
    if ticks is not None and book.tick_size > 0:
        ticks[token_id] = book.tick_size
    return top_of_book(book)


def top_of_book(book: OrderBook) -> BookTop:
    bids = [level.price for level in book.bids if level.size > 0]
    asks = [level.price for level in book.asks if level.size > 0]
    return BookTop(best_bid=max(bids, default=None), best_ask=min(asks, default=None))


def read_shares(client: PolicyClient, token_id: str, *, profile: str) -> Decimal | None:
    kind = AssetType.CONDITIONAL_V2 if profile == "v3" else AssetType.CONDITIONAL
    try:
        return client.get_balance_allowance(kind, token_id).balance_decimal
    except RateLimited:
        raise
    except ClobError as exc:
        log.warning("policy: the shares held of %s could not be read (%s); its buys are not "
                    "checked", token_id, exc)
        return None


__all__ = ["PolicyClient", "read_book", "read_policy_inputs", "read_shares", "top_of_book"]
