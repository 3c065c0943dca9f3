"""Typed settings for the CLI and the daemon, from flags, the environment and files.

One frozen `Settings` value is built once, at the edge, from three sources in a fixed order of
precedence: command-line flags, then environment variables, then files (a private-key file named
by a flag, or systemd's credentials directory). Everything after that reads typed fields, never
`os.environ`.

Secrets (the private key, the API secret and the passphrase) are held in `Secret`, whose repr and
str never show the value, and they never come from argv: a flag can only name a FILE holding the
key. Validation errors describe what is wrong without quoting the offending value, because the
offending value may be a key.

No default spends money: there is no default exchange host (pass `--host`/`CLOB_HOST`, or
`--paper` for the local paper exchange), a proxy/Safe/deposit signature type without a funder
address is refused, and heartbeats (which make the exchange cancel every order of the key when
they stop) are off unless asked for.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import TypeVar

DEFAULT_CHAIN_ID = 137
DEFAULT_DESIRED_DIR = Path("desired")
DEFAULT_STATE_PATH = Path("state/reconciler.db")
#: --paper without --state keeps its own file: paper fills must never count toward real levels.
DEFAULT_PAPER_STATE_PATH = Path("state/paper.db")
DEFAULT_INTERVAL_SECONDS = 10.0
DEFAULT_DEBOUNCE_SECONDS = 0.15
DEFAULT_STOP_TIMEOUT_SECONDS = 20.0
DEFAULT_HEARTBEAT_SECONDS = 5.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0

#: Sane bounds of every duration, in seconds (--help says them). Out of them a value is a typo:
#: 1e-9 s between ticks spins and ignores SIGTERM, 1e12 s overflows the scheduler's clock.
INTERVAL_BOUNDS = (1.0, 86_400.0)
DEBOUNCE_BOUNDS = (0.01, 60.0)
STOP_TIMEOUT_BOUNDS = (1.0, 3_600.0)
REQUEST_TIMEOUT_BOUNDS = (0.5, 600.0)
#: How long a post may stay inside the exchange (engine/resolve.py); 0 would give an unanswered
#: order up the moment its re-send is refused, while the first request may still land.
LANDING_WINDOW_BOUNDS = (1.0, 86_400.0)
HEARTBEAT_BOUNDS = (0.1, 10.0)  # under 10: the exchange cancels every order after ~10 s
#: EIP-155 chain ids are positive; larger than this no chain is (and SQLite holds 63 bits).
MAX_CHAIN_ID = 2**63 - 1
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: A key file is 66 bytes; a bigger file is not a key (and /dev/zero must not be read forever).
MAX_SECRET_FILE_BYTES = 4096
#: secp256k1 group order: a private key must be in [1, n).
SECP256K1_N = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

#: File names looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=NAME:PATH).
CREDENTIAL_FILES = {
    "private_key": "private_key",
    "api_secret": "api_secret",
    "passphrase": "passphrase",
}

E = TypeVar("E", bound=Enum)

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


class SettingsError(ValueError):
    """A setting is missing or invalid. The message says what to set; it never quotes a secret."""


class Secret:
    """A string that never shows itself in repr, str, f-strings or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value, for the one place that must use it (signing, HMAC)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ShutdownPolicy(StrEnum):
    LEAVE = "leave"  # stop the daemon, leave the orders resting (default)
    CANCEL = "cancel"  # cancel our managed orders on the way out


class LogFormat(StrEnum):
    AUTO = "auto"  # JSON lines under systemd (JOURNAL_STREAM), text on a terminal
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class Settings:
    """Everything the CLI and the daemon need, validated. Secrets are `Secret`s."""

    host: str | None = None
    chain_id: int = DEFAULT_CHAIN_ID
    private_key: Secret | None = None
    api_key: str | None = None
    api_secret: Secret | None = None
    passphrase: Secret | None = None
    signature_type: int = 0
    funder: str | None = None
    desired_dir: Path = DEFAULT_DESIRED_DIR
    state_path: Path = DEFAULT_STATE_PATH
    paper: bool = False
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    debounce_seconds: float = DEFAULT_DEBOUNCE_SECONDS
    stop_timeout_seconds: float = DEFAULT_STOP_TIMEOUT_SECONDS
    request_timeout_seconds: float = 10.0
    landing_window_seconds: float | None = None  # None: 2 x the request timeout + 30 s
    on_shutdown: ShutdownPolicy = ShutdownPolicy.LEAVE
    heartbeat: bool = False
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    log_format: LogFormat = LogFormat.AUTO
    log_level: str = "INFO"
    log_file: Path | None = None
    metrics_port: int | None = None
    stream: bool = True  # listen to the exchange's WebSocket channels (off: poll only)
    ws_url: str | None = None  # the stream's base URL (..../ws); None: derived from the host
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_api_creds(self) -> bool:
        return bool(self.api_key and self.api_secret and self.passphrase)

    def secrets(self) -> list[str]:
        """The secret strings in force, so the log redactor can scrub them if one ever leaks."""
        found = [s.reveal() for s in (self.private_key, self.api_secret, self.passphrase) if s]
        return [s for s in found if s]

    def require_exchange(self) -> None:
        """Refuse, with a message that says what to do, when no exchange or key is configured."""
        if self.paper:
            return
        if not self.host:
            raise SettingsError(
                "no exchange host: set CLOB_HOST or --host (e.g. https://clob.polymarket.com), "
                "or use --paper to run against an embedded paper exchange"
            )
        if self.private_key is None:
            raise SettingsError(
                "no private key: set PRIVATE_KEY in the environment, pass --private-key-file "
                "FILE, or provide the systemd credential 'private_key'; or use --paper to try "
                "it on an embedded paper exchange with a throwaway key"
            )


def load_settings(
    *, flags: Mapping[str, object], env: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from parsed flags (None = not given) and the environment.

    Precedence: flag, then environment, then default. Secrets: the environment, then a file named
    by `--private-key-file`, then $CREDENTIALS_DIRECTORY. Never from a flag's value.
    """
    env = os.environ if env is None else env

    def pick(flag: str, var: str | None = None) -> object:
        value = flags.get(flag)
        if value is None and var is not None:
            value = env.get(var) or None
        return value

    private_key = _load_private_key(flags=flags, env=env)
    api_secret = _secret_from(env=env, var="SECRET", credential="api_secret")
    _check_api_secret(api_secret)
    passphrase = _secret_from(env=env, var="PASSPHRASE", credential="passphrase")
    api_key = _str_or_none(pick("api_key", "API_KEY"))
    given = [x is not None for x in (api_key, api_secret, passphrase)]
    if any(given) and not all(given):
        raise SettingsError(
            "API credentials are partial: set all of API_KEY, SECRET and PASSPHRASE, or none "
            "of them (they are then derived from the private key with an L1 signature)"
        )
    signature_type = _int_setting(pick("signature_type", "SIGNATURE_TYPE"), "SIGNATURE_TYPE", 0)
    if signature_type not in (0, 1, 2, 3):
        raise SettingsError("SIGNATURE_TYPE must be 0 (EOA), 1 (proxy), 2 (Safe) or 3 (1271)")
    funder = _str_or_none(pick("funder", "FUNDER_ADDRESS"))
    _check_funder(signature_type=signature_type, funder=funder)
    return Settings(
        host=_check_host(_str_or_none(pick("host", "CLOB_HOST"))),
        chain_id=_chain_id(pick("chain_id", "CHAIN_ID")),
        private_key=private_key,
        api_key=api_key,
        api_secret=api_secret,
        passphrase=passphrase,
        signature_type=signature_type,
        funder=funder,
        desired_dir=Path(str(pick("desired", "RECONCILER_DESIRED") or DEFAULT_DESIRED_DIR)),
        state_path=Path(str(pick("state", "RECONCILER_STATE") or (
            DEFAULT_PAPER_STATE_PATH if flags.get("paper") else DEFAULT_STATE_PATH))),
        paper=bool(flags.get("paper") or False),
        interval_seconds=_seconds(pick("interval", "RECONCILER_INTERVAL"), "interval",
                                  DEFAULT_INTERVAL_SECONDS, INTERVAL_BOUNDS),
        debounce_seconds=_seconds(flags.get("debounce"), "debounce", DEFAULT_DEBOUNCE_SECONDS,
                                  DEBOUNCE_BOUNDS),
        stop_timeout_seconds=_seconds(flags.get("stop_timeout"), "stop-timeout",
                                      DEFAULT_STOP_TIMEOUT_SECONDS, STOP_TIMEOUT_BOUNDS),
        request_timeout_seconds=_seconds(flags.get("request_timeout"), "request-timeout",
                                         DEFAULT_REQUEST_TIMEOUT_SECONDS, REQUEST_TIMEOUT_BOUNDS),
        landing_window_seconds=(
            None if flags.get("landing_window") is None
            else _seconds(flags.get("landing_window"), "landing-window", 0.0,
                          LANDING_WINDOW_BOUNDS)
        ),
        on_shutdown=_enum(ShutdownPolicy, pick("on_shutdown", "RECONCILER_ON_SHUTDOWN"),
                          "on-shutdown", ShutdownPolicy.LEAVE),
        heartbeat=bool(flags.get("heartbeat") or False),
        heartbeat_seconds=_heartbeat_interval(flags.get("heartbeat_interval")),
        log_format=_enum(LogFormat, pick("log_format", "RECONCILER_LOG_FORMAT"), "log-format",
                         LogFormat.AUTO),
        log_level=_log_level(pick("log_level", "RECONCILER_LOG_LEVEL")),
        log_file=_path_or_none(pick("log_file", "RECONCILER_LOG_FILE")),
        metrics_port=_port(pick("metrics_port", "RECONCILER_METRICS_PORT")),
        stream=not bool(flags.get("no_stream") or False),
        ws_url=_ws_url(_str_or_none(pick("ws_url", "CLOB_WS_URL"))),
    )


def _load_private_key(*, flags: Mapping[str, object], env: Mapping[str, str]) -> Secret | None:
    key_file = flags.get("private_key_file")
    raw: str | None
    if key_file is not None:
        if _HEX_KEY.match(str(key_file).strip()):
            # Someone pasted the key itself: say so without repeating it.
            raise SettingsError("--private-key-file takes the path of a file holding the key, "
                                "not the key; the value given looks like a key")
        raw = _read_secret_file(Path(str(key_file)), what="--private-key-file", private=True)
    elif env.get("PRIVATE_KEY"):
        raw = env["PRIVATE_KEY"].strip()
    else:
        raw = _credential(env=env, name=CREDENTIAL_FILES["private_key"])
    if raw is None:
        return None
    if not _HEX_KEY.match(raw):
        # Never echo the value: it may be a real key with a typo.
        raise SettingsError("the private key is not 32 bytes of hex (64 hex digits, 0x optional)")
    digits = raw.removeprefix("0x")
    if not 0 < int(digits, 16) < SECP256K1_N:
        raise SettingsError("the private key is out of range for secp256k1 (it must be between 1 "
                            "and the curve order minus 1); it is not a usable key: check it")
    return Secret("0x" + digits)


def _check_api_secret(secret: Secret | None) -> None:
    """The API secret is the base64url key of the L2 HMAC; refuse anything else now, not with a
    traceback on the first signed request. Never quoted."""
    if secret is None:
        return
    text = secret.reveal()
    decoded = b""
    if _BASE64.fullmatch(text) and len(text) % 4 == 0:
        try:
            decoded = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))
        except (binascii.Error, ValueError):
            decoded = b""
    if not decoded:
        raise SettingsError("the API secret (SECRET, or the credential 'api_secret') is not "
                            "base64 text as the exchange issues it; copy it again")


def _secret_from(*, env: Mapping[str, str], var: str, credential: str) -> Secret | None:
    raw = env.get(var) or _credential(env=env, name=CREDENTIAL_FILES[credential])
    return Secret(raw.strip()) if raw else None


def _credential(*, env: Mapping[str, str], name: str) -> str | None:
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return _read_secret_file(path, what=f"credential {name}") if path.exists() else None


def _read_secret_file(path: Path, *, what: str, private: bool = False) -> str:
    """The text of a small regular file (after following links). `private`: refused when the
    group or others may read it, as ssh refuses a key file. The content is never quoted."""
    try:
        # O_NONBLOCK: a fifo must not block the open; the checks below are on what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SettingsError(f"cannot read {what} at {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError(f"{what} at {path} is not a regular file; point it at the file "
                                "holding the key")
        if info.st_size > MAX_SECRET_FILE_BYTES:
            raise SettingsError(f"{what} at {path} is {info.st_size} bytes, more than the "
                                f"{MAX_SECRET_FILE_BYTES} a key file can be; point it at the "
                                "file holding only the key")
        if private and info.st_mode & 0o077:
            raise SettingsError(f"{what} at {path} can be read by other users (mode "
                                f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`")
        data = os.read(fd, MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"cannot read {what} at {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SettingsError(f"{what} at {path} is not text; it must hold the key in hex") from None
    if not text:
        raise SettingsError(f"{what} at {path} is empty")
    return text


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value).strip()


def _path_or_none(value: object) -> Path | None:
    text = _str_or_none(value)
    return Path(text) if text else None


def _check_host(host: str | None) -> str | None:
    if host is None:
        return None
    if not host.startswith(("http://", "https://")):
        raise SettingsError("CLOB_HOST must start with http:// or https://")
    return host.rstrip("/")


def _ws_url(url: str | None) -> str | None:
    if url is None:
        return None
    if not url.startswith(("ws://", "wss://")) or len(url.split("://", 1)[1].strip("/")) == 0:
        raise SettingsError("--ws-url (CLOB_WS_URL) must be a ws:// or wss:// URL, e.g. "
                            "wss://ws-subscriptions-clob.polymarket.com/ws")
    return url.rstrip("/")


def _check_funder(*, signature_type: int, funder: str | None) -> None:
    if funder is not None and not _ADDRESS.match(funder):
        raise SettingsError("FUNDER_ADDRESS must be a 0x-prefixed 20-byte hex address")
    if signature_type != 0 and funder is None:
        # Guessing the funder would sign orders for the wrong wallet: refuse instead.
        raise SettingsError(
            f"SIGNATURE_TYPE {signature_type} needs FUNDER_ADDRESS (the proxy, Safe or deposit "
            "wallet that holds the funds)"
        )


def _int_setting(value: object, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(str(value))
    except ValueError:
        raise SettingsError(f"{name} must be an integer") from None


def _chain_id(value: object) -> int:
    chain_id = _int_setting(value, "CHAIN_ID", DEFAULT_CHAIN_ID)
    if not 0 < chain_id <= MAX_CHAIN_ID:
        raise SettingsError("CHAIN_ID (--chain-id) must be a positive chain id, e.g. 137 for "
                            "Polygon or 80002 for Amoy")
    return chain_id


def _seconds(value: object, name: str, default: float, bounds: tuple[float, float]) -> float:
    """A duration within `bounds` (a duration, not money: float is right here)."""
    if value is None:
        return default
    low, high = bounds
    try:
        number = float(str(value))
    except ValueError:
        raise SettingsError(f"--{name} must be a number of seconds") from None
    if not math.isfinite(number) or number <= 0:
        raise SettingsError(f"--{name} must be a number of seconds greater than zero, from "
                            f"{low:g} to {high:g}")
    if not low <= number <= high:
        raise SettingsError(f"--{name} must be from {low:g} to {high:g} seconds")
    return number


def _heartbeat_interval(value: object) -> float:
    seconds = _seconds(value, "heartbeat-interval", DEFAULT_HEARTBEAT_SECONDS,
                       (HEARTBEAT_BOUNDS[0], 3_600.0))
    if seconds >= HEARTBEAT_BOUNDS[1]:
        # The exchange cancels every order of the key after ~10 s without a heartbeat.
        raise SettingsError("--heartbeat-interval must be under 10 seconds (5 is the advice)")
    return seconds


def _log_level(value: object) -> str:
    level = str(value or "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"--log-level must be one of: {', '.join(LOG_LEVELS)}")
    return level


def _port(value: object) -> int | None:
    if value is None:
        return None
    port = _int_setting(value, "--metrics-port", 0)
    if not 0 < port < 65536:
        raise SettingsError("--metrics-port must be between 1 and 65535")
    return port


def _enum(kind: type[E], value: object, name: str, default: E) -> E:
    if value is None:
        return default
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise SettingsError(f"--{name} must be one of: {choices}") from None
