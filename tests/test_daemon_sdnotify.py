"""sd_notify over a real unix datagram socket, path and abstract namespace."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from reconciler.daemon.sdnotify import SystemdNotifier


def test_disabled_without_socket() -> None:
    notifier = SystemdNotifier(env={})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_seconds is None


def test_ready_status_watchdog_stopping(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": path})
    assert notifier.ready(status="converged\nrev 3")
    assert sock.recv(1024) == b"READY=1\nSTATUS=converged rev 3"
    assert notifier.watchdog()
    assert sock.recv(1024) == b"WATCHDOG=1"
    assert notifier.status("3 orders resting")
    assert sock.recv(1024) == b"STATUS=3 orders resting"
    assert notifier.stopping()
    assert sock.recv(1024) == b"STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"reconciler-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        assert SystemdNotifier(env={"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_missing_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.ready() is False


def test_watchdog_interval_is_for_this_process_only() -> None:
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(env=mine).watchdog_seconds == 30.0
    other = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SystemdNotifier(env=other).watchdog_seconds is None
    assert SystemdNotifier(env={"WATCHDOG_USEC": "junk"}).watchdog_seconds is None
