"""The exported JSON Schema and the loader agree on one file.

The schema is what editors and pre-commit hooks check; the loader is what the daemon and
`reconciler validate` check. For every file of the bad-input corpus (and the examples in
desired/) that is YAML we accept, the schema's verdict (the `jsonschema` library, on the exact
values: the schema's JSON read with Decimal floats, the file's numbers as exact Decimals, integers
as ints, as a JSON parser would read them) equals the loader's verdict on the file's shape. The
rules the schema cannot state (the cross-field and cross-file rules of `file_issues`: GTD needs
an expiry, prices on the asserted tick, duplicate levels, expiries in the past) are the only
difference, and they are switched off with the documented `file_rules: False` context.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.engine import desired_files
from reconciler.spec import DesiredFile, json_schema, load_files
from reconciler.spec.yamlsource import YamlProblem, parse_yaml

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "spec" / "corpus"
NOW = 1767225600


def _validator() -> jsonschema.Draft202012Validator:
    # Read the schema as its JSON text, with exact decimals: `multipleOf: 0.0001` on binary
    # floats would refuse 0.45 (0.45 / 0.0001 is not an integer in floating point).
    schema = json.loads(json.dumps(json_schema()), parse_float=Decimal)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


VALIDATOR = _validator()


@pytest.fixture(autouse=True)
def _exact_decimals() -> Iterator[None]:
    """`multipleOf` on Decimals in the default context rounds 1E-999999999 % 0.0001 to zero
    (below its Emin); a context that can hold every literal keeps the check exact."""
    with decimal.localcontext(decimal.Context(prec=400, Emin=decimal.MIN_EMIN,
                                              Emax=decimal.MAX_EMAX)):
        yield


def _as_json(value: Any) -> Any:
    """What a JSON parser reads: an integer literal is an int, other numbers exact decimals."""
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent == 0 else value
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def _files() -> list[Path]:
    cases = [p for p in sorted(CORPUS.iterdir()) if p.is_dir()]
    found = [f for case in cases for f in desired_files(case)]
    return found + desired_files(REPO / "desired")


def _shape_ok(document: Any) -> bool:
    try:
        DesiredFile.model_validate(document, context={"file_rules": False})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_schema_and_the_loader_agree_on_every_file(path: Path) -> None:
    data = path.read_bytes()
    loaded = load_files({path.name: data}, now=NOW)
    try:
        document, _ = parse_yaml(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, YamlProblem):
        # Not YAML we accept (syntax, anchors, tags, two documents...): there is no document
        # for a schema to check, and the loader refuses it.
        assert not loaded.ok
        return
    schema_errors = [e.message for e in VALIDATOR.iter_errors(_as_json(document))]
    assert (not schema_errors) == _shape_ok(document), (schema_errors, loaded.errors)
    if loaded.ok:
        assert not schema_errors


def test_cross_field_rules_are_the_only_ones_the_schema_leaves_to_the_loader() -> None:
    """Guard against the test above passing vacuously: some corpus files pass the schema and
    fail the loader only on the rules beyond it, and many fail both."""
    beyond, both = [], []
    for path in _files():
        try:
            document, _ = parse_yaml(path.read_bytes().decode("utf-8-sig"))
        except (UnicodeDecodeError, YamlProblem):
            continue
        schema_ok = VALIDATOR.is_valid(_as_json(document))
        loaded = load_files({path.name: path.read_bytes()}, now=NOW)
        if schema_ok and not loaded.ok:
            beyond.append(path.parent.name)
        if not schema_ok:
            both.append(path.parent.name)
    assert {"duplicate-level", "price-off-tick", "gtd-without-expiry", "expiry-in-past"} <= set(
        beyond
    )
    assert len(both) >= 30


def test_an_unquoted_token_id_is_valid_for_both() -> None:
    text = (
        "version: 1\ntokens:\n  - token_id: 222\n    orders:\n"
        "      - {side: BUY, price: 0.45, size: 10}\n"
    )
    document, _ = parse_yaml(text)
    assert VALIDATOR.is_valid(_as_json(document))
    assert load_files({"a.yaml": text.encode()}).ok


# --- each field's pattern says exactly what its parser accepts --------------------------------

_DECIMAL_TEXTS = st.one_of(
    st.from_regex(r"\A[0-9]{0,9}(\.[0-9]{0,8})?\Z"),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.sampled_from(["0.45", ".45", "00.5", "1", "1.", "0", "0.0", "10000000", "10000000.00",
                     "10000000.01", "0.0001", "0.00010", "0.00001", "0.0025", "0.005", "0.02",
                     "1000000000", "1000000000.000001", "-0", "+1", " 1", "1e3", ""]),
)
_FIELDS = {
    # (where in a file, how to put the value there)
    "price": lambda v: {"version": 1, "tokens": [{"token_id": "1", "orders": [
        {"side": "BUY", "price": v, "size": "10"}]}]},
    "size": lambda v: {"version": 1, "tokens": [{"token_id": "1", "orders": [
        {"side": "BUY", "price": "0.5", "size": v}]}]},
    "max_buy_notional": lambda v: {"version": 1, "tokens": [{"token_id": "1",
                                                            "max_buy_notional": v}]},
    "tick_size": lambda v: {"version": 1, "tokens": [{"token_id": "1", "tick_size": v}]},
}


@pytest.mark.parametrize("field", sorted(_FIELDS))
@given(text=_DECIMAL_TEXTS)
def test_quoted_decimals_agree(field: str, text: str) -> None:
    document = _FIELDS[field](text)
    assert VALIDATOR.is_valid(document) == _shape_ok(document), text


@pytest.mark.parametrize("field", sorted(_FIELDS))
@given(number=st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**10,
                          max_value=10**10, places=7))
def test_unquoted_numbers_agree(field: str, number: Decimal) -> None:
    document = _FIELDS[field](number)
    assert VALIDATOR.is_valid(_as_json(document)) == _shape_ok(document), number


@given(text=st.one_of(
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9])?"
                  r"(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
    st.sampled_from(["2099-01-01T00:00:00Z", "2099-01-01T00:00:00+02:00", "2099-01-01",
                     "2099-01-01T00:00Z", "2099-13-01T00:00:00Z", "2099-01-01t00:00:00z"]),
))
def test_expiries_agree(text: str) -> None:
    document = {"version": 1, "defaults": {"expires_at": text}}
    if VALIDATOR.is_valid(document) != _shape_ok(document):
        # The one difference the schema states in words: a calendar date that does not
        # exist (February 30) matches the pattern.
        assert "-02-3" in text or "-02-29" in text or text[8:10] == "31", text
