"""The JSON Schema of one desired-state file.

The JSON Schema is generated from the same pydantic models that validate files, so editors and
pre-commit hooks check what the daemon checks (the cross-field rules, such as prices on the
asserted tick, are only in the loader; the schema covers shapes, enums and field types).
"""

from __future__ import annotations

from typing import Any

from reconciler.spec.models import DesiredFile


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for one desired-state file."""
    schema = DesiredFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reconciler desired state, schema version 1"
    schema["properties"]["version"] = {"const": 1, "title": "Version"}
    return schema
