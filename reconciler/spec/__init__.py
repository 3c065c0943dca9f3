"""Desired state: pydantic models, YAML loading with file:line:col errors, JSON Schema export.

Public API:
- `load_desired(dir, now=None) -> LoadResult` (`.spec`, `.errors`, `.digest`, `.files`)
- `load_text(text, name=..., now=None) -> LoadResult`
- `DesiredState`, `DesiredToken`, `DesiredLevel` (what the planner reads), `Unmanaged`
- `SpecError` (`str()` is `file:line:col: message`), `EmptyDesiredState`
- `validate_command(dir, out) -> int`, `json_schema() -> dict`
"""

from reconciler.spec.errors import EmptyDesiredState, SpecError
from reconciler.spec.loader import LoadResult, desired_files, is_candidate, load_desired, load_text
from reconciler.spec.models import DesiredFile, SpecOrderType, Unmanaged
from reconciler.spec.schema import json_schema, validate_command
from reconciler.spec.state import (
    DesiredLevel,
    DesiredState,
    DesiredToken,
    build_state,
    level_digest,
    state_from_dicts,
)

__all__ = [
    "DesiredFile",
    "DesiredLevel",
    "DesiredState",
    "DesiredToken",
    "EmptyDesiredState",
    "LoadResult",
    "SpecError",
    "SpecOrderType",
    "Unmanaged",
    "build_state",
    "desired_files",
    "is_candidate",
    "json_schema",
    "level_digest",
    "load_desired",
    "load_text",
    "state_from_dicts",
    "validate_command",
]
