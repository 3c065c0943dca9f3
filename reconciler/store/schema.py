"""The shape of the state file: its SQL schema as an ordered list of migrations, and the Python
values its rows become. (The SQLite connection itself lives in store.py, the one module that
speaks SQLite; this module only holds SQL text and plain conversions.)

`PRAGMA user_version` holds how many migrations the file has had. Opening a file runs the ones it
has not had yet, each in its own transaction (opening.migrate; a new file gets them all in the one
transaction that also writes its application id and identity), so a file written by an older
version upgrades in place and a half-applied migration never stays behind. Migrations are
append-only: to change the schema, add a new entry at the end; never edit one that has shipped.

Money columns (prices, sizes, filled amounts) are TEXT holding a canonical `Decimal` string, never
REAL: SQLite's REAL is a binary float. Timestamps are integer unix milliseconds. Nothing secret has
a column here: no private key, no API key, secret or passphrase. An order row keeps the exact signed
order it posts (`signed_order`, the wire `order` object: salt, amounts, timestamp, signature), so
an unknown outcome is resolved by re-sending those very bytes (invariant 11). A signature is not a
secret: it authorises that one order and nothing else, it is sent to the exchange in the clear,
and posting it needs the API credentials, which are not stored; the owner (the API key) is not
part of the stored object, it is attached when the order is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reconciler.lifecycle import (
    INITIAL,
    UNRESOLVED_STATUSES,
    OrderStatus,
)
from reconciler.model import InventoryOrder, LevelKey, Post, Side, decimal_of

_V1_INITIAL = """
CREATE TABLE revisions (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL,
    git_commit TEXT,
    valid INTEGER NOT NULL,
    errors TEXT NOT NULL DEFAULT '',
    files TEXT NOT NULL DEFAULT '[]',
    created_ms INTEGER NOT NULL
);
CREATE INDEX revisions_valid ON revisions (valid, id);

CREATE TABLE levels (
    token_id TEXT NOT NULL,
    side TEXT NOT NULL,
    price TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    generation INTEGER NOT NULL,
    filled TEXT NOT NULL DEFAULT '0',
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (token_id, side, price)
);

CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    side TEXT NOT NULL,
    price TEXT NOT NULL,
    generation INTEGER NOT NULL,
    size TEXT NOT NULL,
    size_matched TEXT NOT NULL DEFAULT '0',
    status TEXT NOT NULL,
    order_type TEXT NOT NULL DEFAULT 'GTC',
    expires_at INTEGER NOT NULL DEFAULT 0,
    post_only INTEGER NOT NULL DEFAULT 1,
    revision INTEGER,
    run_id INTEGER,
    posted_at_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_level ON orders (token_id, side, price);

CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    run_id INTEGER,
    kind TEXT NOT NULL,
    order_id TEXT,
    payload TEXT NOT NULL DEFAULT '{}',
    intent_ms INTEGER NOT NULL,
    outcome TEXT,
    result TEXT,
    result_ms INTEGER
);
CREATE INDEX journal_order ON journal (order_id);
CREATE INDEX journal_open ON journal (outcome);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    revision INTEGER,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    outcome TEXT,
    summary TEXT,
    error TEXT
);

CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE processed_notifications (
    id TEXT PRIMARY KEY,
    type INTEGER,
    processed_ms INTEGER NOT NULL
);

CREATE TABLE fills (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    fill_id TEXT NOT NULL,
    size TEXT NOT NULL,
    price TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    UNIQUE (order_id, fill_id)
);
"""

# The exact files of each valid revision (path relative to the desired directory -> its text),
# so that after a restart with broken files the last valid revision can be rebuilt by the same
# loader and stay in force (invariant 2). Desired-state files hold no secret.
_V2_REVISION_FILES = """
CREATE TABLE revision_files (
    revision_id INTEGER NOT NULL REFERENCES revisions (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (revision_id, name)
);
"""

# Which account the file belongs to (store/opening.py): one row, written in the transaction that
# creates the file (or adopts a file from before identities) together with PRAGMA
# application_id. chain_id and funder are NULL for a file created without naming an account,
# until an open that names one binds it. file_id is random, a name for this file's history.
_V3_IDENTITY = """
CREATE TABLE state_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id INTEGER,
    funder TEXT,
    file_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"""

# Exactly once by re-sending (invariant 11): the signed order as posted (its wire JSON without
# the owner), the profile and neg-risk flag that make its hash checkable before it is sent
# again, and `unanswered_ms`: the latest moment a send of it may have left without an answer
# (an upper bound), from which the landing window counts (engine/resolve.py). Rows written
# before this migration have no stored order: they are resolved by lookups and the window.
_V4_SIGNED_ORDERS = """
ALTER TABLE orders ADD COLUMN signed_order TEXT;
ALTER TABLE orders ADD COLUMN profile TEXT;
ALTER TABLE orders ADD COLUMN neg_risk INTEGER;
ALTER TABLE orders ADD COLUMN unanswered_ms INTEGER;
"""

# Never trade blind (invariant 10, planner/blind.py): open orders on declared tokens that a
# process of this state file watched appear and that are not ours, i.e. the trader's own, so that
# a restart does not take them for orders of ours it has forgotten. Only ids still open are kept.
_V5_FOREIGN_ORDERS = """
CREATE TABLE foreign_orders (
    order_id TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    seen_ms INTEGER NOT NULL
);
"""

# Overrides of soft policy rules (store/overrides.py): who let which rule through, why, and for
# which plan; each also has a journal row (kind `override`), so `history` shows it. IF NOT
# EXISTS: the statement is safe wherever this migration lands among others.
_V6_POLICY_OVERRIDES = """
CREATE TABLE IF NOT EXISTS policy_overrides (
    id INTEGER PRIMARY KEY,
    run_id INTEGER,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    user TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    verdicts TEXT NOT NULL DEFAULT '[]',
    created_ms INTEGER NOT NULL
);
"""

#: Every migration (a script of SQL statements), in order. The file's `user_version` is the
#: number of them it has had.
MIGRATIONS: tuple[str, ...] = (
    _V1_INITIAL,
    _V2_REVISION_FILES,
    _V3_IDENTITY,
    _V4_SIGNED_ORDERS,
    _V5_FOREIGN_ORDERS,
    _V6_POLICY_OVERRIDES,
)


#: The fill id of a contra entry in `fills`: `failed:<trade id>`, with the negative size of the
#: fill taken back because its trade did not settle (invariant 12).
FAILED_FILL = "failed:"


class SchemaTooNew(RuntimeError):
    """The state file was written by a newer version of reconciler than this one."""


def split_statements(script: str) -> list[str]:
    """The statements of a migration script. Our scripts end every statement with ';' at the
    end of a line and hold no string literal with ';' in it, so splitting there is exact."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        buffer.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(buffer).strip())
            buffer = []
    if "".join(buffer).strip():
        raise ValueError(f"migration script does not end with ';': {buffer[-1][:60]}")
    return statements


class JournalKind(StrEnum):
    """What a journal row records: a request that changes state on the exchange, or a lookup
    that resolves an uncertainty."""

    POST = "post"
    RESEND = "resend"  # the identical signed order sent again to resolve an unknown outcome
    CANCEL = "cancel"
    LOOKUP = "lookup"
    ADOPT = "adopt"  # `reconciler adopt` took an open order into the inventory (no request)
    OVERRIDE = "override"  # an operator let a soft policy rule through for one pass


class JournalOutcome(StrEnum):
    """What came of a journaled request (`journal.outcome`; NULL while it has no answer)."""

    OK = "ok"
    DUPLICATE = "duplicate"  # a re-send refused as a duplicate: an earlier send placed it
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # sent, and the answer does not say (or was lost)
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    NOT_CANCELED = "not_canceled"  # the cancel call answered, and this id was not cancelled
    VOID = "void"  # certainly never sent
    RESOLVED = "resolved"  # an open request closed once the order's fate was learnt


def decimal_text(value: Decimal) -> str:
    """Canonical text for a Decimal, so 0.40 and 0.4 are the same key in SQL."""
    if not value.is_finite():
        raise ValueError(f"refusing to store a non-finite amount: {value}")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def file_text(name: str, data: bytes) -> str:
    """A desired file's bytes as the TEXT kept for its revision. Only valid revisions are kept
    and their files are UTF-8, so strict UTF-8 round-trips them exactly (a BOM included)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"desired file {name} is not UTF-8; it cannot be kept") from None


@dataclass(frozen=True)
class Revision:
    id: int
    digest: str
    git_commit: str | None
    valid: bool
    errors: str
    files: tuple[str, ...]
    created_ms: int

    def repeats(self, row: dict[str, Any]) -> bool:
        """Whether a new `revisions` row would say nothing this one does not (file list and
        time aside: the digest covers the names)."""
        return (self.digest, int(self.valid), self.errors, self.git_commit) == (
            row["digest"],
            row["valid"],
            row["errors"],
            row["git_commit"],
        )


@dataclass(frozen=True)
class StoredOrder:
    order_id: str
    key: LevelKey
    generation: int
    size: Decimal
    size_matched: Decimal
    status: OrderStatus
    order_type: str
    expires_at: int
    post_only: bool
    revision: int | None
    posted_at_ms: int
    error: str | None
    signed_order: str | None = None  # the wire JSON of the signed order (None: an older row)
    profile: str | None = None
    neg_risk: bool | None = None
    unanswered_ms: int | None = None  # latest moment a send may have left without an answer

    def to_inventory(self) -> InventoryOrder:
        return InventoryOrder(
            order_id=self.order_id,
            key=self.key,
            generation=self.generation,
            size=self.size,
            posted_at_ms=self.posted_at_ms,
            unresolved=self.status in UNRESOLVED_STATUSES,
        )


# --- row helpers ---------------------------------------------------------------------------


def key_params(key: LevelKey) -> tuple[str, str, str]:
    return (key.token_id, key.side.value, decimal_text(key.price))


def row_key(row: dict[str, Any]) -> LevelKey:
    return LevelKey(row["token_id"], Side(row["side"]), decimal_of(row["price"]))


def stored_order(r: dict[str, Any]) -> StoredOrder:
    return StoredOrder(
        order_id=r["order_id"],
        key=row_key(r),
        generation=r["generation"],
        size=decimal_of(r["size"]),
        size_matched=decimal_of(r["size_matched"]),
        status=OrderStatus(r["status"]),
        order_type=r["order_type"],
        expires_at=r["expires_at"],
        post_only=bool(r["post_only"]),
        revision=r["revision"],
        posted_at_ms=r["posted_at_ms"],
        error=r["error"],
        signed_order=r.get("signed_order"),
        profile=r.get("profile"),
        neg_risk=None if r.get("neg_risk") is None else bool(r["neg_risk"]),
        unanswered_ms=r.get("unanswered_ms"),
    )


def revision_from_row(r: dict[str, Any]) -> Revision:
    return Revision(
        id=r["id"],
        digest=r["digest"],
        git_commit=r["git_commit"],
        valid=bool(r["valid"]),
        errors=r["errors"],
        files=tuple(json.loads(r["files"])),
        created_ms=r["created_ms"],
    )


def intent_row(
    *,
    order_id: str,
    post: Post,
    revision: int | None,
    run_id: int | None,
    now_ms: int,
    signed_order: str | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """The `orders` row of an order about to be posted (with its signed order, when given)."""
    return {
        "order_id": order_id,
        "token_id": post.key.token_id,
        "side": post.key.side.value,
        "price": decimal_text(post.key.price),
        "generation": post.generation,
        "size": decimal_text(post.size),
        "size_matched": "0",
        "status": INITIAL.value,
        "order_type": post.order_type.value,
        "expires_at": post.expires_at,
        "post_only": int(post.post_only),
        "revision": revision,
        "run_id": run_id,
        "posted_at_ms": now_ms,
        "updated_ms": now_ms,
        "error": None,
        "signed_order": signed_order,
        "profile": profile,
        "neg_risk": int(post.neg_risk),
        "unanswered_ms": None,
    }


def journal_row(r: dict[str, Any]) -> dict[str, Any]:
    row = dict(r)
    row["payload"] = json.loads(r["payload"]) if r["payload"] else {}
    return row


def run_row(r: dict[str, Any]) -> dict[str, Any]:
    row = dict(r)
    row["summary"] = json.loads(r["summary"]) if r["summary"] else None
    return row


def revision_dict(rev: Revision | None) -> dict[str, Any] | None:
    if rev is None:
        return None
    return {
        "id": rev.id,
        "digest": rev.digest,
        "git_commit": rev.git_commit,
        "valid": rev.valid,
        "created_ms": rev.created_ms,
    }


def sql_in(values: Iterable[StrEnum]) -> tuple[str, list[str]]:
    """`(?, ?, ...)` and its parameters, for `column IN ...` filters built from an enum group
    (never from a literal list in the SQL)."""
    wanted = [v.value for v in values]
    return "(" + ", ".join("?" for _ in wanted) + ")", wanted
