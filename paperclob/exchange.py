"""The paper exchange's state and operations, behind one lock.

`Exchange` is what the HTTP routes call and what in-process tests inspect: markets, API keys,
the matching engine (orders, trades, balances), notifications, heartbeats, faults and the clock.
Every request first runs the lazy housekeeping (`maintain`) under the lock: GTD orders past
their expiration are cancelled, failed trades whose FAILED time has come are taken back
(settlement.py), and keys whose heartbeat lapsed lose their orders. Nothing runs in the
background, so what a client observes is exactly what it would have seen had a timer done the
work at the due instant.

The parts, each in its own module: markets (markets.py), keys and notifications (state.py), the
matching engine (engine.py), settlement (settlement.py), heartbeats (heartbeats.py), trading
modes (modes.py), per-signer token buckets (ratelimit.py), faults (faults.py).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from dataclasses import replace
from decimal import Decimal
from typing import Any

from paperclob import errors
from paperclob.book import LIVE, Order
from paperclob.config import PaperConfig
from paperclob.engine import Execution, MatchingEngine
from paperclob.faults import Faults, HeldPosts, RateLimiter
from paperclob.heartbeats import Heartbeats
from paperclob.markets import MarketBook, MarketError
from paperclob.modes import TradingModes
from paperclob.notify import MARKET_RESOLVED, market_payload
from paperclob.ratelimit import LimitMode, SignerLimiter, tier_named
from paperclob.settlement import Settlement
from paperclob.state import ApiKey, KeyRing, NotificationBox, to_units
from paperclob.stream import StreamHub
from paperclob.verify import Entry, OrderVerifier, parse_entry

# Reasons a cancel could not happen (observed wording; the OpenAPI's examples capitalise them,
# clob-v2-wire.md 2.2, and clients compare case-insensitively).
NOT_FOUND = "order not found"
ALREADY_CANCELED = "the order is already canceled"
ALREADY_MATCHED = "the order is already matched"


class Exchange:
    def __init__(self, config: PaperConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.markets = MarketBook(config.default_tick, config.default_min_size)
        if config.markets_file is not None:
            self.markets.load_file(config.markets_file)
        for token_id, spec in config.markets.items():
            self.markets.define(token_id, dict(spec))
        secret = (
            hashlib.sha256(f"paperclob:{config.seed}".encode()).digest()
            if config.seed is not None
            else os.urandom(32)
        )
        self.keys = KeyRing(secret)
        self.notifications = NotificationBox()
        self.engine = MatchingEngine(
            notifications=self.notifications,
            initial_collateral=to_units(config.initial_collateral),
            initial_shares=to_units(config.initial_shares),
        )
        self.faults = Faults(latency_ms=config.latency_ms, error_5xx_rate=config.fail_5xx_rate)
        self.holds = HeldPosts()  # the POSTs the hold fault holds (faults.py)
        self.rate_limiter = RateLimiter(config.rate_limit)
        self.limiter = SignerLimiter(
            tier=tier_named(config.rate_limit_tier), mode=LimitMode(config.rate_limit_mode)
        )
        self.modes = TradingModes()
        self.settlement = Settlement(self.engine, delay_s=config.settle_delay_s)
        self.wire = replace(config.wire)
        self.auto_tick = config.auto_tick
        self.heartbeats = Heartbeats(
            timeout_s=config.heartbeat_timeout_s, error_key=self.wire.heartbeat_error_key
        )
        self.rng = random.Random(config.seed)
        self.verifier = OrderVerifier(
            chain_id=config.chain_id,
            protocol=config.protocol,
            strict_version=config.strict_version,
            gtd_security_s=config.gtd_security_s,
        )
        self.clock_offset = 0.0
        self.funder_owner: dict[str, str] = {}  # funder address -> signer address that uses it
        self.funder_of: dict[tuple[str, int], str] = {}  # (signer, signature type) -> funder
        self.stream = StreamHub(self)  # the WebSocket channels (stream.py)
        self.engine.events = self.stream

    # --- time and housekeeping ------------------------------------------------------------

    def now_float(self) -> float:
        return self.config.clock() + self.clock_offset

    def now(self) -> int:
        return int(self.now_float())

    def maintain(self) -> None:
        """Expire due GTD orders, take back due failed fills, enforce lapsed heartbeats (call
        with the lock held)."""
        now_f = self.now_float()
        now = int(now_f)
        # The exchange's one-minute security threshold: a GTD order stops resting a minute
        # before its `expiration` (to rest 90 s, send now + 60 + 30), so it is due at exp - 60.
        self.engine.expire_due(effective_now=now + self.config.gtd_security_s, now=now)
        self.settlement.apply_due(now_f)
        self.heartbeats.error_key = self.wire.heartbeat_error_key
        for api_key in self.heartbeats.lapsed(now_f):
            for order in list(self.engine.orders.values()):
                if order.owner == api_key and order.status == LIVE:
                    self.engine.cancel(order, reason="heartbeat missed", now=now)

    # --- API keys -------------------------------------------------------------------------

    def create_key(self, address: str, nonce: int) -> ApiKey:
        key = self.keys.create(address, nonce)
        if key is None:
            raise errors.ApiError(400, "Could not create api key")
        self.engine.account(address)
        return key

    def derive_key(self, address: str, nonce: int) -> ApiKey:
        key = self.keys.existing(address, nonce)
        if key is None:
            raise errors.ApiError(400, "Could not derive api key!")
        return key

    # --- orders ---------------------------------------------------------------------------

    def place(
        self, caller: ApiKey, entry: Entry | Any, *, position: int | None = None
    ) -> Execution:
        """Verify and submit one order entry, parsed or raw (raises OrderRejected with the
        exchange's text); the route has already checked the trading mode and charged the bucket."""
        if not isinstance(entry, Entry):
            entry = parse_entry(entry)
        try:
            market = self.markets.get(str(entry.wire.get("tokenId", "")))
        except MarketError as exc:
            raise errors.OrderRejected(str(exc)) from None
        profile, order_id, unsigned = self.verifier.check_identity(
            entry, caller=caller, market=market
        )
        self._check_funder(unsigned.maker.lower(), caller.address)
        self.modes.check_account(
            (caller.address, unsigned.maker.lower()), is_buy=unsigned.side.value == "BUY"
        )
        if order_id in self.engine.orders:
            raise errors.OrderRejected(errors.DUPLICATED)
        if order_id in self.faults.reject_order_ids or (
            position is not None and position in self.faults.reject_batch_positions
        ):
            raise errors.OrderRejected(self.faults.reject_message)
        now = self.now()
        self.verifier.check_rules(entry, order_id=order_id, market=market, now=now)
        intake = self.verifier.build(
            entry,
            unsigned=unsigned,
            profile=profile,
            order_id=order_id,
            caller=caller,
            market=market,
            now=now,
            seq=self.engine.next_seq(),
        )
        self.engine.now_exact = self.now_float()
        execution = self.engine.submit(
            intake.order,
            limit=intake.limit,
            budget=intake.budget,
            post_only=intake.post_only,
            now=now,
        )
        self.settlement.note_new_trades()
        if self.auto_tick and execution.trades:
            self.set_ticks(lambda: self.markets.after_trade(
                market.token_id, execution.trades[-1].price))
        self.funder_owner.setdefault(intake.order.maker, caller.address)
        self.funder_of[(caller.address, intake.order.signature_type)] = intake.order.maker
        return execution

    def set_ticks(self, change: Any) -> Any:
        """Run `change` (a change to the markets) and tell the market channel of every token
        whose tick it moved; returns what `change` returned."""
        before = {m.token_id: m.tick_size for m in self.markets.markets.values()}
        result = change()
        for token_id, tick in before.items():
            market = self.markets.markets[token_id]
            if market.tick_size != tick:
                self.stream.tick_changed(market, tick)
        return result

    def _check_funder(self, funder: str, signer: str) -> None:
        """A funder (proxy, Safe, deposit wallet) belongs to the first signer that uses it.

        The real exchange checks wallet ownership on chain; without this, any key could spend
        any address's paper balance by naming it as the maker.
        """
        if funder == signer:
            return
        owner = self.funder_owner.get(funder)
        if (owner is not None and owner != signer) or self.keys.keys_of(funder):
            raise errors.OrderRejected(errors.INVALID_SIGNATURE)

    def visible_order(self, caller: ApiKey, order_id: str) -> Order | None:
        order = self.engine.orders.get(order_id)
        return order if order is not None and order.address == caller.address else None

    def cancel_orders(self, caller: ApiKey, order_ids: list[str]) -> dict[str, Any]:
        """Cancel the caller's orders by id; duplicate ids count once (the exchange drops them)."""
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        now = self.now()
        for order_id in dict.fromkeys(str(i) for i in order_ids):
            order = self.visible_order(caller, order_id)
            if order is None:
                not_canceled[order_id] = NOT_FOUND
            elif self.engine.cancel(order, reason="canceled by the owner", now=now):
                canceled.append(order.order_id)
            else:
                not_canceled[order.order_id] = (
                    ALREADY_MATCHED if order.status == "MATCHED" else ALREADY_CANCELED
                )
        return {"canceled": canceled, "not_canceled": not_canceled}

    def cancel_where(
        self, caller: ApiKey, *, market: str = "", asset_id: str = ""
    ) -> dict[str, Any]:
        """Cancel the caller's open orders, optionally only one market's or one token's."""
        chosen = [
            o.order_id
            for o in self.engine.open_orders(caller.address)
            if (not market or o.condition_id.lower() == market.lower())
            and (not asset_id or o.token_id == asset_id)
        ]
        return self.cancel_orders(caller, chosen)

    def open_orders(
        self, caller: ApiKey, *, market: str = "", asset_id: str = "", order_id: str = ""
    ) -> list[Order]:
        return [
            o
            for o in self.engine.open_orders(caller.address)
            if (not market or o.condition_id.lower() == market.lower())
            and (not asset_id or o.token_id == asset_id)
            and (not order_id or o.order_id == order_id)
        ]

    # --- in-process inspection (tests) ------------------------------------------------------

    def balance_of(self, address: str, token_id: str | None = None) -> Decimal:
        """Collateral (or a token's shares) of an address, in human units."""
        with self.lock:
            account = self.engine.account(address)
            units = account.share_balance(token_id) if token_id else account.collateral
        return Decimal(units).scaleb(-6)

    def open_orders_of(self, address: str) -> list[Order]:
        """The live orders placed by the key(s) of `address`, oldest first."""
        with self.lock:
            self.maintain()
            return self.engine.open_orders(address)

    # --- admin ----------------------------------------------------------------------------

    def resolve_market(self, condition_id: str, winning_token: str | None) -> int:
        """Resolve a market: its orders are cancelled, and every account that had orders on it
        gets a MARKET_RESOLVED (4) notification carrying the market payload."""
        resolved = self.markets.resolve(condition_id, winning_token)
        tokens = {m.token_id for m in resolved}
        now = self.now()
        payload = market_payload(resolved[0].condition_id, resolved)
        told: set[tuple[str, str]] = set()
        for order in list(self.engine.orders.values()):
            if order.token_id not in tokens:
                continue
            self.engine.cancel(order, reason="market resolved", now=now)
            if (order.address, order.owner) in told:
                continue
            told.add((order.address, order.owner))
            self.notifications.add(
                kind=MARKET_RESOLVED,
                owner=order.owner,
                address=order.address,
                payload=payload,
                now=now,
            )
        return len(told)

    def fund(
        self, address: str, *, collateral: Any = None, token_id: str = "", shares: Any = None
    ) -> None:
        """Set an account's balances (human units), e.g. to make it unfunded in a test."""
        account = self.engine.account(address)
        if collateral is not None:
            account.collateral = to_units(Decimal(str(collateral)))
        if shares is not None:
            if not token_id:
                raise ValueError("shares need a token_id")
            account.shares[self.markets.get(token_id).token_id] = to_units(Decimal(str(shares)))
