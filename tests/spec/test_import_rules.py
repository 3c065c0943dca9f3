"""The pure core imports no I/O library (DESIGN.md, import rules).

Checked twice: statically (every import statement of the pure modules names an allowed module)
and dynamically (importing them in a fresh interpreter loads none of the forbidden packages,
which also catches an indirect import through an allowed module of ours).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import reconciler

PACKAGE = Path(reconciler.__file__).parent
PURE_FILES = sorted((PACKAGE / "spec").glob("*.py")) + [PACKAGE / "planner.py", PACKAGE / "render.py"]
FORBIDDEN = ("requests", "sqlite_utils", "sqlite3", "eth_account", "watchdog", "apscheduler")
ALLOWED_ROOTS = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "yaml"}
ALLOWED_OURS = ("reconciler.model", "reconciler.spec", "reconciler.planner")


def imported_names(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_pure_modules_import_only_allowed_modules() -> None:
    assert len(PURE_FILES) >= 8
    for path in PURE_FILES:
        for name in imported_names(path):
            if name.startswith("reconciler"):
                assert name.startswith(ALLOWED_OURS), f"{path.name} imports {name}"
            else:
                root = name.split(".")[0]
                assert root in ALLOWED_ROOTS, f"{path.name} imports {name}"
                assert root not in FORBIDDEN, f"{path.name} imports {name}"


def test_importing_the_pure_core_loads_no_io_library() -> None:
    code = (
        "import sys, reconciler.spec, reconciler.planner, reconciler.render\n"
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
