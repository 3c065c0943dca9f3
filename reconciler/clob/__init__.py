"""Everything that talks to the exchange: auth (L1/L2), order building and signing, the REST client.

The public surface is listed here; callers import from `reconciler.clob`, not from its modules.
The modules, for a reader:
- `client` (with `client_orders`, `client_markets`, `client_account`): every L1/L2 method and
  the public reads;
- `transport`: HTTP with one total deadline per request (`deadline`), a body cap, no redirects,
  L2 headers over the exact bytes sent, and the error mapping;
- `ratelimit`: the per-signer buckets, their headers, pacing and the cancel splitter;
- `modes`: the trading modes (disabled, cancel-only, post-only, restarting, closed-only, banned);
- `types`, `parsing`, `statuses`, `notifications`: the strict parsers of every answer (nothing
  read is trusted);
- `ws`, `stream_types`: the WebSocket user and market channels: blocking connections (PING,
  read deadline, reconnect backoff) and the strict parsers of their messages;
- `errors`: the exception tree, sorted by what the caller should do next;
- `redact`: the one rule for scrubbing secrets out of text;
- `builder`, `amounts`, `signing`, `eip712`, `profiles`: orders, from intent to signed bytes;
- `numbers`: the one Decimal converter and the secp256k1 constant;
- `auth`: API credentials, L1 and L2 headers, and their server-side verifiers.
"""

from reconciler.clob.auth import ApiCreds, AuthError, l1_headers, l2_headers, verify_hmac, verify_l1
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.client import ClobClient
from reconciler.clob.client_markets import ClobMarketDetails
from reconciler.clob.errors import (
    AuthenticationFailed,
    ClobError,
    CredentialsRequired,
    ExchangeRejected,
    NotFound,
    OrderVersionMismatch,
    OverBurst,
    ProtocolError,
    RateLimited,
    ServerError,
    TradingRestricted,
    TransportError,
)
from reconciler.clob.notifications import (
    MarketNotice,
    Notification,
    NotificationType,
    OrderNotice,
)
from reconciler.clob.numbers import SECP256K1_N
from reconciler.clob.profiles import (
    Profile,
    configure_exchange_v3,
    contracts_for,
    is_position_id,
    market_profile,
)
from reconciler.clob.ratelimit import (
    MAX_CANCEL_IDS,
    TIERS,
    Bucket,
    RateLimitState,
    TierLimits,
    cancel_chunks,
)
from reconciler.clob.redact import MIN_SECRET_LENGTH, Redactor
from reconciler.clob.signing import (
    SignatureType,
    SignedOrder,
    Wallet,
    order_from_wire,
    random_private_key,
    recover_order_signer,
)
from reconciler.clob.statuses import ExchangeOrderStatus, TradeStatus, order_status, trade_status
from reconciler.clob.stream_types import (
    BookEvent,
    OrderEvent,
    OrderEventType,
    OtherMarketEvent,
    StreamEvent,
    TickSizeChange,
    TradeEvent,
    parse_frame,
)
from reconciler.clob.types import (
    AssetType,
    BalanceAllowance,
    CancelResult,
    OrderBook,
    OrderDetails,
    OrderResult,
    PostArgs,
    Trade,
    order_id_key,
)
from reconciler.clob.ws import (
    ReconnectBackoff,
    StreamConnection,
    market_connection,
    market_update,
    user_connection,
    ws_base_url,
)
from reconciler.model import TradingRestriction

__all__ = [
    "MAX_CANCEL_IDS",
    "MIN_SECRET_LENGTH",
    "SECP256K1_N",
    "TIERS",
    "ApiCreds",
    "AssetType",
    "AuthError",
    "AuthenticationFailed",
    "BalanceAllowance",
    "BookEvent",
    "Bucket",
    "CancelResult",
    "ClobClient",
    "ClobError",
    "ClobMarketDetails",
    "CredentialsRequired",
    "ExchangeOrderStatus",
    "ExchangeRejected",
    "MarketNotice",
    "NotFound",
    "Notification",
    "NotificationType",
    "OrderBook",
    "OrderBuilder",
    "OrderDetails",
    "OrderEvent",
    "OrderEventType",
    "OrderNotice",
    "OrderResult",
    "OrderVersionMismatch",
    "OtherMarketEvent",
    "OverBurst",
    "PostArgs",
    "Profile",
    "ProtocolError",
    "RateLimitState",
    "RateLimited",
    "ReconnectBackoff",
    "Redactor",
    "ServerError",
    "SignatureType",
    "SignedOrder",
    "StreamConnection",
    "StreamEvent",
    "TickSizeChange",
    "TierLimits",
    "Trade",
    "TradeEvent",
    "TradeStatus",
    "TradingRestricted",
    "TradingRestriction",
    "TransportError",
    "Wallet",
    "cancel_chunks",
    "configure_exchange_v3",
    "contracts_for",
    "is_position_id",
    "l1_headers",
    "l2_headers",
    "market_connection",
    "market_profile",
    "market_update",
    "order_from_wire",
    "order_id_key",
    "order_status",
    "parse_frame",
    "random_private_key",
    "recover_order_signer",
    "trade_status",
    "user_connection",
    "verify_hmac",
    "verify_l1",
    "ws_base_url",
]
