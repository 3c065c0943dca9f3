"""End-to-end error paths of ClobClient against the paper exchange's fault injection.

Each test switches one fault on through the exchange's admin API (`POST /_admin/faults`), makes a
real request and checks the error class, its `outcome_unknown` flag and its advice. The "lost
response" test then does what the daemon must do after an unknown outcome: look the order up by
the hash it already knows, and find it resting.
"""

from __future__ import annotations

import pytest
import requests

from paperclob import PaperConfig, PaperExchange
from paperclob.config import RateLimit
from reconciler.clob.client import ClobClient, PostArgs
from reconciler.clob.errors import (
    ExchangeRejected,
    RateLimited,
    ServerError,
    TransportError,
)
from reconciler.clob.profiles import Profile
from reconciler.model import OrderType, Side
from tests.support.accounts import new_client, new_wallet
from tests.support.paper import TOKEN


@pytest.fixture
def paper_config() -> PaperConfig:
    return PaperConfig(page_size=5, seed=11)


def set_faults(paper: PaperExchange, **faults: object) -> None:
    answer = requests.post(f"{paper.url}/_admin/faults", json=faults, timeout=5)
    assert answer.status_code == 200, answer.text


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.count += 1
        return super().request(*args, **kwargs)


# --- rejections ----------------------------------------------------------------------------------


def test_size_below_minimum_is_rejected_with_the_exchange_text(alice: ClobClient) -> None:
    with pytest.raises(ExchangeRejected) as info:
        alice.create_and_post_order(TOKEN, Side.BUY, "0.50", "1")
    assert info.value.status == 400 and "lower than the minimum" in info.value.message
    assert not info.value.outcome_unknown


def test_post_only_crossing_is_rejected(alice: ClobClient, bob: ClobClient) -> None:
    alice.create_and_post_order(TOKEN, Side.SELL, "0.50", "10")
    with pytest.raises(ExchangeRejected, match="cross"):
        bob.create_and_post_order(TOKEN, Side.BUY, "0.50", "10", post_only=True)
    assert bob.get_open_orders() == []


def test_unfunded_order_is_rejected(alice: ClobClient) -> None:
    with pytest.raises(ExchangeRejected, match="not enough balance"):
        alice.create_and_post_order(TOKEN, Side.BUY, "0.99", "20000")


def test_batch_with_one_rejected_order(paper: PaperExchange, alice: ClobClient) -> None:
    orders = [alice.create_order(TOKEN, Side.BUY, f"0.{30 + i}", "5") for i in range(3)]
    set_faults(paper, reject_batch_positions=[1], reject_message="could not insert order")
    results = alice.post_orders([PostArgs(o) for o in orders])
    assert [r.ok for r in results] == [True, False, True]
    assert "could not insert order" in results[1].error_msg
    open_ids = {o.order_id for o in alice.get_open_orders()}
    assert open_ids == {orders[0].order_id, orders[2].order_id}


def test_more_than_15_refused_before_any_request(paper: PaperExchange) -> None:
    session = CountingSession()
    client = new_client(paper.url, session=session)
    orders = [client.create_order(TOKEN, Side.BUY, "0.30", "5", tick_size="0.01", neg_risk=False)]
    sent_before = session.count
    with pytest.raises(ValueError, match="at most 15"):
        client.post_orders([PostArgs(orders[0])] * 16)
    assert session.count == sent_before
    assert client.get_open_orders() == []


# --- waiting ------------------------------------------------------------------------------------


def test_429_carries_retry_after(paper: PaperExchange, alice: ClobClient) -> None:
    set_faults(paper, throttle_next=1, retry_after_s=3)
    with pytest.raises(RateLimited) as info:
        alice.get_open_orders()
    assert info.value.retry_after == 3.0
    assert alice.last_rate_limit is not None and alice.last_rate_limit.retry_after == 3.0
    assert alice.get_open_orders() == []  # the next request passes


def test_per_signer_rate_limit() -> None:
    limited = PaperExchange(PaperConfig(rate_limit=RateLimit(requests=3, window_s=60), seed=3))
    limited.start()
    try:
        client = ClobClient(limited.url, chain_id=137, wallet=new_wallet(), timeout=5.0)
        client.creds = client.create_or_derive_api_key()
        with pytest.raises(RateLimited) as info:
            for _ in range(10):
                client.get_open_orders()
        assert info.value.retry_after > 0
    finally:
        limited.stop()


# --- unknown outcomes and retryable failures --------------------------------------------------------


def test_failed_open_orders_read_is_an_error_never_an_empty_list(
    paper: PaperExchange, alice: ClobClient
) -> None:
    alice.create_and_post_order(TOKEN, Side.BUY, "0.30", "5")
    set_faults(paper, fail_open_orders_next=1)
    with pytest.raises(ServerError) as info:
        alice.get_open_orders()
    assert info.value.status >= 500 and not info.value.outcome_unknown
    assert len(alice.get_open_orders()) == 1


def test_5xx_on_a_post_is_outcome_unknown(paper: PaperExchange, alice: ClobClient) -> None:
    signed = alice.create_order(TOKEN, Side.BUY, "0.30", "5")
    set_faults(paper, error_5xx_next=1, paths=["/order"])
    with pytest.raises(ServerError) as info:
        alice.post_order(signed)
    assert info.value.outcome_unknown
    set_faults(paper, paths=[])
    # The paper exchange's 5xx did nothing; asking by hash tells the caller so.
    assert alice.get_order(signed.order_id) is None


def test_lost_response_then_lookup_by_hash_finds_the_order(
    paper: PaperExchange, alice: ClobClient
) -> None:
    signed = alice.create_order(TOKEN, Side.BUY, "0.30", "5")
    set_faults(paper, lose_response_next=1)
    with pytest.raises(TransportError) as info:
        alice.post_order(signed)
    assert info.value.outcome_unknown
    assert "look the order up" in str(info.value)
    found = alice.get_order(signed.order_id)
    assert found is not None and found.status == "LIVE"


def test_lost_batch_response_is_outcome_unknown(paper: PaperExchange, alice: ClobClient) -> None:
    orders = [alice.create_order(TOKEN, Side.BUY, f"0.{30 + i}", "5") for i in range(2)]
    set_faults(paper, lose_response_next=1)
    with pytest.raises(TransportError) as info:
        alice.post_orders([PostArgs(o) for o in orders])
    assert info.value.outcome_unknown
    assert {o.order_id for o in alice.get_open_orders()} == {o.order_id for o in orders}


def test_slow_exchange_times_out(paper: PaperExchange) -> None:
    client = new_client(paper.url, timeout=0.2)
    set_faults(paper, latency_ms=1000)
    try:
        with pytest.raises(TransportError) as info:
            client.get_open_orders()
        assert not info.value.outcome_unknown
    finally:
        set_faults(paper, latency_ms=0)


# --- protocol version ---------------------------------------------------------------------------


def test_version_mismatch_switches_to_the_servers_profile() -> None:
    v1 = PaperExchange(PaperConfig(protocol="v1", strict_version=True, seed=5))
    v1.start()
    try:
        client = new_client(v1.url)
        assert client.profile is Profile.V2
        result = client.create_and_post_order(TOKEN, Side.BUY, "0.30", "5")
        assert result.ok
        assert client.profile is Profile.V1
        (order,) = client.get_open_orders()
        assert order.order_id == result.order_id and order.order_type is OrderType.GTC
    finally:
        v1.stop()
