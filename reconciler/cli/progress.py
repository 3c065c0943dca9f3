"""Progress on long work (`plan`, `apply`): pages of open orders read, orders looked up, batches
posted. On a terminal it is one line drawn with `rich` on stderr that changes as the work goes;
otherwise (a pipe, systemd, the tests) plain INFO log lines. Either way stdout carries only the
command's output.

It learns what happens from the client (`observe_requests`: each request as it is about to go)
and from the engine (`Reconciler.progress`: how many unknown outcomes it will resolve, and the
plan it is about to apply, for the totals).
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from reconciler.cli.output import is_terminal
from reconciler.model import MAX_BATCH_POST, Plan

log = logging.getLogger("reconciler.cli.progress")


class Progress:
    def __init__(self, *, draw: bool | None = None) -> None:
        self._draw = (is_terminal() and is_terminal(sys.stderr)) if draw is None else draw
        self._status: Any = None
        self.pages = 0
        self.lookups = 0
        self.lookups_total = 0
        self.batches = 0
        self.batches_total = 0
        self.lines: list[str] = []  # what was said, in order (plain mode logs each)

    def attach(self, *, client: Any, reconciler: Any) -> Progress:
        client.observe_requests(self.request)
        reconciler.progress = self.stage
        return self

    # --- what happens -----------------------------------------------------------------------

    def stage(self, what: str, value: Any) -> None:
        if what == "resolving":
            self.lookups, self.lookups_total = 0, int(value)
            if value:
                self._say(f"resolving {value} order(s) with an unknown outcome, by hash")
        elif what == "applying" and isinstance(value, Plan):
            self.batches, self.batches_total = 0, math.ceil(len(value.posts) / MAX_BATCH_POST)
            self.pages = 0

    def request(self, method: str, path: str) -> None:
        if method == "GET" and path == "/data/orders":
            self.pages += 1
            self._say(f"reading open orders: page {self.pages}")
        elif method == "GET" and path.startswith("/data/order/"):
            self.lookups += 1
            of = f" of {self.lookups_total}" if self.lookups_total >= self.lookups else ""
            self._say(f"looking up order {self.lookups}{of} by hash")
        elif method == "POST" and path in ("/orders", "/order"):
            self.batches += 1
            of = f" of {self.batches_total}" if self.batches_total >= self.batches else ""
            self._say(f"posting batch {self.batches}{of}")
        elif method == "DELETE" and path == "/orders":
            self._say("cancelling (one batch)")

    # --- showing it -------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.lines.append(text)
        if not self._draw:
            log.info("%s", text)
            return
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(text)
            self._status.start()
        else:
            self._status.update(text)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
