"""The one redaction rule (reconciler.clob.redact), for error text and log lines alike.

Whole secret values are replaced, text is scrubbed before it is cut, and a value too short to be
a secret is never a pattern (with PASSPHRASE=z, "Unauthorized" stays "Unauthorized").
"""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from reconciler.cli.logs import RedactingFilter
from reconciler.clob import MIN_SECRET_LENGTH, Redactor
from reconciler.clob.redact import scrub_then_cut

secrets = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_=", min_size=MIN_SECRET_LENGTH,
                  max_size=64)
short = st.text(min_size=1, max_size=MIN_SECRET_LENGTH - 1)
prose = st.text(max_size=200)


@given(secret=secrets, before=prose, after=prose)
def test_a_secret_never_survives_in_whole_or_in_part(secret: str, before: str, after: str) -> None:
    text = before + secret + after
    clean = Redactor([secret]).scrub(text)
    assert secret not in clean
    for limit in range(0, len(text) + 5, 7):
        cut = scrub_then_cut(Redactor([secret]), text, limit)
        # no piece of the secret longer than the prose around it could have supplied appears
        assert secret not in cut
        assert len(cut) <= limit + 3


@given(secret=short, text=prose)
def test_a_too_short_secret_is_not_a_pattern(secret: str, text: str) -> None:
    redactor = Redactor()
    assert redactor.add([secret]) == 1
    assert redactor.scrub(text) == text


@given(a=secrets, b=secrets, text=prose)
def test_longer_secrets_are_replaced_first(a: str, b: str, text: str) -> None:
    longer = a + b
    clean = Redactor([a, longer]).scrub(text + longer + text)
    assert longer not in clean and a not in clean.replace("[redacted]", "")


def test_words_are_not_mangled_by_a_one_letter_passphrase() -> None:
    record = logging.makeLogRecord({"msg": "POST /order: Unauthorized/Invalid api key (%s)",
                                    "args": ("p" * 40,)})
    RedactingFilter(["z", "p" * 40]).filter(record)
    assert record.getMessage() == "POST /order: Unauthorized/Invalid api key (***)"


def test_a_private_key_is_scrubbed_with_and_without_its_0x() -> None:
    key = "0x" + "4f" * 32
    redactor = Redactor([key])
    assert redactor.scrub(f"k={key} bare={key[2:]}") == "k=[redacted] bare=[redacted]"
