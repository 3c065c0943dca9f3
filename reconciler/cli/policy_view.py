"""The CLI's side of the policy gates: `apply --override RULE --reason TEXT`, the verdicts as
`plan`, `apply` and `status` print them, and `policy-check` (the files against the public book,
with no key and no state file: for CI and pre-commit hooks).

The verdicts themselves are warnings of the plan (one line each, with their effect), so the
plan's text already lists them; this adds the totals, the plan digest an override is journaled
with, and the command that would let the soft ones through.
"""

from __future__ import annotations

import argparse
import getpass
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.settings import Settings, SettingsError
from reconciler.cli.wiring import connect
from reconciler.clob import ClobClient
from reconciler.engine import check_declared, load_desired, verdict_json
from reconciler.planner import Override
from reconciler.spec import Rule

RULE_NAMES = tuple(r.value for r in Rule)


def add_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--override", action="append", choices=RULE_NAMES, metavar="RULE",
                        help="apply past this soft policy rule's violations, for this pass only "
                             f"(journaled; repeatable): {', '.join(RULE_NAMES)}")
    parser.add_argument("--reason", metavar="TEXT",
                        help="why the override is needed (required with --override; one line, "
                             "shown in `history`)")


def overrides_from(args: argparse.Namespace) -> list[Override]:
    """The overrides a command was given, with the OS user; SettingsError when malformed."""
    rules = list(dict.fromkeys(getattr(args, "override", None) or ()))
    reason = getattr(args, "reason", None)
    if not rules:
        if reason is not None:
            raise SettingsError("--reason goes with --override RULE")
        return []
    if reason is None:
        raise SettingsError("--override needs --reason TEXT: say why, it is journaled")
    user = os_user()
    try:
        return [Override(Rule(rule), reason, user) for rule in rules]
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return "unknown"


def policy_text(policy: Mapping[str, Any] | None) -> str:
    """Totals of a pass's verdicts and what to do about the held ones ("" without any)."""
    if not policy:
        return ""
    verdicts = policy.get("verdicts") or []
    held = policy.get("held_tokens") or []
    lines = [f"Policy: {len(verdicts)} verdict(s), {len(held)} token(s) held; plan digest "
             f"{str(policy.get('plan_digest', ''))[:16]}"]
    soft = sorted({v["rule"] for v in verdicts
                   if v.get("enforcement") == "soft" and v.get("effect") == "held"})
    if soft:
        flags = " ".join(f"--override {rule}" for rule in soft)
        lines.append(f"  to apply past the soft ones once: reconciler apply {flags} "
                     "--reason TEXT")
    for rule in policy.get("overrides_not_needed") or []:
        lines.append(f"  --override {rule} was not needed: no soft {rule} violation this pass")
    return "\n".join(lines)


def status_policy_text(status: Mapping[str, Any]) -> str:
    """The policy lines of `status`: the verdicts of the last pass, until they clear."""
    run = status.get("last_run") or {}
    policy = (run.get("summary") or {}).get("policy")
    if not policy or not policy.get("verdicts"):
        return "policy:            no violation at the last run"
    held = policy.get("held_tokens") or []
    lines = [f"policy:            {len(policy['verdicts'])} verdict(s) at the last run, "
             f"{len(held)} token(s) held"]
    for verdict in policy["verdicts"]:
        lines.append(f"  {verdict.get('rule')} ({verdict.get('enforcement')}, "
                     f"{verdict.get('effect')}): {verdict.get('message')}")
    return "\n".join(lines)


def policy_check(args: argparse.Namespace, settings: Settings) -> int:
    """`reconciler policy-check [DIR]`: every declared level against the rules that need no
    account. Exit 0 when nothing would be held, 1 when something would (or the files are
    invalid)."""
    directory = Path(args.dir) if args.dir else settings.desired_dir
    loaded = load_desired(directory, now=time.time())
    if loaded.spec is None:
        print("\n".join(str(e) for e in loaded.errors))
        return 1
    if settings.paper:
        with connect(settings, l2=False) as conn:
            verdicts, unchecked = check_declared(loaded.spec, conn.client, now=int(time.time()))
    else:
        if not settings.host:
            raise SettingsError("policy-check reads the public order books: set CLOB_HOST or "
                                "--host (e.g. https://clob.polymarket.com); no key is needed")
        client = ClobClient(settings.host, chain_id=settings.chain_id,
                            timeout=settings.request_timeout_seconds)
        verdicts, unchecked = check_declared(loaded.spec, client, now=int(time.time()))
    held = [v for v in verdicts if v.holds]
    if args.json:
        print(out.dumps({"ok": not held, "verdicts": [verdict_json(v) for v in verdicts],
                         "needs_the_account": unchecked}))
    else:
        for verdict in verdicts:
            print(f"{verdict.rule} ({verdict.enforcement}): {verdict.message}")
        if unchecked:
            print(f"not checked here (they need the account: `reconciler plan`): "
                  f"{', '.join(unchecked)}")
        print(f"{directory}: {len(held)} verdict(s) would hold tokens" if held
              else f"{directory}: no verdict would hold a token")
    return 1 if held else 0


__all__ = ["add_override_options", "os_user", "overrides_from", "policy_check", "policy_text",
           "status_policy_text"]
