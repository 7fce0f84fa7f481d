"""Stage 1: read a stack file into plain data plus the line and column of every node.

PyYAML's loaders silently keep the last of two equal keys and forget positions; composing the node
graph ourselves keeps both problems visible. Nothing here knows what the keys mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.errors import Problem

try:  # libyaml's composer is ~10x faster and keeps the same marks
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML build
    _Loader = yaml.SafeLoader

PathKey = tuple[str | int, ...]
PROJECT = "alerting"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def display_path(path: PathKey) -> str:
    """`("config", "alerting:routes", 2, "name")` -> `$.routes[2].name` (config-relative)."""
    parts = list(path)
    if parts[:1] == ["config"]:
        parts = parts[1:]
        if parts and isinstance(parts[0], str) and parts[0].startswith(f"{PROJECT}:"):
            parts[0] = parts[0][len(PROJECT) + 1 :]
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part) or re.match(r"^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$", part):
            out += f".{part}"
        else:
            out += f'["{part}"]'
    return out


@dataclass
class Document:
    """One parsed stack file: its data and where each value (and each mapping key) stands."""

    file: str
    data: Any = None
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Position of the node at `path` (its key when `key`), else of its nearest ancestor."""
        probe = tuple(path)
        while True:
            table = self.key_positions if key else self.positions
            if probe in table:
                return table[probe]
            if key and probe in self.positions:
                return self.positions[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]
            key = False

    def problem(
        self, path: PathKey, message: str, *, key: bool = False, severity: str = "error"
    ) -> Problem:
        line, column = self.where(path, key=key)
        return Problem(self.file, line, column, display_path(path), message, severity)  # type: ignore[arg-type]


def load(path: Path, display: str | None = None) -> Document:
    """Parse `path`; syntax errors and duplicate keys become problems, never exceptions."""
    doc = Document(file=display or str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "$", f"cannot read file: {exc}"))
        return doc
    return parse(text, doc)


def parse(text: str, doc: Document) -> Document:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        doc.problems.append(Problem(doc.file, line, column, "$", f"YAML syntax error: {reason}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "$", f"YAML error: {exc}"))
        return doc
    doc.data = _convert(node, (), doc) if node is not None else {}
    return doc


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(node: yaml.Node, path: PathKey, doc: Document) -> Any:
    doc.positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                doc.problems.append(doc.problem(path, "YAML merge keys (<<) are not supported"))
                continue
            key = _scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                first_line = doc.key_positions[child][0]
                line, column = _mark(key_node)
                doc.problems.append(
                    Problem(
                        doc.file,
                        line,
                        column,
                        display_path(child),
                        f"duplicate key {key!r} (first defined on line {first_line})",
                    )
                )
                continue
            doc.key_positions[child] = _mark(key_node)
            result[key] = _convert(value_node, child, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _scalar(node)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _scalar(node: yaml.Node) -> Any:
    """Resolve a scalar exactly as SafeLoader would (ints, bools, nulls, floats, timestamps)."""
    if not isinstance(node, yaml.ScalarNode):
        return str(node.value)
    construct = _CONSTRUCTOR.yaml_constructors.get(node.tag)
    return construct(_CONSTRUCTOR, node) if construct else node.value
