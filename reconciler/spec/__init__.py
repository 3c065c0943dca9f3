"""Desired state, PURE: pydantic models, parsing of given bytes with file:line:col errors, JSON Schema.

Reading the desired directory is the engine's (`reconciler.engine.load_desired`); this package
parses what it is given and reads no file and no clock.

Public API:
- `load_files({name: bytes}, base=None, now=None) -> LoadResult` (`.spec`, `.errors`, `.digest`)
- `load_text(text, name=..., now=None) -> LoadResult`
- `DesiredState`, `DesiredToken`, `DesiredLevel` (what the planner reads), `Unmanaged`
- `SpecError` (`str()` is `file:line:col: message`), `EmptyDesiredState`
- `json_schema() -> dict`
- the `policy:` section's models (`Policy`, `Rule`, `Enforcement`, ...; policy.py)
"""

from reconciler.spec.errors import EmptyDesiredState, SpecError, looks_secret
from reconciler.spec.loader import (
    MAX_FILE_BYTES,
    LoadResult,
    load_files,
    load_read_files,
    load_text,
    too_big_error,
    whole_file_error,
)
from reconciler.spec.models import DesiredFile, SpecOrderType, Unmanaged
from reconciler.spec.policy import (
    BandReference,
    Enforcement,
    MaxOpenOrders,
    MaxPosition,
    Policy,
    PriceBand,
    Rule,
    Window,
)
from reconciler.spec.policy import instant as window_instant
from reconciler.spec.policy import minutes as window_minutes
from reconciler.spec.schema import json_schema
from reconciler.spec.state import (
    DesiredLevel,
    DesiredState,
    DesiredToken,
    build_state,
    level_digest,
    state_from_dicts,
)

__all__ = [
    "MAX_FILE_BYTES",
    "BandReference",
    "Enforcement",
    "MaxOpenOrders",
    "MaxPosition",
    "Policy",
    "PriceBand",
    "Rule",
    "Window",
    "looks_secret",
    "window_instant",
    "window_minutes",
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
    "json_schema",
    "level_digest",
    "load_files",
    "load_read_files",
    "load_text",
    "state_from_dicts",
    "too_big_error",
    "whole_file_error",
]
