"""README.md documents every CLI command (after sqlite-utils' tests/test_docs.py).

A command added to the parser without a line in the README fails here, so the documentation
cannot silently fall behind the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.cli.main import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    return sorted(sub.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", commands())
def test_readme_documents_command(command: str) -> None:
    text = README.read_text(encoding="utf-8")
    # `reconciler cancel` must not be satisfied by `reconciler cancel-all`.
    pattern = rf"reconciler\s+{re.escape(command)}(?![\w-])"
    assert re.search(pattern, text), f"README.md does not show `reconciler {command}`"


def test_readme_documents_the_demo_flag() -> None:
    assert "--once-and-show" in README.read_text(encoding="utf-8")


# --- ARCHITECTURE.md ---------------------------------------------------------------------------

ARCHITECTURE = README.with_name("ARCHITECTURE.md")
REPO = README.parent


def test_readme_links_the_architecture_map() -> None:
    assert "(ARCHITECTURE.md)" in README.read_text(encoding="utf-8")


def test_the_lifecycle_table_in_architecture_is_the_one_in_the_code() -> None:
    from reconciler.lifecycle import markdown

    text = ARCHITECTURE.read_text(encoding="utf-8")
    shown = re.search(r"<!-- lifecycle:begin -->\n(.*?)\n<!-- lifecycle:end -->", text, re.S)
    assert shown is not None, "ARCHITECTURE.md lost its lifecycle markers"
    assert shown.group(1).strip() == markdown().strip(), (
        "regenerate the table: python -c 'from reconciler.lifecycle import markdown; "
        "print(markdown())'"
    )


def _test_functions(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_architecture_names_exists() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text)
    assert len(named) >= 20
    for path, function in named:
        assert (REPO / path).is_file(), f"ARCHITECTURE.md names {path}, which does not exist"
        if function:
            assert function in _test_functions(REPO / path), f"{path}::{function} does not exist"


def _defined_invariants() -> set[int]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## The safety invariants", 1)[1]
    return {int(n) for n in re.findall(r"^(\d+)\. \*\*", section, re.M)}


def test_architecture_defines_the_twelve_invariants() -> None:
    assert _defined_invariants() == set(range(1, 13))


def test_code_cites_only_invariants_architecture_defines() -> None:
    defined = _defined_invariants()
    for path in sorted((REPO / "reconciler").rglob("*.py")) + sorted((REPO / "paperclob").rglob("*.py")):
        for match in re.finditer(r"invariants? ((?:\d+(?:, | and |, and )?)+)", path.read_text()):
            for number in re.findall(r"\d+", match.group(1)):
                assert int(number) in defined, f"{path.relative_to(REPO)} cites invariant {number}"
