"""Shared fixtures for the engine tests: a real paper exchange on 127.0.0.1, a real SQLite file,
real keys generated here, and a requests session that counts what is sent.

Imported by test_apply*.py, test_reconcile*.py and test_invariants.py; it holds no tests itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from paperclob import PaperConfig, PaperExchange
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.client import ClobClient
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import Wallet
from reconciler.engine.apply import ApplyResult, apply_plan
from reconciler.engine.reconcile import Reconciler
from reconciler.model import LevelKey, OpenOrder, OrderType, Plan, Post, Side
from reconciler.store.store import Store

TOKEN_A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
TOKEN_B = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
CHAIN_ID = 137
WRITE_METHODS = ("POST", "DELETE", "PUT", "PATCH")


class CountingSession(requests.Session):
    """A real session that remembers (method, path) of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        m = method.decode() if isinstance(method, bytes) else method
        u = url.decode() if isinstance(url, bytes) else url
        self.sent.append((m.upper(), urlsplit(u).path))
        return super().request(method, url, *args, **kwargs)

    def writes(self) -> list[tuple[str, str]]:
        """Requests that change something on the exchange (heartbeats excluded)."""
        return [(m, p) for m, p in self.sent if m in WRITE_METHODS and "heartbeat" not in p]

    def order_writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.writes() if p != "/notifications"]

    def reset(self) -> None:
        self.sent.clear()


@dataclass
class Account:
    wallet: Wallet
    client: ClobClient
    session: CountingSession
    builder: OrderBuilder
    key_hex: str


@dataclass
class Harness:
    paper: PaperExchange
    url: str
    me: Account
    store: Store
    desired: Path
    reconciler: Reconciler
    tmp: Path
    secrets_used: list[str] = field(default_factory=list)

    def write_spec(self, tokens: dict[str, list[dict[str, Any]]], **options: Any) -> None:
        write_spec(self.desired, tokens, **options)

    def new_reconciler(
        self, *, client: Any = None, store: Store | None = None, **options: Any
    ) -> Reconciler:
        """A Reconciler on this harness's pieces, as a fresh process would build it (a stand-in
        client or store may replace the harness's own)."""
        return Reconciler(
            client=self.me.client if client is None else client,
            store=self.store if store is None else store,
            desired_dir=self.desired,
            builder=self.me.builder,
            clock=self.reconciler.clock,
            **options,
        )

    def restart(self) -> Reconciler:
        """A new process on the same state file: memory (backoff, caches, last valid spec) is
        lost."""
        path = self.store.path
        self.store.close()
        self.store = Store.open(path)
        self.reconciler = self.new_reconciler()
        return self.reconciler

    def open_orders(self, token_id: str | None = None) -> list[OpenOrder]:
        orders = self.me.client.get_open_orders()
        return [o for o in orders if token_id is None or o.token_id == token_id]

    def resting(self, token_id: str | None = None) -> dict[tuple[Side, Decimal], Decimal]:
        """(side, price) -> total remaining size of my open orders."""
        out: dict[tuple[Side, Decimal], Decimal] = {}
        for o in self.open_orders(token_id):
            k = (o.side, o.price.normalize())
            out[k] = out.get(k, Decimal(0)) + o.remaining
        return out


def new_account(url: str) -> Account:
    key_hex = "0x" + secrets.token_hex(32)
    wallet = Wallet.from_private_key(key_hex)
    session = CountingSession()
    client = ClobClient(url, chain_id=CHAIN_ID, wallet=wallet, session=session)
    client.creds = client.create_or_derive_api_key()
    builder = OrderBuilder(wallet, chain_id=CHAIN_ID, profile=Profile.V2)
    session.reset()
    return Account(wallet=wallet, client=client, session=session, builder=builder, key_hex=key_hex)


def write_spec(
    directory: Path,
    tokens: dict[str, list[dict[str, Any]]],
    *,
    name: str = "orders.yaml",
    token_options: dict[str, dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> Path:
    """Write one desired-state file. Amounts are given as strings (exact decimals)."""
    doc: dict[str, Any] = {"version": 1}
    if defaults:
        doc["defaults"] = defaults
    if limits:
        doc["limits"] = limits
    doc["tokens"] = [
        {"token_id": token_id, **(token_options or {}).get(token_id, {}), "orders": levels}
        for token_id, levels in tokens.items()
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def level(side: str, price: str, size: str, **extra: Any) -> dict[str, Any]:
    return {"side": side, "price": price, "size": size, **extra}


def make_post(
    price: str,
    size: str = "10",
    *,
    token: str = TOKEN_A,
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.GTC,
    expires_at: int = 0,
) -> Post:
    """A post-only, generation-1 post on a 0.01-tick, non-neg-risk market."""
    return Post(
        key=LevelKey(token, side, Decimal(price)),
        size=Decimal(size),
        order_type=order_type,
        post_only=True,
        expires_at=expires_at,
        generation=1,
        neg_risk=False,
        tick_size=Decimal("0.01"),
    )


def apply_to(h: Harness, plan: Plan, *, client: Any = None, run_id: int | None = None,
             **options: Any) -> ApplyResult:
    """apply_plan with the harness's own signer and store (and its client unless given)."""
    return apply_plan(
        plan,
        client=h.me.client if client is None else client,
        signer=h.me.builder,
        store=h.store,
        run_id=run_id,
        revision_id=None,
        **options,
    )


def make_harness(tmp_path: Path, paper: PaperExchange, url: str) -> Harness:
    me = new_account(url)
    store = Store.open(tmp_path / "state" / "reconciler.db")
    desired = tmp_path / "desired"
    desired.mkdir()
    reconciler = Reconciler(
        client=me.client,
        store=store,
        desired_dir=desired,
        builder=me.builder,
        clock=paper_clock(paper),
    )
    creds = me.client.creds
    assert creds is not None
    return Harness(
        paper=paper,
        url=url,
        me=me,
        store=store,
        desired=desired,
        reconciler=reconciler,
        tmp=tmp_path,
        secrets_used=[me.key_hex, me.key_hex[2:], creds.secret, creds.passphrase],
    )


def paper_clock(paper: PaperExchange) -> Any:
    import time

    return time.time


@pytest.fixture
def paper() -> Iterator[tuple[PaperExchange, str]]:
    exchange = PaperExchange(PaperConfig(seed=7, page_size=7))
    url = exchange.start()
    try:
        yield exchange, url
    finally:
        exchange.stop()


@pytest.fixture
def harness(tmp_path: Path, paper: tuple[PaperExchange, str]) -> Iterator[Harness]:
    exchange, url = paper
    h = make_harness(tmp_path, exchange, url)
    try:
        yield h
    finally:
        h.store.close()
