"""The comparison for bench_apply: the same orders posted by a script on the official SDK.

What a trader without reconciler would write with `py_clob_client_v2`: derive the API key,
`create_order` for every level (the SDK looks up and caches each token's tick size, neg-risk
flag and fee rate), `post_orders` in batches of 15 (post-only, like our default), and check that
every order was accepted. Run as its own process, like `reconciler apply`:

    CLOB_HOST=http://127.0.0.1:PORT PRIVATE_KEY=0x... python -m bench.sdk_apply ORDERS.json

ORDERS.json is a list of [token_id, side, price, size] (strings). The key comes from the
environment, never argv. Prints the number of orders accepted; exits 1 if any was refused.
"""

from __future__ import annotations

import json
import os
import sys

from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2, OrderType, PostOrdersV2Args

BATCH = 15


def main(path: str) -> int:
    with open(path) as f:
        orders = json.load(f)
    client = ClobClient(os.environ["CLOB_HOST"], chain_id=137, key=os.environ["PRIVATE_KEY"])
    client.set_api_creds(client.create_or_derive_api_key())
    accepted = 0
    for start in range(0, len(orders), BATCH):
        batch = [
            PostOrdersV2Args(
                order=client.create_order(
                    OrderArgsV2(token_id=token, price=float(price), size=float(size), side=side)
                ),
                orderType=OrderType.GTC,
            )
            for token, side, price, size in orders[start:start + BATCH]
        ]
        results = client.post_orders(batch, post_only=True)
        accepted += sum(1 for r in results if r.get("success"))
    print(accepted)
    return 0 if accepted == len(orders) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
