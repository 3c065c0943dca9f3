"""End-to-end: every ClobClient method against the real paper exchange on 127.0.0.1.

The paper exchange verifies L1 signatures, L2 HMACs over the raw bytes and every order
signature exactly as the exchange does, so a happy path here proves the client's bytes, headers
and signatures, not only its parsing. Two accounts (alice makes, bob takes) produce real trades
and notifications (the `alice` and `bob` fixtures). Fault paths are in
test_client_paper_faults.py.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from paperclob import PaperConfig
from reconciler.clob.client import ClobClient, PostArgs
from reconciler.clob.errors import AuthenticationFailed, ExchangeRejected
from reconciler.clob.types import AssetType, OrderDetails
from reconciler.model import OpenOrder, OrderType, Side
from tests.support.accounts import new_wallet
from tests.support.paper import TOKEN

OTHER = "4242"
PAGE_SIZE = 3


@pytest.fixture
def paper_config() -> PaperConfig:
    return PaperConfig(page_size=PAGE_SIZE, seed=7)


# --- L1: API keys --------------------------------------------------------------------------------


def test_create_derive_and_create_or_derive_agree(paper_url: str) -> None:
    client = ClobClient(paper_url, chain_id=137, wallet=new_wallet())
    created = client.create_api_key()
    with pytest.raises(ExchangeRejected, match="Could not create api key"):
        client.create_api_key()
    assert client.derive_api_key() == created
    assert client.create_or_derive_api_key() == created
    other_nonce = client.create_or_derive_api_key(nonce=1)
    assert other_nonce.api_key != created.api_key
    assert created.secret not in repr(created) and created.passphrase not in repr(created)


def test_derive_unknown_key_is_rejected(paper_url: str) -> None:
    client = ClobClient(paper_url, chain_id=137, wallet=new_wallet())
    with pytest.raises(ExchangeRejected, match="Could not derive api key"):
        client.derive_api_key(nonce=5)


def test_api_keys_listed_and_deleted(paper_url: str) -> None:
    client = ClobClient(paper_url, chain_id=137, wallet=new_wallet(), rederive_on_401=False)
    client.creds = client.create_or_derive_api_key()
    assert client.creds.api_key in client.get_api_keys()
    client.delete_api_key()
    with pytest.raises(AuthenticationFailed):
        client.get_api_keys()


def test_a_deleted_key_is_created_again_on_the_next_call(alice: ClobClient) -> None:
    """A 401 re-derives the key once (L1 derive, then create when none exists) and repeats the
    call: a deleted key no longer fails every later call until a restart."""
    assert alice.creds is not None
    alice.delete_api_key()
    keys = alice.get_api_keys()  # refused with 401, re-created through L1, sent again
    assert keys == [alice.creds.api_key]


def test_wrong_secret_is_repaired_by_deriving_the_key_again(alice: ClobClient) -> None:
    from reconciler.clob.auth import ApiCreds

    assert alice.creds is not None
    good = alice.creds
    forged = ApiCreds(good.api_key, secret="A" * 43 + "=", passphrase=good.passphrase)
    alice.creds = forged
    assert alice.get_open_orders() == []
    assert alice.creds == good


def test_wrong_secret_without_rederive_is_authentication_failed(alice: ClobClient) -> None:
    from reconciler.clob.auth import ApiCreds

    assert alice.creds is not None
    forged = ApiCreds(alice.creds.api_key, secret="A" * 43 + "=", passphrase=alice.creds.passphrase)
    alice.creds = forged
    alice.rederive_on_401 = False
    with pytest.raises(AuthenticationFailed) as info:
        alice.get_open_orders()
    assert info.value.status == 401
    assert forged.passphrase not in str(info.value)


# --- public reads --------------------------------------------------------------------------------


def test_public_reads(paper_url: str, alice: ClobClient) -> None:
    public = ClobClient(paper_url, chain_id=137)
    assert public.get_version() == 2
    assert abs(public.get_server_time() - int(time.time())) < 3600
    assert public.get_tick_size(TOKEN) == Decimal("0.01")
    assert public.get_neg_risk(TOKEN) is False
    info = public.get_market_info(TOKEN)
    assert info.tick_size == Decimal("0.01") and info.min_order_size == Decimal("5")
    assert info.condition_id and info.accepting_orders and not info.neg_risk
    alice.create_and_post_order(TOKEN, Side.BUY, "0.40", "10")
    alice.create_and_post_order(TOKEN, Side.SELL, "0.60", "10")
    book = public.get_order_book(TOKEN)
    assert book.best_bid == Decimal("0.40") and book.best_ask == Decimal("0.60")
    assert book.asset_id == TOKEN and book.tick_size == Decimal("0.01")
    assert public.get_midpoint(TOKEN) == Decimal("0.5")


# --- posting and reading orders -------------------------------------------------------------------


def test_create_and_post_order_then_read_it_back(alice: ClobClient) -> None:
    signed = alice.create_order(TOKEN, Side.BUY, "0.45", "10")
    result = alice.post_order(signed)
    assert result.ok and result.status == "live"
    assert result.order_id == signed.order_id  # the ID is the hash, known before posting
    details = alice.get_order(signed.order_id)
    assert isinstance(details, OrderDetails)
    assert details.status == "LIVE" and details.side is Side.BUY
    assert details.price == Decimal("0.45") and details.original_size == Decimal("10")
    assert details.token_id == TOKEN
    assert alice.get_order("0x" + "00" * 32) is None
    one_call = alice.create_and_post_order(TOKEN, Side.SELL, "0.55", "6", post_only=True)
    assert one_call.ok


def test_post_15_orders_one_result_each_in_order(alice: ClobClient) -> None:
    orders = [alice.create_order(TOKEN, Side.BUY, f"0.{10 + i}", "5") for i in range(15)]
    results = alice.post_orders([PostArgs(o, OrderType.GTC, True) for o in orders])
    assert [r.order_id for r in results] == [o.order_id for o in orders]
    assert all(r.ok for r in results)
    assert len(alice.get_open_orders()) == 15


def test_open_orders_across_pages_normalised_and_filtered(alice: ClobClient) -> None:
    posted = [alice.create_order(TOKEN, Side.BUY, f"0.{20 + i}", "5") for i in range(7)]
    other = alice.create_order(OTHER, Side.SELL, "0.70", "5")
    alice.post_orders([(o, OrderType.GTC) for o in [*posted, other]])
    everything = alice.get_open_orders()
    assert len(everything) == 8 > PAGE_SIZE  # several pages were read
    assert all(isinstance(o, OpenOrder) and isinstance(o.price, Decimal) for o in everything)
    assert {o.order_id for o in everything} == {o.order_id for o in [*posted, other]}
    assert len(alice.get_open_orders(only_first_page=True)) == PAGE_SIZE
    assert {o.order_id for o in alice.get_open_orders(asset_id=OTHER)} == {other.order_id}
    assert [o.order_id for o in alice.get_open_orders(id=posted[3].order_id)] == [
        posted[3].order_id
    ]
    market = everything[0].market
    assert market and all(o.market == market for o in alice.get_open_orders(market=market))


def test_gtd_order_carries_its_expiration(alice: ClobClient) -> None:
    expires = int(time.time()) + 3600
    result = alice.create_and_post_order(
        TOKEN, Side.BUY, "0.30", "5", order_type=OrderType.GTD, expiration=expires
    )
    (order,) = alice.get_open_orders()
    assert result.ok and order.order_type is OrderType.GTD and order.expiration == expires


def test_open_orders_are_per_account(alice: ClobClient, bob: ClobClient) -> None:
    alice.create_and_post_order(TOKEN, Side.BUY, "0.30", "5")
    assert bob.get_open_orders() == []


# --- cancelling -----------------------------------------------------------------------------------


def test_cancel_one_many_by_market_and_all(alice: ClobClient) -> None:
    orders = [alice.create_order(TOKEN, Side.BUY, f"0.{30 + i}", "5") for i in range(5)]
    extra = alice.create_order(OTHER, Side.BUY, "0.30", "5")
    alice.post_orders([(o, OrderType.GTC) for o in [*orders, extra]])

    one = alice.cancel_order(orders[0].order_id)
    assert one.canceled == (orders[0].order_id,)

    unknown = "0x" + "ab" * 32
    many = alice.cancel_orders([orders[1].order_id, orders[2].order_id, unknown])
    assert set(many.canceled) == {orders[1].order_id, orders[2].order_id}
    assert unknown in many.not_canceled

    again = alice.cancel_order(orders[0].order_id)
    assert orders[0].order_id in again.not_canceled

    by_token = alice.cancel_market_orders(asset_id=OTHER)
    assert by_token.canceled == (extra.order_id,)

    rest = alice.cancel_all()
    assert set(rest.canceled) == {orders[3].order_id, orders[4].order_id}
    assert alice.get_open_orders() == []
    details = alice.get_order(orders[0].order_id)
    assert details is not None and details.status == "CANCELED"


def test_cancel_market_orders_by_condition_id(alice: ClobClient) -> None:
    alice.create_and_post_order(TOKEN, Side.BUY, "0.30", "5")
    keep = alice.create_and_post_order(OTHER, Side.BUY, "0.30", "5")
    market = alice.get_market_info(TOKEN).condition_id
    result = alice.cancel_market_orders(market=market)
    assert len(result.canceled) == 1
    assert [o.order_id for o in alice.get_open_orders()] == [keep.order_id]


# --- trades, notifications, balances ----------------------------------------------------------------


def test_trades_notifications_and_balances_after_a_fill(alice: ClobClient, bob: ClobClient) -> None:
    before = alice.get_balance_allowance(AssetType.COLLATERAL)
    shares_before = alice.get_balance_allowance(AssetType.CONDITIONAL, TOKEN).balance
    bid = alice.create_and_post_order(TOKEN, Side.BUY, "0.50", "20")
    taken = bob.create_and_post_order(TOKEN, Side.SELL, "0.50", "20")
    assert taken.ok and taken.status == "matched"

    trades = alice.get_trades(asset_id=TOKEN)
    assert len(trades) == 1
    assert trades[0].size == Decimal("20") and trades[0].price == Decimal("0.50")
    assert any(m.order_id == bid.order_id for m in trades[0].maker_orders) or (
        trades[0].taker_order_id == bid.order_id
    )
    assert bob.get_trades(id=trades[0].id)[0].id == trades[0].id

    after = alice.get_balance_allowance(AssetType.COLLATERAL)
    assert before.balance - after.balance == 10_000_000  # 20 shares at 0.50 pUSD
    shares = alice.get_balance_allowance(AssetType.CONDITIONAL, TOKEN).balance
    assert shares - shares_before == 20_000_000
    alice.update_balance_allowance(AssetType.COLLATERAL)
    alice.update_balance_allowance(AssetType.CONDITIONAL, TOKEN)

    notes = alice.get_notifications()
    fills = [n for n in notes if n.type == 2]
    assert fills, notes
    alice.drop_notifications([n.id for n in notes])
    assert alice.get_notifications() == []


def test_conditional_balance_needs_a_token(alice: ClobClient) -> None:
    with pytest.raises(ValueError, match="token_id"):
        alice.get_balance_allowance(AssetType.CONDITIONAL)


def test_trades_paginated(alice: ClobClient, bob: ClobClient) -> None:
    for i in range(PAGE_SIZE + 2):
        alice.create_and_post_order(TOKEN, Side.BUY, f"0.{40 + i}", "5")
        bob.create_and_post_order(TOKEN, Side.SELL, f"0.{40 + i}", "5")
    first = alice.get_trades_paginated()
    assert len(first.items) == PAGE_SIZE and not first.is_last
    second = alice.get_trades_paginated(next_cursor=first.next_cursor)
    assert second.is_last and len(second.items) == 2
    ids = {t.id for t in first.items} | {t.id for t in second.items}
    assert ids == {t.id for t in alice.get_trades()}


def test_market_order_prices_itself_from_the_book(alice: ClobClient, bob: ClobClient) -> None:
    alice.create_and_post_order(TOKEN, Side.SELL, "0.52", "25")
    alice.create_and_post_order(TOKEN, Side.SELL, "0.55", "10")
    result = bob.create_and_post_market_order(TOKEN, Side.BUY, "10", order_type=OrderType.FOK)
    assert result.ok and result.status == "matched"
    (trade,) = bob.get_trades()
    assert trade.price == Decimal("0.52")


def test_fok_that_cannot_fill_is_refused_locally(alice: ClobClient, bob: ClobClient) -> None:
    alice.create_and_post_order(TOKEN, Side.SELL, "0.52", "5")
    with pytest.raises(ValueError, match="no match"):
        bob.create_and_post_market_order(TOKEN, Side.BUY, "100", order_type=OrderType.FOK)


def test_heartbeats_chain(alice: ClobClient) -> None:
    first = alice.post_heartbeat("")
    assert first.heartbeat_id
    second = alice.post_heartbeat(first.heartbeat_id)
    assert second.heartbeat_id
