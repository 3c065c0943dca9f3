"""The 2026 exchange's switches, as tests drive them: the paper exchange's admin routes over
HTTP (trading modes, rate-limit tiers, failed trades, markets), a session that loses or refuses
chosen requests the way a network does, and a clock that a test moves forward.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support.engine import CountingSession


def admin(url: str, route: str, body: dict[str, Any] | None = None) -> Any:
    """POST /_admin/<route> with `body`; the answer must be 200. Returns its JSON."""
    answer = requests.post(f"{url}/_admin/{route}", json=body or {}, timeout=10)
    assert answer.status_code == 200, (route, answer.status_code, answer.text)
    return answer.json()


def admin_get(url: str, route: str) -> Any:
    answer = requests.get(f"{url}/_admin/{route}", timeout=10)
    assert answer.status_code == 200, (route, answer.status_code, answer.text)
    return answer.json()


class LossySession(CountingSession):
    """A counting session that also remembers each answer's status, and that can lose the
    answer of chosen requests after the exchange carried them out (a read timeout: the
    client cannot know what happened) or fail them before anything is sent.

    `lose[(method, path)]` and `refuse[(method, path)]` hold the 1-based numbers of the
    requests to that method and path that are hit."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[tuple[str, str, int]] = []
        self.lose: dict[tuple[str, str], set[int]] = {}
        self.refuse: dict[tuple[str, str], set[int]] = {}
        self._seen: Counter[tuple[str, str]] = Counter()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        m = (method.decode() if isinstance(method, bytes) else method).upper()
        path = urlsplit(url.decode() if isinstance(url, bytes) else url).path
        self._seen[(m, path)] += 1
        n = self._seen[(m, path)]
        if n in self.refuse.get((m, path), set()):
            # A connect timeout: the connection never opened, so nothing can have been applied.
            raise requests.ConnectTimeout(f"{m} {path}: not sent (test)")
        answer = super().request(method, url, *args, **kwargs)
        self.statuses.append((m, path, answer.status_code))
        if n in self.lose.get((m, path), set()):
            raise requests.ReadTimeout(f"the answer to {m} {path} was lost (test)")
        return answer

    def lose_nth(self, method: str, path: str, nth: int = 1) -> None:
        """Lose the answer of the `nth` next request to (method, path)."""
        key = (method.upper(), path)
        self.lose.setdefault(key, set()).add(self._seen[key] + nth)

    def refuse_nth(self, method: str, path: str, nth: int = 1) -> None:
        """Fail the `nth` next request to (method, path) before it is sent."""
        key = (method.upper(), path)
        self.refuse.setdefault(key, set()).add(self._seen[key] + nth)

    def count(self, method: str, path: str, status: int | None = None) -> int:
        return sum(
            1 for m, p, s in self.statuses
            if m == method and p == path and (status is None or s == status)
        )

    def reset(self) -> None:
        super().reset()
        self.statuses.clear()


class OffsetClock:
    """Real unix time plus an offset a test moves forward (the paper exchange keeps real
    time, so orders stay valid); nothing sleeps."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
