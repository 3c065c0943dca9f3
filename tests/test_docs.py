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
