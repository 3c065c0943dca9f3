"""A clock for tests: time is an input, never a wait."""

from __future__ import annotations

import time


class ManualClock:
    """Unix seconds that move only when told to (`advance`, or by setting `now`)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
