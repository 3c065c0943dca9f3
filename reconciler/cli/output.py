"""How the CLI prints things: plain tables for people, JSON for scripts.

Presentation only: every function takes values the library already computed and returns text.
Decimals print exactly as they are (never through float); JSON carries them as strings.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from reconciler.cli.blind_text import status_lines
from reconciler.model import OpenOrder


def to_jsonable(value: Any) -> Any:
    """Dataclasses, Decimals, enums, paths, sets and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Decimal, Path)):
        return str(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, sort_keys=True, ensure_ascii=False)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A left-aligned text table; an empty table says so."""
    body = [[str(cell) for cell in row] for row in rows]
    if not body:
        return "(none)"
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def short_token(token_id: str) -> str:
    return token_id if len(token_id) <= 14 else f"{token_id[:6]}…{token_id[-6:]}"


def short_id(order_id: str) -> str:
    return order_id if len(order_id) <= 14 else f"{order_id[:10]}…"


def orders_table(orders: Sequence[OpenOrder], labels: Mapping[str, str] | None = None) -> str:
    labels = labels or {}
    rows = [
        (labels.get(o.token_id) or short_token(o.token_id), o.side.value, o.price,
         o.original_size, o.size_matched, o.order_type.value, short_id(o.order_id))
        for o in sorted(orders, key=lambda o: (o.token_id, o.side.value, o.price, o.order_id))
    ]
    return table(("TOKEN", "SIDE", "PRICE", "SIZE", "MATCHED", "TYPE", "ORDER"), rows)


def trades_table(trades: Sequence[Any]) -> str:
    rows = [
        (when(t.match_time * 1000 if t.match_time < 10**12 else t.match_time),
         short_token(t.asset_id), t.side.value, t.price, t.size, t.status, short_id(t.id))
        for t in trades
    ]
    return table(("TIME", "TOKEN", "SIDE", "PRICE", "SIZE", "STATUS", "TRADE"), rows)


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_text(status: Mapping[str, Any], *, daemon_pid: int | None) -> str:
    lines = [f"state file:        {status.get('state_file')}", *status_lines(status)]
    lines.append("daemon:            " + (f"running (pid {daemon_pid})" if daemon_pid
                                          else "not running"))
    lines.append(f"last run:          {_run_line(status.get('last_run'))}")
    lines.append(f"last success:      {_run_line(status.get('last_success'))}")
    lines.append(f"exchange mode:     {_mode_line(trading_mode(status))}")
    lines.append(f"stream:            {_stream_line(status)}")
    lines.append(f"applied revision:  {_revision_line(status.get('applied_revision'))}")
    in_force = status.get("revision_in_force")
    lines.append(f"in force:          {_revision_line(in_force)}")
    spec_error = status.get("spec_error")
    if spec_error:
        lines.append("desired files:     INVALID " + (
            f"(revision #{in_force.get('id')} stays in force)" if in_force
            else "(no valid revision: nothing changes)"))
        lines += [f"  {line}" for line in str(spec_error).splitlines()]
    else:
        lines.append("desired files:     valid at the last read")
    resting = status.get("resting_orders") or {}
    lines.append(f"resting orders:    {sum(resting.values())}")
    lines += [f"  {short_token(token)}: {count}" for token, count in sorted(resting.items())]
    unresolved = status.get("unresolved_intents") or 0
    lines.append(f"unresolved orders: {unresolved}"
                 + (" (resolved on the next pass: looked up by hash, and the identical order sent"
                    " again when the exchange has none)" if unresolved else ""))
    return "\n".join(lines)


def trading_mode(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The exchange's trading mode the last run obeyed (its summary's `trading_mode`)."""
    run = status.get("last_run") or {}
    mode = (run.get("summary") or {}).get("trading_mode")
    return mode if isinstance(mode, Mapping) else None


def _stream_line(status: Mapping[str, Any]) -> str:
    """The WebSocket channels as the last run saw them (its summary's `stream`)."""
    run = status.get("last_run") or {}
    stream = (run.get("summary") or {}).get("stream")
    if not isinstance(stream, Mapping):
        return "off (no stream at the last run: fills are seen at the next tick)"
    channels = stream.get("channels") or {}
    parts = [f"{name} {'connected' if (info or {}).get('connected') else 'DOWN'}"
             for name, info in sorted(channels.items())]
    last = stream.get("last_event_at")
    text = ", ".join(parts) + "; last event " + (
        when(int(float(last) * 1000)) if last else "none yet")
    text += f"; reconnects {stream.get('reconnects', 0)}"
    if stream.get("protocol_errors"):
        text += f"; garbled frames {stream['protocol_errors']}"
    return text + " (as of the last run)"


def _mode_line(mode: Mapping[str, Any] | None) -> str:
    if not mode:
        return "normal (no trading mode in force at the last run)"
    text = f"{mode.get('mode')} since {when(int(float(mode.get('since') or 0) * 1000))}: "
    text += str(mode.get("may_do"))
    text += f"; held until {when(int(float(mode.get('until') or 0) * 1000))}"
    if mode.get("message"):
        text += f" (exchange: {mode['message']})"
    return text


def _run_line(run: Mapping[str, Any] | None) -> str:
    if not run:
        return "-"
    text = f"#{run.get('id')} {run.get('outcome') or 'running'} at {when(run.get('started_ms'))}"
    summary = run.get("summary") or {}
    counts = [f"{k} {summary[k]}" for k in ("posted", "cancelled", "kept") if summary.get(k)]
    if counts:
        text += " (" + ", ".join(counts) + ")"
    if run.get("error"):
        text += f": {run['error']}"
    return text


def _revision_line(revision: Mapping[str, Any] | None) -> str:
    if not revision:
        return "-"
    text = f"#{revision.get('id')} digest {str(revision.get('digest'))[:12]}"
    if revision.get("git_commit"):
        text += f" (git {str(revision['git_commit'])[:10]})"
    return text + f" at {when(revision.get('created_ms'))}"


def history_text(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (e.get("id"), when(e.get("intent_ms")), e.get("run_id") or "-", e.get("kind"),
         short_id(str(e.get("order_id") or "-")), e.get("outcome") or "(no answer)",
         _clip(str(e.get("result") or ""), 60))
        for e in entries
    ]
    return table(("ID", "TIME", "RUN", "KIND", "ORDER", "OUTCOME", "RESULT"), rows)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
