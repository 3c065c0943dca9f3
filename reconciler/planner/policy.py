"""Policy checks, PURE: a policy, a plan, the book data and `now` in; verdicts out. No I/O, no
clock: the engine reads the book data (`policy_needs` says which, so it reads only what the
rules need) and passes it in. What the verdicts let through is enforcement.py's.

Every rule is checked on the same plan (the one the pass would apply, after the engine's own
holds), so the verdicts do not depend on the order of the rules. A verdict names the tokens it
holds (under soft or hard enforcement).

What each rule calls a violation (the spec's docstring, spec/policy.py, says what each one
means):

- price_band: a post whose price lies outside the band around the reference. No reference (an
  empty book; a one-sided book for the midpoint form) means the post could not be checked: that
  is a violation at `without_book`, by default the rule's own level, so a price nobody could vet
  is never posted by surprise (a trader who seeds empty markets says `without_book: advisory`).
  A book the engine could not read at all is the rule's own level (it is not known to be empty).
- max_notional_change: the posts' plus the cancels' notional (price x size) above the limit;
  it holds every token with an action. Cancels of open windows do not count.
- max_position: a token with a buy post whose shares held plus resting buys after the pass
  (kept + posted) exceed its cap; in pUSD the buys count at their price and the shares held at
  the midpoint, or at 1 (the most a share pays) without one. Unreadable shares: not checked, a
  violation at the rule's level. A pass that only keeps, sells or cancels never violates it.
- max_open_orders: our orders resting after the pass (seen resting or kept, less cancels, plus
  posts) above `per_token` on a token the pass posts on (that token), or above `total` while
  the pass posts (every token it posts on).
- trading_windows: a post on a token inside an open window (`open_until`, on `now`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from reconciler.model import CancelReason, Plan, Post, Side
from reconciler.spec import (
    BandReference,
    Enforcement,
    MaxOpenOrders,
    MaxPosition,
    Policy,
    PriceBand,
    Rule,
    Window,
    window_instant,
    window_minutes,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class BookTop:
    """The best bid and ask of a token's book (None: that side is empty)."""

    best_bid: Decimal | None = None
    best_ask: Decimal | None = None

    @property
    def midpoint(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    @property
    def empty(self) -> bool:
        return self.best_bid is None and self.best_ask is None


@dataclass(frozen=True)
class PolicyInputs:
    """What the engine read for the rules. A token missing from `books` or `shares` was not
    read; a None value means its read failed. Either way the rule could not check it."""

    books: Mapping[str, BookTop | None] = field(default_factory=dict)
    shares: Mapping[str, Decimal | None] = field(default_factory=dict)  # shares held
    resting: Mapping[str, frozenset[str]] = field(default_factory=dict)  # our orders seen open


@dataclass(frozen=True)
class PolicyNeeds:
    """The tokens whose book and whose shares held the rules need for this plan."""

    books: frozenset[str] = frozenset()
    shares: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    enforcement: Enforcement
    message: str
    tokens: tuple[str, ...]  # what it holds (soft, hard), sorted
    checked: bool = True  # False: the rule could not check (no book, an unreadable balance)

    @property
    def holds(self) -> bool:
        return self.enforcement is not Enforcement.ADVISORY


# --- what the rules need -----------------------------------------------------------------


def policy_needs(policy: Policy | None, plan: Plan) -> PolicyNeeds:
    """Which tokens' books and shares the checks of `plan` need (none when nothing posts)."""
    if policy is None:
        return PolicyNeeds()
    books: set[str] = set()
    shares: set[str] = set()
    if policy.price_band is not None:
        books.update(p.key.token_id for p in plan.posts)
    if policy.max_position is not None:
        for token_id in _buy_tokens(plan):
            caps = policy.max_position.limit_for(token_id)
            if caps != (None, None):
                shares.add(token_id)
            if caps[1] is not None:
                books.add(token_id)
    return PolicyNeeds(books=frozenset(books), shares=frozenset(shares))


def _buy_tokens(plan: Plan) -> set[str]:
    return {p.key.token_id for p in plan.posts if p.key.side is Side.BUY}


# --- the checks --------------------------------------------------------------------------


def check_policy(
    policy: Policy | None, *, plan: Plan, inputs: PolicyInputs, now: int
) -> tuple[Verdict, ...]:
    """Every verdict of `policy` on `plan`, in rule order, then token order."""
    if policy is None:
        return ()
    verdicts: list[Verdict] = []
    if policy.price_band is not None:
        verdicts += _price_band(policy.price_band, plan=plan, books=inputs.books)
    rule = policy.max_notional_change
    if rule is not None:
        verdicts += _notional_change(rule.limit, rule.enforcement, plan=plan)
    if policy.max_position is not None:
        verdicts += _max_position(policy.max_position, plan=plan, inputs=inputs)
    if policy.max_open_orders is not None:
        verdicts += _open_orders(policy.max_open_orders, plan=plan, resting=inputs.resting)
    if policy.trading_windows is not None:
        verdicts += _windows(policy, plan=plan, now=now)
    return tuple(verdicts)


def _price_band(
    rule: PriceBand, *, plan: Plan, books: Mapping[str, BookTop | None]
) -> list[Verdict]:
    outside: dict[str, list[str]] = defaultdict(list)
    unchecked: dict[str, tuple[Enforcement, str]] = {}
    for post in plan.posts:
        token = post.key.token_id
        book = books.get(token)
        reference = None if book is None else _band_reference(rule, book)
        if reference is None:
            if book is not None and (book.empty or rule.reference is BandReference.MIDPOINT):
                level = rule.without_book or rule.enforcement
                unchecked[token] = (level, "the book has no " + _missing_side(book))
            else:
                unchecked[token] = (rule.enforcement, "the book could not be read")
            continue
        low, high = reference
        band = rule.band(post.tick_size)
        if post.key.price < low - band or post.key.price > high + band:
            outside[token].append(_outside_text(rule, post, low=low, high=high, band=band))
    verdicts = [
        Verdict(Rule.PRICE_BAND, rule.enforcement, "; ".join(texts), (token,))
        for token, texts in sorted(outside.items())
    ]
    for token, (level, why) in sorted(unchecked.items()):
        text = f"posts on {token[:10]}… could not be checked: {why}"
        verdicts.append(Verdict(Rule.PRICE_BAND, level, text, (token,), checked=False))
    return verdicts


def _band_reference(rule: PriceBand, book: BookTop) -> tuple[Decimal, Decimal] | None:
    """[low, high] the band is drawn around, or None when the book gives none."""
    if rule.reference is BandReference.MIDPOINT:
        mid = book.midpoint
        return None if mid is None else (mid, mid)
    low = book.best_bid if book.best_bid is not None else book.best_ask
    high = book.best_ask if book.best_ask is not None else book.best_bid
    if low is None or high is None:
        return None
    return low, high


def _missing_side(book: BookTop) -> str:
    if book.empty:
        return "orders (an empty market)"
    return "asks (no midpoint)" if book.best_ask is None else "bids (no midpoint)"


def _outside_text(
    rule: PriceBand, post: Post, *, low: Decimal, high: Decimal, band: Decimal
) -> str:
    if rule.reference is BandReference.MIDPOINT:
        where = f"the midpoint {_num(low)}"
        distance = abs(post.key.price - low)
    else:
        where = f"the touch [{_num(low)}, {_num(high)}]"
        distance = low - post.key.price if post.key.price < low else post.key.price - high
    return (
        f"{post.key} x {post.size} is {_num(distance)} from {where}, outside the band of "
        f"{_num(band)}"
    )


def _notional_change(limit: Decimal, enforcement: Enforcement, *, plan: Plan) -> list[Verdict]:
    posted = sum((p.key.price * p.size for p in plan.posts), ZERO)
    cancels = [c for c in plan.cancels if c.reason is not CancelReason.POLICY_WINDOW]
    cancelled = sum((c.key.price * c.remaining for c in cancels), ZERO)
    if posted + cancelled <= limit:
        return []
    tokens = sorted({p.key.token_id for p in plan.posts} | {c.key.token_id for c in cancels})
    text = (
        f"the pass would post {_num(posted)} and cancel {_num(cancelled)} pUSD, "
        f"{_num(posted + cancelled)} in all, above the limit of {_num(limit)}"
    )
    return [Verdict(Rule.MAX_NOTIONAL_CHANGE, enforcement, text, tuple(tokens))]


def _max_position(rule: MaxPosition, *, plan: Plan, inputs: PolicyInputs) -> list[Verdict]:
    buys: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)  # (price, size)
    for keep in plan.keeps:
        if keep.key.side is Side.BUY:
            buys[keep.key.token_id].append((keep.key.price, keep.remaining))
    for post in plan.posts:
        if post.key.side is Side.BUY:
            buys[post.key.token_id].append((post.key.price, post.size))
    verdicts = []
    for token in sorted(_buy_tokens(plan)):
        cap_shares, cap_notional = rule.limit_for(token)
        if cap_shares is None and cap_notional is None:
            continue
        held = inputs.shares.get(token)
        if held is None:
            text = f"buys on {token[:10]}… could not be checked: the shares held could not be read"
            verdicts.append(Verdict(Rule.MAX_POSITION, rule.enforcement, text, (token,), False))
            continue
        resting = sum((size for _, size in buys[token]), ZERO)
        if cap_shares is not None and held + resting > cap_shares:
            text = (
                f"buys on {token[:10]}… would make the position {_num(held + resting)} shares "
                f"(held {_num(held)} + resting buys {_num(resting)}), above {_num(cap_shares)}"
            )
            verdicts.append(Verdict(Rule.MAX_POSITION, rule.enforcement, text, (token,)))
        if cap_notional is not None:
            book = inputs.books.get(token)
            mark = book.midpoint if book is not None else None
            value = held * (mark if mark is not None else Decimal(1))
            value += sum((price * size for price, size in buys[token]), ZERO)
            if value > cap_notional:
                at = f"at the midpoint {_num(mark)}" if mark is not None else "at 1 (no midpoint)"
                text = (
                    f"buys on {token[:10]}… would make the position {_num(value)} pUSD (held "
                    f"{_num(held)} {at}, plus resting buys), above {_num(cap_notional)}"
                )
                verdicts.append(Verdict(Rule.MAX_POSITION, rule.enforcement, text, (token,)))
    return verdicts


def _open_orders(
    rule: MaxOpenOrders, *, plan: Plan, resting: Mapping[str, frozenset[str]]
) -> list[Verdict]:
    ids: dict[str, set[str]] = defaultdict(set)
    for token, seen in resting.items():
        ids[token].update(seen)
    for keep in plan.keeps:
        ids[keep.key.token_id].add(keep.order_id)
    for cancel in plan.cancels:
        ids[cancel.key.token_id].discard(cancel.order_id)
    posts: dict[str, int] = {}
    for post in plan.posts:
        posts[post.key.token_id] = posts.get(post.key.token_id, 0) + 1
    after = {t: len(ids.get(t, ())) + posts.get(t, 0) for t in ids.keys() | posts.keys()}
    verdicts = []
    if rule.per_token is not None:
        for token in sorted(posts):
            if after[token] > rule.per_token:
                text = (
                    f"{token[:10]}… would rest {after[token]} orders, above the "
                    f"{rule.per_token} per token"
                )
                verdicts.append(Verdict(Rule.MAX_OPEN_ORDERS, rule.enforcement, text, (token,)))
    total = sum(after.values())
    if rule.total is not None and posts and total > rule.total:
        text = f"the pass would leave {total} orders resting, above the total of {rule.total}"
        verdicts.append(
            Verdict(Rule.MAX_OPEN_ORDERS, rule.enforcement, text, tuple(sorted(posts)))
        )
    return verdicts


def _windows(policy: Policy, *, plan: Plan, now: int) -> list[Verdict]:
    rule = policy.trading_windows
    if rule is None:
        return []
    posting = sorted({p.key.token_id for p in plan.posts})
    verdicts: list[Verdict] = []
    for index, window in enumerate(rule.windows):
        until = open_until(window, now)
        if until is None:
            continue
        tokens = [t for t in posting if window.covers(t)]
        if tokens:
            text = (
                f"trading window {window.title(index)} is open until {_when(until)}: posting "
                f"is suspended on {len(tokens)} token(s)"
            )
            verdicts.append(Verdict(Rule.TRADING_WINDOWS, rule.enforcement, text, tuple(tokens)))
    return verdicts


# --- trading windows on the clock ----------------------------------------------------------


def open_until(window: Window, now: int) -> int | None:
    """The unix second at which `window` closes, if it is open at `now`; else None."""
    if window.one_off:
        start, end = window_instant(window.start), window_instant(window.end)
        return end if start <= now < end else None
    moment = datetime.fromtimestamp(now, tz=UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = window_minutes(window.start), window_minutes(window.end)
    # The occurrence that began today, and (for a window past midnight) the one of yesterday.
    for day in (midnight, midnight - timedelta(days=1)):
        if not _on_day(window, day):
            continue
        opens = day + timedelta(minutes=start)
        closes = day + timedelta(minutes=end if end > start else end + 1440)
        if opens <= moment < closes:
            return int(closes.timestamp())
    return None


def _on_day(window: Window, day: datetime) -> bool:
    if window.dates:
        return day.date().isoformat() in window.dates
    if window.days:
        return any(d.number == day.weekday() for d in window.days)
    return True


def open_windows(policy: Policy | None, now: int) -> list[tuple[int, Window]]:
    """(index, window) of every window open at `now`."""
    if policy is None or policy.trading_windows is None:
        return []
    return [
        (i, w) for i, w in enumerate(policy.trading_windows.windows) if open_until(w, now)
    ]


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _when(unix: int) -> str:
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


__all__ = [
    "BookTop",
    "PolicyInputs",
    "PolicyNeeds",
    "Verdict",
    "check_policy",
    "open_until",
    "open_windows",
    "policy_needs",
]
