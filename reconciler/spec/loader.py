"""Parse desired-state files, given as bytes, into one `DesiredState`, or into errors.

All-or-nothing: if any file has any problem, `LoadResult.spec` is None and `errors` lists every
problem found, each as `file:line:col: message` with a hint of what to write instead. A partial
spec is never returned, because applying half a directory would cancel the other half's orders.

PURE: this module reads no file and no clock. Which files of a directory are read, and reading
them, is the engine's (`reconciler.engine.desired_files`); it hands the bytes to `load_files`.

`now` (unix seconds), when given, makes a GTD expiry in the past an error. The loader itself
never reads the clock; `reconciler validate` passes the current time.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.spec.errors import SpecError, excerpt
from reconciler.spec.models import Defaults, DesiredFile, LevelSpec, Limits, TokenSpec
from reconciler.spec.policy import SECTION_MODELS, token_references
from reconciler.spec.state import DesiredState, build_state
from reconciler.spec.yamlsource import Marks, YamlProblem, parse_yaml

#: Also rejected: files bigger than this are not hand-written desired state.
MAX_FILE_BYTES = 4 * 1024 * 1024

_MISSING_HINTS = {
    "version": "version: 1",
    "token_id": 'token_id: "<the token\'s decimal id>"',
    "side": "side: BUY",
    "price": 'price: "0.45"',
    "size": "size: 100",
    "limit": "limit: 1000",
    "start": 'start: "22:00"',
    "end": 'end: "23:00"',
    "windows": 'windows: [{start: "22:00", end: "23:00"}]',
}


@dataclass(frozen=True)
class LoadResult:
    spec: DesiredState | None
    errors: list[SpecError] = field(default_factory=list)
    digest: str = ""  # sha256 over the names and bytes of the files read
    files: list[Path] = field(default_factory=list)
    # The bytes read, by path relative to the directory: what a valid revision is kept as.
    contents: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.spec is not None


@dataclass
class _Parsed:
    name: str
    model: DesiredFile
    marks: Marks


def load_files(
    contents: Mapping[str, bytes], *, base: Path | None = None, now: float | None = None
) -> LoadResult:
    """Load desired-state files given in memory as {path relative to the directory: bytes},
    e.g. the files of a revision kept in the state file. Same checks, digest and errors as
    `load_desired` on a directory holding exactly these files (every name given is loaded: the
    caller chose them). `base`, when given, is the directory the names are reported under, so
    a spec rebuilt from stored files equals the one first loaded from `base`."""
    return load_read_files(contents, base=base, now=now, errors=[])


def load_read_files(
    contents: Mapping[str, bytes],
    *,
    base: Path | None,
    now: float | None,
    errors: list[SpecError],
) -> LoadResult:
    """The one code path of both loaders. `errors` holds the problems found while reading;
    the files that could not be read are absent from `contents`."""
    names = sorted(contents)
    files = [base / n if base is not None else Path(n) for n in names]
    if not names and not errors:
        where = base if base is not None else Path(".")
        message = "no *.yaml or *.yml files; add one with `version: 1` and a `tokens:` list"
        return LoadResult(spec=None, errors=[whole_file_error(where, message)])
    hasher = hashlib.sha256()
    parsed: list[_Parsed] = []
    for name, path in zip(names, files, strict=True):
        data = contents[name]
        if len(data) > MAX_FILE_BYTES:  # not hashed, as a directory's too-big file is not read
            errors.append(too_big_error(path))
            continue
        hasher.update(f"{name}\0{len(data)}\0".encode())
        hasher.update(data)
        one = _parse_file(str(path), data, now=now, errors=errors)
        if one is not None:
            parsed.append(one)
    errors.extend(_cross_file_errors(parsed))
    digest = hasher.hexdigest()
    kept = {name: contents[name] for name in names}
    if errors:
        return LoadResult(spec=None, errors=errors, digest=digest, files=files, contents=kept)
    spec = build_state([p.model for p in parsed], sources=[p.name for p in parsed])
    return LoadResult(spec=spec, errors=[], digest=digest, files=files, contents=kept)


def load_text(text: str, *, name: str = "inline.yaml", now: float | None = None) -> LoadResult:
    """Load one document given as text (for tests and for `plan` on standard input)."""
    errors: list[SpecError] = []
    data = text.encode()
    one = _parse_file(name, data, now=now, errors=errors)
    digest = hashlib.sha256(data).hexdigest()
    if one is None:
        return LoadResult(spec=None, errors=errors, digest=digest)
    return LoadResult(spec=build_state([one.model], sources=[name]), digest=digest)


def whole_file_error(path: Path, message: str) -> SpecError:
    return SpecError(str(path), 1, 1, message)


def too_big_error(path: Path) -> SpecError:
    return whole_file_error(
        path,
        f"file is larger than {MAX_FILE_BYTES} bytes; split it or remove what is not desired state",
    )


def _parse_file(
    name: str, data: bytes, *, now: float | None, errors: list[SpecError]
) -> _Parsed | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        errors.append(
            SpecError(
                name,
                line,
                col,
                f"byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8",
            )
        )
        return None
    try:
        document, marks = parse_yaml(text)
    except YamlProblem as exc:
        errors.append(SpecError(name, exc.line, exc.col, exc.message))
        return None
    if not isinstance(document, dict):
        line, col = marks.locate(())
        errors.append(
            SpecError(
                name,
                line,
                col,
                "the top level must be a mapping with `version: 1` and a `tokens:` list",
            )
        )
        return None
    try:
        model = DesiredFile.model_validate(document, context={"now": now})
    except ValidationError as exc:
        found = {e for err in exc.errors() for e in _translate(name, err, marks)}
        errors.extend(sorted(found))
        return None
    return _Parsed(name=name, model=model, marks=marks)


# --- pydantic errors to positions and advice -------------------------------------------------


def _translate(name: str, err: Any, marks: Marks) -> list[SpecError]:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind = err["type"]
    if kind == "spec_rules":
        return [
            SpecError(name, *marks.locate(loc + tuple(rel)), message)
            for rel, message in err["ctx"]["issues"]
        ]
    if kind == "extra_forbidden":
        return [SpecError(name, *marks.locate(loc, prefer_key=True), _unknown_key(loc))]
    if kind == "missing":
        key = str(loc[-1])
        hint = _MISSING_HINTS.get(key, f"{key}: ...")
        return [SpecError(name, *marks.locate(loc[:-1]), f"missing key {key!r}; add `{hint}`")]
    return [SpecError(name, *marks.locate(loc), _message(loc, err))]


def _field_name(loc: tuple[str | int, ...]) -> str:
    names = [str(p) for p in loc if isinstance(p, str)]
    name = names[-1] if names else "the file"
    # An error on a list item names the item, e.g. "orders[2]".
    return f"{name}[{loc[-1]}]" if loc and isinstance(loc[-1], int) else name


def _message(loc: tuple[str | int, ...], err: Any) -> str:
    what, kind = _field_name(loc), err["type"]
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "enum":
        return f"{what} must be {err['ctx']['expected']}; got {excerpt(err['input'])}"
    if kind == "bool_type":
        return f"{what} must be true or false; got {excerpt(err['input'])}"
    if kind == "string_type":
        return f"{what} must be text; put it in quotes"
    if kind == "string_too_long":
        return f"{what} is too long (at most {err['ctx']['max_length']} characters)"
    if kind == "too_short":
        return f"{what} needs at least {err['ctx']['min_length']} item"
    if kind in ("tuple_type", "list_type"):
        return f"{what} must be a list (one `- ` item per line)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{what} must be a mapping of `key: value` lines"
    # pydantic's own wording names the expected type, never the input.
    return f"{what}: {err['msg']}"


def _model_for(parent: tuple[str | int, ...]) -> type[BaseModel]:
    names = [p for p in parent if isinstance(p, str)]
    last = names[-1] if names else None
    models: dict[str | None, type[BaseModel]] = {
        None: DesiredFile,
        "defaults": Defaults,
        "limits": Limits,
        "tokens": TokenSpec,
        "orders": LevelSpec,
    }
    return models.get(last) or SECTION_MODELS.get(last or "", DesiredFile)


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    key = str(loc[-1])
    allowed = list(_model_for(loc[:-1]).model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {excerpt(key)}; {guess}allowed here: {', '.join(allowed)}"


# --- checks across files ---------------------------------------------------------------------


def _cross_file_errors(parsed: list[_Parsed]) -> list[SpecError]:
    errors: list[SpecError] = []
    token_at: dict[str, str] = {}
    limits_at: str | None = None
    policy_at: _Parsed | None = None
    for p in parsed:
        if p.model.policy is not None:
            here = p.marks.locate(("policy",), prefer_key=True)
            if policy_at is not None:
                line, col = policy_at.marks.locate(("policy",), prefer_key=True)
                errors.append(
                    SpecError(
                        p.name,
                        *here,
                        f"policy: is already set in {policy_at.name}:{line}:{col}; "
                        "keep one policy block, in one file",
                    )
                )
            else:
                policy_at = p
        if p.model.limits is not None:
            here = p.marks.locate(("limits",), prefer_key=True)
            if limits_at is not None:
                errors.append(
                    SpecError(
                        p.name,
                        *here,
                        f"limits: is already set in {limits_at}; "
                        "keep one limits block, in one file",
                    )
                )
            else:
                limits_at = f"{p.name}:{here[0]}:{here[1]}"
        for i, token in enumerate(p.model.tokens):
            here = p.marks.locate(("tokens", i, "token_id"))
            first = token_at.get(token.token_id)
            if first is not None:
                errors.append(
                    SpecError(
                        p.name,
                        *here,
                        f"token {token.token_id[:16]}... is already "
                        f"declared in {first}; declare each token in one file only",
                    )
                )
            else:
                token_at[token.token_id] = f"{p.name}:{here[0]}:{here[1]}"
    if policy_at is not None and policy_at.model.policy is not None:
        for path, token_id in token_references(policy_at.model.policy):
            if token_id not in token_at:
                errors.append(
                    SpecError(
                        policy_at.name,
                        *policy_at.marks.locate(path),
                        f"the policy names token {token_id[:16]}..., which no file declares; "
                        "declare it under tokens: or remove it from the policy",
                    )
                )
    return errors
