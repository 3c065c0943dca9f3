"""The one redaction rule for secrets in text (error messages, log lines).

The rule, in full:
1. A secret is replaced as a whole: every occurrence of the complete value becomes the
   marker, and text is scrubbed BEFORE it is cut to length, so no cut can leave half a secret.
2. Only values of at least `MIN_SECRET_LENGTH` characters are patterns. A shorter "secret"
   would match inside ordinary words (a passphrase `z` turned "Unauthorized" into
   "Unauthori[redacted]ed"), so it is not used; `Redactor.add` returns the number of such values
   refused, so the caller can warn that a secret that short cannot be protected. Credentials the
   exchange issues are far longer (a 44-character secret, a 64-character passphrase).
3. Longer secrets are replaced first, so a secret that contains another is not half-replaced.
4. For a 0x-prefixed value (a private key) the bare hex is a pattern too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_SECRET_LENGTH = 8
MARKER = "[redacted]"


class Redactor:
    """Holds the secrets in force and scrubs them out of any text."""

    def __init__(self, secrets: Iterable[str] = (), *, marker: str = MARKER) -> None:
        self.marker = marker
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> int:
        """Register secrets; returns how many were too short to be used (rule 2)."""
        refused = 0
        for secret in secrets:
            if not secret:
                continue
            if len(secret) < MIN_SECRET_LENGTH:
                refused += 1
                continue
            variants = [secret]
            if secret[:2] in ("0x", "0X") and len(secret) - 2 >= MIN_SECRET_LENGTH:
                variants.append(secret[2:])
            for value in variants:
                if value not in self._secrets:
                    self._secrets.append(value)
        self._secrets.sort(key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )
        return refused

    def __bool__(self) -> bool:
        return self._pattern is not None

    def scrub(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(self.marker, text)


def scrub_then_cut(redactor: Redactor, text: str, limit: int) -> str:
    """Rule 1: scrub first, then shorten to `limit` characters."""
    clean = redactor.scrub(text)
    return clean if len(clean) <= limit else clean[:limit] + "..."
