"""Properties of the matching engine under random order flow (hypothesis), in process.

Whatever sequence of limit orders, market orders and cancels three accounts send, with real
signatures through the same `Exchange.place` the HTTP route calls:

* collateral and every token's shares are conserved (they only move between accounts);
* each account's reservations equal exactly what its live orders can still spend, and never
  exceed its balance;
* the book is never left crossed, and no order fills beyond its size.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperclob import PaperConfig
from paperclob.book import LIVE, cost_units
from paperclob.errors import OrderRejected
from paperclob.exchange import Exchange
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.signing import Wallet
from reconciler.model import Side
from tests.support.accounts import new_key
from tests.support.clock import ManualClock
from tests.support.paper import TOKEN

ACCOUNTS = 3
KEYS = [new_key() for _ in range(ACCOUNTS)]  # generated per run, never stored

limit_action = st.tuples(
    st.just("limit"),
    st.integers(0, ACCOUNTS - 1),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(44, 56),  # price in cents: narrow, so orders cross often
    st.integers(5, 60),  # size in shares
    st.booleans(),  # post-only
)
market_action = st.tuples(
    st.just("market"),
    st.integers(0, ACCOUNTS - 1),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(40, 60),
    st.integers(1, 40),  # pUSD for a buy, shares for a sell
    st.sampled_from(["FOK", "FAK"]),
)
cancel_action = st.tuples(st.just("cancel"), st.integers(0, ACCOUNTS - 1), st.integers(0, 50))
actions = st.lists(
    st.one_of(limit_action, limit_action, market_action, cancel_action), min_size=3, max_size=30
)


def _setup() -> tuple[Exchange, list[tuple[OrderBuilder, str]]]:
    exchange = Exchange(
        PaperConfig(
            clock=ManualClock(),
            seed=3,
            initial_collateral=Decimal("60"),
            initial_shares=Decimal("80"),
        )
    )
    traders = []
    for key in KEYS:
        wallet = Wallet.from_private_key(key)
        api_key = exchange.create_key(wallet.address, 0)
        traders.append((OrderBuilder(wallet, chain_id=137), api_key.api_key))
    return exchange, traders


def _apply(exchange: Exchange, traders: list[tuple[OrderBuilder, str]], action: tuple) -> None:
    kind, who = action[0], action[1]
    builder, api_key = traders[who]
    caller = exchange.keys.lookup(api_key)
    assert caller is not None
    if kind == "cancel":
        live = exchange.engine.open_orders(caller.address)
        if live:
            exchange.cancel_orders(caller, [live[action[2] % len(live)].order_id])
        return
    side, cents, amount, flag = Side(action[2]), action[3], action[4], action[5]
    price = Decimal(cents) / 100
    if kind == "limit":
        order = builder.build_limit(TOKEN, side, price, Decimal(amount), Decimal("0.01"), False)
        entry = {"order": order.to_wire(), "owner": api_key, "orderType": "GTC", "postOnly": flag}
    else:
        order = builder.build_market(TOKEN, side, Decimal(amount), price, Decimal("0.01"), False)
        entry = {"order": order.to_wire(), "owner": api_key, "orderType": flag, "postOnly": False}
    # Refusals are part of the flow; the invariants must hold either way.
    with contextlib.suppress(OrderRejected):
        exchange.place(caller, entry)


def _check_invariants(exchange: Exchange) -> None:
    engine = exchange.engine
    accounts = list(engine.accounts.values())
    assert sum(a.collateral for a in accounts) == ACCOUNTS * 60 * 10**6
    assert sum(a.share_balance(TOKEN) for a in accounts) == ACCOUNTS * 80 * 10**6
    for account in accounts:
        live = [
            o for o in engine.orders.values() if o.maker == account.address and o.status == LIVE
        ]
        bids = sum(cost_units(o.remaining, o.price) for o in live if o.side is Side.BUY)
        asks = sum(o.remaining for o in live if o.side is Side.SELL)
        assert account.reserved_collateral == bids
        assert account.reserved_shares.get(TOKEN, 0) == asks
        assert 0 <= bids <= account.collateral
        assert 0 <= asks <= account.share_balance(TOKEN)
    book = engine.book(TOKEN)
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is None or best_ask is None or best_bid < best_ask
    for order in engine.orders.values():
        if order.order_type in ("GTC", "GTD"):
            assert 0 <= order.matched <= order.original


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=actions)
def test_random_order_flow_keeps_money_reservations_and_book_consistent(flow: list) -> None:
    exchange, traders = _setup()
    for action in flow:
        _apply(exchange, traders, action)
        _check_invariants(exchange)


def test_a_long_flow_actually_trades() -> None:
    # Guard against a vacuous property: the same kind of flow produces trades and refusals.
    exchange, traders = _setup()
    flow = [("limit", i % 3, "BUY" if i % 2 else "SELL", 45 + i % 5, 10, False) for i in range(30)]
    for action in flow:
        _apply(exchange, traders, action)
        _check_invariants(exchange)
    assert exchange.engine.trades
