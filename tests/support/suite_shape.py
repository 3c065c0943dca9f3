"""The shape of the suite: a test module never imports another test module (nor a conftest).

What test modules share lives in tests/support/ (helpers) or tests/conftest.py (fixtures, which
pytest provides by name; importing a fixture from another module registers it twice and hides
where it comes from). `foreign_imports` lists every import, in any file under tests/, of a
module of the `tests` package outside `tests.support`; tests/conftest.py refuses to run the
suite while there is one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "tests"
ALLOWED = "tests.support"


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of the modules of the tests package that each import statement, anywhere
    in the file, may load and that are not allowed."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign(alias.name):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: always inside the tests package
                yield node.lineno, "." * node.level + (node.module or "")
            elif _foreign(node.module or ""):
                yield node.lineno, node.module or ""
            else:  # `from tests import test_x` imports the module test_x
                for alias in node.names:
                    if _foreign(f"{node.module}.{alias.name}"):
                        yield node.lineno, f"{node.module}.{alias.name}"


def _foreign(name: str) -> bool:
    inside = name == PACKAGE or name.startswith(PACKAGE + ".")
    allowed = name == ALLOWED or name.startswith(ALLOWED + ".")
    return inside and name != PACKAGE and not allowed


def foreign_imports(root: Path) -> list[str]:
    """`path:line imports name` for each import of a tests module outside tests.support."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for line, name in _imported(tree):
            found.append(f"{path.relative_to(root.parent)}:{line} imports {name}")
    return found
