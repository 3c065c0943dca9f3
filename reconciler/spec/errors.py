"""Errors about the desired state, each pinned to a place in a file.

A `SpecError` is data, not an exception: loading collects every problem it can find so the user
fixes them in one pass, and `str(error)` is the `file:line:col: message` form editors and CI
annotations understand. Lines and columns are 1-based. Errors about a whole file or a whole
directory point at 1:1.

Messages end up in the terminal, the journal and the state file's revision rows, and a desired
file may hold anything (a symlink planted in a repository can make it hold a private key). So a
message quotes a value only through `excerpt`, which shows a short prefix and never anything
shaped like a key (a long run of hex, or of base64 with mixed case and digits). And every message
is passed through `redact` when the error is built, whichever path built it: one line, bounded
length, and any long run of hex digits (a private key, a hex passphrase) replaced. `redact` leaves
base64-looking runs alone because file paths look like them; quoting sites use `excerpt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: This many hex digits in a row may be a private key or a passphrase (64 hex digits). Token ids
#: (78 decimal digits) look the same, so messages cut them to 16 digits before they get here.
_HEX_RUN = re.compile(r"(0x)?[0-9a-fA-F]{32,}")
#: An API secret is 44 base64 characters: a long run of that alphabet mixing cases and digits.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
#: The longest message kept; the longest one we write is about 250 characters with its paths.
MAX_MESSAGE = 500
#: How much of an offending value a message may quote.
EXCERPT_CHARS = 24
HIDDEN = "<a value shaped like a key, not shown>"


def looks_secret(text: str) -> bool:
    """Whether any part of `text` is shaped like a key, an API secret or a passphrase."""
    if _HEX_RUN.search(text):
        return True
    return any(
        re.search("[a-z]", run) and re.search("[A-Z]", run) and re.search("[0-9]", run)
        for run in _BASE64_RUN.findall(text)
    )


def excerpt(value: object, *, limit: int = EXCERPT_CHARS) -> str:
    """A short, safe rendering of a value found in a file, for a message: quoted text cut to
    `limit` characters, or a placeholder when any part of it is shaped like a key."""
    text = value if isinstance(value, str) else str(value)
    if looks_secret(text):
        return HIDDEN
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


def redact(message: str) -> str:
    """One line, at most MAX_MESSAGE characters, with long runs of hex digits replaced."""
    flat = _HEX_RUN.sub(HIDDEN, " ".join(message.split()))
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 3] + "..."


@dataclass(frozen=True, order=True)
class SpecError:
    file: str
    line: int
    col: int
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact(self.message))

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
