"""A local paper exchange that speaks the CLOB's wire protocol, for tests, demos and first runs.

Embed it::

    from paperclob import PaperConfig, PaperExchange

    with PaperExchange(PaperConfig()) as px:   # 127.0.0.1, any free port
        url = px.url                           # point any CLOB client here
        px.exchange.engine.open_orders(addr)   # in-process state for assertions

or run it: ``python -m paperclob --port 8080`` (see ``paperclob.cli``).
"""

from paperclob.cli import main
from paperclob.config import PaperConfig, RateLimit
from paperclob.exchange import Exchange
from paperclob.faults import Faults
from paperclob.server import PaperExchange

__all__ = ["Exchange", "Faults", "PaperConfig", "PaperExchange", "RateLimit", "main"]
