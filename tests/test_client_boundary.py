"""The client's boundary under hostile answers (DESIGN invariant 9, issue 9 "strict reading").

Each test feeds one kind of garbage from a hostile server on 127.0.0.1 (tests/support) and checks
that the client raises one clear error and that nothing was written: the only requests the
server saw are the reads. What the paper exchange already serves is tested against it in
test_client_paper*.py; these are the forms it does not produce.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_account import Account

from reconciler.clob import (
    ApiCreds,
    AuthenticationFailed,
    ClobClient,
    ExchangeOrderStatus,
    ProtocolError,
    TransportError,
    Wallet,
)
from tests.support.hostile_http import Answer, FakeTime, HostileServer, hostile

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OID = "0x" + "ab" * 32
PASSPHRASE = "f" * 24 + "0123456789abcdef" * 2 + "e" * 8  # 64 characters, as the exchange issues


def open_order(**change: object) -> dict[str, object]:
    order: dict[str, object] = {
        "id": OID,
        "status": "ORDER_STATUS_LIVE",
        "market": "0xc0",
        "asset_id": TOKEN,
        "side": "BUY",
        "original_size": "10",
        "size_matched": "0",
        "price": "0.5",
        "created_at": 1,
        "order_type": "GTC",
    }
    order.update(change)
    return order


def page(*orders: dict[str, object]) -> dict[str, object]:
    return {"data": list(orders), "next_cursor": "LTE=", "limit": 100, "count": len(orders)}


def creds() -> ApiCreds:
    secret = base64.urlsafe_b64encode(bytes(range(32))).decode()
    return ApiCreds(api_key="11111111-2222-3333-4444-555555555555", secret=secret,
                    passphrase=PASSPHRASE)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile() as srv:
        yield srv


def make_client(server: HostileServer, **kwargs: object) -> ClobClient:
    wallet = Wallet.from_private_key("0x" + bytes(Account.create().key).hex())
    options: dict[str, object] = {"timeout": 1.0, "creds": creds(), "wallet": wallet}
    options.update(kwargs)
    return ClobClient(server.url, chain_id=137, **options)  # type: ignore[arg-type]


@pytest.fixture
def client(server: HostileServer) -> ClobClient:
    return make_client(server)


def writes(server: HostileServer) -> list[str]:
    return [f"{s.method} {s.path}" for s in server.seen if s.method != "GET"]


# --- what an order must be --------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, named",
    [
        ({"original_size": "-10"}, "original_size"),  # today: the daemon posted again every tick
        ({"size_matched": "11"}, "above original_size"),  # today: every level cancelled for good
        ({"size_matched": "-1"}, "size_matched"),
        ({"price": "-0.5"}, "price"),
        ({"price": "1.5"}, "at most 1"),
        ({"side": "HOLD"}, "BUY or SELL"),
        ({"id": "0x1234"}, "not an order hash"),
        ({"id": "ab" * 32}, "not an order hash"),
        ({"status": "ORDER_STATUS_SLEEPING"}, "unknown order status"),
        ({"status": None}, "status"),
        ({"size_matched": None}, "size_matched"),
    ],
)
def test_an_untrustworthy_open_order_aborts_the_read(
    server: HostileServer, client: ClobClient, change: dict[str, object], named: str
) -> None:
    server.push(Answer(body=page(open_order(), open_order(**change))))
    with pytest.raises(ProtocolError, match=named):
        client.get_open_orders()
    assert writes(server) == []


def test_an_order_of_another_token_aborts_a_filtered_read(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(body=page(open_order(), open_order(asset_id="999"))))
    with pytest.raises(ProtocolError, match="token 999"):
        client.get_open_orders(asset_id=TOKEN)


@pytest.mark.parametrize("garbage", [{}, False, 0, "", None], ids=repr)
def test_an_open_orders_page_whose_data_is_not_an_array_is_refused(
    server: HostileServer, client: ClobClient, garbage: object
) -> None:
    # Read as an empty page, this is "no open orders": every level would be posted again.
    server.push(Answer(body={"data": garbage, "next_cursor": "LTE="}))
    with pytest.raises(ProtocolError, match="not an array"):
        client.get_open_orders()
    assert writes(server) == []


def test_an_open_orders_read_that_lists_one_order_twice_is_refused(
    server: HostileServer, client: ClobClient
) -> None:
    # The list shifted between page reads: the order comes back on the next page too, and
    # counted twice its size is "over target" (it would be cancelled).
    other = "0x" + "cd" * 32
    server.push(
        Answer(body={"data": [open_order(), open_order(id=other)], "next_cursor": "Mg=="}),
        Answer(body={"data": [open_order(id=other.upper().replace("0X", "0x"))],
                     "next_cursor": "LTE="}),
    )
    with pytest.raises(ProtocolError, match=f"lists order {other} more than once"):
        client.get_open_orders()
    assert writes(server) == []


def test_one_order_twice_on_one_page_is_refused(server: HostileServer, client: ClobClient) -> None:
    server.push(Answer(body=page(open_order(), open_order())))
    with pytest.raises(ProtocolError, match="more than once"):
        client.get_open_orders()


@pytest.mark.parametrize(
    "raw, status",
    [
        ("ORDER_STATUS_LIVE", "LIVE"),
        ("live", "LIVE"),
        ("ORDER_STATUS_MATCHED", "MATCHED"),
        ("ORDER_STATUS_CANCELED_MARKET_RESOLVED", "CANCELED"),
        ("order_status_invalid", "INVALID"),
    ],
)
def test_order_statuses_are_normalised_in_a_lookup(
    server: HostileServer, client: ClobClient, raw: str, status: str
) -> None:
    server.push(Answer(body=open_order(status=raw)))
    details = client.get_order(OID)
    assert details is not None and details.status is ExchangeOrderStatus(status)
    if raw.endswith("MARKET_RESOLVED"):
        assert details.status_reason == "MARKET_RESOLVED"


def test_a_lookup_answered_with_another_order_is_refused(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(body=open_order(id="0x" + "cd" * 32)))
    with pytest.raises(ProtocolError, match="not the one asked for"):
        client.get_order(OID)


def test_a_cancel_answer_naming_ids_not_sent_is_refused(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(body={"canceled": ["0x" + "cd" * 32], "not_canceled": {}}))
    with pytest.raises(ProtocolError, match="not sent") as info:
        client.cancel_orders([OID])
    assert info.value.outcome_unknown


# --- HTTP itself ------------------------------------------------------------------------------


def test_a_body_trickled_byte_by_byte_meets_one_total_deadline(
    server: HostileServer, client: ClobClient
) -> None:
    # 200 bytes at 0.05 s each is 10 s; no single read waits as long as the 1 s timeout, so a
    # per-read timeout (the old transport) returns the page after 10 s. One deadline stops it.
    body = b'{"data": [], "next_cursor": "LTE=", "pad": "' + b" " * 150 + b'"}'
    server.push(Answer(raw=body, trickle_body=0.05))
    with pytest.raises(TransportError, match="within 1 s"):
        client.get_open_orders()
    assert server.sent_bytes < len(body)


def test_trickled_headers_meet_the_same_deadline(server: HostileServer, client: ClobClient) -> None:
    headers = {f"X-Pad-{i}": "y" for i in range(40)}
    server.push(Answer(body=page(), headers=headers, trickle_headers=0.1))
    with pytest.raises(TransportError):
        client.get_open_orders()


def test_a_huge_body_is_refused_before_it_is_all_read(server: HostileServer) -> None:
    capped = make_client(server, max_body=1024 * 1024, timeout=5.0)
    server.push(Answer(endless=True, max_bytes=64 * 1024 * 1024))
    with pytest.raises(ProtocolError, match="larger than 1048576 bytes"):
        capped.get_open_orders()
    assert server.sent_bytes < 16 * 1024 * 1024  # stopped long before the 64 MB the server had


def test_a_declared_length_above_the_cap_is_refused_unread(server: HostileServer) -> None:
    capped = make_client(server, max_body=1000)
    server.push(Answer(raw=b"{}", declared_length=10**9))
    with pytest.raises(ProtocolError, match="larger than 1000 bytes"):
        capped.get_open_orders()


def test_a_redirect_is_never_followed(server: HostileServer, client: ClobClient) -> None:
    with hostile() as elsewhere:
        server.push(Answer(status=307, headers={"Location": f"{elsewhere.url}/data/orders"}))
        with pytest.raises(ProtocolError, match="redirect \\(307\\)") as info:
            client.cancel_orders([OID])
        assert elsewhere.seen == []  # the L2 headers went nowhere else
    assert info.value.outcome_unknown  # a write answered by a redirect: look it up


@pytest.mark.parametrize("status", [301, 302, 303, 308])
def test_every_redirect_status_is_a_protocol_error(
    server: HostileServer, client: ClobClient, status: int
) -> None:
    server.push(Answer(status=status, headers={"Location": "http://127.0.0.1:9/x"}))
    with pytest.raises(ProtocolError, match=f"redirect \\({status}\\)"):
        client.get_api_keys()


def test_trades_pagination_that_loops_is_refused(server: HostileServer, client: ClobClient) -> None:
    loop = {"data": [], "next_cursor": "MQ=="}
    server.push(Answer(body=loop), Answer(body=loop))
    with pytest.raises(ProtocolError, match="repeated page cursor 'MQ=='"):
        client.get_trades()
    assert len(server.seen) == 2


# --- secrets in error text --------------------------------------------------------------------


def test_a_secret_echoed_at_the_cut_is_scrubbed_before_the_cut(
    server: HostileServer, client: ClobClient
) -> None:
    # The old transport cut the text at 300 characters first, then looked for the secret:
    # a passphrase straddling the cut was printed in half.
    echoed = "x" * 270 + PASSPHRASE + " trailing"
    server.push(Answer(status=400, body={"error": echoed}))
    with pytest.raises(Exception) as info:
        client.get_api_keys()
    message = str(info.value)
    for start in range(0, len(PASSPHRASE) - 8):
        assert PASSPHRASE[start : start + 8] not in message
    assert "[redacted]" in message


def test_a_one_letter_secret_does_not_mangle_words(server: HostileServer) -> None:
    weak = ApiCreds(api_key="k", secret=creds().secret, passphrase="z")
    client = make_client(server, creds=weak, rederive_on_401=False)
    server.push(Answer(status=401, body={"error": "Unauthorized/Invalid api key"}))
    with pytest.raises(AuthenticationFailed) as info:
        client.get_api_keys()
    assert "Unauthorized/Invalid api key" in str(info.value)


# --- 401: derive the key again, once ----------------------------------------------------------


def test_a_401_derives_the_key_again_and_repeats_the_call_once(server: HostileServer) -> None:
    client = make_client(server, clock=FakeTime().clock)
    fresh = {"apiKey": "99999999-2222-3333-4444-555555555555", "secret": creds().secret,
             "passphrase": "a" * 64}
    server.push(
        Answer(status=401, body={"error": "Unauthorized/Invalid api key"}),
        Answer(body=fresh),
        Answer(body={"apiKeys": [fresh["apiKey"]]}),
    )
    assert client.get_api_keys() == [fresh["apiKey"]]
    paths = [(s.method, s.path) for s in server.seen]
    assert paths == [("GET", "/auth/api-keys"), ("GET", "/auth/derive-api-key"),
                     ("GET", "/auth/api-keys")]
    assert server.seen[2].header("POLY_API_KEY") == fresh["apiKey"]


def test_a_401_with_no_key_to_derive_creates_one(server: HostileServer) -> None:
    client = make_client(server)
    fresh = {"apiKey": "k2", "secret": creds().secret, "passphrase": "b" * 64}
    server.push(
        Answer(status=401, body={"error": "Unauthorized"}),
        Answer(status=400, body={"error": "Could not derive api key!"}),
        Answer(body=fresh),
        Answer(body={"apiKeys": ["k2"]}),
    )
    assert client.get_api_keys() == ["k2"]
    assert [s.path for s in server.seen][1:3] == ["/auth/derive-api-key", "/auth/api-key"]


def test_a_401_that_persists_says_what_to_do_in_cli_terms(server: HostileServer) -> None:
    client = make_client(server)
    server.push(
        Answer(status=401, body={"error": "Unauthorized"}),
        Answer(body={"apiKey": "k3", "secret": creds().secret, "passphrase": "c" * 64}),
        Answer(status=401, body={"error": "Unauthorized"}),
    )
    with pytest.raises(AuthenticationFailed, match="again after it was derived") as info:
        client.get_api_keys()
    assert len(server.seen) == 3  # one derive, one repeat, no loop
    message = str(info.value)
    assert "reconciler keys list" in message and "()" not in message
    assert "derive_api_key" not in message and "create_or_derive" not in message


def test_a_repeated_post_after_401_carries_the_new_key_as_owner(server: HostileServer) -> None:
    from reconciler.clob import OrderBuilder, Profile
    from reconciler.model import Side

    client = make_client(server)
    assert client.wallet is not None
    order = OrderBuilder(client.wallet, chain_id=137, profile=Profile.V2).build_limit(
        TOKEN, Side.BUY, Decimal("0.5"), Decimal("10"), Decimal("0.01"), False
    )
    server.push(
        Answer(status=401, body={"error": "Unauthorized"}),
        Answer(body={"apiKey": "new-key", "secret": creds().secret, "passphrase": "d" * 64}),
        Answer(body={"success": True, "errorMsg": "", "orderID": order.order_id, "status": "live"}),
    )
    assert client.post_order(order).ok
    first, repeat = server.seen[0].json(), server.seen[2].json()
    assert first["owner"] == creds().api_key and repeat["owner"] == "new-key"
    assert first["order"] == repeat["order"]  # the identical signed order
