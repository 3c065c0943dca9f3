"""Everything that talks to the exchange: auth (L1/L2), order building and signing, the REST client.

The public surface is listed here; callers import from `reconciler.clob`, not from its modules.
The modules, for a reader:
- `client` (with `client_orders`, `client_markets`): every L1/L2 method and the public reads;
- `transport`: HTTP, L2 headers over the exact bytes sent, retries and rate-limit headers;
- `types`: the strict parsers of every answer (nothing read is trusted);
- `errors`: the exception tree, sorted by what the caller should do next;
- `builder`, `amounts`, `signing`, `eip712`, `profiles`: orders, from intent to signed bytes;
- `auth`: API credentials, L1 and L2 headers, and their server-side verifiers.
"""

from reconciler.clob.auth import ApiCreds, AuthError, l1_headers, l2_headers, verify_hmac, verify_l1
from reconciler.clob.builder import OrderBuilder
from reconciler.clob.client import ClobClient
from reconciler.clob.errors import (
    AuthenticationFailed,
    ClobError,
    CredentialsRequired,
    ExchangeRejected,
    NotFound,
    OrderVersionMismatch,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from reconciler.clob.profiles import Profile, contracts_for
from reconciler.clob.signing import (
    SignatureType,
    SignedOrder,
    Wallet,
    order_from_wire,
    recover_order_signer,
)
from reconciler.clob.types import (
    AssetType,
    BalanceAllowance,
    CancelResult,
    Notification,
    OrderDetails,
    OrderResult,
    PostArgs,
    Trade,
    order_id_key,
)

__all__ = [
    "ApiCreds",
    "AssetType",
    "AuthError",
    "AuthenticationFailed",
    "BalanceAllowance",
    "CancelResult",
    "ClobClient",
    "ClobError",
    "CredentialsRequired",
    "ExchangeRejected",
    "NotFound",
    "Notification",
    "OrderBuilder",
    "OrderDetails",
    "OrderResult",
    "OrderVersionMismatch",
    "PostArgs",
    "Profile",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "SignatureType",
    "SignedOrder",
    "Trade",
    "TransportError",
    "Wallet",
    "contracts_for",
    "l1_headers",
    "l2_headers",
    "order_from_wire",
    "order_id_key",
    "recover_order_signer",
    "verify_hmac",
    "verify_l1",
]
