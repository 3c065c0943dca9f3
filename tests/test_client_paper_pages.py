"""Property: whatever the page size and the number of open orders, `get_open_orders` returns every
order exactly once, and `only_first_page` returns one page. Driven by hypothesis against real
paper exchanges (one per page size; each example uses a fresh account, so examples are isolated).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperclob import PaperConfig, PaperExchange
from reconciler.clob.client import PostArgs
from reconciler.model import MAX_BATCH_POST, Side
from tests.support.accounts import new_client
from tests.support.paper import TOKEN

PAGE_SIZES = (1, 2, 7)


@pytest.fixture(scope="module")
def exchanges() -> Iterator[dict[int, PaperExchange]]:
    started = {size: PaperExchange(PaperConfig(page_size=size, seed=size)) for size in PAGE_SIZES}
    for exchange in started.values():
        exchange.start()
    try:
        yield started
    finally:
        for exchange in started.values():
            exchange.stop()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(page_size=st.sampled_from(PAGE_SIZES), count=st.integers(min_value=0, max_value=20))
def test_every_open_order_exactly_once(
    exchanges: dict[int, PaperExchange], page_size: int, count: int
) -> None:
    client = new_client(exchanges[page_size].url)
    prices = [f"0.{10 + i}" for i in range(count)]
    orders = [client.create_order(TOKEN, Side.BUY, p, "5") for p in prices]
    for start in range(0, count, MAX_BATCH_POST):
        batch = orders[start : start + MAX_BATCH_POST]
        assert all(r.ok for r in client.post_orders([PostArgs(o) for o in batch]))
    seen = [o.order_id for o in client.get_open_orders()]
    assert sorted(seen) == sorted(o.order_id for o in orders)
    first = client.get_open_orders(only_first_page=True)
    assert len(first) == min(page_size, count)
