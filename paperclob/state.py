"""Accounts, API keys and notifications of the paper exchange.

Money is kept as integer base units (6 decimals) for collateral (pUSD) and for every token's
shares. An account is an address (the order's `maker`, i.e. the funder). It is created on first
sight with the paper balances of the configuration: collateral, and the same amount of shares of
*every* token (held lazily: a token never touched reads as the initial amount), so a second
account can sell into the first one's bids without any setup.

Open orders *reserve* what they could spend (collateral for bids, shares for asks); a new order
must fit in `balance - reserved`, which is the exchange's "not enough balance / allowance" rule.

API keys are derived, not stored secrets: (address, nonce) -> HMAC(server secret, ...), so the
same server secret always yields the same credentials, as the real exchange's derive does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any

UNIT = 10**6


def to_units(value: Any) -> int:
    """Human amount (str/Decimal/int) -> integer base units, refusing sub-unit precision."""
    from decimal import Decimal

    scaled = Decimal(str(value)) * UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {value} has more than 6 decimals")
    return int(scaled)


@dataclass
class Account:
    """Balances of one address, in base units, and what its open orders reserve."""

    address: str
    collateral: int
    initial_shares: int
    shares: dict[str, int] = field(default_factory=dict)
    reserved_collateral: int = 0
    reserved_shares: dict[str, int] = field(default_factory=dict)

    def share_balance(self, token_id: str) -> int:
        return self.shares.get(token_id, self.initial_shares)

    def add_shares(self, token_id: str, units: int) -> None:
        self.shares[token_id] = self.share_balance(token_id) + units

    def free_collateral(self) -> int:
        return self.collateral - self.reserved_collateral

    def free_shares(self, token_id: str) -> int:
        return self.share_balance(token_id) - self.reserved_shares.get(token_id, 0)

    def reserve(self, *, token_id: str, is_buy: bool, delta: int) -> None:
        """Change what open orders hold back (delta may be negative when they shrink)."""
        if is_buy:
            self.reserved_collateral += delta
        else:
            self.reserved_shares[token_id] = self.reserved_shares.get(token_id, 0) + delta


@dataclass(frozen=True)
class ApiKey:
    """An issued API key. `secret`/`passphrase` never appear in repr."""

    api_key: str
    address: str  # lowercase 0x address the key is bound to
    nonce: int
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)

    def creds_json(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


class KeyRing:
    """Derives and keeps the API keys. Guarded by the exchange lock."""

    def __init__(self, server_secret: bytes) -> None:
        self._server_secret = server_secret
        self._by_key: dict[str, ApiKey] = {}
        self._by_owner: dict[tuple[str, int], str] = {}

    def __repr__(self) -> str:  # never show the server secret
        return f"KeyRing({len(self._by_key)} keys)"

    def derive(self, address: str, nonce: int) -> ApiKey:
        """The credentials (address, nonce) always maps to, issued or not."""
        address = address.lower()
        mac = self._mac(f"key|{address}|{nonce}")
        secret = base64.urlsafe_b64encode(self._mac(f"secret|{address}|{nonce}")).decode()
        passphrase = self._mac(f"passphrase|{address}|{nonce}").hex()
        return ApiKey(
            api_key=str(uuid.UUID(bytes=mac[:16], version=4)),
            address=address,
            nonce=nonce,
            secret=secret,
            passphrase=passphrase,
        )

    def create(self, address: str, nonce: int) -> ApiKey | None:
        """Issue the key of (address, nonce); None when it is already issued."""
        key = self.derive(address, nonce)
        if (key.address, nonce) in self._by_owner:
            return None
        self._by_key[key.api_key] = key
        self._by_owner[(key.address, nonce)] = key.api_key
        return key

    def existing(self, address: str, nonce: int) -> ApiKey | None:
        api_key = self._by_owner.get((address.lower(), nonce))
        return self._by_key.get(api_key) if api_key else None

    def lookup(self, api_key: str) -> ApiKey | None:
        return self._by_key.get(api_key)

    def keys_of(self, address: str) -> list[str]:
        address = address.lower()
        return [k.api_key for k in self._by_key.values() if k.address == address]

    def addresses(self) -> list[str]:
        """Every address that holds a key, in the order the keys were issued."""
        return list(dict.fromkeys(k.address for k in self._by_key.values()))

    def delete(self, api_key: str) -> None:
        key = self._by_key.pop(api_key, None)
        if key is not None:
            self._by_owner.pop((key.address, key.nonce), None)

    def _mac(self, message: str) -> bytes:
        return hmac.new(self._server_secret, message.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Notification:
    id: int
    type: int
    owner: str  # API key
    address: str  # lowercase address it belongs to
    payload: dict[str, Any]
    timestamp: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "owner": self.owner,
            "payload": self.payload,
            "timestamp": self.timestamp,
        }


class NotificationBox:
    """Notifications per address, in order. Guarded by the exchange lock."""

    def __init__(self) -> None:
        self._next_id = 1
        self._by_address: dict[str, dict[int, Notification]] = {}

    def add(
        self, *, kind: int, owner: str, address: str, payload: dict[str, Any], now: int
    ) -> Notification:
        note = Notification(self._next_id, kind, owner, address.lower(), payload, now)
        self._next_id += 1
        self._by_address.setdefault(note.address, {})[note.id] = note
        return note

    def of(self, address: str) -> list[Notification]:
        return list(self._by_address.get(address.lower(), {}).values())

    def drop(self, address: str, ids: list[int]) -> None:
        box = self._by_address.get(address.lower(), {})
        for note_id in ids:
            box.pop(note_id, None)
