"""Helpers for the policy tests: a `policy:` file beside the orders, a counterparty's quotes
that give a token a book, and the policy part of a pass's summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from reconciler.model import OrderType, Side
from tests.support.engine import Account, Harness, new_account

POLICY_FILE = "00-policy.yaml"


def write_policy(h: Harness, policy: dict[str, Any]) -> None:
    """The directory's one `policy:` block, in its own file."""
    (h.desired / POLICY_FILE).write_text(yaml.safe_dump({"version": 1, "policy": policy}))


def quote(h: Harness, token_id: str, side: Side, price: str, size: str,
          *, account: Account | None = None) -> Account:
    """Another account rests a GTC order, so the token has a book there."""
    other = account or new_account(h.url)
    answer = other.client.create_and_post_order(
        token_id, side, price, size, order_type=OrderType.GTC, post_only=True
    )
    assert answer.ok, answer
    return other


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verdicts_of(summary: Any) -> list[dict[str, Any]]:
    policy = summary.get("policy") or {}
    return list(policy.get("verdicts") or [])
