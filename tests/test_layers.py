"""The layers of ARCHITECTURE.md hold: the import-linter contracts in pyproject.toml are kept.

`make lint` runs the same check; running it here too means CI (`make test`) cannot land a module
that imports upward or a pure module that reaches for I/O.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lint_imports(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    return subprocess.run([exe, "--no-cache", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_every_import_contract_is_kept() -> None:
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    # The check can fail: a copy of the package where the store imports the engine is refused.
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "reconciler", copy / "reconciler",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    schema = copy / "reconciler" / "store" / "schema.py"
    schema.write_text(schema.read_text() + "\nfrom reconciler.engine import apply_plan  # noqa\n")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, '.');"
         "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--no-cache"],
        cwd=copy, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "reconciler.store.schema -> reconciler.engine" in done.stdout
