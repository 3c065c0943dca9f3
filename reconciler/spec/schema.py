"""CLI-facing helpers: `validate` and the JSON Schema of one desired-state file.

The JSON Schema is generated from the same pydantic models that validate files, so editors and
pre-commit hooks check what the daemon checks (the cross-field rules, such as prices on the
asserted tick, are only in the loader; the schema covers shapes, enums and field types).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from reconciler.spec.loader import load_desired
from reconciler.spec.models import DesiredFile


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for one desired-state file."""
    schema = DesiredFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reconciler desired state, schema version 1"
    schema["properties"]["version"] = {"const": 1, "title": "Version"}
    return schema


def validate_command(directory: Path, out: TextIO, *, now: float | None = None) -> int:
    """`reconciler validate DIR`: 0 when valid, 1 when not; one `file:line:col: message` per line.

    Reads the clock (unless `now` is given) so that a GTD expiry already in the past is flagged.
    """
    result = load_desired(Path(directory), now=time.time() if now is None else now)
    for error in result.errors:
        out.write(f"{error}\n")
    if result.spec is None:
        return 1
    tokens = len(result.spec.tokens)
    levels = sum(len(t.levels) for t in result.spec.tokens)
    out.write(f"{directory}: valid ({len(result.files)} files, {tokens} tokens, {levels} levels)\n")
    return 0
