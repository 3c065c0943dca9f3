"""The normalised desired state the planner reads: defaults applied, files merged.

A validated `DesiredFile` still says "whatever the defaults are"; here every level is resolved
into a `DesiredLevel` keyed by the same `LevelKey` the observed orders use (STYLE.md 2), with a
concrete order type, expiry (unix seconds, 0 for GTC), post-only and replenish flag, and the
digest of those fields that decides when a level starts a new generation.

Merging files: a token may appear in one file only, and `limits:` and `policy:` may each appear
in one file only (typically a small `00-limits.yaml`), so no rule is needed for which file wins. `build_state`
raises `ValueError` when either is broken; the loader checks both first with file positions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from reconciler.model import LevelKey, OrderType
from reconciler.spec.models import (
    DesiredFile,
    TokenSpec,
    Unmanaged,
    effective_expiry,
    effective_order_type,
)
from reconciler.spec.policy import Policy


def level_digest(
    *, size: Decimal, order_type: OrderType, expires_at: int, post_only: bool, replenish: bool
) -> str:
    """Digest of what a level asks for; a change starts a new generation.

    The size is normalised so that `100` and `100.00` are the same spec.
    """
    text = "|".join(
        (
            format(size.normalize(), "f"),
            order_type.value,
            str(expires_at),
            str(post_only),
            str(replenish),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DesiredLevel:
    key: LevelKey
    size: Decimal
    order_type: OrderType
    post_only: bool
    replenish: bool
    expires_at: int  # unix seconds; 0 for GTC
    # Computed once when the spec is built, not on every plan.
    spec_digest: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        digest = level_digest(
            size=self.size,
            order_type=self.order_type,
            expires_at=self.expires_at,
            post_only=self.post_only,
            replenish=self.replenish,
        )
        object.__setattr__(self, "spec_digest", digest)


@dataclass(frozen=True)
class DesiredToken:
    token_id: str
    levels: tuple[DesiredLevel, ...]  # sorted by key
    label: str = ""
    tick_size: Decimal | None = None  # assertion checked against the live market
    neg_risk: bool | None = None  # assertion checked against the live market
    max_buy_notional: Decimal | None = None
    unmanaged: Unmanaged = Unmanaged.IGNORE
    source: str = ""  # the file that declares it, for messages


@dataclass(frozen=True)
class DesiredState:
    tokens: tuple[DesiredToken, ...] = ()  # sorted by token_id
    max_total_buy_notional: Decimal | None = None
    allow_empty: bool = False
    policy: Policy | None = None  # the `policy:` section (of one file), checked on every plan

    @property
    def labels(self) -> dict[str, str]:
        """token_id -> label, for renderers."""
        return {t.token_id: t.label for t in self.tokens if t.label}


def resolve_token(token: TokenSpec, spec: DesiredFile, *, source: str = "") -> DesiredToken:
    levels = []
    for level in token.orders:
        kind = OrderType(effective_order_type(level, spec.defaults).value)
        expiry = effective_expiry(level, spec.defaults)
        levels.append(
            DesiredLevel(
                key=LevelKey(token.token_id, level.side, level.price),
                size=level.size,
                order_type=kind,
                post_only=_pick(level.post_only, spec.defaults.post_only),
                replenish=_pick(level.replenish, spec.defaults.replenish),
                expires_at=int(expiry.timestamp()) if expiry else 0,
            )
        )
    return DesiredToken(
        token_id=token.token_id,
        levels=tuple(sorted(levels, key=lambda lv: lv.key)),
        label=token.label,
        tick_size=token.tick_size,
        neg_risk=token.neg_risk,
        max_buy_notional=token.max_buy_notional,
        unmanaged=token.unmanaged,
        source=source,
    )


def _pick(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def build_state(files: Sequence[DesiredFile], *, sources: Sequence[str] = ()) -> DesiredState:
    """Merge validated files. Raises ValueError on a token, `limits:` or `policy:` in two
    files."""
    names = list(sources) or [f"file {i}" for i in range(len(files))]
    tokens: dict[str, DesiredToken] = {}
    limits_from = policy_from = None
    max_total, allow_empty, policy = None, False, None
    for spec, name in zip(files, names, strict=True):
        if spec.policy is not None:
            if policy_from is not None:
                raise ValueError(f"policy: is set in both {policy_from} and {name}")
            policy_from, policy = name, spec.policy
        if spec.limits is not None:
            if limits_from is not None:
                raise ValueError(f"limits: is set in both {limits_from} and {name}")
            limits_from = name
            max_total = spec.limits.max_total_buy_notional
            allow_empty = spec.limits.allow_empty
        for token in spec.tokens:
            if token.token_id in tokens:
                raise ValueError(
                    f"token {token.token_id} is declared in both {tokens[token.token_id].source} "
                    f"and {name}"
                )
            tokens[token.token_id] = resolve_token(token, spec, source=name)
    return DesiredState(
        tokens=tuple(tokens[k] for k in sorted(tokens)),
        max_total_buy_notional=max_total,
        allow_empty=allow_empty,
        policy=policy,
    )


def state_from_dicts(*documents: dict[str, object], now: float | None = None) -> DesiredState:
    """Validate already-parsed documents and merge them (for Python callers and tests)."""
    files = [DesiredFile.model_validate(d, context={"now": now}) for d in documents]
    return build_state(files)
