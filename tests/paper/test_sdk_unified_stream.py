"""The unified SDK's stream clients (`polymarket-client` 0.14.0, unmodified:
`polymarket/_internal/streams/clob/`) subscribe to the paper exchange's channels and parse what
it sends. The official py-clob-client and py-clob-client-v2 have no WebSocket client.

The SDK is pointed at the paper server through its environment config (every host it knows is
the paper URL, its two CLOB stream URLs the paper's `/ws/user` and `/ws/market`). Its models
drop an event they cannot parse and count it (`dropped_events`): every test checks that none
was dropped, so each shape the paper exchange sends is one the SDK reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from eth_account import Account
from polymarket import AsyncSecureClient
from polymarket._internal.environment import PRODUCTION_CONFIG, create_environment
from polymarket.streams import MarketSpec, UserSpec

from paperclob import PaperExchange
from tests.support.accounts import new_key
from tests.support.paper import TOKEN, Trader

WAIT_S = 5.0


def environment(url: str) -> Any:
    ws = url.replace("http://", "ws://")
    config = dataclasses.replace(
        PRODUCTION_CONFIG, clob_url=url, gamma_url=url + "/gamma", data_url=url + "/data-api",
        relayer_url=url + "/relayer", rpc_url=url + "/rpc", rfq_url=url + "/rfq",
        clob_user_ws_url=ws + "/ws/user", clob_market_ws_url=ws + "/ws/market",
    )
    return create_environment(name="paper", config=config)


async def collect(handle: Any, done: Callable[[list[Any]], bool]) -> list[Any]:
    got: list[Any] = []

    async def read() -> None:
        async for event in handle:
            got.append(event)
            if done(got):
                return

    await asyncio.wait_for(read(), WAIT_S)
    return got


def run(paper: PaperExchange, scenario: Callable[[AsyncSecureClient], Any]) -> Any:
    async def main() -> Any:
        key = new_key()
        client = await AsyncSecureClient.create(
            private_key=key, wallet=Account.from_key(key).address,
            environment=environment(paper.url),
        )
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


def test_the_sdk_user_stream_reads_orders_and_every_settlement_status(paper_factory) -> None:
    paper = paper_factory(clock=time.time, settle_delay_s=0.2)
    taker = Trader(paper.url)

    async def scenario(client: AsyncSecureClient) -> tuple[list[Any], int]:
        handle = await client.subscribe(UserSpec())
        placed = await client.place_limit_order(token_id=TOKEN, price="0.45", size="10",
                                                side="BUY")
        assert placed.ok
        await asyncio.to_thread(taker.place, "SELL", "0.45", "10")
        events = await collect(handle, lambda got: any(
            e.type == "trade" and str(e.payload.status) == "CONFIRMED" for e in got))
        dropped = client._user_manager.dropped_events  # type: ignore[attr-defined]
        await handle.close()
        return events, dropped

    events, dropped = run(paper, scenario)
    assert dropped == 0
    orders = [e.payload for e in events if e.type == "order"]
    assert [o.order_event_type for o in orders] == ["PLACEMENT", "UPDATE"]
    assert [str(o.status) for o in orders] == ["LIVE", "MATCHED"]
    assert orders[-1].size_matched == orders[-1].original_size == 10
    trades = [e.payload for e in events if e.type == "trade"]
    assert [str(t.status) for t in trades] == ["MATCHED", "MINED", "CONFIRMED"]
    assert trades[0].trader_side == "MAKER" and trades[-1].transaction_hash


def test_the_sdk_user_stream_reads_a_failed_settlement(paper_factory) -> None:
    paper = paper_factory(clock=time.time, settle_delay_s=0.2)
    taker = Trader(paper.url)
    requests.post(paper.url + "/_admin/settlement", json={"fail_next": 1}, timeout=10)

    async def scenario(client: AsyncSecureClient) -> tuple[list[Any], int]:
        handle = await client.subscribe(UserSpec())
        await client.place_limit_order(token_id=TOKEN, price="0.45", size="10", side="BUY")
        await asyncio.to_thread(taker.place, "SELL", "0.45", "10")
        events = await collect(handle, lambda got: any(
            e.type == "order" and e.payload.size_matched == 0 and
            e.payload.order_event_type == "UPDATE" for e in got))
        dropped = client._user_manager.dropped_events  # type: ignore[attr-defined]
        await handle.close()
        return events, dropped

    events, dropped = run(paper, scenario)
    assert dropped == 0
    assert [str(e.payload.status) for e in events if e.type == "trade"] == [
        "MATCHED", "RETRYING", "FAILED"]


def test_the_sdk_market_stream_reads_books_and_tick_size_changes(paper: PaperExchange) -> None:
    maker, taker = Trader(paper.url), Trader(paper.url)
    maker.place("BUY", "0.45", "10")

    async def scenario(client: AsyncSecureClient) -> tuple[list[Any], int]:
        handle = await client.subscribe(MarketSpec(token_ids=[TOKEN]))
        first = await collect(handle, lambda got: len(got) == 1)
        await asyncio.to_thread(taker.place, "SELL", "0.45", "10")
        await asyncio.to_thread(
            requests.post, paper.url + "/_admin/market",
            json={"token_id": TOKEN, "tick_size": "0.001"}, timeout=10)
        rest = await collect(handle, lambda got: any(e.type == "tick_size_change" for e in got))
        dropped = client._market_manager.dropped_events  # type: ignore[attr-defined]
        await handle.close()
        return first + rest, dropped

    events, dropped = run(paper, scenario)
    assert dropped == 0
    assert [e.type for e in events] == ["book", "book", "tick_size_change"]
    assert [(level.price, level.size) for level in events[0].payload.bids] == [(Decimal("0.45"), 10)]
    assert events[1].payload.bids == ()
    change = events[2].payload
    assert (str(change.old_tick_size), str(change.new_tick_size)) == ("0.01", "0.001")
