"""Saved plans: `plan -out FILE` writes the plan with the digests of what it was computed from;
`apply FILE` applies exactly that plan, or refuses.

The file is JSON: the plan as `render_json` has it, the targets it was cut to, the account,
chain, host and state file it was made for, and four digests (engine/scope.py `Inputs`, plus the
plan's own): the desired files, the open orders, the market info, and the plan. `apply FILE`
runs a normal pass that stops before applying anything (the engine's `guard`): when the desired
files, the open orders, the market info or the plan computed now differ from the saved ones, it
refuses with one line that says which, and applies nothing. When all four agree, the plan applied
is the plan saved (it was computed by the same code from the same inputs).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli.render import render_json
from reconciler.cli.settings import Settings, SettingsError
from reconciler.engine import Inputs, PlanReport
from reconciler.model import Plan

FORMAT = "reconciler-plan"
VERSION = 1
MAX_PLAN_BYTES = 64 * 1024 * 1024


def plan_digest(plan: Plan) -> str:
    text = json.dumps(render_json(plan), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    account: str
    chain_id: int
    host: str
    state_file: str
    targets: frozenset[str] | None
    inputs: Inputs
    plan_digest: str
    summary: dict[str, Any]


def write_plan(path: Path, report: PlanReport, *, settings: Settings, account: str, host: str,
               targets: frozenset[str] | None) -> None:
    if report.plan is None or report.inputs is None:
        raise SettingsError("there is no plan to save (see the errors above)")
    data = {
        "format": FORMAT, "version": VERSION, "created_ms": int(time.time() * 1000),
        "account": account, "chain_id": settings.chain_id, "host": host,
        "state_file": str(settings.state_path.absolute()),
        "targets": sorted(targets) if targets is not None else None,
        "digests": {"desired": report.inputs.desired, "open_orders": report.inputs.open_orders,
                    "markets": report.inputs.markets, "plan": plan_digest(report.plan)},
        "plan": render_json(report.plan),
    }
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except OSError as exc:
        raise SettingsError(f"cannot write the plan to {path}: {exc.strerror}") from None


def read_plan(path: Path) -> SavedPlan:
    """The saved plan at `path`, refused with one line when it is not one."""
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise SettingsError(f"{path} is {size} bytes: not a plan file")
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise SettingsError(f"no plan file at {path}; make one with `reconciler plan -out "
                            f"{path}`") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise SettingsError(f"{path} is not a plan file (not JSON); make one with `reconciler "
                            f"plan -out {path}`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SettingsError(f"{path} is not a plan file made by `reconciler plan -out`")
    if data.get("version") != VERSION:
        raise SettingsError(f"{path} is a plan file of version {data.get('version')!r}; this "
                            f"reconciler reads version {VERSION}: plan again")
    try:
        digests = data["digests"]
        targets = data["targets"]
        return SavedPlan(
            path=path, account=str(data["account"]), chain_id=int(data["chain_id"]),
            host=str(data["host"]), state_file=str(data["state_file"]),
            targets=frozenset(str(t) for t in targets) if targets is not None else None,
            inputs=Inputs(desired=str(digests["desired"]),
                          open_orders=str(digests["open_orders"]),
                          markets=str(digests["markets"])),
            plan_digest=str(digests["plan"]), summary=dict(data["plan"]["summary"]),
        )
    except (KeyError, TypeError, ValueError):
        raise SettingsError(f"{path} is a damaged plan file (a field is missing or of the wrong "
                            "type); plan again") from None


def check_made_for(saved: SavedPlan, *, settings: Settings, account: str, host: str) -> None:
    """Refuse a plan made for another account, chain, exchange or state file."""
    here = str(settings.state_path.absolute())
    for what, then, now in (("account", saved.account.lower(), account.lower()),
                            ("chain", str(saved.chain_id), str(settings.chain_id)),
                            ("exchange", saved.host, host), ("state file", saved.state_file, here)):
        if then != now:
            raise SettingsError(f"{saved.path} was planned for {what} {then}, not {now}; "
                                "plan again here")


def guard_for(saved: SavedPlan) -> Callable[[Plan, Inputs], str | None]:
    """The engine's guard for `apply FILE`: None when the pass would apply the saved plan."""
    return guard(saved.inputs, saved.plan_digest, what=str(saved.path),
                 again=f"run `reconciler plan -out {saved.path}` again, review it, and apply "
                       "that")


def guard(inputs_then: Inputs, digest_then: str, *, what: str,
          again: str) -> Callable[[Plan, Inputs], str | None]:
    """A guard that refuses a pass whose inputs or plan differ from those shown (`what`)."""

    def check(plan: Plan, inputs: Inputs) -> str | None:
        if inputs.desired != inputs_then.desired:
            return f"the desired files changed since {what} was planned; {again}"
        if inputs.open_orders != inputs_then.open_orders:
            return (f"the open orders changed since {what} was planned (an order was placed, "
                    f"filled or cancelled); {again}")
        if inputs.markets != inputs_then.markets:
            return (f"the market info (tick size, minimum size, neg-risk, status) changed since "
                    f"{what} was planned; {again}")
        if plan_digest(plan) != digest_then:
            return (f"the plan computed now differs from {what} (the state file learnt "
                    f"something since: a fill, or the outcome of an order); {again}")
        return None

    return check
