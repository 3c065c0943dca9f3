"""HTTP plumbing: a threaded HTTP/1.1 keep-alive server on loopback, and `PaperExchange`.

`Dispatcher.handle` is the one place a request passes through, in this order: admin routes (no
faults), injected latency and the "hold" fault (both outside the lock, so they delay only that
request: a held POST is processed after its hold, while other requests are served), then under
the exchange lock: per-signer rate limit, injected 429/5xx, lazy housekeeping, the route itself,
and finally the "lost response" fault (the work is done, the answer is never sent).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from paperclob import (  # noqa: F401  (importing them registers the routes)
    errors,
    routes_admin,
    routes_orders,
    routes_private,
    routes_public,
)
from paperclob.config import PaperConfig
from paperclob.exchange import Exchange
from paperclob.faults import Faults, draw, retry_after_header
from paperclob.render import dumps
from paperclob.routes import ROUTER, Request, Response
from paperclob.stream import PATHS
from paperclob.wsserver import raw_request

log = logging.getLogger("paperclob")

ORDER_POSTS = ("/order", "/orders")


class Dispatcher:
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except errors.ApiError as exc:
            return Response(exc.body(), status=exc.status, headers=exc.headers)
        except Exception:  # a bug must answer 500, not kill the connection thread
            log.exception("internal error on %s %s", request.method, request.path)
            return Response({"error": "Internal Server Error"}, status=500)

    def _handle(self, request: Request) -> Response:
        handler = ROUTER.route(request.method, request.path)
        if request.path.startswith("/_admin/"):
            if handler is None or not self.exchange.config.admin:
                raise errors.ApiError(404, "Not Found")
            with self.exchange.lock:
                return handler(self.exchange, request)
        delay = self.exchange.faults.latency_ms
        if delay > 0:
            time.sleep(delay / 1000)
        with self._held(request), self.exchange.lock:
            refusal = self._injected_refusal(request)
            if refusal is not None:
                return refusal
            if handler is None:
                status = 405 if ROUTER.knows_path(request.path) else 404
                raise errors.ApiError(
                    status, "Not Found" if status == 404 else "Method Not Allowed"
                )
            self.exchange.maintain()
            response = handler(self.exchange, request)
            response.headers.update(self._rate_headers(request))
            if request.method == "POST" and request.path in ORDER_POSTS:
                fire, self.exchange.faults.lose_response_next = Faults.take(
                    self.exchange.faults.lose_response_next
                )
                response.drop = fire
            return response

    @contextlib.contextmanager
    def _held(self, request: Request) -> Iterator[None]:
        """The `hold_next` fault: a POST /order(s) waits `hold_ms` before it is processed."""
        fire, seconds = False, 0.0
        if request.method == "POST" and request.path in ORDER_POSTS:
            with self.exchange.lock:
                faults = self.exchange.faults
                if faults.applies_to(request.path):
                    fire, faults.hold_next = Faults.take(faults.hold_next)
                    seconds = faults.hold_ms / 1000
        if not fire:
            yield
            return
        with self.exchange.holds.hold(seconds):
            yield

    def _rate_headers(self, request: Request) -> dict[str, str]:
        limiter = self.exchange.rate_limiter
        remaining = limiter.remaining(request.header("POLY_ADDRESS"))
        if limiter.limit is None or remaining is None or not request.header("POLY_ADDRESS"):
            return {}
        return {
            "X-RateLimit-Limit": str(limiter.limit.requests),
            "X-RateLimit-Remaining": str(remaining),
        }

    def _injected_refusal(self, request: Request) -> Response | None:
        exchange, faults = self.exchange, self.exchange.faults
        wait = exchange.rate_limiter.check(request.header("POLY_ADDRESS"), exchange.now_float())
        if wait is not None:
            return _too_many(wait)
        if not faults.applies_to(request.path):
            return None
        fire, faults.throttle_next = Faults.take(faults.throttle_next)
        if fire:
            return _too_many(faults.retry_after_s)
        fire, faults.error_5xx_next = Faults.take(faults.error_5xx_next)
        if fire or draw(exchange.rng, faults.error_5xx_rate):
            return Response({"error": "Internal Server Error"}, status=faults.error_status)
        if request.method == "GET" and request.path == "/data/orders":
            fire, faults.fail_open_orders_next = Faults.take(faults.fail_open_orders_next)
            if fire:
                return Response({"error": "could not fetch open orders"}, status=500)
        return None


def _too_many(seconds: float) -> Response:
    return Response(
        {"error": "Too Many Requests"},
        status=429,
        headers={"Retry-After": retry_after_header(seconds)},
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "paperclob"
    sys_version = ""
    wbufsize = 1 << 16  # headers and body leave in one write
    timeout = 300  # an idle keep-alive connection is closed after this long
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small request/response pairs on a kept-alive socket: never wait for Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_DELETE = do_PUT = do_GET

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        if parts.path in PATHS and self.headers.get("Upgrade", "").lower() == "websocket":
            self._serve_websocket(parts.path)
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.upper(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        response = self.server.dispatcher.handle(request)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = response.raw if response.raw is not None else dumps(response.payload)
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _serve_websocket(self, path: str) -> None:
        """Hand the connection to the stream (it speaks WebSocket from here on, stream.py)."""
        self.close_connection = True
        raw = raw_request(self.requestline, list(self.headers.items()))
        self.server.dispatcher.exchange.stream.serve(self.connection, raw, path)

    def handle(self) -> None:
        # A client that gave up (its timeout, e.g. during a held POST) is gone: its answer is
        # dropped quietly instead of a traceback per request.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def finish(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().finish()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            log.info("%s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, verbose: bool) -> None:
        self.dispatcher = dispatcher
        self.verbose = verbose
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut kept-alive connections so clients see the server gone instead of hanging."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class PaperExchange:
    """A paper exchange you can embed: `with PaperExchange() as px: url = px.url`.

    `start()` binds (port 0 = any free port, on 127.0.0.1 by default), serves from a background
    thread and returns the base URL. `exchange` (also `state`) is the live in-process state.
    """

    def __init__(self, config: PaperConfig | None = None, *, verbose: bool = False) -> None:
        self.config = config or PaperConfig()
        self.exchange = Exchange(self.config)
        self.verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> Exchange:
        return self.exchange

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the paper exchange is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        if self._server is not None:
            return self.url
        self._server = _Server(
            (self.config.host, self.config.port), Dispatcher(self.exchange), self.verbose
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="paperclob-server",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        self.exchange.stream.stop()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> PaperExchange:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
