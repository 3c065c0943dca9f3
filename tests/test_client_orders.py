"""Order-side client logic on the scripted loopback server: what is refused before any request,
the exact body posted (checked against the official SDK's serialiser), the version-mismatch
retry, market-parameter caching and fallbacks. Exchange behaviour proper is tested against
paperclob in test_client_paper*.py; these are the cases a real exchange will not produce on cue.
"""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest

from reconciler.clob.client import ClobClient, PostArgs
from reconciler.clob.errors import OrderVersionMismatch, ProtocolError
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import SignedOrder, Wallet
from reconciler.model import OrderType, Side
from tests.support.clock import ManualClock
from tests.support.loopback import FIXED_NOW, LoopbackServer, Scripted, make_creds

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OK = {"success": True, "errorMsg": "", "orderID": "0x" + "01" * 32, "status": "live"}


def _order(client: ClobClient, price: str = "0.45") -> SignedOrder:
    return client.create_order(TOKEN, Side.BUY, price, "10", tick_size="0.01", neg_risk=False)


# --- refused before any request ----------------------------------------------------------------


def test_more_than_15_orders_refused_before_any_request(
    server: LoopbackServer, client: ClobClient
) -> None:
    orders = [_order(client, price=f"0.{10 + i}") for i in range(16)]
    with pytest.raises(ValueError, match="at most 15"):
        client.post_orders([PostArgs(o) for o in orders])
    assert server.seen == []


def test_post_only_market_order_refused_before_any_request(
    server: LoopbackServer, client: ClobClient
) -> None:
    order = _order(client)
    with pytest.raises(ValueError, match="post_only"):
        client.post_order(order, OrderType.FOK, post_only=True)
    with pytest.raises(ValueError, match="post_only"):
        client.post_orders([(order, OrderType.FAK, True)])
    assert server.seen == []


def test_empty_batches_send_nothing(server: LoopbackServer, client: ClobClient) -> None:
    assert client.post_orders([]) == []
    assert client.cancel_orders([]).canceled == ()
    client.drop_notifications([])
    assert server.seen == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order_type": OrderType.GTD}, "GTD order needs expiration"),
        ({"order_type": OrderType.GTD, "expiration": int(FIXED_NOW) + 60}, "GTD order needs"),
        ({"order_type": OrderType.GTC, "expiration": int(FIXED_NOW) + 3600}, "only for GTD"),
    ],
)
def test_expiration_rules(client: ClobClient, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        client.create_order(
            TOKEN,
            Side.BUY,
            "0.45",
            "10",
            tick_size="0.01",
            neg_risk=False,
            **kwargs,  # type: ignore[arg-type]
        )


def test_money_as_float_is_refused(client: ClobClient) -> None:
    with pytest.raises(TypeError, match="float"):
        client.create_order(TOKEN, Side.BUY, 0.45, "10", tick_size="0.01", neg_risk=False)  # type: ignore[arg-type]


def test_market_orders_must_say_fok_or_fak(client: ClobClient) -> None:
    with pytest.raises(ValueError, match="FOK or FAK"):
        client.create_market_order(TOKEN, Side.BUY, "5", order_type=OrderType.GTC, price="0.5")


@pytest.mark.parametrize("market, asset_id", [("", ""), ("  ", ""), ("", " ")])
def test_cancel_market_orders_without_filter_is_refused(
    server: LoopbackServer, client: ClobClient, market: str, asset_id: str
) -> None:
    # Both filters empty would cancel every order of the account.
    with pytest.raises(ValueError, match="cancel_all"):
        client.cancel_market_orders(market=market, asset_id=asset_id)
    assert server.seen == []


@pytest.mark.parametrize(
    "filters, body",
    [
        ({"asset_id": TOKEN}, {"market": "", "asset_id": TOKEN}),
        ({"market": "0xc0"}, {"market": "0xc0", "asset_id": ""}),
        ({"market": "0xc0", "asset_id": TOKEN}, {"market": "0xc0", "asset_id": TOKEN}),
    ],
    ids=["token", "market", "both"],
)
def test_cancel_by_market_sends_both_filter_keys(
    server: LoopbackServer, client: ClobClient, filters: dict[str, str], body: dict[str, str]
) -> None:
    # clob-v2-wire 2.2 and 5: the OpenAPI marks both keys required; "" means not filtered.
    server.push(Scripted(body={"canceled": [], "not_canceled": {}}))
    client.cancel_market_orders(**filters)
    (sent,) = server.seen
    assert (sent.method, sent.path) == ("DELETE", "/cancel-market-orders")
    assert json.loads(sent.body) == body


# --- the posted body ----------------------------------------------------------------------------


def test_post_body_is_byte_identical_to_the_sdk_serialisation(
    server: LoopbackServer, client: ClobClient
) -> None:
    from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
    from py_clob_client_v2.order_utils.model.side import Side as SdkSide

    order = client.create_order(
        TOKEN,
        Side.SELL,
        "0.52",
        "100",
        order_type=OrderType.GTD,
        expiration=int(FIXED_NOW) + 3600,
        tick_size="0.01",
        neg_risk=True,
    )
    server.push(Scripted(body=OK))
    client.post_order(order, OrderType.GTD, post_only=True)
    wire = order.to_wire()
    sdk_order = SimpleNamespace(
        **{**wire, "side": SdkSide.BUY if wire["side"] == "BUY" else SdkSide.SELL}
    )
    sdk_payload = order_to_json_v2(sdk_order, make_creds().api_key, "GTD", True, False)
    expected = json.dumps(sdk_payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert server.seen[-1].body == expected


def test_batch_answer_of_the_wrong_length_is_outcome_unknown(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(body=[OK]))
    with pytest.raises(ProtocolError) as info:
        client.post_orders([PostArgs(_order(client, "0.40")), PostArgs(_order(client, "0.41"))])
    assert info.value.outcome_unknown


def test_unreadable_post_answer_is_outcome_unknown(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(Scripted(body=["not", "an", "object"]))
    with pytest.raises(ProtocolError) as info:
        client.post_order(_order(client))
    assert info.value.outcome_unknown


# --- order_version_mismatch ---------------------------------------------------------------------


def test_version_mismatch_rebuilds_with_the_servers_profile_and_retries_once(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(
        Scripted(status=400, body={"error": "order_version_mismatch"}),
        Scripted(body={"version": 1}),
        Scripted(body={"base_fee": 0}),
        Scripted(body=OK),
    )
    result = client.create_and_post_order(
        TOKEN, Side.BUY, "0.45", "10", tick_size="0.01", neg_risk=False
    )
    assert result.ok
    paths = [seen.path.split("?")[0] for seen in server.seen]
    assert paths == ["/order", "/version", "/fee-rate", "/order"]
    first, retry = json.loads(server.seen[0].body), json.loads(server.seen[-1].body)
    assert "timestamp" in first["order"] and "nonce" not in first["order"]
    assert {"nonce", "feeRateBps", "taker"} <= set(retry["order"])  # rebuilt as V1
    assert client.profile is Profile.V1


def test_version_mismatch_is_not_retried_when_the_version_is_unchanged(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(
        Scripted(status=400, body={"error": "order_version_mismatch"}),
        Scripted(body={"version": 2}),
    )
    with pytest.raises(OrderVersionMismatch):
        client.create_and_post_order(
            TOKEN, Side.BUY, "0.45", "10", tick_size="0.01", neg_risk=False
        )
    assert [s.path for s in server.seen] == ["/order", "/version"]


# --- market parameters --------------------------------------------------------------------------


def test_tick_size_is_cached_until_the_ttl_expires(server: LoopbackServer, key: str) -> None:
    clock = ManualClock(FIXED_NOW)
    c = ClobClient(server.url, chain_id=137, clock=clock, market_cache_ttl=300)
    server.push(
        Scripted(body={"minimum_tick_size": "0.01"}), Scripted(body={"minimum_tick_size": 0.001})
    )
    assert c.get_tick_size(TOKEN) == Decimal("0.01")
    clock.now += 299
    assert c.get_tick_size(TOKEN) == Decimal("0.01")
    assert len(server.seen) == 1
    clock.now += 2
    assert c.get_tick_size(TOKEN) == Decimal("0.001")
    assert len(server.seen) == 2


def test_unknown_tick_size_is_refused(server: LoopbackServer, client: ClobClient) -> None:
    server.push(Scripted(body={"minimum_tick_size": "0.02"}))
    with pytest.raises(ProtocolError, match="not a known tick size"):
        client.get_tick_size(TOKEN)


def test_market_info_from_clob_markets(server: LoopbackServer, client: ClobClient) -> None:
    server.push(
        Scripted(body={"condition_id": "0xc0"}),
        Scripted(
            body={
                "t": [{"t": TOKEN, "o": "Yes"}, {"t": "2", "o": "No"}],
                "mts": 0.001,
                "mos": 5,
                "nr": True,
            }
        ),
    )
    server.push(Scripted(body={"condition_id": "0xc0", "accepting_orders": False, "closed": True}))
    info = client.get_market_info(TOKEN)
    assert info.tick_size == Decimal("0.001") and info.min_order_size == Decimal("5")
    assert info.neg_risk and info.condition_id == "0xc0" and not info.accepting_orders
    assert [s.path for s in server.seen] == [
        f"/markets-by-token/{TOKEN}",
        "/clob-markets/0xc0",
        "/markets/0xc0",
    ]
    # The order path now uses the cached parameters: no further reads.
    assert client.get_tick_size(TOKEN) == Decimal("0.001") and client.get_neg_risk(TOKEN)
    assert len(server.seen) == 3


def test_market_info_falls_back_to_tick_size_neg_risk_and_book(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(
        Scripted(status=404, body={"error": "market not found"}),
        Scripted(body={"minimum_tick_size": "0.01"}),
        Scripted(body={"neg_risk": False}),
        Scripted(
            body={
                "market": "0xc1",
                "asset_id": TOKEN,
                "timestamp": "1",
                "hash": "",
                "bids": [],
                "asks": [],
                "min_order_size": "15",
                "tick_size": "0.01",
                "neg_risk": False,
                "last_trade_price": "",
            }
        ),
    )
    info = client.get_market_info(TOKEN)
    assert info.min_order_size == Decimal("15") and info.condition_id == "0xc1"
    assert [s.path.split("?")[0] for s in server.seen] == [
        f"/markets-by-token/{TOKEN}",
        "/tick-size",
        "/neg-risk",
        "/book",
    ]


# --- heartbeats ---------------------------------------------------------------------------------


def test_heartbeat_falls_back_to_the_documented_path_on_404(
    server: LoopbackServer, client: ClobClient
) -> None:
    server.push(
        Scripted(status=404, body={"error": "not found"}),
        Scripted(body={"status": "ok"}),
        Scripted(body={"status": "ok"}),
    )
    assert client.post_heartbeat("").status == "ok"
    assert client.post_heartbeat("").status == "ok"
    assert [s.path for s in server.seen] == ["/v1/heartbeats", "/heartbeats", "/heartbeats"]


def test_wallet_for_l2_is_the_signing_eoa(server: LoopbackServer, key: str) -> None:
    funder = "0x" + "ab" * 20
    wallet = Wallet.from_private_key(key, signature_type=2, funder=funder)
    c = ClobClient(server.url, chain_id=137, wallet=wallet, creds=make_creds())
    server.push(Scripted(body={"balance": "5", "allowances": {}}))
    assert c.get_balance_allowance().balance == 5
    seen = server.seen[-1]
    assert seen.path == "/balance-allowance?asset_type=COLLATERAL&signature_type=2"
    assert {k.upper(): v for k, v in seen.headers.items()}["POLY_ADDRESS"] == wallet.address
