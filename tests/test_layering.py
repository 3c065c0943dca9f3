"""Import rules from DESIGN.md, checked on the source (every import statement, at any depth).

- `planner` and `spec` are pure: no requests, sqlite_utils, eth_account, watchdog, apscheduler
  (and the planner reads no clock: `now` is an argument).
- Only `clob/` talks HTTP (requests) and holds key material libraries (eth_account, coincurve).
- Only `store.py` (and its schema module) touches SQLite.
- Only the daemon modules own threads, timers and signals.
- Only the wiring and the CLI reach for the paper exchange (for `--paper`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"

DAEMON_MODULES = {"daemon.py", "daemon_support.py", "metrics.py"}
RULES: dict[str, set[str]] = {
    # top-level module imported -> files (relative to reconciler/) allowed to import it
    "requests": {"clob/*"},
    "urllib3": {"clob/*"},
    "eth_account": {"clob/*"},
    "coincurve": {"clob/*"},
    "sqlite_utils": {"store.py", "store_schema.py"},
    "sqlite3": {"store.py", "store_schema.py"},
    "apscheduler": DAEMON_MODULES,
    "watchdog": DAEMON_MODULES,
    "signal": DAEMON_MODULES,
    "threading": DAEMON_MODULES,
    "paperclob": {"wiring.py", "cli_commands.py"},
}
PURE = ("planner.py", "spec/*", "model.py", "render.py")
NEVER_IN_PURE = {"requests", "sqlite_utils", "sqlite3", "eth_account", "watchdog", "apscheduler",
                 "threading", "signal", "socket", "subprocess"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def matches(relative: str, patterns: set[str] | tuple[str, ...]) -> bool:
    return any(
        relative == p or (p.endswith("/*") and relative.startswith(p[:-1])) for p in patterns
    )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_the_import_rules(path: Path) -> None:
    relative = path.relative_to(PACKAGE).as_posix()
    roots = imported_roots(path)
    for module, allowed in RULES.items():
        if module in roots:
            assert matches(relative, allowed), f"{relative} imports {module}"
    if matches(relative, PURE):
        assert not roots & NEVER_IN_PURE, f"{relative} is pure but imports {roots & NEVER_IN_PURE}"
    if relative == "planner.py":
        assert "time" not in roots, "the planner takes `now` as an argument; it reads no clock"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    import threading\n    from requests import get\n")
    assert imported_roots(sample) == {"threading", "requests"}


def test_every_rule_names_files_that_exist() -> None:
    present = {p.relative_to(PACKAGE).as_posix() for p in modules()}
    for allowed in RULES.values():
        for pattern in allowed:
            assert any(matches(f, {pattern}) for f in present), pattern
