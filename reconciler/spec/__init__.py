"""Desired state: pydantic models, YAML loading with file:line:col errors, JSON Schema export."""
