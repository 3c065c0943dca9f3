"""The bad-input corpus: each directory under corpus/ is a desired-state directory that must be
refused with exactly the lines in its expected.txt (file:line:col: message), and no spec.

Paths in the expected lines are relative to the case directory, because the test loads "." from
inside it, the way `reconciler validate` prints paths relative to where it runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.engine import load_desired

CORPUS = Path(__file__).parent / "corpus"
NOW = 1767225600  # 2026-01-01T00:00:00Z: the clock injected for "expiry in the past"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_exact_errors(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case_dir = CORPUS / case
    expected = (case_dir / "expected.txt").read_text().splitlines()
    assert expected, f"{case}: expected.txt must list at least one error"
    monkeypatch.chdir(case_dir)
    result = load_desired(Path("."), now=NOW)
    assert result.spec is None
    assert [str(e) for e in result.errors] == expected


@pytest.mark.parametrize("case", CASES)
def test_every_error_names_a_real_position(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS / case)
    for error in load_desired(Path("."), now=NOW).errors:
        assert error.line >= 1 and error.col >= 1
        path = Path(error.file)
        if path.is_file():
            lines = path.read_bytes().splitlines() or [b""]
            assert error.line <= len(lines) + 1, error
