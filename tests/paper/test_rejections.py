"""Every refusal the exchange makes, with its own status and text, over real HTTP."""

from __future__ import annotations

import time

import pytest

from paperclob import PaperExchange
from tests.support.paper import TOKEN, Trader, body_bytes

UNAUTHORIZED = {"error": "Unauthorized/Invalid api key"}


def _error(response) -> str:
    assert response.status_code == 400, (response.status_code, response.text)
    return str(response.json()["error"])


# --- authentication ---------------------------------------------------------------------------


def test_wrong_hmac_is_unauthorized(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    entry = trader.entry(trader.limit("BUY", "0.40", "10"))
    response = trader.request(
        "POST", "/order", entry, sign_body=body_bytes(entry).replace(b"0.40", b"0.41") + b" "
    )
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert trader.open_orders() == []


def test_hmac_over_other_bytes_than_sent_is_unauthorized(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    # Same JSON value, other serialisation: the exchange checks the exact bytes received.
    compact = b'{"orderID":"0x01"}'
    response = trader.request(
        "DELETE", "/order", body=compact.replace(b":", b": "), sign_body=compact
    )
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("drop", ["POLY_API_KEY", "POLY_SIGNATURE", "POLY_PASSPHRASE"])
def test_missing_or_wrong_credentials_are_unauthorized(paper: PaperExchange, drop: str) -> None:
    trader = Trader(paper.url)
    from reconciler.clob.auth import l2_headers

    assert trader.creds is not None
    headers = l2_headers(
        trader.creds,
        address=trader.address,
        timestamp=int(time.time()),
        method="GET",
        path="/data/orders",
        body=None,
    )
    del headers[drop]
    response = trader.session.get(paper.url + "/data/orders", headers=headers)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    headers[drop] = "0" * 10
    response = trader.session.get(paper.url + "/data/orders", headers=headers)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_a_key_used_with_another_address_is_unauthorized(paper: PaperExchange) -> None:
    owner, other = Trader(paper.url), Trader(paper.url)
    other.creds = owner.creds  # right key, right HMAC, but POLY_ADDRESS is someone else
    response = other.request("GET", "/data/orders")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_l1_signature_by_another_key_is_refused(paper: PaperExchange) -> None:
    from reconciler.clob.auth import l1_headers

    signer, claimed = Trader(paper.url, create_key=False), Trader(paper.url, create_key=False)
    headers = l1_headers(signer.wallet, chain_id=137, timestamp=int(time.time()))
    headers["POLY_ADDRESS"] = claimed.address
    response = signer.session.post(paper.url + "/auth/api-key", headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "Invalid L1 Request headers"})


def test_create_twice_and_derive_unknown_answer_the_exchanges_texts(paper: PaperExchange) -> None:
    trader = Trader(paper.url, create_key=False)
    assert trader.l1("GET", "/auth/derive-api-key").json() == {"error": "Could not derive api key!"}
    first = trader.l1("POST", "/auth/api-key").json()
    again = trader.l1("POST", "/auth/api-key")
    assert (again.status_code, again.json()) == (400, {"error": "Could not create api key"})
    assert trader.l1("GET", "/auth/derive-api-key").json() == first
    other_nonce = trader.l1("POST", "/auth/api-key", nonce=1).json()
    assert other_nonce["apiKey"] != first["apiKey"]


# --- order signature and ownership ------------------------------------------------------------


def test_tampered_signature_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    entry = trader.entry(trader.limit("BUY", "0.40", "10"))
    sig = entry["order"]["signature"]
    entry["order"]["signature"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    assert _error(trader.request("POST", "/order", entry)) == "invalid signature"


def test_a_field_changed_after_signing_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    entry = trader.entry(trader.limit("BUY", "0.40", "10"))
    entry["order"]["takerAmount"] = str(int(entry["order"]["takerAmount"]) * 2)
    assert _error(trader.request("POST", "/order", entry)) == "invalid signature"


def test_owner_must_be_the_callers_api_key(paper: PaperExchange) -> None:
    trader, other = Trader(paper.url), Trader(paper.url)
    entry = trader.entry(trader.limit("BUY", "0.40", "10"))
    assert other.creds is not None
    entry["owner"] = other.creds.api_key
    assert _error(trader.request("POST", "/order", entry)) == (
        "the order owner has to be the owner of the API KEY"
    )


def test_order_signed_by_another_wallet_is_refused(paper: PaperExchange) -> None:
    trader, other = Trader(paper.url), Trader(paper.url)
    entry = trader.entry(other.limit("BUY", "0.40", "10"))  # other's order, trader's key
    assert _error(trader.request("POST", "/order", entry)) == (
        "the order signer address has to be the address of the API KEY"
    )


def test_duplicate_order_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order = trader.limit("BUY", "0.40", "10")
    assert trader.post(order).status_code == 200
    assert _error(trader.post(order)) == (
        "order is invalid. Duplicated. Same order has already been placed, can't be placed again"
    )


# --- order rules ------------------------------------------------------------------------------


def test_off_tick_price_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order = trader.limit("BUY", "0.525", "10", tick="0.001")
    assert _error(trader.post(order)) == (
        f"order {order.order_id} is invalid. Price (0.525) breaks minimum tick size rule: 0.01"
    )


@pytest.mark.parametrize("price", ["0.001", "0.999"])
def test_price_outside_the_range_is_refused(paper: PaperExchange, price: str) -> None:
    trader = Trader(paper.url)
    order = trader.limit("BUY", price, "10", tick="0.001")
    assert "breaks minimum tick size rule: 0.01" in _error(trader.post(order))


def test_size_under_the_minimum_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    order = trader.limit("BUY", "0.40", "4.99")
    assert _error(trader.post(order)) == (
        f"order {order.order_id} is invalid. Size (4.99) lower than the minimum: 5"
    )


def test_gtd_inside_the_security_window_is_refused(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    now = int(clock())
    expired = trader.limit("BUY", "0.40", "10", expiration=now - 1)
    too_soon = trader.limit("BUY", "0.40", "10", expiration=now + 59)
    no_life = trader.limit("BUY", "0.40", "10", expiration=now + 60)  # would rest 0 s
    assert _error(trader.post(expired, "GTD")) == "invalid expiration"
    assert _error(trader.post(too_soon, "GTD")) == "invalid expiration"
    assert _error(trader.post(no_life, "GTD")) == "invalid expiration"
    ok = trader.post(trader.limit("BUY", "0.40", "10", expiration=now + 61), "GTD")
    assert ok.status_code == 200


def test_gtc_with_an_expiration_is_refused(paper: PaperExchange, clock) -> None:
    trader = Trader(paper.url)
    order = trader.limit("BUY", "0.40", "10", expiration=int(clock()) + 3600)
    assert _error(trader.post(order, "GTC")) == "invalid expiration"


def test_amounts_beyond_the_precision_are_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    base = trader.limit("BUY", "0.40", "10")
    # 10.001 shares: the taker amount of a limit buy has at most 2 decimals.
    order = trader.with_amounts(base, 4_000_400, 10_001_000)
    assert _error(trader.post(order)) == (
        "invalid amounts, the buy orders maker amount supports a max accuracy of 4 decimals, "
        "taker amount a max of 2 decimals"
    )
    market = trader.with_amounts(trader.market("BUY", "10", "0.5"), 10_001_000, 20_000_000)
    assert _error(trader.post(market, "FOK")) == (
        "invalid amounts, the market buy orders maker amount supports a max accuracy of 2 "
        "decimals, taker amount a max of 4 decimals"
    )


def test_amounts_that_imply_no_grid_price_get_the_should_be_text(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    base = trader.limit("SELL", "0.22", "19.69")
    order = trader.with_amounts(base, 19_690_000, 4_330_000)  # 4.33 instead of 4.3318
    assert _error(trader.post(order)) == (
        "invalid amounts, the taker amount for a $0.22 order of size 19.69 should be '4.3318' "
        "but the value submited is '4.33'. Please check if you are using the latest version of "
        "the 'clob-client' library"
    )


def test_unknown_token_id_is_refused(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    response = trader.session.get(paper.url + "/tick-size?token_id=not-a-token")
    assert (response.status_code, response.json()) == (400, {"error": "Invalid token id"})


def test_more_than_15_orders_in_a_batch_is_refused_before_any_is_placed(
    paper: PaperExchange,
) -> None:
    trader = Trader(paper.url)
    entries = [trader.entry(trader.limit("BUY", "0.40", "10")) for _ in range(16)]
    response = trader.request("POST", "/orders", entries)
    # The OpenAPI's text (clob-v1-wire.md 8).
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Too many orders in payload: 16, max allowed: 15"},
    )
    assert trader.open_orders() == []


def test_a_refusal_inside_a_batch_does_not_stop_the_others(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    good = trader.limit("BUY", "0.40", "10")
    small = trader.limit("BUY", "0.40", "1")
    results = trader.ok("POST", "/orders", [trader.entry(good), trader.entry(small)])
    assert [r["success"] for r in results] == [True, False]
    assert results[0]["orderID"] == good.order_id and results[0]["status"] == "live"
    assert results[1]["orderID"] == "" and "lower than the minimum: 5" in results[1]["errorMsg"]


def test_resolved_market_refuses_new_orders(paper: PaperExchange) -> None:
    trader = Trader(paper.url)
    condition = paper.exchange.markets.get(TOKEN).condition_id
    paper.exchange.resolve_market(condition, TOKEN)
    assert _error(trader.post(trader.limit("BUY", "0.40", "10"))) == (
        "market is closed: it no longer accepts orders"
    )
