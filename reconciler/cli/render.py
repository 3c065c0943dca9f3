"""Human and machine renderings of one `Plan` (what `reconciler plan` prints).

Both read the same Plan object the apply step carries out (STYLE.md 4), so what is shown is what
would be done. The text form reads like `terraform plan`: one block per token, `+` for a post,
`-` for a cancel (with its reason), `=` for an order kept as is, `!` for a skipped token, then the
warnings and a totals line. The JSON form keeps every Decimal as a string so no consumer parses
money as a float.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reconciler.cli.blind_text import blind_json, blind_section
from reconciler.model import Cancel, Keep, LevelKey, Plan, Post

if TYPE_CHECKING:  # rendering stays pure: the report is read, never built, here
    from reconciler.engine import PlanReport


def _short_id(order_id: str) -> str:
    return order_id if len(order_id) <= 14 else f"{order_id[:10]}…{order_id[-4:]}"


def _level(key: LevelKey) -> str:
    return f"{key.side.value:<4} {key.price}"


def _post_line(post: Post) -> str:
    flags = [post.order_type.value]
    if post.expires_at:
        when = datetime.fromtimestamp(post.expires_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        flags.append(f"expires {when}")
    if post.post_only:
        flags.append("post-only")
    return f"  + {_level(post.key)} x {post.size}  ({', '.join(flags)}; gen {post.generation})"


def _cancel_line(cancel: Cancel) -> str:
    return (
        f"  - {_level(cancel.key)} x {cancel.remaining}  {_short_id(cancel.order_id)}  "
        f"({cancel.reason.value})"
    )


def _keep_line(keep: Keep) -> str:
    return f"  = {_level(keep.key)} x {keep.remaining}  {_short_id(keep.order_id)}"


def render_text(plan: Plan, *, labels: Mapping[str, str] | None = None, keeps: bool = True) -> str:
    """The plan for people. `labels` maps token ids to names; `keeps=False` hides `=` lines."""
    labels = labels or {}
    lines_by_token: dict[str, list[tuple[LevelKey, int, str]]] = defaultdict(list)
    # Within a token, lines sort by level, then cancels before posts before keeps.
    for cancel in plan.cancels:
        lines_by_token[cancel.key.token_id].append((cancel.key, 0, _cancel_line(cancel)))
    for post in plan.posts:
        lines_by_token[post.key.token_id].append((post.key, 1, _post_line(post)))
    if keeps:
        for keep in plan.keeps:
            lines_by_token[keep.key.token_id].append((keep.key, 2, _keep_line(keep)))
    skipped = {s.token_id: s.reason for s in plan.skipped}
    out: list[str] = []
    for token_id in sorted(lines_by_token.keys() | skipped.keys()):
        label = labels.get(token_id)
        out.append(f"token {token_id}" + (f"  ({label})" if label else ""))
        if token_id in skipped:
            out.append(f"  ! skipped: {skipped[token_id]}")
        out.extend(line for _, _, line in sorted(lines_by_token[token_id], key=lambda t: t[:2]))
        out.append("")
    if plan.warnings:
        out.append("Warnings:")
        out.extend(f"  ! {warning}" for warning in plan.warnings)
        out.append("")
    if plan.is_empty and plan.blind:
        out.append(f"No changes now: {len(plan.blind)} token(s) are blind, and their posts "
                   "wait for `reconciler adopt`.")
    elif plan.is_empty and plan.skipped:
        # Not "everything matches": the skipped tokens were not looked at.
        out.append(f"No changes. {len(plan.skipped)} token(s) skipped and left untouched "
                   "(see above); the others match the desired state.")
    elif plan.is_empty:
        out.append("No changes. The open orders match the desired state.")
    out.append(
        f"Plan: {len(plan.posts)} to post, {len(plan.cancels)} to cancel, "
        f"{len(plan.keeps)} unchanged."
    )
    return "\n".join(out) + "\n"


def _text(value: Decimal) -> str:
    return format(value, "f")


def _key_json(key: LevelKey) -> dict[str, str]:
    return {"token_id": key.token_id, "side": key.side.value, "price": _text(key.price)}


def render_json(plan: Plan) -> dict[str, Any]:
    """The plan for programs: plain JSON types, Decimals as strings."""
    return {
        "summary": {
            "post": len(plan.posts),
            "cancel": len(plan.cancels),
            "keep": len(plan.keeps),
            "skipped": len(plan.skipped),
            "empty": plan.is_empty,
        },
        "posts": [
            {
                **_key_json(p.key),
                "size": _text(p.size),
                "order_type": p.order_type.value,
                "post_only": p.post_only,
                "expires_at": p.expires_at,
                "generation": p.generation,
                "neg_risk": p.neg_risk,
                "tick_size": _text(p.tick_size),
            }
            for p in plan.posts
        ],
        "cancels": [
            {
                **_key_json(c.key),
                "order_id": c.order_id,
                "remaining": _text(c.remaining),
                "reason": c.reason.name,
                "reason_text": c.reason.value,
            }
            for c in plan.cancels
        ],
        "keeps": [
            {**_key_json(k.key), "order_id": k.order_id, "remaining": _text(k.remaining)}
            for k in plan.keeps
        ],
        "skipped": [{"token_id": s.token_id, "reason": s.reason} for s in plan.skipped],
        "blind": blind_json(plan.blind),
        "warnings": list(plan.warnings),
        "generations": [
            {**_key_json(g.key), "spec_digest": g.spec_digest, "generation": g.generation}
            for g in plan.generations
        ],
    }


def report_text(report: PlanReport) -> str:
    """What `reconciler plan` prints for a report (the plan, or why there is none)."""
    if report.plan is None:
        if report.refusal is not None:
            return report.refusal
        return "The desired state is invalid; nothing would change:\n" + "\n".join(
            report.spec_errors
        )
    text = render_text(report.plan, labels=report.labels)
    if report.plan.blind:  # invariant 10: what `reconciler adopt` would take
        text += "\n" + blind_section(report.plan.blind, labels=report.labels)
    if report.spec_errors:  # a tick would apply the revision kept in force: show that, and why
        head = "The desired files are invalid:\n" + "\n".join(report.spec_errors)
        text = f"{head}\n{report.kept} stays in force; with it:\n{text}"
    return text


def report_json(report: PlanReport) -> dict[str, Any] | None:
    return render_json(report.plan) if report.plan is not None else None
