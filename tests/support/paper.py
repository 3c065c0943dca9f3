"""For the paper exchange tests: the tokens they trade, and a minimal raw-HTTP trader (our own
signing, `requests`, exact bytes).

The official SDK is the client in the fidelity tests; the trader is for tests that need to
tamper with a request (signature, HMAC, amounts) or to look at raw status codes and headers.
"""

from __future__ import annotations

import dataclasses
import json
import time
from decimal import Decimal
from typing import Any

import requests

from reconciler.clob.auth import ApiCreds, l1_headers, l2_headers
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import SignatureType, SignedOrder, Wallet, sign_order
from reconciler.model import Side
from tests.support.accounts import new_key

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OTHER_TOKEN = "123456789"


def body_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Trader:
    """One account on the paper exchange: a wallet, its API key, an HTTP session."""

    def __init__(
        self,
        url: str,
        *,
        key: str | None = None,
        chain_id: int = 137,
        profile: Profile = Profile.V2,
        signature_type: SignatureType = SignatureType.EOA,
        funder: str | None = None,
        create_key: bool = True,
    ) -> None:
        self.url = url
        self.chain_id = chain_id
        self.wallet = Wallet.from_private_key(
            key or new_key(), signature_type=signature_type, funder=funder
        )
        self.builder = OrderBuilder(self.wallet, chain_id=chain_id, profile=profile)
        self.session = requests.Session()
        self.creds: ApiCreds | None = None
        if create_key:
            self.creds = self.create_api_key()

    @property
    def address(self) -> str:
        return self.wallet.address

    # --- raw requests -------------------------------------------------------------------

    def l1(self, method: str, path: str, *, nonce: int = 0) -> requests.Response:
        headers = l1_headers(
            self.wallet, chain_id=self.chain_id, timestamp=int(time.time()), nonce=nonce
        )
        return self.session.request(method, self.url + path, headers=headers, timeout=10)

    def create_api_key(self, nonce: int = 0) -> ApiCreds:
        response = self.l1("POST", "/auth/api-key", nonce=nonce)
        assert response.status_code == 200, response.text
        data = response.json()
        return ApiCreds(data["apiKey"], data["secret"], data["passphrase"])

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        query: str = "",
        body: bytes | None = None,
        creds: ApiCreds | None = None,
        sign_body: bytes | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """An L2 request. `sign_body` (tests only) signs other bytes than those sent; `timeout`
        is the client's (a shorter one gives up on a request the exchange holds)."""
        data = body if body is not None else (body_bytes(payload) if payload is not None else b"")
        used = creds or self.creds
        assert used is not None
        headers = l2_headers(
            used,
            address=self.address,
            timestamp=int(time.time()),
            method=method,
            path=path,
            body=sign_body if sign_body is not None else data,
        )
        return self.session.request(
            method, self.url + path + query, data=data or None, headers=headers, timeout=timeout
        )

    def ok(self, method: str, path: str, payload: Any = None, *, query: str = "") -> Any:
        response = self.request(method, path, payload, query=query)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json() if response.content else None

    # --- orders ---------------------------------------------------------------------------

    def limit(
        self,
        side: str,
        price: str,
        size: str,
        *,
        token: str = TOKEN,
        tick: str = "0.01",
        neg_risk: bool = False,
        expiration: int = 0,
    ) -> SignedOrder:
        return self.builder.build_limit(
            token,
            Side(side),
            Decimal(price),
            Decimal(size),
            Decimal(tick),
            neg_risk,
            expiration=expiration,
        )

    def market(
        self, side: str, amount: str, price: str, *, token: str = TOKEN, tick: str = "0.01"
    ) -> SignedOrder:
        return self.builder.build_market(
            token, Side(side), Decimal(amount), Decimal(price), Decimal(tick), False
        )

    def with_amounts(self, order: SignedOrder, maker_amount: int, taker_amount: int) -> SignedOrder:
        """`order` re-signed with other amounts (to test the exchange's amount rules)."""
        unsigned = dataclasses.replace(
            order.order, maker_amount=maker_amount, taker_amount=taker_amount
        )
        return sign_order(
            self.wallet, unsigned, chain_id=self.chain_id, profile=order.profile, neg_risk=False
        )

    def entry(
        self, order: SignedOrder, order_type: str = "GTC", post_only: bool = False
    ) -> dict[str, Any]:
        assert self.creds is not None
        return {
            "order": order.to_wire(),
            "owner": self.creds.api_key,
            "orderType": order_type,
            "postOnly": post_only,
        }

    def post(
        self, order: SignedOrder, order_type: str = "GTC", post_only: bool = False
    ) -> requests.Response:
        return self.request("POST", "/order", self.entry(order, order_type, post_only))

    def place(self, side: str, price: str, size: str, **kwargs: Any) -> str:
        """Post a GTC limit order that must be accepted; returns its id."""
        response = self.post(self.limit(side, price, size, **kwargs))
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True
        return str(response.json()["orderID"])

    def open_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        cursor = "MA=="
        while cursor != "LTE=":
            page = self.ok("GET", "/data/orders", query=f"?next_cursor={cursor}")
            orders.extend(page["data"])
            cursor = page["next_cursor"]
        return orders

    def balance(self, token: str | None = None) -> int:
        query = f"?asset_type=CONDITIONAL&token_id={token}" if token else "?asset_type=COLLATERAL"
        return int(self.ok("GET", "/balance-allowance", query=query)["balance"])

    def notifications(self) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/notifications"))
