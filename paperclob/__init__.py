"""A local paper exchange that speaks the CLOB's wire protocol, for tests, demos and first runs.

Embed it::

    from paperclob import PaperConfig, PaperExchange

    with PaperExchange(PaperConfig()) as px:   # 127.0.0.1, any free port
        url = px.url                           # point any CLOB client here
        px.exchange.engine.open_orders(addr)   # in-process state for assertions

or run it: ``python -m paperclob --port 8080`` (``--help`` lists every flag and admin route).

What it does as the exchange does in 2026 (clob-v2-wire.md "What changed in 2026"), module by
module: per-signer order/cancel token buckets and the 1000-id cancel cap (ratelimit.py,
routes_orders.py), trading modes and closed-only/banned accounts (modes.py), asynchronous
settlement and failed fills (settlement.py), notifications 1-11 (notify.py), chained heartbeats
(heartbeats.py), ticks that move beyond 0.96/0.04 and Protocol-V2 markets (markets.py,
verify.py), the WebSocket user and market channels on the REST port, with a fault switch
(stream.py, wsserver.py, stream_faults.py), and the forms where sources disagree
(config.WireForms). Admin routes for tests and
demos: routes_admin.py.
"""

from paperclob.cli import main
from paperclob.config import PaperConfig, RateLimit
from paperclob.exchange import Exchange
from paperclob.faults import Faults
from paperclob.server import PaperExchange

__all__ = ["Exchange", "Faults", "PaperConfig", "PaperExchange", "RateLimit", "main"]
