"""The systemd notification protocol, implemented on a unix datagram socket (no dependency).

systemd passes `NOTIFY_SOCKET` to a `Type=notify` service; the service sends newline-separated
`KEY=VALUE` datagrams to it: `READY=1` once it is serving, `WATCHDOG=1` as a liveness ping (at
least every `WATCHDOG_USEC`/2), `STATUS=...` for `systemctl status`, `STOPPING=1` on the way out.
A socket path starting with `@` is in the abstract namespace (a leading NUL byte).

Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op, so the daemon calls it
unconditionally. A failed send is logged once and never stops the daemon: the notifications are
advice to the service manager, not part of reconciling.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if raw.startswith("@"):
            self._address = b"\0" + raw[1:].encode()
        elif raw.startswith("/"):
            self._address = raw
        self.watchdog_seconds = _watchdog_seconds(env)
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send one datagram of `KEY=VALUE` lines; True when it was sent."""
        if self._address is None:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never wait: a full queue (nobody reading) must not stall a tick. systemd reads
                # at once; a notification that cannot go now is dropped, the next one follows.
                sock.setblocking(False)
                sock.sendto(payload, self._address)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd: %s", exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment in the datagram.
    return " ".join(text.split())[:400]


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """WATCHDOG_USEC as seconds, when it is addressed to this process (WATCHDOG_PID)."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None
