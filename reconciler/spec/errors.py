"""Errors about the desired state, each pinned to a place in a file.

A `SpecError` is data, not an exception: loading collects every problem it can find so the user
fixes them in one pass, and `str(error)` is the `file:line:col: message` form editors and CI
annotations understand. Lines and columns are 1-based. Errors about a whole file or a whole
directory point at 1:1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecError:
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class EmptyDesiredState(Exception):
    """The desired state declares no token and does not say `allow_empty: true`.

    Raised (not returned as an empty plan) because an empty desired state means "cancel every
    order we manage": a deleted or unmounted directory must never be read as that by accident.
    """

    def __init__(self) -> None:
        super().__init__(
            "the desired state declares no tokens; refusing to cancel every managed order. "
            "If that is what you want, set `limits: {allow_empty: true}` in one file"
        )
