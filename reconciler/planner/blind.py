"""Never trade blind (invariant 10): the open orders the state file cannot vouch for, and what
waits for them. PURE: sets and values in, values out.

The danger: the inventory in the state file alone says which open orders are ours. A state file
that was lost (deleted, a new path), rolled back (a restored backup, a WAL file lost or replaced
after a crash) or replaced has forgotten orders the daemon placed. Under `unmanaged: ignore` the
planner does not count them, so it posts every level again: 20 orders resting where 10 are
wanted. Under `unmanaged: cancel` it cancels its own orders and posts them anew (their queue
priority lost, and a double if the cancel's answer is lost).

The rule. An open order on a declared token is accounted for when the state file has a record
of it (a row in `orders`: posted or adopted by us, in any state), or when the state file knows
it as the trader's own (`foreign`). An order is the trader's when a process of this state file
watched it appear: it was not open at the process's first complete read of open orders, and
every order this state file places is journaled before it is sent, so an order that appears
while the process watches and has no record is not ours. The engine remembers those in the state
file, so a restart still knows them.

What is left is an order that was already resting when this process first looked and that the
state file knows nothing about: it may be ours, from a history this file does not have. When
such an order sits at a declared level (side and price) of a token whose policy is `ignore` or
`cancel`, the token is BLIND:
- nothing is posted on it (and, under a total buy cap, while a blind order is a buy, no buy is
  posted anywhere: it may be ours and hold room under the cap, invariant 5);
- the blind orders themselves are not cancelled under `unmanaged: cancel` (if they are ours they
  are exactly what the level wants, with their queue priority; an explicit adopt keeps them);
- our own recorded orders on it are kept and cancelled as usual (the state file knows them);
- it stays blind until the user adopts the orders (`reconciler adopt`, which records them as
  ours) or they leave the book (filled or cancelled by hand).
A token under `unmanaged: adopt` is never blind: its policy already counts such orders toward
their levels. Orders at prices that are not declared never make a token blind: nothing would be
posted beside them.

Consequences, by case:
- a new state file beside an account with orders at declared levels: those tokens are blind;
  an account with no open orders (a first run) needs nothing;
- a restored backup: the orders placed after the backup was taken are unknown to it, so their
  tokens are blind; orders the backup already knew as the trader's are not;
- a trader's manual order at a declared level, placed while the daemon runs: the daemon watched
  it appear, so it is the trader's, now and after every restart (the token is not blind);
- a manual order placed while no process of this state file was running: from the state file
  alone it cannot be told from an order of ours the file has lost, so its token is blind until
  it is adopted (or cancelled and placed again while the daemon runs).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import dataclass

from reconciler.model import BlindToken, OpenOrder, Plan, Side
from reconciler.spec import DesiredState, Unmanaged

#: How a blind token's posts are reported (plan warnings, held posts).
BLIND_HINT = "run `reconciler adopt` (with the daemon stopped) if they are the daemon's"


@dataclass(frozen=True)
class Sight:
    """What a pass makes of the open orders it cannot place in its inventory."""

    blind: tuple[BlindToken, ...]  # by token id
    foreign: tuple[OpenOrder, ...]  # appeared while this process watched: the trader's, to keep


def assess(
    *,
    spec: DesiredState,
    observed: Sequence[OpenOrder],
    recorded: Container[str],
    foreign: Container[str],
    seen_at_start: Container[str],
) -> Sight:
    """Which declared tokens are blind, and which orders are newly known as the trader's.

    `recorded`: order ids the state file has a row for (ours, in any state); `foreign`: ids it
    knows as the trader's; `seen_at_start`: ids that were open at this process's first complete
    read (a one-shot `plan`, `apply` or `adopt` passes every id it read)."""
    tokens = {t.token_id: t for t in spec.tokens}
    declared: dict[str, set[tuple[Side, object]]] = {}  # built for the tokens that need it
    blind: dict[str, list[OpenOrder]] = defaultdict(list)
    newly_foreign: list[OpenOrder] = []
    for order in observed:
        token = tokens.get(order.token_id)
        if token is None or order.remaining <= 0:
            continue
        if order.order_id in recorded or order.order_id in foreign:
            continue
        if order.order_id not in seen_at_start:
            newly_foreign.append(order)
        elif token.unmanaged is not Unmanaged.ADOPT:
            if token.token_id not in declared:
                declared[token.token_id] = {(lv.key.side, lv.key.price) for lv in token.levels}
            if (order.side, order.price) in declared[token.token_id]:
                blind[order.token_id].append(order)
    return Sight(
        blind=tuple(
            BlindToken(token_id, tuple(sorted(orders, key=_by_level)))
            for token_id, orders in sorted(blind.items())
        ),
        foreign=tuple(sorted(newly_foreign, key=lambda o: (o.token_id, *_by_level(o)))),
    )


def hold_blind(plan: Plan, blind: Sequence[BlindToken]) -> tuple[Plan, int]:
    """The plan with what must wait for the blind tokens taken out, and how many posts wait.

    Out: every post on a blind token; under a total buy cap, while a blind order is a buy, every
    buy post; the cancels of the blind orders themselves (`unmanaged: cancel`). Each blind
    token gets one warning line; `Plan.blind` carries them for `plan`, `status` and the logs."""
    if not blind:
        return plan, 0
    tokens = {b.token_id for b in blind}
    blind_ids = {o.order_id for b in blind for o in b.orders}
    every_buy = plan.max_total_buy_notional is not None and any(
        o.side is Side.BUY for b in blind for o in b.orders
    )
    posts = tuple(
        p for p in plan.posts
        if p.key.token_id not in tokens and not (every_buy and p.key.side is Side.BUY)
    )
    cancels = tuple(c for c in plan.cancels if c.order_id not in blind_ids)
    warnings = [f"token {b.token_id}: posts held: {describe_token(b)}; {BLIND_HINT}"
                for b in blind]
    if every_buy:
        warnings.append("every buy held: a blind buy may be ours and count toward "
                        f"max_total_buy_notional; {BLIND_HINT}")
    held = dataclasses.replace(
        plan, posts=posts, cancels=cancels, blind=tuple(blind),
        warnings=(*plan.warnings, *warnings),
    )
    return held, len(plan.posts) - len(posts)


def describe_token(token: BlindToken) -> str:
    """`3 open orders this state file has no record of, at BUY 0.45 (2), SELL 0.55 (1)`."""
    counts: dict[tuple[Side, str], int] = defaultdict(int)
    for order in token.orders:
        counts[(order.side, format(order.price.normalize(), "f"))] += 1
    levels = ", ".join(f"{side.value} {price} ({n})" for (side, price), n in counts.items())
    n = len(token.orders)
    return (f"{n} open order{'s' if n != 1 else ''} this state file has no record of, at "
            f"{levels}")


def _by_level(order: OpenOrder) -> tuple[str, object, str]:
    return (order.side.value, order.price, order.order_id)


__all__ = ["BLIND_HINT", "Sight", "assess", "describe_token", "hold_blind"]
