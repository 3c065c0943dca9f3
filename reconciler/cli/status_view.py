"""What `reconciler status` shows, read from the state file alone (read-only, beside a daemon).

Besides the store's own report (`Store.status()`: runs, revisions, resting counts), a condition
per token, as Flux shows one per object:

- the tokens are those of the revision in force, rebuilt from the files the state file keeps for
  it (the same loader as the daemon's), plus any token we still have orders resting on;
- each token's condition comes from the newest pass that planned it (`runs.summary.conditions`;
  a `--target` pass or the stream's targeted pass planned only some tokens):
  `ready`, `skipped: <why>` or `posts held: <why>`; a token no pass has planned yet is
  `not planned yet`, and when the newest pass failed, it says so;
- each level's progress: the size declared, the target now (size minus what filled in this
  generation, unless `replenish`), what rests (our live orders' remaining size), what filled
  since this generation began, and `done` when a non-replenished level filled in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from reconciler.cli.blind_text import status_lines
from reconciler.cli.output import amount, plural, token_cell, when
from reconciler.lifecycle import OrderStatus
from reconciler.model import LevelKey
from reconciler.spec import DesiredState, load_files
from reconciler.store import Store

READY = "ready"
NOT_PLANNED = "not planned yet"


def gather(store: Store) -> dict[str, Any]:
    """Everything `status` shows, as plain JSON values."""
    view = dict(store.status())
    in_force = view.get("revision_in_force")
    spec = _spec_of(store, in_force["id"]) if in_force else None
    view["tokens"] = _tokens(store, spec, planned=_planned_runs(store))
    suspension = store.suspension()
    view["suspension"] = None if suspension is None else {
        "by": suspension.by, "at_ms": suspension.at_ms, "reason": suspension.reason,
        "cancel_requested": suspension.cancel_requested,
        "cancel_done_ms": suspension.cancel_done_ms, "cancel_result": suspension.cancel_result,
    }
    return view


def _spec_of(store: Store, revision_id: int) -> DesiredState | None:
    contents = store.revision_files(revision_id)
    return load_files(contents).spec if contents else None


def _planned_runs(store: Store) -> list[dict[str, Any]]:
    """The newest passes that planned, newest first (a `--target` pass planned only some
    tokens: a token's condition comes from the newest pass that planned it)."""
    return [run for run in store.recent_runs(50)
            if "conditions" in (run.get("summary") or {})
            or "planned_posts" in (run.get("summary") or {})]


def _condition_of(token_id: str, planned: list[dict[str, Any]]) -> str | None:
    for run in planned:
        summary = run.get("summary") or {}
        # A pass that planned some tokens only (`--target`, or the stream's targeted pass,
        # whose `scope` are its tokens) says nothing about the others.
        targets, scope = summary.get("targets"), summary.get("scope")
        if (targets is not None and token_id not in targets) or \
                (scope is not None and token_id not in scope):
            continue
        if summary.get("suspended"):
            return str(summary["suspended"])
        conditions = summary.get("conditions")
        if conditions is None:  # a pass recorded before conditions were: only skips are known
            skipped = summary.get("skipped") or []
            return "skipped (the reason was not recorded)" if token_id in skipped else READY
        return str(conditions.get(token_id, READY))
    return None


def _tokens(store: Store, spec: DesiredState | None,
            planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resting: dict[LevelKey, Decimal] = {}
    orders_by_token: dict[str, int] = {}
    for order in store.orders(statuses=[OrderStatus.LIVE]):
        resting[order.key] = resting.get(order.key, Decimal(0)) + order.size - order.size_matched
        orders_by_token[order.key.token_id] = orders_by_token.get(order.key.token_id, 0) + 1
    states = store.level_states()
    tokens: list[dict[str, Any]] = []
    declared = {t.token_id: t for t in spec.tokens} if spec is not None else {}
    for token_id in sorted(declared.keys() | orders_by_token.keys()):
        token = declared.get(token_id)
        condition = _condition_of(token_id, planned)
        if token is None:
            condition = "not declared: its orders are cancelled on the next pass"
        elif condition is None:
            condition = NOT_PLANNED
        levels = []
        for level in token.levels if token is not None else ():
            state = states.get(level.key)
            current = state is not None and state.spec_digest == level.spec_digest
            filled = state.filled if current and state is not None else Decimal(0)
            target = level.size if level.replenish else max(level.size - filled, Decimal(0))
            levels.append({
                "side": level.key.side.value, "price": str(level.key.price),
                "size": str(level.size), "target": str(target),
                "resting": str(resting.get(level.key, Decimal(0))), "filled": str(filled),
                "done": not level.replenish and filled >= level.size,
                "replenish": level.replenish,
                "generation": state.generation if current and state is not None else None,
            })
        tokens.append({
            "token_id": token_id, "label": token.label if token is not None else "",
            "condition": condition, "orders_resting": orders_by_token.get(token_id, 0),
            "levels": levels,
        })
    return tokens


# --- text ------------------------------------------------------------------------------------


def status_text(view: Mapping[str, Any], *, daemon_pid: int | None, wide: bool = False) -> str:
    lines = [f"state file:        {view.get('state_file')}", *status_lines(view)]
    lines.append("daemon:            " + (f"running (pid {daemon_pid})" if daemon_pid
                                          else "not running"))
    lines.append(f"suspended:         {_suspension_line(view.get('suspension'))}")
    lines.append(f"last run:          {_run_line(view.get('last_run'))}")
    lines.append(f"last success:      {_run_line(view.get('last_success'))}")
    lines.append(f"exchange mode:     {_mode_line(trading_mode(view))}")
    lines.append(f"stream:            {_stream_line(view)}")
    lines.append(f"applied revision:  {revision_line(view.get('applied_revision'))}")
    in_force = view.get("revision_in_force")
    lines.append(f"in force:          {revision_line(in_force)}")
    spec_error = view.get("spec_error")
    if spec_error:
        lines.append("desired files:     INVALID " + (
            f"(revision #{in_force.get('id')} stays in force)" if in_force
            else "(no valid revision: nothing changes)"))
        lines += [f"  {line}" for line in str(spec_error).splitlines()]
    else:
        lines.append("desired files:     valid at the last read")
    resting = view.get("resting_orders") or {}
    lines.append(f"resting orders:    {sum(resting.values())}")
    unresolved = view.get("unresolved_intents") or 0
    lines.append(f"unresolved orders: {unresolved}"
                 + (" (resolved on the next pass: looked up by hash, and the identical order sent"
                    " again when the exchange has none)" if unresolved else ""))
    tokens = view.get("tokens") or []
    if tokens:
        lines.append(f"tokens:            {plural(len(tokens), 'token')}")
    for token in tokens:
        labels = {token["token_id"]: token["label"]} if token.get("label") else {}
        lines.append(f"  {token_cell(token['token_id'], labels, wide=wide)}: "
                     f"{token['condition']}")
        for level in token.get("levels") or []:
            lines.append("    " + _level_line(level))
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


def _suspension_line(suspension: Mapping[str, Any] | None) -> str:
    if not suspension:
        return "no"
    text = f"YES, by {suspension['by']} at {when(suspension['at_ms'])}"
    if suspension.get("reason"):
        text += f" ({suspension['reason']})"
    text += ": nothing is posted or cancelled until `reconciler resume`"
    if suspension.get("cancel_requested"):
        done = suspension.get("cancel_done_ms")
        text += (f"; --cancel done at {when(done)}: {suspension.get('cancel_result')}" if done
                 else "; --cancel pending (the next pass cancels our orders)")
    return text


def _level_line(level: Mapping[str, Any]) -> str:
    text = (f"{level['side']:<4} {amount(level['price'])}  target {amount(level['target'])} "
            f"of {amount(level['size'])}, resting {amount(level['resting'])}, filled "
            f"{amount(level['filled'])} this generation")
    if level.get("replenish"):
        text += " (replenished)"
    elif level.get("done"):
        text += ": done"
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


def revision_line(revision: Mapping[str, Any] | None) -> str:
    """`#N digest D (git C, dirty) at T` for one revision."""
    if not revision:
        return "-"
    text = f"#{revision.get('id')} digest {str(revision.get('digest'))[:12]}"
    commit = revision.get("git_commit")
    if commit:
        text += f" (git {git_text(str(commit))})"
    return text + f" at {when(revision.get('created_ms'))}"


def git_text(commit: str) -> str:
    """A recorded commit for people: `abc1234567`, or `abc1234567, dirty` when the desired
    directory had uncommitted changes (`git_commit_of` records `<sha>-dirty`)."""
    sha, dirty = (commit[: -len("-dirty")], True) if commit.endswith("-dirty") else (commit, False)
    return f"{sha[:10]}, dirty: uncommitted changes" if dirty else sha[:10]
