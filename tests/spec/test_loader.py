"""Loading desired state: exact decimals, defaults, file discovery, digests, the CLI helpers.

A directory that cannot be read whole is an error, never a smaller spec: the loader promises
all-or-nothing (applying half a directory would cancel the other half's orders). `os.walk`
ignores a directory it cannot list unless given `onerror`, and `is_file()` is False for a
dangling symlink, so both are tested, down to "no order changed" on a real paper exchange. As
root (as in CI here) a chmod does not stop a read, so the denial is injected at the one call that
lists a directory (`os.scandir`, which `os.walk` uses); as another user a real chmod does it.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.engine import load_desired, validate_directory
from reconciler.model import OrderType, Side
from reconciler.spec import (
    DesiredFile,
    SpecError,
    Unmanaged,
    json_schema,
    level_digest,
    load_text,
    state_from_dicts,
)
from reconciler.spec.yamlsource import YamlProblem, parse_yaml
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, level, write_spec

T = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
U = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
REPO = Path(__file__).resolve().parents[2]
D = Decimal


def one_level(level: str, *, token: str = T, extra: str = "") -> str:
    return f'version: 1\n{extra}tokens:\n  - token_id: "{token}"\n    orders:\n      - {level}\n'


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


# --- values ----------------------------------------------------------------------------------


def test_unquoted_decimal_is_exact_not_binary_float() -> None:
    result = load_text(one_level("{side: BUY, price: 0.1, size: 100.10}"))
    assert result.spec is not None
    level = result.spec.tokens[0].levels[0]
    assert level.key.price == Decimal("0.1")
    assert str(level.key.price) == "0.1"  # a float would print 0.1000000000000000055511151231257827
    assert str(level.size) == "100.10"


@given(
    price=st.decimals(min_value="0.0001", max_value="0.9999", places=4),
    size=st.decimals(min_value="0.01", max_value="10000000", places=2),
    quoted=st.booleans(),
)
def test_any_valid_decimal_text_loads_exactly(price: Decimal, size: Decimal, quoted: bool) -> None:
    q = '"' if quoted else ""
    result = load_text(one_level(f"{{side: SELL, price: {q}{price}{q}, size: {q}{size}{q}}}"))
    assert result.errors == []
    assert result.spec is not None
    level = result.spec.tokens[0].levels[0]
    assert (level.key.price, level.size) == (price, size)
    assert str(level.key.price) == str(price)


def test_unquoted_token_id_keeps_every_digit() -> None:
    text = f"version: 1\ntokens:\n  - token_id: {T}\n"
    result = load_text(text)
    assert result.spec is not None
    assert result.spec.tokens[0].token_id == T


def test_defaults_apply_and_levels_override_them() -> None:
    text = one_level(
        '{side: SELL, price: 0.55, size: 10, post_only: false}',
        extra='defaults:\n  order_type: GTD\n  expires_at: "2027-01-01T00:00:00Z"\n'
        "  replenish: true\n",
    )
    result = load_text(text, now=1767225600)
    assert result.spec is not None
    level = result.spec.tokens[0].levels[0]
    assert level.order_type is OrderType.GTD
    assert level.expires_at == 1798761600
    assert level.post_only is False
    assert level.replenish is True
    token = result.spec.tokens[0]
    assert token.unmanaged is Unmanaged.IGNORE
    assert token.tick_size is None and token.max_buy_notional is None


def test_gtc_level_in_a_gtd_file_has_no_expiry() -> None:
    text = one_level(
        "{side: BUY, price: 0.4, size: 10, order_type: GTC}",
        extra='defaults:\n  order_type: GTD\n  expires_at: "2027-01-01T00:00:00+02:00"\n',
    )
    result = load_text(text)
    assert result.spec is not None
    assert result.spec.tokens[0].levels[0].expires_at == 0


def test_expiry_in_the_past_is_only_checked_when_now_is_given() -> None:
    text = one_level('{side: SELL, price: 0.55, size: 10, order_type: GTD, expires_at: "2024-01-01T00:00:00Z"}')
    assert load_text(text).spec is not None
    refused = load_text(text, now=1767225600)
    assert refused.spec is None
    assert "is in the past" in refused.errors[0].message


def test_python_callers_cannot_pass_floats() -> None:
    document = {"version": 1, "tokens": [{"token_id": T, "orders": [
        {"side": "BUY", "price": 0.45, "size": 10}]}]}
    with pytest.raises(ValidationError, match="not a float"):
        state_from_dicts(document)


def test_file_rules_also_hold_for_python_construction() -> None:
    document = {"version": 1, "tokens": [{"token_id": T, "tick_size": "0.01", "orders": [
        {"side": "BUY", "price": "0.455", "size": 10}]}]}
    with pytest.raises(ValidationError, match="not on the token's tick_size"):
        DesiredFile.model_validate(document)


def test_state_sorts_tokens_and_levels() -> None:
    state = state_from_dicts(
        {"version": 1, "tokens": [
            {"token_id": T, "orders": [
                {"side": "SELL", "price": "0.6", "size": 1},
                {"side": "BUY", "price": "0.5", "size": 1},
                {"side": "BUY", "price": "0.4", "size": 1}]},
            {"token_id": U}]},
    )
    assert [t.token_id for t in state.tokens] == sorted([T, U])
    keys = [lv.key for lv in state.tokens[1].levels]
    assert [(k.side, k.price) for k in keys] == [
        (Side.BUY, Decimal("0.4")), (Side.BUY, Decimal("0.5")), (Side.SELL, Decimal("0.6"))]


def test_level_digest_ignores_trailing_zeros_and_sees_every_field() -> None:
    base = dict(size=Decimal("100"), order_type=OrderType.GTC, expires_at=0, post_only=True,
                replenish=False)
    digest = level_digest(**base)  # type: ignore[arg-type]
    assert level_digest(**{**base, "size": Decimal("100.00")}) == digest  # type: ignore[arg-type]
    for change in ({"size": Decimal("101")}, {"order_type": OrderType.GTD},
                   {"expires_at": 1}, {"post_only": False}, {"replenish": True}):
        assert level_digest(**{**base, **change}) != digest  # type: ignore[arg-type]


# --- directories -----------------------------------------------------------------------------


def test_directory_merges_files_and_takes_limits_from_one(tmp_path: Path) -> None:
    write(tmp_path, {
        "00-limits.yaml": "version: 1\nlimits:\n  max_total_buy_notional: 250.5\n",
        "a.yaml": one_level("{side: BUY, price: 0.45, size: 10}"),
        "nested/b.yml": one_level("{side: SELL, price: 0.55, size: 10}", token=U),
    })
    result = load_desired(tmp_path)
    assert result.errors == []
    assert result.spec is not None
    assert result.spec.max_total_buy_notional == Decimal("250.5")
    assert result.spec.allow_empty is False
    assert [p.relative_to(tmp_path).as_posix() for p in result.files] == [
        "00-limits.yaml", "a.yaml", "nested/b.yml"]
    assert {t.source for t in result.spec.tokens} == {
        str(tmp_path / "a.yaml"), str(tmp_path / "nested/b.yml")}


def test_hidden_and_editor_files_are_not_read(tmp_path: Path) -> None:
    broken = "version: [\n"
    write(tmp_path, {
        "a.yaml": one_level("{side: BUY, price: 0.45, size: 10}"),
        ".#a.yaml": broken, "a.yaml~": broken, "#a.yaml#": broken, ".a.yaml.swp": broken,
        ".hidden.yaml": broken, "4913": broken, "notes.txt": broken,
        ".git/config.yaml": broken,
    })
    result = load_desired(tmp_path)
    assert result.errors == []
    assert [p.name for p in result.files] == ["a.yaml"]


def test_digest_follows_content_and_names(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    text = one_level("{side: BUY, price: 0.45, size: 10}")
    write(a, {"x.yaml": text})
    write(b, {"x.yaml": text})
    first = load_desired(a).digest
    assert first == load_desired(b).digest  # where the directory lives does not matter
    (b / "x.yaml").write_text(text + "# a comment\n")
    assert load_desired(b).digest != first
    (b / "x.yaml").rename(b / "y.yaml")
    (b / "y.yaml").write_text(text)
    assert load_desired(b).digest != first
    assert len(first) == 64


def test_invalid_directory_still_reports_digest_and_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "version: 3\n"})
    result = load_desired(tmp_path)
    assert result.spec is None and not result.ok
    assert result.digest and result.files == [tmp_path / "a.yaml"]


def test_utf8_bom_and_unicode_labels_are_fine(tmp_path: Path) -> None:
    text = f'\ufeffversion: 1\ntokens:\n  - token_id: "{T}"\n    label: "Élection, oui ✓"\n'
    (tmp_path / "a.yaml").write_bytes(text.encode())
    result = load_desired(tmp_path)
    assert result.spec is not None
    assert result.spec.labels == {T: "Élection, oui ✓"}


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = load_desired(tmp_path / "nope")
    assert result.spec is None
    assert str(result.errors[0]) == f"{tmp_path / 'nope'}:1:1: not a directory; create it or " \
        "point to the desired state directory"


def test_an_empty_desired_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no yaml here")
    result = load_desired(tmp_path)
    assert result.spec is None and "no *.yaml" in str(result.errors[0])


def test_empty_token_list_loads_as_an_empty_state(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "version: 1\nlimits: {allow_empty: true}\ntokens: []\n"})
    result = load_desired(tmp_path)
    assert result.spec is not None
    assert result.spec.tokens == () and result.spec.allow_empty is True


def test_spec_error_formats_as_file_line_col() -> None:
    assert str(SpecError("d/a.yaml", 3, 7, "bad")) == "d/a.yaml:3:7: bad"


# --- a directory that cannot be read whole changes no order ----------------------------------


@pytest.fixture
def deny_listing(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Path]]:
    """Directories added to the yielded set cannot be listed (PermissionError)."""
    denied: set[Path] = set()
    real_scandir = os.scandir
    chmodded: list[Path] = []

    def scandir(path: object = ".") -> object:
        if Path(os.fsdecode(path)).resolve() in denied:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fsdecode(path))  # type: ignore[arg-type]
        return real_scandir(path)  # type: ignore[arg-type]

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "scandir", scandir)
        yield denied
        return

    class Chmod(set[Path]):
        def add(self, path: Path) -> None:
            path.chmod(0)
            chmodded.append(path)

    try:
        yield Chmod()
    finally:
        for path in chmodded:
            path.chmod(stat.S_IRWXU)


def _two_files(desired: Path) -> Path:
    write_spec(desired, {TOKEN_A: [level("BUY", "0.45", "10")]}, name="a.yaml")
    sub = desired / "more"
    write_spec(sub, {TOKEN_B: [level("BUY", "0.30", "10")]}, name="b.yaml")
    return sub


def test_both_files_load_when_readable(tmp_path: Path) -> None:
    """The baseline of the tests below: the two files make one spec with both tokens."""
    _two_files(tmp_path)
    result = load_desired(tmp_path)
    assert result.spec is not None
    assert {t.token_id for t in result.spec.tokens} == {TOKEN_A, TOKEN_B}


def test_an_unreadable_subdirectory_is_an_error_not_an_absent_token(
    tmp_path: Path, deny_listing: set[Path]
) -> None:
    sub = _two_files(tmp_path)
    deny_listing.add(sub.resolve())
    result = load_desired(tmp_path)
    assert result.spec is None, "a spec without the unreadable directory's tokens was returned"
    assert any("more" in str(e) for e in result.errors)


def test_an_unreadable_subdirectory_cancels_no_order(
    harness: Harness, deny_listing: set[Path]
) -> None:
    sub = _two_files(harness.desired)
    assert harness.reconciler.tick().success
    before = harness.resting()
    assert before == {(Side.BUY, D("0.45")): D("10"), (Side.BUY, D("0.3")): D("10")}
    deny_listing.add(sub.resolve())
    harness.me.session.reset()
    harness.reconciler.tick()
    assert harness.me.session.order_writes() == [], (
        "the unreadable directory's token lost its orders"
    )
    assert harness.resting() == before


def test_a_dangling_yaml_symlink_is_an_error_not_an_absent_token(tmp_path: Path) -> None:
    write_spec(tmp_path, {TOKEN_A: [level("BUY", "0.45", "10")]}, name="a.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "elsewhere" / "b.yaml")
    result = load_desired(tmp_path)
    assert result.spec is None, "b.yaml cannot be read, yet a spec without it was returned"


# --- CLI helpers -----------------------------------------------------------------------------


def test_validate_directory_on_the_example_directory() -> None:
    out = io.StringIO()
    assert validate_directory(REPO / "desired", out) == 0
    assert "valid (3 files" in out.getvalue()


def test_validate_directory_prints_one_error_per_line(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": one_level("{side: BUY, price: 2, size: 0}")})
    out = io.StringIO()
    assert validate_directory(tmp_path, out, now=0) == 1
    name = tmp_path / "a.yaml"
    assert out.getvalue().splitlines() == [
        f"{name}:5:28: price 2 is outside (0, 1); write a probability such as 0.45",
        f"{name}:5:37: size 0 must be greater than 0; remove the level to stop quoting",
    ]


def test_validate_directory_reads_the_clock_for_past_expiries(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": one_level(
        '{side: SELL, price: 0.5, size: 5, order_type: GTD, expires_at: "2001-01-01T00:00:00Z"}')})
    out = io.StringIO()
    assert validate_directory(tmp_path, out) == 1
    assert "is in the past" in out.getvalue()


def test_json_schema_describes_one_file() -> None:
    schema = json_schema()
    json.dumps(schema)  # plain JSON
    assert schema["properties"]["version"] == {"const": 1, "title": "Version"}
    defs = schema["$defs"]
    assert schema["additionalProperties"] is False
    for name in ("Defaults", "Limits", "TokenSpec", "LevelSpec"):
        assert defs[name]["additionalProperties"] is False, name
    level = defs["LevelSpec"]
    assert level["required"] == ["side", "price", "size"]
    assert defs["Side"]["enum"] == ["BUY", "SELL"]
    assert defs["SpecOrderType"]["enum"] == ["GTC", "GTD"]
    assert defs["Unmanaged"]["enum"] == ["ignore", "adopt", "cancel"]
    price = {branch["type"]: branch for branch in level["properties"]["price"]["anyOf"]}
    assert set(price) == {"string", "number"}
    assert price["number"]["exclusiveMaximum"] == 1 and "pattern" in price["string"]
    token_id = defs["TokenSpec"]["properties"]["token_id"]["anyOf"]
    assert {"type": "string", "pattern": "^[0-9]{1,78}$"} in token_id


# --- libyaml and the pure-Python composer agree ----------------------------------------------

YAML_TEXTS = [p for p in sorted((REPO / "tests/spec/corpus").rglob("*.y*ml"))] + sorted(
    (REPO / "desired").glob("*.yaml")
)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", YAML_TEXTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_and_pure_python_parsers_give_the_same_data_and_marks(path: Path) -> None:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        pytest.skip("not UTF-8: refused before parsing")
    outcomes = []
    for fast in (True, False):
        try:
            data, marks = parse_yaml(text, fast=fast)
            outcomes.append(("ok", data, marks.values, marks.keys))
        except YamlProblem as exc:
            outcomes.append(("error", exc.message, exc.line, exc.col))
    assert outcomes[0] == outcomes[1]


# --- robustness: any bytes give errors or a spec, never an exception -------------------------

VALID = (REPO / "desired" / "election.yaml").read_text()


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = load_text(text)
    assert (result.spec is None) == bool(result.errors)
    for error in result.errors:
        assert error.line >= 1 and error.col >= 1 and error.message


@given(st.integers(0, len(VALID) - 1), st.integers(0, len(VALID)), st.text(max_size=12))
def test_damaged_valid_file_never_raises(start: int, end: int, insert: str) -> None:
    text = VALID[:start] + insert + VALID[max(start, end):]
    result = load_text(text, now=1_767_225_600)
    assert (result.spec is None) == bool(result.errors)
    lines = text.splitlines() or [""]
    for error in result.errors:
        assert 1 <= error.line <= len(lines) + 1, error


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_a_price_is_accepted_exactly_when_it_is_a_valid_price(price: Decimal) -> None:
    result = load_text(one_level(f'{{side: BUY, price: "{price}", size: 10}}'))
    # Decide independently, with exact integer arithmetic on the digits.
    sign, digits, exponent = price.as_tuple()
    assert isinstance(exponent, int)
    value = int("".join(map(str, digits)) or "0")
    scaled_num, scaled_den = (value * 10**exponent, 1) if exponent >= 0 else (value, 10**-exponent)
    in_range = not sign and 0 < scaled_num < scaled_den
    on_grid = (scaled_num * 10_000) % scaled_den == 0
    assert (result.spec is not None) == (in_range and on_grid), result.errors
