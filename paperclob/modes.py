"""Trading modes and account restrictions (clob-v2-wire.md 2.13, clob-v1-wire.md 8).

Set globally or for one signer address by `POST /_admin/trading-mode`; an account's own mode wins
over the global one.

| mode          | answer                                                                        |
|---------------|-------------------------------------------------------------------------------|
| ``normal``    | everything runs                                                                |
| ``disabled``  | 503 `Trading is currently disabled...` on every order write and cancel         |
| ``cancel-only`` | 503 `Trading is currently cancel-only...` on posts; cancels run              |
| ``post-only`` | posts without `postOnly: true` get 503 `{error, code: "post_only_mode",        |
|               | retry_after_seconds}` + `Retry-After`; inside `POST /orders` each such entry   |
|               | comes back `{"success": true, "orderID": "", "status": "", "errorMsg": ...}`  |
| ``restarting``| 425 on every order endpoint (writes and `/data/order(s)` reads) for the        |
|               | window (default 90 s), then 2 minutes of post-only mode                        |

Account restrictions (also per signer, by the same route): ``closed-only`` refuses BUY orders with
400 `'0x…' address in closed only mode` (SELLs close positions and run; the reference does not
say which orders count as closing) and answers `GET /auth/ban-status/closed-only` with
`{"closed_only": true}`; ``banned`` refuses every order with 400 `'0x…' address banned`. Cancels
and reads run for both (the reference is silent). Times follow the exchange clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from paperclob import errors

RESTART_WINDOW_S = 90.0  # "the ~90 s window" of a matching-engine restart
POST_ONLY_AFTER_RESTART_S = 120.0  # "2 minutes in post-only mode" after every restart
DEFAULT_POST_ONLY_RETRY_S = 60  # retry_after_seconds of an open-ended post-only mode


class Mode(StrEnum):
    NORMAL = "normal"
    DISABLED = "disabled"
    CANCEL_ONLY = "cancel-only"
    POST_ONLY = "post-only"
    RESTARTING = "restarting"


class Restriction(StrEnum):
    NONE = "none"
    CLOSED_ONLY = "closed-only"
    BANNED = "banned"


@dataclass
class ModeSetting:
    mode: Mode
    since: float
    until: float | None = None  # post-only / restart window end; None = until switched off
    restart_window_s: float = RESTART_WINDOW_S
    retry_after_s: int = DEFAULT_POST_ONLY_RETRY_S

    def effective(self, now: float) -> tuple[Mode, float | None]:
        """(mode in force at `now`, when it ends). A restart turns into post-only by itself."""
        if self.mode is Mode.RESTARTING:
            restart_end = self.since + self.restart_window_s
            if now < restart_end:
                return Mode.RESTARTING, restart_end
            post_only_end = restart_end + POST_ONLY_AFTER_RESTART_S
            if now < post_only_end:
                return Mode.POST_ONLY, post_only_end
            return Mode.NORMAL, None
        if self.until is not None and now >= self.until:
            return Mode.NORMAL, None
        return self.mode, self.until


class TradingModes:
    """Global and per-signer modes and restrictions. Guarded by the exchange lock."""

    def __init__(self) -> None:
        self.global_setting = ModeSetting(Mode.NORMAL, 0.0)
        self.accounts: dict[str, ModeSetting] = {}
        self.restrictions: dict[str, Restriction] = {}

    def set_mode(
        self,
        mode: Mode,
        *,
        now: float,
        address: str = "",
        duration_s: float | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        setting = ModeSetting(mode, now)
        if mode is Mode.RESTARTING:
            setting.restart_window_s = RESTART_WINDOW_S if duration_s is None else duration_s
        elif duration_s is not None:
            setting.until = now + duration_s
        if retry_after_s is not None:
            setting.retry_after_s = retry_after_s
        if address:
            self.accounts[address.lower()] = setting
        else:
            self.global_setting = setting

    def clear_account(self, address: str) -> None:
        self.accounts.pop(address.lower(), None)

    def restrict(self, address: str, restriction: Restriction) -> None:
        if restriction is Restriction.NONE:
            self.restrictions.pop(address.lower(), None)
        else:
            self.restrictions[address.lower()] = restriction

    def mode_of(self, signer: str, now: float) -> tuple[Mode, float | None, ModeSetting]:
        setting = self.accounts.get(signer.lower(), self.global_setting)
        mode, until = setting.effective(now)
        return mode, until, setting

    def closed_only(self, address: str) -> bool:
        return self.restrictions.get(address.lower()) is Restriction.CLOSED_ONLY

    # --- checks the routes run before they act ----------------------------------------------

    def check_order_read(self, signer: str, now: float) -> None:
        """`GET /data/order(s)`: only a restart refuses them."""
        if self.mode_of(signer, now)[0] is Mode.RESTARTING:
            raise errors.ApiError(425, errors.RESTARTING)

    def check_cancel(self, signer: str, now: float) -> None:
        mode = self.mode_of(signer, now)[0]
        if mode is Mode.RESTARTING:
            raise errors.ApiError(425, errors.RESTARTING)
        if mode is Mode.DISABLED:
            raise errors.ApiError(503, errors.TRADING_DISABLED)

    def check_post(self, signer: str, now: float) -> bool:
        """Refuse a post outright (425/503), or return True when only post-only orders pass."""
        mode, until, setting = self.mode_of(signer, now)
        if mode is Mode.RESTARTING:
            raise errors.ApiError(425, errors.RESTARTING)
        if mode is Mode.DISABLED:
            raise errors.ApiError(503, errors.TRADING_DISABLED)
        if mode is Mode.CANCEL_ONLY:
            raise errors.ApiError(503, errors.CANCEL_ONLY)
        return mode is Mode.POST_ONLY

    def post_only_refusal(self, signer: str, now: float) -> errors.ApiError:
        """The 503 a non-post-only order gets in post-only mode."""
        _, until, setting = self.mode_of(signer, now)
        wait = setting.retry_after_s if until is None else max(1, math.ceil(until - now))
        return errors.ApiError(
            503,
            errors.POST_ONLY_MODE,
            headers={"Retry-After": str(wait)},
            code="post_only_mode",
            retry_after_seconds=wait,
        )

    def check_account(self, addresses: tuple[str, ...], *, is_buy: bool) -> None:
        """400 for a banned account, or a closed-only one opening a position (a BUY)."""
        for address in addresses:
            restriction = self.restrictions.get(address.lower())
            if restriction is Restriction.BANNED:
                raise errors.OrderRejected(errors.banned(address))
            if restriction is Restriction.CLOSED_ONLY and is_buy:
                raise errors.OrderRejected(errors.closed_only(address))

    def describe(self, now: float) -> dict[str, object]:
        mode, until = self.global_setting.effective(now)
        return {
            "mode": mode.value,
            "until": until,
            "accounts": {a: s.effective(now)[0].value for a, s in self.accounts.items()},
            "restrictions": {a: r.value for a, r in self.restrictions.items()},
        }
