"""Prometheus metrics in the text exposition format, served on localhost when asked for.

A tiny registry instead of a dependency: a handful of counters and gauges, each a name, a help
line and labelled values, rendered as text format 0.0.4. The daemon updates it after each tick;
`--metrics-port` serves `/metrics` on 127.0.0.1 only (the numbers say what the account is doing,
which is nobody else's business).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler.engine import TickResult
from reconciler.model import TradingRestriction
from reconciler.spec import Enforcement, Rule

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    name: str
    kind: str  # counter | gauge
    help: str
    values: dict[Labels, float] = field(default_factory=dict)


class Metrics:
    """Counters and gauges the daemon keeps; thread-safe; rendered by `render()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}
        self._collectors: list[Callable[[Metrics], None]] = []
        for name, kind, text in (
            ("reconciler_ticks_total", "counter", "Reconcile ticks run, by outcome."),
            ("reconciler_actions_total", "counter", "Exchange actions taken, by kind."),
            ("reconciler_errors_total", "counter", "Ticks that ended in an error."),
            ("reconciler_drift", "gauge", "Changes (posts + cancels) the last plan needed."),
            ("reconciler_last_success_timestamp_seconds", "gauge",
             "Unix time of the last successful tick."),
            ("reconciler_applied_revision", "gauge", "Id of the desired revision in force."),
            ("reconciler_spec_valid", "gauge", "1 when the desired files are valid, else 0."),
            ("reconciler_tick_duration_seconds", "gauge", "Duration of the last tick."),
            ("reconciler_consecutive_failures", "gauge", "Tick failures since the last success."),
            ("reconciler_trading_mode", "gauge",
             "1 for the exchange's trading mode the last tick obeyed (normal: none), else 0."),
            ("reconciler_targeted_passes_total", "counter",
             "Targeted passes the stream's events ran, by outcome."),
            ("reconciler_targeted_pass_duration_seconds", "gauge",
             "Duration of the last targeted pass."),
            ("reconciler_stream_connected", "gauge",
             "1 while the channel's WebSocket is connected, else 0."),
            ("reconciler_stream_last_event_timestamp_seconds", "gauge",
             "Unix time of the last event read from the stream."),
            ("reconciler_stream_reconnects_total", "counter",
             "Times a stream channel connected again after losing its connection."),
            ("reconciler_stream_events_total", "counter", "Events read from the stream."),
            ("reconciler_stream_resyncs_total", "counter",
             "Sweeps the stream asked for: (re)connects, losses, gaps, garbled frames."),
            ("reconciler_stream_protocol_errors_total", "counter",
             "Stream frames that could not be trusted (the connection was dropped)."),
            ("reconciler_policy_violations", "gauge",
             "Policy verdicts of the last tick, by rule and enforcement (held while not 0, "
             "unless advisory)."),
        ):
            self._families[name] = _Family(name=name, kind=kind, help=text)

    def add_collector(self, collect: Callable[[Metrics], None]) -> None:
        """`collect(self)` runs before every render, for values kept elsewhere (the stream)."""
        with self._lock:
            self._collectors.append(collect)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            values = self._families[name].values
            values[key] = values.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._families[name].values[tuple(sorted(labels.items()))] = float(value)

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._families[name].values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        with self._lock:
            collectors = list(self._collectors)
        for collect in collectors:
            collect(self)
        lines: list[str] = []
        with self._lock:
            for family in self._families.values():
                lines.append(f"# HELP {family.name} {family.help}")
                lines.append(f"# TYPE {family.name} {family.kind}")
                for labels, value in sorted(family.values.items()):
                    lines.append(f"{family.name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def record_tick_result(metrics: Metrics, result: TickResult) -> None:
    """Copy what a successful tick carries into metrics (drift and revision when it has them)."""
    counts = {
        "posted": result.posted,
        "cancelled": result.cancelled,
        "rejected": result.rejected,
        "unknown": result.unknown,
    }
    for kind, count in counts.items():
        if count:
            metrics.inc("reconciler_actions_total", count, kind=kind)
    if result.drift is not None:
        metrics.set("reconciler_drift", result.drift)
    if result.revision_id is not None:
        metrics.set("reconciler_applied_revision", result.revision_id)
    metrics.set("reconciler_spec_valid", 1 if result.spec_valid else 0)
    mode = result.trading_mode
    current = str(mode.get("mode")) if mode else "normal"
    for name in ("normal", *(r.value for r in TradingRestriction)):
        metrics.set("reconciler_trading_mode", 1 if name == current else 0, mode=name)
    record_policy(metrics, result.run_summary.get("policy"))


def record_success(metrics: Metrics, result: TickResult) -> None:
    """A tick that did its job: its counters, and what its result says (record_tick_result)."""
    metrics.inc("reconciler_ticks_total", outcome="success")
    metrics.set("reconciler_last_success_timestamp_seconds", round(time.time(), 3))
    metrics.set("reconciler_consecutive_failures", 0)
    record_tick_result(metrics, result)


def record_failure(metrics: Metrics, *, failures: int) -> None:
    """A failed tick, the `failures`-th in a row."""
    metrics.inc("reconciler_ticks_total", outcome="failure")
    metrics.inc("reconciler_errors_total")
    metrics.set("reconciler_consecutive_failures", failures)


def record_policy(metrics: Metrics, policy: object) -> None:
    """Verdicts per (rule, enforcement): bounded labels (5 x 3), every pair set each tick."""
    counts: dict[tuple[str, str], int] = {}
    verdicts = policy.get("verdicts", []) if isinstance(policy, Mapping) else []
    for verdict in verdicts:
        key = (str(verdict.get("rule")), str(verdict.get("enforcement")))
        counts[key] = counts.get(key, 0) + 1
    for rule in Rule:
        for level in Enforcement:
            metrics.set("reconciler_policy_violations", counts.get((rule.value, level.value), 0),
                        rule=rule.value, enforcement=level.value)


def record_stream_state(metrics: Metrics, state: Mapping[str, Any]) -> None:
    """Copy a `StreamState.snapshot()` into the stream's metrics."""
    for channel, info in (state.get("channels") or {}).items():
        metrics.set("reconciler_stream_connected", 1 if info.get("connected") else 0,
                    channel=channel)
    if state.get("last_event_at"):
        metrics.set("reconciler_stream_last_event_timestamp_seconds",
                    round(float(state["last_event_at"]), 3))
    for key, name in (("reconnects", "reconciler_stream_reconnects_total"),
                      ("events", "reconciler_stream_events_total"),
                      ("resyncs", "reconciler_stream_resyncs_total"),
                      ("protocol_errors", "reconciler_stream_protocol_errors_total")):
        metrics.set(name, float(state.get(key) or 0))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def make_metrics_server(metrics: Metrics, *, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server answering GET /metrics; the caller runs `serve_forever` in its thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # scrapes every few seconds would drown the journal

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def check_port_free(port: int, *, host: str = "127.0.0.1") -> None:
    """Raise OSError when `port` cannot be served on `host` (in use, or not allowed), so the
    CLI refuses before the daemon starts rather than after. Binds as the server will
    (SO_REUSEADDR), then lets go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        probe.listen(1)
