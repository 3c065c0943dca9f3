"""The end-to-end harness: the paper exchange and the daemon as real processes, a counting proxy.

- `PaperProcess`: `python -m paperclob --port 0`, its URL read from its first line.
- `CountingProxy`: a real HTTP/1.1 forwarding proxy on 127.0.0.1 between the daemon and the
  exchange. It records every request (method, path) so a test can assert the exact requests a
  change costs, and can run a hook after a request reached the exchange and before its answer
  goes back (to kill the daemon with a post placed but unanswered).
- `DaemonProcess`: `python -m reconciler run ...` with the key in its ENVIRONMENT (never argv),
  JSON logs collected line by line from stderr.
- `Account`: a client in the test process, for observing the book and for a counterparty.
- `Stack`: one of each, with a desired directory and a state file (the `stack` fixture of
  tests/e2e/test_daemon_e2e.py builds it and stops everything at the end; `open_stack` does the
  same as a context manager, for tests and benches that need several).
- `paper_admin`: a call to the paper exchange's admin API (faults, clock ...), and
  `history_of`: what `reconciler history` prints for a state file.

Every wait is bounded by a deadline; nothing sleeps for a fixed time to "let things settle".
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.clob.client import ClobClient
from reconciler.clob.signing import Wallet
from reconciler.model import OpenOrder, Side
from tests.support.accounts import new_key

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0  # seconds: the bound of every wait; normally reached in milliseconds
ORDER_WRITES = {"/order", "/orders", "/cancel-all", "/cancel-market-orders"}


def wait_until(predicate: Callable[[], Any], *, timeout: float = DEADLINE,
               every: float = 0.01, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class NotifyListener:
    """A stand-in for systemd's notify socket: collects every datagram the daemon sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=DEADLINE)
        self.sock.close()


class PaperProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paperclob", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # bounded: the process prints it or exits
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"paper exchange did not start: {line!r}")
        self.url = line.split("listening on", 1)[1].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=DEADLINE)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class CountingProxy:
    _HOP_HEADERS = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
                    "content-length"}

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.after_forward: Callable[[str, str], None] | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def mark(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.requests[mark:])

    def order_writes_since(self, mark: int) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.since(mark) if m != "GET" and p in ORDER_WRITES]

    def count_since(self, mark: int, method: str, path: str) -> int:
        return sum(1 for r in self.since(mark) if r == (method, path))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body in one write: no Nagle/delayed-ACK stall

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802
                self._forward()

            do_POST = do_DELETE = do_PUT = do_GET  # noqa: N815

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in CountingProxy._HOP_HEADERS}
                path = self.path.split("?", 1)[0]
                # Counted before it is forwarded: once the exchange has acted on it, a test
                # that sees the effect must also see the request.
                with proxy.lock:
                    proxy.requests.append((self.command, path))
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=DEADLINE)
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                if proxy.after_forward is not None:
                    proxy.after_forward(self.command, path)
                try:
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in CountingProxy._HOP_HEADERS:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:
                    pass  # the client is gone (a test killed it on purpose)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        return Handler


class DaemonProcess:
    """`reconciler run` as a child process; the key and host come through the environment.

    Without `ws_url` it runs with --no-stream: it polls, as every daemon did before the stream
    (the tests and benchmarks of that behaviour count its requests). With it, it listens to the
    stream at that base URL."""

    def __init__(self, *, host: str, key: str, desired: Path, state: Path,
                 extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 ws_url: str | None = None) -> None:
        child_env = {k: v for k, v in os.environ.items()
                     if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "API_KEY", "SECRET",
                                  "PASSPHRASE", "CREDENTIALS_DIRECTORY", "WATCHDOG_USEC")}
        child_env.update({"CLOB_HOST": host, "PRIVATE_KEY": key, "PYTHONUNBUFFERED": "1"})
        child_env.update(env or {})
        stream = ("--ws-url", ws_url) if ws_url else ("--no-stream",)
        self.argv = [sys.executable, "-m", "reconciler", "run", "--desired", str(desired),
                     "--state", str(state), "--log-format", "json", *stream, *extra_args]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=child_env, cwd=REPO)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def records(self) -> list[dict[str, Any]]:
        with self._cond:
            lines = list(self.lines)
        found = []
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                found.append({"msg": line, "level": "raw"})
        return found

    def wait_for_log(self, needle: str, *, timeout: float = DEADLINE) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            return next((r for r in self.records() if needle in str(r.get("msg", ""))), None)

        with self._cond:
            self._cond.wait_for(lambda: seen() is not None or self.proc.poll() is not None,
                                timeout=timeout)
        record = seen()
        if record is None:
            raise AssertionError(f"no log line with {needle!r}; got:\n" + "\n".join(self.lines))
        return record

    def wait(self, *, timeout: float = DEADLINE) -> int:
        """Wait for the process to exit by itself; its exit code."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return code

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = DEADLINE) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


@dataclass
class Account:
    """A trader in the test process: the daemon's own key (to observe) or a counterparty."""

    key: str
    client: ClobClient

    @classmethod
    def connect(cls, url: str, key: str | None = None) -> Account:
        key = key or new_key()
        client = ClobClient(url, chain_id=137, wallet=Wallet.from_private_key(key))
        client.creds = client.create_or_derive_api_key()
        return cls(key=key, client=client)

    def open_orders(self, token_id: str = "") -> list[OpenOrder]:
        return self.client.get_open_orders(asset_id=token_id)

    def book(self, token_id: str = "") -> dict[tuple[str, Side, Decimal], Decimal]:
        """Resting size per (token, side, price)."""
        levels: dict[tuple[str, Side, Decimal], Decimal] = {}
        for o in self.open_orders(token_id):
            key = (o.token_id, o.side, o.price)
            levels[key] = levels.get(key, Decimal(0)) + o.remaining
        return levels


def write_yaml(path: Path, text: str) -> None:
    """Save the way editors and git do: a temp file renamed over the target."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def spec(tokens: dict[str, list[tuple[str, str, str]]], *, replenish: bool = False,
         unmanaged: str = "ignore") -> str:
    lines = ["version: 1", "defaults:", f"  replenish: {str(replenish).lower()}", "tokens:"]
    for token_id, levels in tokens.items():
        lines += [f'  - token_id: "{token_id}"', f"    unmanaged: {unmanaged}", "    orders:"]
        lines += [f'      - {{side: {s}, price: "{p}", size: {z}}}' for s, p, z in levels]
    return "\n".join(lines) + "\n"


@dataclass
class Stack:
    paper: PaperProcess
    proxy: CountingProxy
    key: str  # the daemon's key: generated here, passed to it through the environment only
    desired: Path
    state: Path
    daemons: list[DaemonProcess]

    def start_daemon(self, *args: str, env: dict[str, str] | None = None,
                     stream: bool = False) -> DaemonProcess:
        """A daemon on the counting proxy; with `stream`, listening to the paper exchange's
        channels directly (the proxy speaks plain HTTP only)."""
        daemon = DaemonProcess(host=self.proxy.url, key=self.key, desired=self.desired,
                               state=self.state, extra_args=args, env=env,
                               ws_url=self.ws_url if stream else None)
        self.daemons.append(daemon)
        return daemon

    @property
    def ws_url(self) -> str:
        return self.paper.url.replace("http://", "ws://") + "/ws"

    def observer(self) -> Account:
        """The daemon's own account, seen directly (not through the proxy)."""
        return Account.connect(self.paper.url, self.key)

    def counterparty(self) -> Account:
        return Account.connect(self.paper.url)


@contextlib.contextmanager
def open_stack(directory: Path, *paper_args: str) -> Iterator[Stack]:
    """A paper exchange process, a counting proxy in front of it, a fresh key, a desired
    directory and a state file under `directory`; everything is stopped on exit."""
    paper = PaperProcess(*paper_args)
    proxy = CountingProxy(paper.url)
    desired = directory / "desired"
    desired.mkdir(parents=True)
    made = Stack(paper=paper, proxy=proxy, key=new_key(), desired=desired,
                 state=directory / "state" / "reconciler.db", daemons=[])
    try:
        yield made
    finally:
        for daemon in made.daemons:
            daemon.stop()
        proxy.stop()
        paper.stop()


def paper_admin(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (no body) or POST one of the paper exchange's /_admin routes; its JSON answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=DEADLINE)
    try:
        if body is None:
            conn.request("GET", f"/_admin/{path}")
        else:
            conn.request("POST", f"/_admin/{path}", body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise AssertionError(f"/_admin/{path}: {answer.status} {data!r}")
    return json.loads(data)


def history_of(state: Path, limit: int = 200) -> str:
    """`reconciler history` for a state file, run as the user would (another process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PRIVATE_KEY", "NOTIFY_SOCKET")}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "history", "--state", str(state), "--limit",
         str(limit)],
        capture_output=True, text=True, timeout=DEADLINE, cwd=REPO, env=env,
    )
    if done.returncode != 0:
        raise AssertionError(f"reconciler history failed: {done.stderr}")
    return done.stdout
