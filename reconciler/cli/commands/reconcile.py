"""`plan`, `apply` and `run`: one pass shown, one pass applied, the daemon.

`plan` only reads: the state file is opened `mode=ro` and no lock is taken, so it runs beside a
daemon on the same file; it writes nothing and resolves nothing (engine/readonly.py). `apply`
and `run` write the state file, so they hold the state lock and the account lock.

`plan --detailed-exitcode` exits 0 when nothing would change and every token is converged, 2 when
changes are pending OR a token is skipped or has its posts held (a skipped token is not
success), 1 on error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.commands.common import (
    INTERRUPTED,
    labels,
    paper_note,
    say,
    setup_logging,
    writer,
)
from reconciler.cli.logs import reopen_logs
from reconciler.cli.policy_view import overrides_from, policy_text
from reconciler.cli.progress import Progress
from reconciler.cli.render import (
    conditions_json,
    conditions_text,
    render_json,
    render_text,
    report_json,
    report_text,
)
from reconciler.cli.saved_plan import (
    check_made_for,
    guard,
    guard_for,
    plan_digest,
    read_plan,
    write_plan,
)
from reconciler.cli.settings import Settings, SettingsError, ShutdownPolicy
from reconciler.cli.targets import resolve_targets
from reconciler.cli.wiring import (
    cancel_managed_orders,
    connect,
    heartbeat_sender,
    make_reconciler,
    open_store_read_only,
    stream_setup,
)
from reconciler.daemon import Daemon, DaemonOptions, SystemdNotifier, check_port_free, holder_pid
from reconciler.engine import PlanReport, TickResult
from reconciler.model import TickOutcome
from reconciler.planner import Override

#: `run --once-and-show` gives up (exit 1) after this many failed ticks in a row.
ONCE_MAX_FAILURES = 5


def plan(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging(args, settings, default="WARNING")
    with connect(settings, derive_first=True) as conn:
        paper_note(settings, url=conn.host)
        with open_store_read_only(settings, conn) as store:
            targets = resolve_targets(args.target, settings=settings, store=store)
            reconciler = make_reconciler(conn, store)
            with Progress().attach(client=conn.client, reconciler=reconciler):
                report = reconciler.plan(read_only=True, targets=targets)
        if args.out and report.plan is not None:
            write_plan(Path(args.out), report, settings=settings, account=conn.wallet.maker,
                       host=conn.host, targets=targets)
    daemon = holder_pid(settings.state_path)
    if args.json:
        print(out.dumps(_plan_json(report, daemon_pid=daemon)))
    else:
        print(report_text(report), end="")
        if report.policy:
            print(policy_text(report.policy))
        _resolution_note(report, daemon_pid=daemon)
    if args.out and report.plan is not None:
        say(f"Saved this plan to {args.out}. `reconciler apply {args.out}` applies exactly it, "
            "and refuses if the desired files, the open orders or the market info change "
            "first.")
    if report.error:
        return 1
    pending = report.has_changes or bool(report.conditions)
    return 2 if args.detailed_exitcode and pending else 0


def _plan_json(report: PlanReport, *, daemon_pid: int | None) -> dict[str, Any]:
    return {"plan": report_json(report), "error": report.error,
            "spec_errors": list(report.spec_errors), "digest": report.digest,
            "has_changes": report.has_changes, "policy": report.policy,
            "conditions": conditions_json(report.conditions),
            "unresolved_orders": list(report.pending), "daemon_pid": daemon_pid}


def _resolution_note(report: PlanReport, *, daemon_pid: int | None) -> None:
    """`plan` resolves nothing: say who will."""
    who = (f"the daemon (pid {daemon_pid}) resolves them on its next pass" if daemon_pid
           else "the next `reconciler apply` or daemon pass resolves them")
    if report.pending:
        say(f"note: {out.plural(len(report.pending), 'order')} of ours {'has' if len(report.pending) == 1 else 'have'} an "
            f"outcome this read-only plan does not judge (unknown, or gone from the open "
            f"orders); their levels are held here, and {who}.")
    if daemon_pid:
        say(f"note: a daemon (pid {daemon_pid}) runs on this state file; it owns resolution. "
            "This plan only read the state file (mode=ro) and wrote nothing.")


def apply(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging(args, settings, default="INFO")
    overrides = overrides_from(args)
    saved = read_plan(Path(args.plan_file)) if args.plan_file else None
    if saved is not None and args.target:
        raise SettingsError("a saved plan keeps the --target it was made with; give either "
                            "the plan file or --target")
    shown = False  # the plan was printed already, before the question
    with writer(settings) as (conn, store):
        reconciler = make_reconciler(conn, store)
        progress = Progress().attach(client=conn.client, reconciler=reconciler)
        try:
            if saved is not None:
                check_made_for(saved, settings=settings, account=conn.wallet.maker,
                               host=conn.host)
                result = reconciler.tick(targets=saved.targets, guard=guard_for(saved),
                                         overrides=overrides)
            else:
                targets = resolve_targets(args.target, settings=settings, store=store)
                check: Any = None
                if _asks(args):
                    check, shown = _confirm(reconciler, targets, progress, overrides), True
                    if check is False:
                        return 1
                result = reconciler.tick(targets=targets, guard=check or None,
                                         overrides=overrides)
        except KeyboardInterrupt:
            progress.close()
            _interrupted(store)
            return INTERRUPTED
        finally:
            progress.close()
    if result.outcome is TickOutcome.REFUSED and result.plan is not None:
        if args.json:
            print(out.dumps({"success": False, "outcome": result.outcome, "error": result.error,
                             "summary": result.status_line, "plan": None, "conditions": [],
                             "policy": result.run_summary.get("policy")}))
        say(f"reconciler: {result.error}; nothing was applied")  # a plan that no longer holds
        return 1
    names = labels(settings)
    if args.json:
        print(out.dumps({"success": result.success, "outcome": result.outcome,
                         "error": result.error, "summary": result.status_line,
                         "plan": render_json(result.plan) if result.plan else None,
                         "conditions": conditions_json(result.conditions),
                         "policy": result.run_summary.get("policy")}))
    else:
        if result.plan is not None and not shown:
            print(render_text(result.plan, labels=names), end="")
        if not result.suspended and not shown:
            print(conditions_text(result.conditions, labels=names), end="")
        print("\n".join(filter(None, [policy_text(result.run_summary.get("policy")),
                                      result.status_line])))
        _print_fills(result.fills, names)
    if result.suspended:
        say(f"reconciler: {result.suspended}: this apply posted and cancelled nothing; "
            "`reconciler resume` to reconcile again")
        return 1
    # Broken files fail a one-shot apply even when the kept revision was applied (the daemon, in
    # contrast, counts that pass as a success so it keeps its watchdog and cadence).
    return 0 if result.success and result.spec_valid else 1


def _asks(args: argparse.Namespace) -> bool:
    """Ask before applying: on a terminal (stdin and stdout), unless -auto-approve or --json."""
    return not args.auto_approve and not args.json and out.is_terminal() \
        and out.is_terminal(sys.stdin)


def _confirm(reconciler: Any, targets: frozenset[str] | None, progress: Progress,
             overrides: Sequence[Override]) -> Any:
    """Show the plan (as the overrides let it through) and ask. Returns the guard that makes
    the pass apply exactly what was shown, None when there is nothing to ask about, or False
    when the answer was not yes."""
    report = reconciler.plan(targets=targets, overrides=overrides)
    progress.close()  # the question must not sit under a progress line
    print(report_text(report), end="")
    if report.policy:
        print(policy_text(report.policy))
    if not report.has_changes or report.plan is None or report.inputs is None:
        return None
    print("\nDo you want to apply this plan? Only 'yes' will be accepted.")
    try:
        answer = input("  Enter a value: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        print("Apply cancelled: nothing was changed.")
        return False
    return guard(report.inputs, plan_digest(report.plan), what="the plan shown",
                 again="run `reconciler apply` again to see the new plan")


def _print_fills(fills: Any, names: dict[str, str]) -> None:
    """The fills this pass learnt of, one line each (partial ones included), and the fills it
    took back because their trades did not settle."""
    for f in fills:
        of = f" of {out.amount(f['order_size'])}" if f.get("order_size") else ""
        word = "fill reversed" if f.get("kind") == "reversed" else "fill"
        print(f"{word}: {f['side']} {out.amount(f['size'])} at {out.amount(f['price'])} on "
              f"{out.token_cell(f['token_id'], names)}, order {out.short_id(f['order_id'])} "
              f"({f['role']}); {out.amount(f['matched'])}{of} matched")


def _interrupted(store: Any) -> None:
    """Ctrl-C mid-apply: close the run row (never left "running"), and say what was done and
    what is left for the next pass (which resolves every unknown outcome before posting)."""
    closed = store.close_unfinished_runs(outcome=TickOutcome.INTERRUPTED,
                                         error="interrupted by Ctrl-C (SIGINT)")
    done = {"posted": 0, "unknown": 0, "void": 0, "cancelled": 0, "rejected": 0}
    for run_id in closed:
        for key, count in store.run_actions(run_id).items():
            done[key] += count
    say(f"reconciler: interrupted: posted {done['posted']}, cancelled {done['cancelled']}, "
        f"{done['unknown']} with an unknown outcome (sent or about to be, no answer), "
        f"{done['void']} never sent. The next pass (`reconciler apply`, or the daemon) asks "
        "the exchange about each unknown one before posting anything for its level.")


def run(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging(args, settings, default="INFO")
    once = bool(args.once_and_show)
    if settings.metrics_port is not None:
        try:
            check_port_free(settings.metrics_port)
        except OSError as exc:
            raise SettingsError(f"--metrics-port {settings.metrics_port} cannot be served on "
                                f"127.0.0.1 ({exc.strerror}); choose a free port") from None
    with writer(settings) as (conn, store):
        options = DaemonOptions(
            interval_seconds=settings.interval_seconds,
            debounce_seconds=settings.debounce_seconds,
            stop_timeout_seconds=settings.stop_timeout_seconds,
            heartbeat_seconds=settings.heartbeat_seconds if settings.heartbeat else None,
            exit_after_first_success=once,
            max_failures=ONCE_MAX_FAILURES if once else None,
        )
        cancel_on_stop = settings.on_shutdown is ShutdownPolicy.CANCEL
        reconciler = make_reconciler(conn, store)
        daemon = Daemon(
            ticker=reconciler, desired_dir=settings.desired_dir,
            options=options, notifier=SystemdNotifier(), metrics_port=settings.metrics_port,
            on_shutdown=(lambda: cancel_managed_orders(conn=conn, store=store))
            if cancel_on_stop else None,
            heartbeat=heartbeat_sender(conn) if settings.heartbeat else None,
            on_reload=reopen_logs,
            stream=stream_setup(conn, reconciler),
        )
        # A long paced tick keeps making requests: that is progress, not a hang (heartbeats).
        conn.client.on_progress = daemon.health.progress
        code = daemon.run(install_signals=True)
        if daemon.stopped_by == "SIGINT" and code == 0:
            code = INTERRUPTED  # Ctrl-C: the same exit code as an interrupted `apply`
        if once:
            _show_converged(daemon.last_result, conn=conn, names=labels(settings))
    return code


def _show_converged(result: TickResult | None, *, conn: Any, names: dict[str, str]) -> None:
    """Print what the one converge did, then the book as the exchange has it."""
    from reconciler.cli.tables import order_rows

    if result is None:
        print("no tick ran")
        return
    print(f"\n== plan applied ({conn.host}) ==")
    plan = result.plan
    print(render_text(plan, labels=names) if plan is not None else "(no plan)", end="")
    print(conditions_text(result.conditions, labels=names), end="")
    print(result.status_line)
    print("\n== open orders on the exchange ==")
    rows = order_rows(conn.client.get_open_orders(), labels=names)
    out.print_table(rows.headers, rows.rows)
    sys.stdout.flush()
