"""What a `Reconciler` remembers between passes, in memory: per-token backoff, market info, and
which skipped tokens were reported.

- `TokenBackoff` (invariant 8): a token whose posts failed (rejected, unknown outcome) is not
  posted for 2^(n-1) passes after its n-th consecutive failing pass (at most `max_passes`),
  while cancels for it still go through; one failing market does not stall the others.
- `MarketCache`: market info per token, kept for `ttl` seconds (our TTL decides: the client's
  own cache is cleared before each read), and read again at the next pass when something says
  it may have changed (`refresh`): a rejection of the token's posts, a fill or trade on it (the
  tick changes on its own near the price extremes), or the token being skipped (so it comes
  back within one pass of its market being right again). Nothing else re-reads a market before
  its TTL: every token every pass would cost requests for nothing.
- `SkipLog`: a skipped token's reason is logged once per cause, and once when it clears.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.clob import ClobError, RateLimited
from reconciler.model import MarketInfo, SkippedToken

log = logging.getLogger(__name__)


@dataclass
class _Backoff:
    failures: int = 0
    skip_remaining: int = 0


class TokenBackoff:
    def __init__(self, *, max_passes: int) -> None:
        self.max_passes = max_passes
        self._tokens: dict[str, _Backoff] = {}

    def count_pass(self) -> None:
        """A pass happened: held tokens are one pass closer to being tried again."""
        for state in self._tokens.values():
            state.skip_remaining = max(state.skip_remaining - 1, 0)

    def update(self, *, failed: Iterable[str], posted: Iterable[str]) -> None:
        """After an apply: tokens whose posts failed back off further; tokens that posted
        without a failure are forgiven."""
        failed = set(failed)
        for token_id in failed:
            state = self._tokens.setdefault(token_id, _Backoff())
            state.failures += 1
            state.skip_remaining = min(2 ** (state.failures - 1), self.max_passes)
            log.warning(
                "token %s: posts failed; holding its posts for %d passes",
                token_id,
                state.skip_remaining,
            )
        for token_id in set(posted) - failed:
            self._tokens.pop(token_id, None)

    def state(self) -> dict[str, tuple[int, int]]:
        """token -> (consecutive failing passes, passes still held)."""
        return {t: (b.failures, b.skip_remaining) for t, b in self._tokens.items()}


class MarketSource(Protocol):
    """What the cache needs from `ClobClient`."""

    def get_market_info(self, token_id: str) -> MarketInfo: ...

    def clear_market_cache(self, token_id: str | None = None) -> None: ...


class MarketCache:
    def __init__(self, *, client: MarketSource, ttl: float) -> None:
        self.client = client
        self.ttl = ttl
        self._markets: dict[str, tuple[MarketInfo, float]] = {}

    def read(self, token_ids: Iterable[str], *, now: float) -> dict[str, MarketInfo]:
        """Market info of each token that has it, as of `now` (unix seconds); a token whose
        read fails is left out (the planner skips it). A rate limit is raised: the pass stops."""
        markets: dict[str, MarketInfo] = {}
        for token_id in token_ids:
            cached = self._markets.get(token_id)
            if cached is not None and now - cached[1] < self.ttl:
                markets[token_id] = cached[0]
                continue
            # Our TTL decides: the client's own cache must not hand back an older answer.
            self.client.clear_market_cache(token_id)
            try:
                info = self.client.get_market_info(token_id)
            except RateLimited:
                raise
            except ClobError as exc:
                log.warning("market info for %s unavailable (%s); token skipped", token_id, exc)
                continue
            self._markets[token_id] = (info, now)
            markets[token_id] = info
        return markets

    def forget(self, token_id: str | None) -> None:
        """Drop cached market info (ours and the client's) for one token, or all."""
        if token_id is None:
            self._markets.clear()
        else:
            self._markets.pop(token_id, None)
        self.client.clear_market_cache(token_id)

    def refresh(self, token_ids: Iterable[str]) -> None:
        """Read these tokens' market info again at the next read, whatever its age."""
        for token_id in token_ids:
            self._markets.pop(token_id, None)


class SkipLog:
    """Say once why a token is skipped (again when the cause changes), and once when it is
    not skipped any more, so the logs tell an operator what holds a market without repeating
    it every pass."""

    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}

    def update(self, skipped: Sequence[SkippedToken], *, planned: Iterable[str]) -> None:
        """`skipped`: this plan's skipped tokens; `planned`: every token the plan covered."""
        now = {s.token_id: s.reason for s in skipped}
        for token_id, reason in now.items():
            if self._reasons.get(token_id) != reason:
                log.warning("token %s skipped, its orders left as they are: %s", token_id, reason)
        for token_id in set(planned) & (set(self._reasons) - set(now)):
            log.warning("token %s no longer skipped (was: %s)", token_id, self._reasons[token_id])
        self._reasons = now

    @property
    def reasons(self) -> dict[str, str]:
        return dict(self._reasons)
