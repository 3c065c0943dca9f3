"""The exchange as it is in 2026, client half (issue 10; clob-v2-wire.md "What changed in 2026").

Trading modes, chained heartbeats, unknown order ids, notifications 1-11, /clob-markets fields,
the protocol chosen per market, and the 2026 status and answer forms. Where the paper exchange
already serves a form it is used; the other forms come from the hostile server on 127.0.0.1,
serving the bytes the reference shows.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from paperclob import PaperConfig, PaperExchange
from reconciler.clob import (
    ApiCreds,
    ClobClient,
    ExchangeOrderStatus,
    NotFound,
    NotificationType,
    Profile,
    ProtocolError,
    ServerError,
    TradeStatus,
    TradingRestricted,
    TradingRestriction,
    Wallet,
    configure_exchange_v3,
    contracts_for,
    order_status,
    recover_order_signer,
    trade_status,
)
from reconciler.clob.profiles import register_contracts
from reconciler.clob.types import parse_order_result, parse_trade
from reconciler.model import OrderType, Side
from tests.support.hostile_http import Answer, HostileServer, hostile

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
# A Protocol-V2 position id: module 1 in the top byte, bits 40-103 zero (2.4).
POSITION = str((1 << 248) | (0xC0FFEE << 104) | 1)
OID = "0x" + "ab" * 32


def new_wallet() -> Wallet:
    return Wallet.from_private_key("0x" + bytes(Account.create().key).hex())


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile() as srv:
        yield srv


@pytest.fixture
def client(server: HostileServer) -> ClobClient:
    secret = base64.urlsafe_b64encode(bytes(range(32))).decode()
    return ClobClient(server.url, chain_id=137, wallet=new_wallet(),
                      creds=ApiCreds("k", secret, "p" * 64), timeout=5.0)


@pytest.fixture
def paper() -> Iterator[PaperExchange]:
    exchange = PaperExchange(PaperConfig(page_size=5, seed=3))
    exchange.start()
    try:
        yield exchange
    finally:
        exchange.stop()


@pytest.fixture
def alice(paper: PaperExchange) -> ClobClient:
    client = ClobClient(paper.url, chain_id=137, wallet=new_wallet(), timeout=5.0)
    client.creds = client.create_or_derive_api_key()
    return client


# --- trading modes (2.13) ---------------------------------------------------------------------

MODES = [
    (503, {"error": "Trading is currently disabled. Check polymarket.com for updates"}, {},
     TradingRestriction.DISABLED, None),
    (503, {"error": "Trading is currently cancel-only. New orders are not accepted, but cancels "
                    "are allowed."}, {}, TradingRestriction.CANCEL_ONLY, None),
    (503, {"error": "post-only mode: only post-only orders and cancels are allowed",
           "code": "post_only_mode", "retry_after_seconds": 79}, {"Retry-After": "60"},
     TradingRestriction.POST_ONLY, 79.0),
    (503, {"error": "post-only mode: only post-only orders and cancels are allowed",
           "code": "post_only_mode"}, {"Retry-After": "30"}, TradingRestriction.POST_ONLY, 30.0),
    (425, None, {}, TradingRestriction.RESTARTING, None),
    (400, {"error": "'0xAbC' address in closed only mode"}, {}, TradingRestriction.CLOSED_ONLY,
     None),
    (400, {"error": "'0xAbC' address banned"}, {}, TradingRestriction.BANNED, None),
]


@pytest.mark.parametrize("status, body, headers, restriction, wait", MODES)
def test_trading_modes_are_definite_refusals(
    server: HostileServer, client: ClobClient, status: int, body: object,
    headers: dict[str, str], restriction: TradingRestriction, wait: float | None,
) -> None:
    server.push(Answer(status=status, body=body, headers=headers))
    with pytest.raises(TradingRestricted) as info:
        client.cancel_orders([OID])
    assert info.value.restriction is restriction and info.value.retry_after == wait
    assert not info.value.outcome_unknown  # nothing was taken: no lookup is needed


@pytest.mark.parametrize("body", [None, {"error": "upstream connect error"}, "<html>502</html>"])
def test_a_5xx_without_a_mode_body_stays_outcome_unknown(
    server: HostileServer, client: ClobClient, body: object
) -> None:
    server.push(Answer(status=503, body=body) if not isinstance(body, str)
                else Answer(status=503, raw=body.encode()))
    with pytest.raises(ServerError) as info:
        client.cancel_orders([OID])
    assert info.value.outcome_unknown and not isinstance(info.value, TradingRestricted)


def test_the_post_only_batch_entry_is_a_refusal_with_its_restriction() -> None:
    entry = parse_order_result({"success": True, "orderID": "", "status": "", "makingAmount": "",
                                "takingAmount": "",
                                "errorMsg": "post-only mode: only post-only orders and cancels "
                                            "are allowed"})
    assert not entry.ok and entry.restriction is TradingRestriction.POST_ONLY
    assert entry.order_id == "" and entry.status == "" and entry.making_amount is None


# --- heartbeats (2.2) -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["error", "error_msg"])
def test_a_stale_heartbeat_id_adopts_the_expected_one_at_once(
    server: HostileServer, client: ClobClient, key: str
) -> None:
    server.push(
        Answer(status=400, body={key: "Invalid Heartbeat ID", "heartbeat_id": "hb-expected"}),
        Answer(body={"heartbeat_id": "hb-next"}),
    )
    assert client.post_heartbeat("hb-stale").heartbeat_id == "hb-next"
    assert [s.json() for s in server.seen] == [{"heartbeat_id": "hb-stale"},
                                             {"heartbeat_id": "hb-expected"}]


def test_a_heartbeat_400_without_an_id_is_raised(server: HostileServer, client: ClobClient) -> None:
    from reconciler.clob import ExchangeRejected

    server.push(Answer(status=400, body={"error": "bad request"}))
    with pytest.raises(ExchangeRejected):
        client.post_heartbeat("hb")
    assert len(server.seen) == 1


def test_heartbeats_fall_back_to_the_plain_path_only_on_404(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(status=404, body={"error": "not found"}), Answer(body={"status": "ok"}))
    assert client.post_heartbeat("").status == "ok"
    assert [s.path for s in server.seen] == ["/v1/heartbeats", "/heartbeats"]


def test_a_lost_heartbeat_answer_does_not_break_the_chain_on_paper(alice: ClobClient) -> None:
    first = alice.post_heartbeat("").heartbeat_id
    alice.post_heartbeat(first)  # accepted, but say its answer was lost: we still hold `first`
    resumed = alice.post_heartbeat(first)  # the exchange answers 400 with the id it expects
    assert resumed.heartbeat_id and resumed.heartbeat_id != first
    assert alice.post_heartbeat(resumed.heartbeat_id).heartbeat_id  # the chain goes on


# --- unknown order ids (2.2) ------------------------------------------------------------------


def test_an_unknown_order_is_none_as_a_404_and_as_a_null(
    server: HostileServer, client: ClobClient, alice: ClobClient
) -> None:
    server.push(Answer(status=404, body={"error": "Order not found"}))
    assert client.get_order(OID) is None
    server.push(Answer(raw=b"null"))
    assert client.get_order(OID) is None
    assert alice.get_order(OID) is None  # the paper exchange's form


@pytest.mark.parametrize("body", [b"", b"  \r\n"], ids=["empty", "blank"])
def test_an_empty_answer_to_an_order_lookup_is_not_read_as_absent(
    server: HostileServer, client: ClobClient, body: bytes
) -> None:
    # Only the JSON literal null (or the 404) says "no such order"; a body cut to nothing is
    # not that null (the SDKs hand it back as "", not None), and "absent" would move a live
    # order to canceled.
    server.push(Answer(raw=body))
    with pytest.raises(ProtocolError, match="empty body"):
        client.get_order(OID)


def test_another_404_is_not_an_absent_order(server: HostileServer, client: ClobClient) -> None:
    server.push(Answer(status=404, raw=b"<html>no such route</html>"))
    with pytest.raises(NotFound):
        client.get_order(OID)


# --- notifications (2.12) ---------------------------------------------------------------------


def order_payload(**change: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "asset_id": TOKEN, "market": "0xc0", "order_id": OID, "side": "BUY", "type": "GTC",
        "price": "0.5", "original_size": "10", "matched_size": "4", "remaining_size": "6",
        "outcome": "Yes", "outcome_index": 0, "transaction_hash": "", "trade_id": "",
    }
    payload.update(change)
    return payload


def test_notifications_are_typed_and_unknown_types_skipped(
    server: HostileServer, client: ClobClient
) -> None:
    server.push(Answer(body=[
        {"id": 1, "owner": "k", "type": 2, "payload": order_payload(trade_id="t-1"),
         "timestamp": 1700000000},
        {"id": "2", "owner": "k", "type": 99, "payload": {"whatever": True}},
        {"id": 3, "owner": "k", "type": 8, "payload": order_payload(type="FAK"),
         "timestamp": "2026-07-24T04:00:00Z"},
        {"id": 4, "owner": "", "type": 11, "payload": {"previous_tier": "Standard",
                                                       "tier": "Copper", "rebate_bps": 5,
                                                       "snapshot_date": "2026-08-01"}},
        {"id": 5, "owner": "k", "type": 4, "payload": {
            "condition_id": "0xc0", "closed": True, "accepting_orders": False,
            "tokens": [{"token_id": TOKEN, "winner": True}, {"token_id": "2", "winner": False}]}},
    ]))
    notes = client.get_notifications()
    assert [n.type for n in notes] == [NotificationType.ORDER_FILL,
                                      NotificationType.ORDER_FILL_FAILED,
                                      NotificationType.TAKER_TIER_UPGRADED,
                                      NotificationType.MARKET_RESOLVED]
    fill, failed, tier, resolved = notes
    assert fill.order is not None and fill.order.trade_id == "t-1"
    assert fill.order.matched_size == Decimal("4") and fill.timestamp == 1700000000
    assert failed.order is not None and failed.order.order_type is OrderType.FAK
    assert failed.timestamp == 1784865600
    assert tier.order is None and tier.payload["tier"] == "Copper"
    assert resolved.market is not None and resolved.market.winners == (TOKEN,)


@pytest.mark.parametrize("change", [{"order_id": "0x12"}, {"matched_size": "11"},
                                    {"price": "-1"}, {"side": "UP"}])
def test_a_garbled_order_notification_records_nothing(
    server: HostileServer, client: ClobClient, change: dict[str, object]
) -> None:
    server.push(Answer(body=[{"id": 7, "type": 2, "payload": order_payload(**change)}]))
    with pytest.raises(ProtocolError, match="notification 7"):
        client.get_notifications()


# --- /clob-markets (2.2) and the protocol per market (2.4, 2.5) -------------------------------


def test_clob_market_fields_per_the_openapi(server: HostileServer, client: ClobClient) -> None:
    server.push(
        Answer(body={"condition_id": "0xc0"}),
        Answer(body={"t": [{"t": TOKEN, "o": "Yes"}], "mts": 0.01, "mos": 5, "oas": 3,
                     "itode": True, "gst": "2026-12-01T18:00:00Z", "r": {"min_size": 50},
                     "fd": {"r": 0.02, "e": 2, "to": True}}),
        Answer(body={"accepting_orders": True, "closed": False}),
    )
    info = client.get_market_info(TOKEN)
    assert info.min_order_age_s == 3 and info.taker_delay is True
    assert info.game_start_time == "2026-12-01T18:00:00Z" and info.order_profile == "v2"
    server.push(Answer(body={}))  # every key optional
    details = client.get_clob_market("0xc1")
    assert details.min_order_age_s is None and not details.taker_delay and details.rewards == {}
    server.push(Answer(body={"oas": -1}))
    with pytest.raises(ProtocolError, match="oas"):
        client.get_clob_market("0xc2")


def test_the_order_profile_is_chosen_per_market(client: ClobClient) -> None:
    assert client.order_profile(TOKEN) is Profile.V2
    assert client.order_profile(POSITION) is Profile.V3
    v2 = client.create_order(TOKEN, Side.BUY, "0.5", "10", tick_size="0.01", neg_risk=False)
    v3 = client.create_order(POSITION, Side.BUY, "0.5", "10", tick_size="0.01", neg_risk=True)
    assert (v2.profile, v3.profile) == (Profile.V2, Profile.V3)
    assert client.wallet is not None
    for signed in (v2, v3):
        signer, _ = recover_order_signer(signed.to_wire(), chain_id=137, profile=signed.profile,
                                         neg_risk=False)
        assert signer == client.wallet.address


def test_a_market_version_is_the_authority_and_the_id_cross_checks_it(client: ClobClient) -> None:
    client.set_market_version(POSITION, "v2")
    assert client.order_profile(POSITION) is Profile.V3
    with pytest.raises(ValueError, match="refusing"):
        client.set_market_version(TOKEN, "v2")  # a CTF token id on a "v2" market
    with pytest.raises(ValueError, match="unknown market version"):
        client.set_market_version(TOKEN, "v3")


def test_amoy_exchange_v3_is_configurable_and_has_no_default() -> None:
    original = contracts_for(80002)
    assert original.exchange_v3 is None
    try:
        configure_exchange_v3(80002, "0x" + "12" * 20)
        assert contracts_for(80002).exchange_v3 == "0x" + "12" * 20
    finally:
        register_contracts(original)
    with pytest.raises(ValueError, match="not known"):
        contracts_for(80002).exchange(Profile.V3, False)


# --- statuses and answers of 2026 (2.8, 2.12) -------------------------------------------------

ORDER_SPELLINGS = {
    "LIVE": ExchangeOrderStatus.LIVE, "MATCHED": ExchangeOrderStatus.MATCHED,
    "DELAYED": ExchangeOrderStatus.DELAYED, "UNMATCHED": ExchangeOrderStatus.UNMATCHED,
    "CANCELED": ExchangeOrderStatus.CANCELED, "INVALID": ExchangeOrderStatus.INVALID,
    "CANCELED_MARKET_RESOLVED": ExchangeOrderStatus.CANCELED,
    "CANCELED_NOT_ENOUGH_BALANCE": ExchangeOrderStatus.CANCELED,
    "CANCELED_MARKET_NOT_FOUND": ExchangeOrderStatus.CANCELED,
    "CANCELED_EXPIRED_ORDER": ExchangeOrderStatus.CANCELED,
    "CANCELED_ORDER_TIMED_OUT": ExchangeOrderStatus.CANCELED,
}


def _cased(text: str, flips: list[bool]) -> str:
    return "".join(c.lower() if f else c for c, f in zip(text, flips + [False] * len(text),
                                                          strict=False))


@given(name=st.sampled_from(sorted(ORDER_SPELLINGS)), prefixed=st.booleans(),
       flips=st.lists(st.booleans(), max_size=40), pad=st.sampled_from(["", " ", "\t"]))
def test_every_spelling_of_an_order_status_normalises(
    name: str, prefixed: bool, flips: list[bool], pad: str
) -> None:
    raw = pad + _cased(("ORDER_STATUS_" if prefixed else "") + name, flips) + pad
    status, reason = order_status(raw)
    assert status is ORDER_SPELLINGS[name]
    assert reason == (name[len("CANCELED_"):] if name.startswith("CANCELED_") else "")


@given(text=st.text(min_size=1, max_size=30))
def test_anything_else_is_an_unknown_status(text: str) -> None:
    canonical = text.strip().upper().removeprefix("ORDER_STATUS_")
    known = canonical in ORDER_SPELLINGS or (
        canonical.startswith("CANCELED_") and canonical[9:].replace("_", "").isalnum()
        and canonical[9:].isascii() and "__" not in canonical[9:]
        and not canonical[9:].startswith("_") and not canonical.endswith("_"))
    if known:
        return
    with pytest.raises(ProtocolError, match="unknown order status"):
        order_status(text)


@pytest.mark.parametrize("raw, status", [
    ("TRADE_STATUS_MATCHED", TradeStatus.MATCHED), ("mined", TradeStatus.MINED),
    ("TRADE_STATUS_CONFIRMED", TradeStatus.CONFIRMED), ("Retrying", TradeStatus.RETRYING),
    ("FAILED", TradeStatus.FAILED), ("MATCHED_NOT_BROADCASTED", TradeStatus.MATCHED_NOT_BROADCASTED),
])
def test_trade_statuses_normalise(raw: str, status: TradeStatus) -> None:
    assert trade_status(raw) is status
    trade = parse_trade({"id": "t", "taker_order_id": OID, "side": "BUY", "size": "1",
                         "price": "0.5", "status": raw, "err_msg": None})
    assert trade.status is status and trade.status.failed == (status is TradeStatus.FAILED)


def test_an_unknown_trade_status_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unknown trade status"):
        trade_status("TRADE_STATUS_PENDING")


def test_a_place_answer_without_transaction_hashes_keeps_its_trade_ids() -> None:
    answer = parse_order_result({"success": True, "errorMsg": "", "orderID": OID.upper(),
                                 "status": "MATCHED", "makingAmount": "5", "takingAmount": "10",
                                 "tradeIDs": ["t-1", "t-2"]})
    assert answer.ok and answer.status == "matched"
    assert answer.order_status is ExchangeOrderStatus.MATCHED
    assert answer.trade_ids == ("t-1", "t-2") and answer.transaction_hashes == ()
