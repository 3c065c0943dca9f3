"""The `policy:` section: the exported JSON Schema and the loader agree on its shapes (as
tests/spec/test_schema_agrees.py holds them to for the rest of a file), the example directory
and the README's example are valid and the same, and the cross-field rules are the loader's.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.engine import load_desired
from reconciler.spec import DesiredFile, json_schema, load_files
from reconciler.spec.yamlsource import parse_yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "policy"
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(json.dumps(json_schema()), parse_float=Decimal)
)


@pytest.fixture(autouse=True)
def _exact_decimals() -> Iterator[None]:
    with decimal.localcontext(decimal.Context(prec=400, Emin=decimal.MIN_EMIN,
                                              Emax=decimal.MAX_EMAX)):
        yield


def _shape_ok(document: Any) -> bool:
    try:
        DesiredFile.model_validate(document, context={"file_rules": False})
    except ValidationError:
        return False
    return True


def _as_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent == 0 else value
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def _doc(policy: Any) -> dict[str, Any]:
    return {"version": 1, "policy": policy}


POLICIES = [
    {},
    {"price_band": {"max_ticks": 5}},
    {"price_band": {"max_distance": "0.05", "reference": "touch", "without_book": "hard"}},
    {"price_band": {"max_distance": Decimal("0.05")}},
    {"price_band": {"max_ticks": Decimal("5")}},
    {"price_band": {"max_ticks": Decimal("5.0")}},  # a whole number, but written as a decimal
    {"price_band": {"max_ticks": "5"}},  # quoted
    {"price_band": {"max_ticks": 0}},
    {"price_band": {"max_ticks": 10001}},
    {"price_band": {"max_ticks": True}},
    {"price_band": {"max_distance": "1.5"}},
    {"price_band": {"max_distance": "0.00001"}},
    {"price_band": {"enforcement": "strict", "max_ticks": 5}},
    {"price_band": {"max_ticks": 5, "extra": 1}},
    {"max_notional_change": {"limit": "1000.5"}},
    {"max_notional_change": {}},
    {"max_notional_change": {"limit": "-1"}},
    {"max_position": {"shares": "10.5", "per_token": [{"token_id": "12", "notional": 5}]}},
    {"max_position": {"shares": "10.555"}},
    {"max_position": {"per_token": [{"shares": 5}]}},
    {"max_position": {"per_token": {"token_id": "12"}}},
    {"max_open_orders": {"total": 10, "per_token": 2}},
    {"max_open_orders": {"total": 0}},
    {"trading_windows": {"windows": [{"start": "22:00", "end": "02:00", "days": ["fri"]}]}},
    {"trading_windows": {"windows": [{"start": "2026-09-10T00:55:00Z",
                                      "end": "2026-09-10T03:00:00+01:00", "tokens": ["1"]}]}},
    {"trading_windows": {"windows": [{"start": "00:00", "end": "24:00",
                                      "dates": ["2026-11-03"], "cancel_orders": True}]}},
    {"trading_windows": {"windows": []}},
    {"trading_windows": {"windows": [{"start": "25:00", "end": "02:00"}]}},
    {"trading_windows": {"windows": [{"start": "22:00", "end": "2:00"}]}},
    {"trading_windows": {"windows": [{"start": "22:00"}]}},
    {"trading_windows": {"windows": [{"start": "22:00", "end": "23:00", "days": ["fry"]}]}},
    {"trading_windows": {"windows": [{"start": "22:00", "end": "23:00",
                                      "dates": ["2026-13-01"]}]}},
    {"trading_windows": {"windows": [{"start": "22:00", "end": "23:00",
                                      "cancel_orders": "yes"}]}},
    {"trading_windows": {"windows": [{"start": "22:00", "end": "23:00", "name": "x" * 101}]}},
    {"max_postion": {}},
    "strict",
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: json.dumps(p, default=str)[:60])
def test_the_schema_and_the_loader_agree_on_a_policy(policy: Any) -> None:
    document = _doc(policy)
    assert VALIDATOR.is_valid(_as_json(document)) == _shape_ok(document)


def test_the_table_has_both_verdicts() -> None:
    verdicts = [_shape_ok(_doc(p)) for p in POLICIES]
    assert verdicts.count(True) >= 8 and verdicts.count(False) >= 15


@given(text=st.one_of(st.from_regex(r"\A[0-9]{1,2}:[0-9]{2}\Z"),
                      st.sampled_from(["24:00", "24:01", "00:00", "23:59", "7:00", ""])))
def test_daily_times_agree(text: str) -> None:
    document = _doc({"trading_windows": {"windows": [{"start": text, "end": "23:59"}]}})
    assert VALIDATOR.is_valid(document) == _shape_ok(document), text


@given(text=st.one_of(st.from_regex(r"\A[0-9]{1,9}(\.[0-9]{0,4})?\Z"),
                      st.sampled_from(["0", "1000000000", "1000000000.01", ".5", "5."])))
def test_position_shares_agree(text: str) -> None:
    document = _doc({"max_position": {"shares": text}})
    assert VALIDATOR.is_valid(document) == _shape_ok(document), text


def test_the_example_directory_is_valid() -> None:
    loaded = load_desired(EXAMPLE)
    assert loaded.errors == [] and loaded.spec is not None and loaded.spec.policy is not None
    assert {r.value for r, _ in loaded.spec.policy.rules()} == {
        "price_band", "max_notional_change", "max_position", "max_open_orders",
        "trading_windows"}
    for path in sorted(EXAMPLE.glob("*.yaml")):
        document, _ = parse_yaml(path.read_text())
        assert VALIDATOR.is_valid(_as_json(document)), path


def test_the_readme_shows_the_example() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Policy", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    assert block.group(1) == (EXAMPLE / "00-policy.yaml").read_text()
    orders = (EXAMPLE / "orders.yaml").read_bytes()
    assert load_files({"00-policy.yaml": block.group(1).encode(), "orders.yaml": orders}).ok
