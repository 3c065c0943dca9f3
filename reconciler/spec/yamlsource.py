"""YAML text to plain Python data, exactly, with the position of every node.

PyYAML's own constructors turn `price: 0.1` into a binary float (0.1000000000000000055...) and
forget where each value came from. We only use its composer (the node tree, which carries marks)
and build the values ourselves:

- numbers become `Decimal` built from the scalar's source text, never through float;
- `true`/`false` become bools; YAML 1.1's yes/no/on/off stay strings (and are then rejected
  where a bool is wanted: "NO" is not a boolean here);
- timestamps stay strings (the models parse them and insist on a timezone);
- duplicate keys, anchors/aliases, merge keys and custom tags are errors, since each one lets
  the file say something other than what it appears to say (and refusing an alias at its first
  use means no "billion laughs" document is ever expanded);
- nesting deeper than MAX_DEPTH is an error at the first node too deep, never a RecursionError:
  a desired-state file needs 6 levels, and `[[[[...` a thousand deep must not crash the loader.

`Marks` maps a path (the tuple of keys and indexes pydantic reports as an error's `loc`) to the
line and column of the value there, and of its key, so any validation error can be pinned to
`file:line:col`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.spec.errors import excerpt

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
#: A plain decimal: optional sign, digits with an optional fraction, optional exponent.
_DECIMAL_TEXT = re.compile(r"[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][-+]?\d+)?")
#: Longer numbers than this are typos or attacks (a token id, the longest number, has 78 digits).
MAX_NUMBER_TEXT = 80
#: Deepest nesting accepted (a file needs 6: file, tokens, token, orders, order, value).
MAX_DEPTH = 16
_TOO_DEEP = (
    f"nested more than {MAX_DEPTH} levels deep (a desired-state file needs 6); check the "
    "brackets and the indentation here"
)


@dataclass
class Marks:
    """1-based (line, col) of each value and each mapping key, by path."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, prefer_key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that exists in the file."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefer_key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)


class YamlProblem(Exception):
    """The text is not YAML we accept; carries the 1-based position."""

    def __init__(self, message: str, *, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def _pos(node: Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


#: libyaml's composer, when PyYAML was built with it: about 10x faster than the pure-Python one.
#: It refuses nesting deeper than 1000 itself (a scanner error), so it never recurses too far.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


class _DepthLimitedLoader(yaml.SafeLoader):
    """The pure-Python composer recurses once per level: stop it at MAX_DEPTH, at the node's
    position, long before Python's recursion limit. (Its parser keeps an explicit stack.)"""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            # Depth 1 is the document's root (path ()); keys count too, so only a collection
            # (what recurses) is stopped, at the very node the builder would refuse.
            if self._depth > MAX_DEPTH + 1 and self.check_event(
                yaml.SequenceStartEvent, yaml.MappingStartEvent
            ):
                mark = self.peek_event().start_mark
                raise YamlProblem(_TOO_DEEP, line=mark.line + 1, col=mark.column + 1)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def compose(text: str, *, fast: bool = True) -> list[Node]:
    """The document nodes of `text`. Broken YAML is re-read by the pure-Python composer, so
    error messages and positions do not depend on how PyYAML was built."""
    if fast and _FAST_LOADER is not None:
        try:
            return list(yaml.compose_all(text, Loader=_FAST_LOADER))
        except yaml.YAMLError:
            pass
    return list(yaml.compose_all(text, Loader=_DepthLimitedLoader))


def parse_yaml(text: str, *, fast: bool = True) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data and its marks. Raises `YamlProblem`."""
    try:
        nodes = compose(text, fast=fast)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlProblem(
            f"invalid YAML: {problem}; check indentation, quotes and colons here",
            line=line,
            col=col,
        ) from None
    except yaml.reader.ReaderError as exc:  # a control character: no problem_mark, a position
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise YamlProblem(
            f"invalid YAML: control character #x{exc.character:04x} is not allowed; remove it",
            line=line,
            col=col,
        ) from None
    except yaml.YAMLError:  # pragma: no cover - every YAMLError the composer raises is above
        raise YamlProblem("invalid YAML", line=1, col=1) from None
    if not nodes:
        raise YamlProblem(
            "file is empty; write `version: 1` and a `tokens:` list, or delete the file",
            line=1,
            col=1,
        )
    if len(nodes) > 1:
        line, col = _pos(nodes[1])
        raise YamlProblem(
            "more than one YAML document in this file; remove the `---` and put the second "
            "document in a file of its own",
            line=line,
            col=col,
        )
    marks = Marks()
    data = _Builder(marks).build(nodes[0], ())
    return data, marks


class _Builder:
    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.seen: set[int] = set()

    def build(self, node: Node, path: Path) -> Any:
        if len(path) > MAX_DEPTH:
            raise YamlProblem(_TOO_DEEP, line=_pos(node)[0], col=_pos(node)[1])
        # The composer returns the same node object for an alias and its anchor.
        if id(node) in self.seen:
            raise YamlProblem(
                "anchors and aliases (&name, *name) are not supported; write the value out",
                line=_pos(node)[0],
                col=_pos(node)[1],
            )
        self.seen.add(id(node))
        self.marks.values[path] = _pos(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)  # the composer makes only these three kinds
        return _scalar(node)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line, col = _pos(key_node)
            if key_node.tag == _TAG + "merge":
                raise YamlProblem(
                    "merge keys (<<) are not supported; write the keys out", line=line, col=col
                )
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem("a key must be a plain word", line=line, col=col)
            key = key_node.value
            if key in out:
                first = self.marks.keys[path + (key,)]
                raise YamlProblem(
                    f"duplicate key {excerpt(key)} (first at line {first[0]}); keep only one",
                    line=line,
                    col=col,
                )
            self.marks.keys[path + (key,)] = (line, col)
            out[key] = self.build(value_node, path + (key,))
        return out


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    line, col = _pos(node)
    if tag in (_TAG + "int", _TAG + "float"):
        return _number(text, line=line, col=col)
    if tag == _TAG + "bool":
        # YAML 1.1 also reads yes/no/on/off as bools; we keep those as text so they fail loudly.
        lowered = text.lower()
        return lowered == "true" if lowered in ("true", "false") else text
    if tag == _TAG + "null":
        return None
    if tag in (_TAG + "str", _TAG + "timestamp"):
        return text
    raise YamlProblem(
        f"unsupported YAML tag {excerpt(tag, limit=40)}; write a plain value without a ! tag",
        line=line,
        col=col,
    )


def _number(text: str, *, line: int, col: int) -> Decimal:
    if len(text) > MAX_NUMBER_TEXT:
        raise YamlProblem(
            f"a number {len(text)} characters long, more than the "
            f"{MAX_NUMBER_TEXT} any real value needs; check it",
            line=line,
            col=col,
        )
    if re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", text):  # YAML 1.1 reads 10:30 as base 60
        raise YamlProblem(
            f'{excerpt(text)} reads as a base-60 number in YAML; write a time in quotes: "{text}"',
            line=line,
            col=col,
        )
    if not _DECIMAL_TEXT.fullmatch(text):
        raise YamlProblem(
            f"{excerpt(text)} is not a plain decimal number; "
            'write digits with an optional fraction, e.g. 0.45 or "0.45"',
            line=line,
            col=col,
        )
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid Decimal text
        raise YamlProblem(f"{excerpt(text)} is not a number", line=line, col=col) from None
