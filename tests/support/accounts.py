"""Fresh accounts for tests: private keys are generated at test time and never written anywhere
(no key is committed, none reaches a log or argv)."""

from __future__ import annotations

import requests
from eth_account import Account

from reconciler.clob.client import ClobClient
from reconciler.clob.signing import Wallet


def new_key() -> str:
    """A fresh random private key (0x hex)."""
    return "0x" + bytes(Account.create().key).hex()


def new_wallet() -> Wallet:
    return Wallet.from_private_key(new_key())


def new_client(
    url: str, *, timeout: float = 5.0, session: requests.Session | None = None
) -> ClobClient:
    """A client with a fresh wallet and its API key (created through L1 on the exchange)."""
    client = ClobClient(url, chain_id=137, wallet=new_wallet(), timeout=timeout, session=session)
    client.creds = client.create_or_derive_api_key()
    return client
