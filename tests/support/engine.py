"""The engine harness: a Reconciler on a real paper exchange on 127.0.0.1 and a real SQLite
state file, with real keys generated here and a requests session that counts what is sent.

The `harness` fixture (tests/conftest.py) builds one per test; `make_harness` builds one by
hand (property tests that need a fresh state file per example). Also here: writing desired files
(`write_spec`, `level`), building and applying plans by hand (`make_post`, `apply_to`), and
switching the paper exchange's faults (`set_faults`, `clear_faults`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from paperclob import PaperExchange
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.client import ClobClient
from reconciler.clob.profiles import Profile
from reconciler.clob.signing import Wallet
from reconciler.engine.apply import ApplyResult, apply_plan
from reconciler.engine.reconcile import Reconciler
from reconciler.model import LevelKey, OpenOrder, OrderType, Plan, Post, Side
from reconciler.store.store import Store
from tests.support.accounts import new_key

TOKEN_A = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
TOKEN_B = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
CHAIN_ID = 137
WRITE_METHODS = ("POST", "DELETE", "PUT", "PATCH")


class CountingSession(requests.Session):
    """A real session that remembers (method, path) of every request it sends, and the body of
    every order post (`posted`: the exact bytes, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []
        self.urls: list[str] = []  # the whole URL of each request, query included
        self.posted: list[bytes] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        m = method.decode() if isinstance(method, bytes) else method
        u = url.decode() if isinstance(url, bytes) else url
        path = urlsplit(u).path
        self.sent.append((m.upper(), path))
        self.urls.append(u)
        if m.upper() == "POST" and path in ("/order", "/orders"):
            data = kwargs.get("data")
            self.posted.append(data.encode() if isinstance(data, str) else bytes(data or b""))
        return super().request(method, url, *args, **kwargs)

    def writes(self) -> list[tuple[str, str]]:
        """Requests that change something on the exchange (heartbeats excluded)."""
        return [(m, p) for m, p in self.sent if m in WRITE_METHODS and "heartbeat" not in p]

    def order_writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.writes() if p != "/notifications"]

    def reset(self) -> None:
        self.sent.clear()
        self.urls.clear()
        self.posted.clear()


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
        client or store may replace the harness's own; options such as `clock` too)."""
        options.setdefault("clock", self.reconciler.clock)
        return Reconciler(
            client=self.me.client if client is None else client,
            store=self.store if store is None else store,
            desired_dir=self.desired,
            builder=self.me.builder,
            **options,
        )

    def restart(self, **options: Any) -> Reconciler:
        """A new process on the same state file: memory (backoff, caches, last valid spec) is
        lost. `options` go to `new_reconciler` (a client, a clock, a landing window ...)."""
        path = self.store.path
        self.store.close()
        self.store = Store.open(path)
        self.reconciler = self.new_reconciler(**options)
        return self.reconciler

    def impatient_client(self, timeout: float) -> ClobClient:
        """My client again (same wallet, key and counting session) with a request timeout of
        `timeout` seconds: it gives up on a post the exchange holds longer than that."""
        return ClobClient(self.url, chain_id=CHAIN_ID, wallet=self.me.wallet,
                          session=self.me.session, creds=self.me.client.creds, timeout=timeout)

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


def new_account(url: str, *, session: CountingSession | None = None) -> Account:
    key_hex = new_key()
    wallet = Wallet.from_private_key(key_hex)
    session = CountingSession() if session is None else session
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


def make_harness(tmp_path: Path, paper: PaperExchange, url: str, *,
                 store: Store | None = None, session: CountingSession | None = None) -> Harness:
    """A harness on `paper`, with a new account, `tmp_path/desired` and the state file `store`
    (or a new one at `tmp_path/state/reconciler.db`); `session` replaces the counting session
    of the account's client (e.g. one that loses chosen answers)."""
    me = new_account(url, session=session)
    if store is None:
        store = Store.open(tmp_path / "state" / "reconciler.db")
    desired = tmp_path / "desired"
    desired.mkdir()
    reconciler = Reconciler(
        client=me.client,
        store=store,
        desired_dir=desired,
        builder=me.builder,
        clock=time.time,
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


def converge(h: Harness, tokens: dict[str, list[dict[str, Any]]], **options: Any) -> None:
    """Write the spec and run one pass that must succeed; then forget what was sent."""
    h.write_spec(tokens, **options)
    result = h.reconciler.tick()
    assert result.success, (result.error, result.run_summary)
    h.me.session.reset()


def sell_into(h: Harness, price: str, size: str) -> None:
    """A counterparty sells `size` of TOKEN_A at `price` (into my bid there)."""
    other = new_account(h.url)
    answer = other.client.create_and_post_order(
        TOKEN_A, Side.SELL, price, size, order_type=OrderType.GTC
    )
    assert answer.ok, answer


def set_faults(h: Harness, **faults: object) -> None:
    """Switch on the paper exchange's fault injection (paperclob/faults.py)."""
    with h.paper.exchange.lock:
        h.paper.exchange.faults.update(dict(faults))


def clear_faults(h: Harness) -> None:
    with h.paper.exchange.lock:
        h.paper.exchange.faults.reset()


def buy_notional(h: Harness, token_id: str | None = None) -> Decimal:
    """pUSD that my open buys (of `token_id`, or all) would spend: price x remaining."""
    return sum(
        (o.price * o.remaining for o in h.open_orders(token_id) if o.side is Side.BUY), Decimal(0)
    )
