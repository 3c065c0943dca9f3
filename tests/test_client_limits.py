"""Per-signer rate limits (clob-v2-wire.md 2.13): headers, pacing before a 429, and splitting.

The clock and the sleep are injected (`FakeTime`): pacing is checked by the waits it asks for,
never by waiting. The hostile server plays the exchange's limiter: it sends the
Poly-RateLimit-* headers and 429s the reference describes, which the paper exchange may not.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from reconciler.clob import (
    MAX_CANCEL_IDS,
    TIERS,
    ApiCreds,
    Bucket,
    ClobClient,
    ClobError,
    OrderBuilder,
    OverBurst,
    PostArgs,
    Profile,
    RateLimited,
    ServerError,
    Wallet,
    cancel_chunks,
)
from reconciler.clob.ratelimit import Pacer, parse_retry_after
from reconciler.model import Side
from tests.support.hostile_http import Answer, FakeTime, HostileServer, Seen, hostile

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def ids(n: int, start: int = 0) -> list[str]:
    return [f"0x{i:064x}" for i in range(start, start + n)]


def cancel_everything(seen: Seen) -> Answer:
    """The exchange cancels what it is sent (DELETE /orders), posts what it is sent."""
    sent = seen.json() or []
    if seen.path == "/orders" and seen.method == "DELETE":
        return Answer(body={"canceled": sent, "not_canceled": {}})
    if seen.path == "/orders" and seen.method == "POST":
        return Answer(body=[{"success": True, "errorMsg": "", "status": "live",
                             "orderID": entry["order"]["signature"][:2] + "0" * 64}
                            for entry in sent])
    return Answer(body=None)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile(cancel_everything) as srv:
        yield srv


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(server: HostileServer, fake: FakeTime) -> ClobClient:
    wallet = Wallet.from_private_key("0x" + bytes(Account.create().key).hex())
    secret = base64.urlsafe_b64encode(bytes(range(32))).decode()
    return ClobClient(
        server.url, chain_id=137, wallet=wallet, creds=ApiCreds("k", secret, "p" * 64),
        clock=fake.clock, sleep=fake.sleep, timeout=5.0,
    )


def cancel_batches(server: HostileServer) -> list[int]:
    return [len(s.json()) for s in server.seen if s.method == "DELETE" and s.path == "/orders"]


# --- the splitter -----------------------------------------------------------------------------


@given(n=st.integers(0, 5000), burst=st.sampled_from(sorted({t.cancel_burst for t in TIERS.values()})))
def test_cancel_chunks_are_minimal_and_within_both_limits(n: int, burst: int) -> None:
    chunks = cancel_chunks(ids(n), burst=burst)
    size = min(MAX_CANCEL_IDS, burst)
    assert [i for c in chunks for i in c] == ids(n)  # every id once, in order
    assert all(1 <= len(c) <= size for c in chunks)
    assert len(chunks) == -(-n // size)  # no fewer calls are possible


def test_cancels_above_the_standard_burst_go_in_paced_chunks(
    server: HostileServer, client: ClobClient, fake: FakeTime
) -> None:
    # Standard: cancel burst 120, 80 tokens/s. Today one DELETE of 250 meets a 429 for ever.
    result = client.cancel_orders(ids(250))
    assert cancel_batches(server) == [120, 120, 10]
    assert fake.sleeps == pytest.approx([120 / 80, 10 / 80])
    assert result.canceled == tuple(ids(250)) and result.not_canceled == {}


def test_duplicate_ids_are_sent_once(server: HostileServer, client: ClobClient) -> None:
    client.cancel_orders(ids(3) + ids(3))
    assert cancel_batches(server) == [3]


def test_a_tier_header_resizes_the_chunks(
    server: HostileServer, client: ClobClient, fake: FakeTime
) -> None:
    server.push(Answer(body={"canceled": [], "not_canceled": {}},
                       headers={"Poly-RateLimit-Tier": "Gold", "Poly-RateLimit-Remaining": "1200"}))
    client.cancel_all()
    assert client.rate_tier.name == "Gold"
    client.cancel_orders(ids(2500))
    assert cancel_batches(server) == [1000, 1000, 500]  # min(1000 ids, Gold's burst of 1200)


def test_a_429_for_a_batch_above_the_burst_splits_instead_of_retrying(
    server: HostileServer, client: ClobClient, fake: FakeTime
) -> None:
    client.pacer._adopt_tier("Gold")  # what an earlier answer said; the signer is now Standard
    server.push(Answer(status=429, body={"error": "Too Many Requests"},
                       headers={"Poly-RateLimit-Tier": "Standard", "Poly-RateLimit-Remaining": "120"}))
    result = client.cancel_orders(ids(300))
    assert cancel_batches(server) == [300, 120, 120, 60]
    assert len(result.canceled) == 300


def test_a_tier_lowered_mid_cancel_re_splits_every_chunk_left(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(body={"canceled": [], "not_canceled": {}},
                       headers={"Poly-RateLimit-Tier": "Gold"}))
    client.cancel_all()
    assert client.rate_tier.name == "Gold"  # cancel burst 1200: chunks of 1000
    # The account's tier is refreshed to Standard (cancel burst 120): the first 1000-id chunk
    # is refused whole, without Retry-After (2.13: above the burst). The chunks cut for Gold
    # that are still to go must be cut again, or they can never pass.
    server.push(Answer(status=429, body={"error": "Too Many Requests"},
                       headers={"Poly-RateLimit-Tier": "Standard"}))
    result = client.cancel_orders(ids(2500))
    assert cancel_batches(server) == [1000, *[120] * 8, 40, *[120] * 8, 40, *[120] * 4, 20]
    assert result.canceled == tuple(ids(2500)) and result.not_canceled == {}


def test_a_request_above_the_burst_is_refused_as_a_clob_error_before_it_is_sent(
    fake: FakeTime,
) -> None:
    pacer = Pacer(clock=fake.clock, sleep=fake.sleep)  # Standard: cancel burst 120
    with pytest.raises(OverBurst, match="DELETE /orders: .* burst of 120; not sent") as info:
        pacer.acquire(Bucket.CANCEL, 121, what="DELETE /orders")
    assert isinstance(info.value, ClobError) and not info.value.outcome_unknown
    assert fake.sleeps == []


def test_a_split_cancel_failing_part_way_names_the_ids_never_sent(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(body={"canceled": ids(120), "not_canceled": {}}),
                Answer(status=500, body={"error": "boom"}))
    with pytest.raises(ServerError) as info:
        client.cancel_orders(ids(250))
    assert cancel_batches(server) == [120, 120]
    partial = info.value.partial
    assert partial is not None and partial.canceled == tuple(ids(120))
    assert partial.never_sent == tuple(ids(10, start=240))  # the third chunk never left


def test_a_429_without_retry_after_halves_the_batch(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(status=429, body={"error": "Too Many Requests"}))
    result = client.cancel_orders(ids(100))
    assert cancel_batches(server) == [100, 50, 50]
    assert len(result.canceled) == 100


def test_a_429_within_the_burst_raises_with_what_was_done(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(
        Answer(body={"canceled": ids(120), "not_canceled": {}}),
        Answer(status=429, body={"error": "Too Many Requests"},
               headers={"Retry-After": "3", "Poly-RateLimit-Remaining": "0"}),
    )
    with pytest.raises(RateLimited) as info:
        client.cancel_orders(ids(200))
    assert info.value.retry_after == 3.0
    assert info.value.partial is not None and info.value.partial.canceled == tuple(ids(120))


def test_the_headers_are_kept_per_bucket_and_refresh_the_estimate(
    server: HostileServer, client: ClobClient, fake: FakeTime
) -> None:
    server.push(Answer(body={"canceled": [], "not_canceled": {}}, headers={
        "Poly-RateLimit-Remaining": "4", "Poly-RateLimit-Reset": str(int(fake.now) + 1),
        "Poly-RateLimit-Tier": "Standard", "Poly-RateLimit-Warning": "true"}))
    client.cancel_orders(ids(1))
    state = client.rate_limits[Bucket.CANCEL]
    assert (state.remaining, state.tier, state.warning) == (4.0, "Standard", True)
    assert state.reset == int(fake.now) + 1
    client.cancel_orders(ids(10, start=1))  # 4 tokens left: wait for 6 more at 80/s
    assert fake.sleeps == pytest.approx([6 / 80])


def test_a_429_blocks_the_bucket_until_retry_after(
    server: HostileServer, client: ClobClient, fake: FakeTime
) -> None:
    server.push(Answer(status=429, body={"error": "Too Many Requests"},
                       headers={"Retry-After": "2"}))
    with pytest.raises(RateLimited):
        client.cancel_order(ids(1)[0])
    client.cancel_order(ids(1)[0])
    assert fake.sleeps == pytest.approx([2.0])


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=1_700_000_000.0) == 10.0
    assert parse_retry_after("soon", now=0.0) is None
    assert parse_retry_after("nan", now=0.0) is None


# --- posts ------------------------------------------------------------------------------------


def test_post_many_goes_in_fifteens_paced_against_the_order_bucket(
    server: HostileServer, client: ClobClient, fake: FakeTime
) -> None:
    assert client.wallet is not None
    builder = OrderBuilder(client.wallet, chain_id=137, profile=Profile.V2)
    orders = [
        PostArgs(builder.build_limit(TOKEN, Side.BUY, Decimal("0.5"), Decimal(5 + i),
                                     Decimal("0.01"), False))
        for i in range(100)
    ]
    results = client.post_many(orders)
    sizes = [len(s.json()) for s in server.seen if s.method == "POST"]
    assert sizes == [15, 15, 15, 15, 15, 15, 10] and len(results) == 100
    # Standard orders: burst 60 at 40/s. Four batches fit; each later one waits for its tokens.
    assert fake.sleeps == pytest.approx([15 / 40, 15 / 40, 10 / 40])
