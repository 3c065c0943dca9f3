"""What a pass was computed from, and a pass limited to some tokens (`--target`).

- `Inputs`: digests of what the plan was computed from: the desired files, the open orders (every
  order of the account, with its matched size), and the market info of every declared token. A
  saved plan (`plan -out FILE`) carries them; `apply FILE` recomputes the plan and refuses when
  any of them (or the plan itself) differs, so it applies exactly the plan that was reviewed.
- `restrict_plan`: the plan for some tokens only. It is cut from the plan of every token, so the
  caps were computed over all of them; but a post may rely on a cancel elsewhere that made room
  under the TOTAL buy cap, so when the cut leaves out a buy cancel and the spec has that cap,
  the target's buys wait (a warning says why) rather than break the cap (invariant 5).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.model import MarketInfo, OpenOrder, Plan, Side


@dataclass(frozen=True)
class Inputs:
    desired: str
    open_orders: str
    markets: str


def inputs_of(*, desired: str, observed: Iterable[OpenOrder],
              markets: Mapping[str, MarketInfo]) -> Inputs:
    orders = sorted(
        "|".join((o.order_id.lower(), o.token_id, o.side.value, str(o.price.normalize()),
                  str(o.original_size.normalize()), str(o.size_matched.normalize()),
                  o.order_type.value, str(o.expiration), o.status))
        for o in observed
    )
    market_lines = sorted(repr(dataclasses.astuple(info)) for info in markets.values())
    return Inputs(desired=desired, open_orders=_digest(orders), markets=_digest(market_lines))


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


#: Why a target's buys wait when the cut leaves out a buy cancel under the total buy cap.
TOTAL_CAP_ELSEWHERE = ("held: under max_total_buy_notional they rely on cancelling buys outside "
                       "--target; apply without --target (or include those tokens)")


def restrict_plan(
    plan: Plan, targets: frozenset[str] | None, *, held: Mapping[str, str]
) -> tuple[Plan, dict[str, str]]:
    """The plan (and the held posts' reasons) of the `targets` only; None: all of it."""
    if targets is None:
        return plan, dict(held)
    kept_held = {t: why for t, why in held.items() if t in targets}

    def ours(token_id: str) -> bool:
        return token_id in targets

    posts = tuple(p for p in plan.posts if ours(p.key.token_id))
    # Warnings name a token in full or by its first ten digits (LevelKey's str).
    warnings = [w for w in plan.warnings if any(t[:10] in w for t in targets)]
    outside_buy_cancel = any(c.key.side is Side.BUY and not ours(c.key.token_id)
                             for c in plan.cancels)
    if plan.max_total_buy_notional is not None and outside_buy_cancel:
        waiting = [p for p in posts if p.key.side is Side.BUY]
        if waiting:
            posts = tuple(p for p in posts if p.key.side is not Side.BUY)
            warnings += [f"token {t}: buys {TOTAL_CAP_ELSEWHERE}"
                         for t in sorted({p.key.token_id for p in waiting})]
    return dataclasses.replace(
        plan,
        keeps=tuple(k for k in plan.keeps if ours(k.key.token_id)),
        cancels=tuple(c for c in plan.cancels if ours(c.key.token_id)),
        posts=posts,
        skipped=tuple(s for s in plan.skipped if ours(s.token_id)),
        warnings=tuple(warnings),
        generations=tuple(g for g in plan.generations if ours(g.key.token_id)),
    ), kept_held
