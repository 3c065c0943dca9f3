"""Value types shared by the planner, the client, the store and the daemon.

Both sides of the diff are normalised into these small frozen types before anything compares
them (STYLE.md 2): the desired levels from YAML and the orders observed on the exchange meet as
`LevelKey`s, `Decimal` prices and sizes, and `Side` enums. Money is never a float here.

This module imports nothing but the standard library, so the pure core (`spec`, `planner`) can
depend on it without pulling in I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import TypeVar

T = TypeVar("T")


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, Enum):
    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


#: Every tick size the CLOB uses (V2 added 0.005 and 0.0025).
TICK_SIZES: tuple[Decimal, ...] = tuple(
    Decimal(t) for t in ("0.1", "0.01", "0.001", "0.0001", "0.005", "0.0025")
)

#: GTD orders must expire at least this long after they are posted (the exchange's threshold
#: plus its one-minute security window; the unified SDK requires 180 s).
GTD_MIN_LIFETIME_SECONDS = 180

#: At most this many orders in one POST /orders.
MAX_BATCH_POST = 15


def in_batches(items: Sequence[T], size: int = MAX_BATCH_POST) -> list[Sequence[T]]:
    """`items` in order, cut into groups of at most `size` (POST /orders takes 15)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def decimal_of(value: object) -> Decimal:
    """The Decimal of a number or of its text, exactly: through `str`, never through float
    arithmetic (`str(0.1)` is "0.1"). Raises `decimal.InvalidOperation` (an ArithmeticError)
    for text that is not a number."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --- named outcomes and codes ----------------------------------------------------------------


class TickOutcome(StrEnum):
    """How a pass ended: the `outcome` of its run row, and what the daemon acts on."""

    OK = "ok"  # everything the plan asked for was done
    PARTIAL = "partial"  # done, with rejections, unknown outcomes, voided posts or refused cancels
    NOOP = "noop"  # nothing to do
    HELD = "held"  # nothing sent, but posts wait (a backoff, an unknown outcome)
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    INVALID_SPEC = "invalid_spec"  # no valid desired state at all: nothing changed
    REFUSED = "refused"  # an empty desired state without allow_empty
    CRASHED = "crashed"  # the daemon's: the pass raised (no run row records it)
    # The exchange's trading mode (clob-v2-wire.md 2.13) refused or held some or all of the
    # pass: what the mode allows was done, the rest waits. Not a failure of ours.
    RESTRICTED = "restricted"


#: The outcomes of a pass that did its job: the daemon pings the watchdog after them, and
#: `status` shows the newest such run as the last success.
SUCCESS_OUTCOMES: frozenset[TickOutcome] = frozenset(
    {TickOutcome.OK, TickOutcome.PARTIAL, TickOutcome.NOOP, TickOutcome.HELD,
     TickOutcome.RESTRICTED}
)


class ShutdownOutcome(StrEnum):
    """The run row of an `on_shutdown: cancel` sweep: not a pass, and it has no revision."""

    OK = "shutdown_ok"
    PARTIAL = "shutdown_partial"


class NotificationType(IntEnum):
    """`type` of GET /notifications (clob-v2-wire.md 2.12; the unified SDK 0.14.0 knows 1-11)."""

    ORDER_CANCELLATION = 1  # order payload
    ORDER_FILL = 2  # order payload
    MARKET_REGISTERED = 3  # market payload
    MARKET_RESOLVED = 4  # market payload (`tokens[].winner` marks the winner)
    REWARD_PAYOUT = 5
    CHILD_COMMENT_CREATED = 6
    YIELD_PAYOUT = 7
    ORDER_FILL_FAILED = 8  # order payload: a fill on one of our orders failed to settle
    AUTO_REDEEMED = 9
    COMBO_AUTO_REDEEMED = 10
    TAKER_TIER_UPGRADED = 11

    @property
    def carries_order(self) -> bool:
        """Types whose payload is an order (1, 2, 8)."""
        return self in (
            NotificationType.ORDER_CANCELLATION,
            NotificationType.ORDER_FILL,
            NotificationType.ORDER_FILL_FAILED,
        )

    @property
    def carries_market(self) -> bool:
        """Types whose payload is a market (3, 4)."""
        return self in (NotificationType.MARKET_REGISTERED, NotificationType.MARKET_RESOLVED)


class TradingRestriction(StrEnum):
    """Why the exchange refuses to trade right now (clob-v2-wire.md 2.13, "Trading modes and
    restarts"). Each is a definite refusal: the order was not taken."""

    DISABLED = "disabled"  # 503 "Trading is currently disabled": no orders and no cancels
    CANCEL_ONLY = "cancel_only"  # 503 "... cancel-only ...": cancels only
    POST_ONLY = "post_only"  # 503 + Retry-After, code post_only_mode: post-only orders, cancels
    RESTARTING = "restarting"  # 425: the matching engine restarts (~90 s); back off
    CLOSED_ONLY = "closed_only"  # 400 "address in closed only mode": only closing positions
    BANNED = "banned"  # 400 "address banned": the address may not trade

    @property
    def allows_cancels(self) -> bool:
        return self in (TradingRestriction.CANCEL_ONLY, TradingRestriction.POST_ONLY)

    @property
    def allows_post_only_orders(self) -> bool:
        return self is TradingRestriction.POST_ONLY

    def allows_order(self, *, side: Side, post_only: bool) -> bool:
        """Whether a new limit order may be sent while this restriction holds. Post-only mode
        takes post-only orders; closed-only takes SELLs (they close positions: the reference
        says only "may only close positions", so buys wait); the others take none."""
        if self is TradingRestriction.POST_ONLY:
            return post_only
        if self is TradingRestriction.CLOSED_ONLY:
            return side is Side.SELL
        return False


@dataclass(frozen=True, order=True)
class LevelKey:
    """A level is (token, side, price): the unit of desired state."""

    token_id: str
    side: Side
    price: Decimal

    def __str__(self) -> str:
        return f"{self.side.value} {self.price} @ {self.token_id[:10]}…"


@dataclass(frozen=True)
class MarketInfo:
    """What the exchange says about a token right now (from /clob-markets, /tick-size, /neg-risk)."""

    token_id: str
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool
    condition_id: str = ""
    accepting_orders: bool = True  # False when the market is closed or resolved
    # Appended for the 2026 exchange (clob-v2-wire.md 2.2, 2.4):
    order_profile: str = "v2"  # the signing profile for this market: "v2" (CTF ExchangeV2,
    # domain "2"), "v3" (ExchangeV3, domain "3", Protocol-V2 markets) or "v1" (legacy venues)
    min_order_age_s: int | None = None  # /clob-markets `oas`: minimum order age in seconds
    taker_delay: bool = False  # `itode`: marketable orders wait out a 250 ms window
    game_start_time: str | None = None  # `gst`: ISO-8601, sports markets


@dataclass(frozen=True)
class OpenOrder:
    """An order as observed on the exchange (an element of GET /data/orders), normalised."""

    order_id: str  # 0x-prefixed EIP-712 order hash
    token_id: str
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    created_at: int  # unix seconds, as the exchange reports it
    order_type: OrderType = OrderType.GTC
    expiration: int = 0  # unix seconds; 0 = none
    status: str = "LIVE"
    owner: str = ""  # API key that placed it
    maker_address: str = ""
    market: str = ""  # condition id

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched

    @property
    def key(self) -> LevelKey:
        return LevelKey(self.token_id, self.side, self.price)


# --- planner inputs that come from the store -------------------------------------------------


@dataclass(frozen=True)
class InventoryOrder:
    """An order we posted (or adopted), as recorded in the store.

    The inventory is what decides ownership: only these orders are ever cancelled, unless a
    token's `unmanaged: cancel` policy says otherwise.
    """

    order_id: str
    key: LevelKey
    generation: int  # the level generation this order was posted for
    size: Decimal  # original size posted
    posted_at_ms: int  # when we posted it (newest-first cancellation tie-breaks on this)
    # True while the outcome of posting it is not known (store status intent/unknown): it may be
    # resting although the open-orders read did not show it, so the planner posts nothing more
    # for its level until the store resolves it (invariant 4).
    unresolved: bool = False


@dataclass(frozen=True)
class LevelState:
    """The applied state of a level: which spec generation is in force and what has filled."""

    key: LevelKey
    spec_digest: str  # digest of the level spec (size, type, expiry, flags) this generation serves
    generation: int
    filled: Decimal  # fills of our orders at this level since this generation began


# --- planner output --------------------------------------------------------------------------


class CancelReason(str, Enum):
    LEVEL_REMOVED = "level removed from desired state"
    TOKEN_REMOVED = "token removed from desired state"
    OVERSIZED = "level has more resting size than desired"
    UNMANAGED = "order not placed by us, and the token says unmanaged: cancel"
    SPEC_CHANGED = "order no longer matches the level's spec (type, expiry or post-only)"
    CAP = "cap on resting buy notional"
    LEVEL_DONE = "level fully filled"
    SHUTDOWN = "daemon stopping with on_shutdown: cancel"
    POLICY_WINDOW = "a trading window of the policy with cancel_orders: true is open"


@dataclass(frozen=True)
class Keep:
    order_id: str
    key: LevelKey
    remaining: Decimal


@dataclass(frozen=True)
class Cancel:
    order_id: str
    key: LevelKey
    remaining: Decimal
    reason: CancelReason


@dataclass(frozen=True)
class Post:
    """An order to post, for the level it serves."""

    key: LevelKey
    size: Decimal
    order_type: OrderType
    post_only: bool
    expires_at: int  # unix seconds; 0 for GTC
    generation: int
    neg_risk: bool
    tick_size: Decimal
    # The market's signing profile (`MarketInfo.order_profile`): each order is signed for its
    # own market's exchange (clob-v2-wire.md 2.4), never one profile for every market.
    order_profile: str = "v2"


@dataclass(frozen=True)
class SkippedToken:
    token_id: str
    reason: str


@dataclass(frozen=True)
class BlindToken:
    """A declared token with open orders at declared levels that the state file has no record
    of and did not watch appear: they may be ours, placed through a state file that was lost,
    rolled back or replaced. Nothing is posted there until they are adopted (invariant 10;
    planner/blind.py has the rule)."""

    token_id: str
    orders: tuple[OpenOrder, ...]  # by side, price, id


@dataclass(frozen=True)
class LevelGeneration:
    """A level whose spec changed: the store records the new generation when the plan applies."""

    key: LevelKey
    spec_digest: str
    generation: int


@dataclass(frozen=True)
class Plan:
    keeps: tuple[Keep, ...] = ()
    cancels: tuple[Cancel, ...] = ()
    posts: tuple[Post, ...] = ()
    skipped: tuple[SkippedToken, ...] = ()
    warnings: tuple[str, ...] = ()
    generations: tuple[LevelGeneration, ...] = ()
    blind: tuple[BlindToken, ...] = ()  # tokens held until their orders are adopted
    # The spec's global cap, when it has one: room freed by cancelling a buy on one token may
    # have been given to buys on others, so apply must know whether a cancel that failed to
    # take effect blocks every buy (invariant 5) or only its own token's posts.
    max_total_buy_notional: Decimal | None = None

    @property
    def is_empty(self) -> bool:
        """No write is needed (skips and warnings do not make a change)."""
        return not self.cancels and not self.posts

    def post_batches(self, size: int = MAX_BATCH_POST) -> list[Sequence[Post]]:
        """Posts grouped for POST /orders, at most `size` each, in plan order."""
        return in_batches(self.posts, size)
