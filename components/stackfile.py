"""Stage 1: read a stack file into plain data plus the line and column of every node.

PyYAML's loaders silently keep the last of two equal keys and forget positions; composing the node
graph ourselves keeps both problems visible. Nothing here knows what the keys mean.

The result is JSON data only (mappings, lists, text, whole and finite numbers, booleans, null):
every YAML feature that would make something else is a problem with its line and column, never
an exception — explicit tags other than the core ``!!str``/``!!int``/``!!float``/``!!bool``/
``!!null``/``!!map``/``!!seq`` (``!vault x``, ``!!binary``, ``!!set``, ``!!timestamp``), a core tag
whose text does not read as its type (``!!int abc``), an unquoted date (YAML 1.1 makes
``2026-01-01`` a timestamp), ``.inf``/``.nan``. Hostile files are bounded before they cost time:
`MAX_FILE_BYTES`, `MAX_NODES` (counted with aliases expanded, so an alias bomb stops early),
`MAX_DEPTH` and `MAX_SCALAR_CHARS`.

A file with nothing to report is read by the native builder (native/alerting_yamlbuild.c, when
built), which holds no rule of its own: on anything else it hands the file to the Python builder
here (docs/architecture.md, "The native builder").
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.errors import Problem

try:  # libyaml's composer is ~10x faster and keeps the same marks
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML build
    _Loader = yaml.SafeLoader

try:  # the builder's common case in C (native/): optional, the Python builder below does it all too
    import alerting_yamlbuild as _native
except ImportError:  # not built here (no compiler or yaml.h), or a PyYAML without libyaml
    _native = None

PathKey = tuple[str | int, ...]
PROJECT = "alerting"


def config_key(name: str) -> str:
    """A stack setting's key in a Pulumi stack file: `routes` -> `alerting:routes` (the one spelling)."""
    return f"{PROJECT}:{name}"

# Limits that keep a hostile or broken file from costing minutes (the committed stacks are a few
# KiB; the 10,000-route benchmark stack is 2.7 MB with 330,000 nodes).
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 1_000_000  # scalars, mappings, lists and aliases, each alias counted as what it repeats
MAX_DEPTH = 32  # a stack file nests about 9 deep
MAX_SCALAR_CHARS = 65_536
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@contextlib.contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic GC while building large acyclic trees (a 10,000-route stack allocates
    millions of dicts and tuples; collections would rescan them again and again for nothing)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What survives is long-lived: freeze it so the collection that re-enabling would trigger
        # does not walk it all once more (refcounting still frees it when it is dropped).
        gc.freeze()
        if was_enabled:
            gc.enable()


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
            out += f"[{_quoted(part)}]"
    return out


# Unicode categories a reader cannot see: control, format (zero-width, bidi), line/paragraph
# separators, private-use and unassigned code points.
INVISIBLE_CATEGORIES = frozenset(("Cc", "Cf", "Zl", "Zp", "Co", "Cn"))


def _quoted(key: str) -> str:
    """A key as a JSON string, with invisible characters escaped too (a zero-width space shows)."""
    text = json.dumps(key, ensure_ascii=False)  # escapes the control characters already
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in INVISIBLE_CATEGORIES else c for c in text)


Mark = tuple[int, int]  # 1-based line, column


@dataclass
class Document:
    """One parsed stack file: its data and where each value (and each mapping key) stands.

    Positions are kept per container (`marks[id(container)]`: for a mapping, key -> (key mark,
    value mark); for a list, one mark per item) rather than per path, so building them allocates
    no path tuples; `where()` walks the data along a path to find them. A file the native builder
    read has nothing to report, so it is read without positions; the first `where()` reads them
    (into a twin of `data`, which later stages may hold or change).
    """

    file: str
    data: Any = None
    root: Mark = (1, 1)
    marks: dict[int, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _unmarked_text: str | None = field(default=None, repr=False, compare=False)
    _marked_data: Any = field(default=None, repr=False, compare=False)

    def where(self, path: PathKey, *, key: bool = False) -> Mark:
        """Position of the node at `path` (its key when `key`), else of its nearest ancestor."""
        if self._unmarked_text is not None:
            text, self._unmarked_text = self._unmarked_text, None
            self._marked_data, self.root, self.marks = _build_marked(text)
        node = self.data if self._marked_data is None else self._marked_data
        position = self.root
        for index, part in enumerate(path):
            marks = self.marks.get(id(node))
            if marks is None:
                break
            if isinstance(node, dict) and part in node and part in marks:
                key_mark, value_mark = marks[part]
                last = index == len(path) - 1
                position = key_mark if (key and last) else value_mark
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(marks):
                position, node = marks[part], node[part]
            else:
                break
        return position

    def problem(
        self, path: PathKey, message: str, *, key: bool = False, severity: str = "error"
    ) -> Problem:
        line, column = self.where(path, key=key)
        return Problem(self.file, line, column, display_path(path), message, severity)  # type: ignore[arg-type]


def load(path: Path, display: str | None = None) -> Document:
    """Parse `path`; syntax errors and duplicate keys become problems, never exceptions."""
    doc = Document(file=display or str(path))
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "$", f"cannot read file: {exc.strerror or exc}"))
        return doc
    if len(raw) > MAX_FILE_BYTES:
        doc.problems.append(Problem(doc.file, 1, 1, "$", _too_large()))
        return doc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        doc.problems.append(Problem(doc.file, line, column, "$", f"not UTF-8 text: {exc.reason} (byte {exc.start})"))
        return doc
    return parse(text, doc)


def _too_large() -> str:
    return f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; a stack file this large is refused unread"


class _Unreadable(Exception):
    """Internal: a scalar that has no JSON value (the message says why); recorded as a problem."""


class _Refused(Exception):
    """Internal: the file crossed one of the limits; the problem is recorded, building stops."""


def parse(text: str, doc: Document) -> Document:
    if len(text) > MAX_FILE_BYTES:
        doc.problems.append(Problem(doc.file, 1, 1, "$", _too_large()))
        return doc
    try:
        doc.data = _build(doc, text)
    except _Refused:
        doc.data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        doc.problems.append(Problem(doc.file, line, column, "$", f"YAML syntax error: {reason}"))
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "$", f"YAML error: {exc}"))
    return doc


# Building the data straight from libyaml's events (instead of yaml.compose + construct) is ~10x
# faster on large stacks and lets us see every key, position and duplicate on the way.
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CORE = "tag:yaml.org,2002:"
# Explicit scalar tags that are understood (and checked: `!!int abc` is refused). "!" is YAML's
# non-specific tag (`! 12` is the text "12").
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null")} | {"!", _MERGE_TAG}
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_COLLECTION_TAGS: dict[type, str] = {yaml.MappingStartEvent: f"{_CORE}map", yaml.SequenceStartEvent: f"{_CORE}seq"}
_NO_KEY, _SKIP, _COMPLEX_KEY = object(), object(), object()
_STRUCTURE = (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)


# Plain scalars already resolved to ordinary data (text, whole or finite numbers, booleans, null),
# shared by every file of the process: a stack file repeats the same few hundred words.
_RESOLVED: dict[str, Any] = {}
_RESOLVED_MAX = 65_536


@functools.lru_cache(maxsize=65536)
def _plain(value: str) -> Any:
    """Resolve an untagged plain scalar exactly as SafeLoader does (YAML 1.1 ints, bools, nulls...)."""
    for tag, pattern in _IMPLICIT.get(value[:1] if value else "", []) + _IMPLICIT.get(None, []):
        if pattern.match(value):
            return _tagged(tag, value)
    return value


def _tagged(tag: str, value: str) -> Any:
    """Construct a scalar of a known tag; ValueError(what the tag wants) when its text is not one."""
    if tag == _MERGE_TAG:
        return _MERGE
    if tag == f"{_CORE}null" and value not in _NULLS:
        raise ValueError("null (~, null or empty)")
    construct = _CONSTRUCTOR.yaml_constructors.get(tag)
    if construct is None:
        return value
    try:
        return construct(_CONSTRUCTOR, yaml.ScalarNode(tag, value))
    except (ValueError, KeyError, TypeError, ArithmeticError, yaml.YAMLError):
        raise ValueError(_TAG_WORDS.get(tag, _tag_name(tag))) from None


_TAG_WORDS = {
    f"{_CORE}int": "a whole number",
    f"{_CORE}float": "a number",
    f"{_CORE}bool": "true or false",
    f"{_CORE}timestamp": "a date",
}


def _tag_name(tag: str) -> str:
    return f"!!{tag[len(_CORE):]}" if tag.startswith(_CORE) else tag


def _plain_value(text: str) -> Any:
    """An untagged plain scalar's data (remembered in `_RESOLVED`), `_MERGE` for `<<`;
    `_Unreadable` when YAML 1.1 reads it as something that is not plain data."""
    try:
        value = _plain(text)
    except ValueError as exc:  # an unquoted value YAML 1.1 resolves to a type it then cannot read
        raise _Unreadable(f"{_short(text)!r} looks like {exc} to YAML but is not one; quote it") from None
    value = _data(value, text)
    if value is not _MERGE and len(_RESOLVED) < _RESOLVED_MAX:
        _RESOLVED[text] = value
    return value


def _data(value: Any, text: str) -> Any:
    """`value` when it is plain data (or `_MERGE`); else `_Unreadable` saying what YAML made of `text`."""
    kind_of = type(value)
    if kind_of is str or kind_of is int or kind_of is bool or value is None or value is _MERGE:
        return value
    if kind_of is float:
        if math.isfinite(value):
            return value
        raise _Unreadable(f"{_short(text)!r} is not a finite number (.inf and .nan are refused)")
    # YAML 1.1 reads unquoted dates and times as timestamps; a stack file never means one.
    raise _Unreadable(
        f"{_short(text)!r} reads as a YAML {kind_of.__name__}; quote it (\"{_short(text)}\") to mean text"
    )


_UNUSUAL = object()


def _native_plain(text: str) -> Any:
    """The native builder's resolution of a plain scalar: its data, or `_UNUSUAL` (the Python
    builder then reads the file and reports it)."""
    try:
        value = _plain_value(text)
    except _Unreadable:
        return _UNUSUAL
    return _UNUSUAL if value is _MERGE else value


def _native_build(text: str, *, with_marks: bool) -> tuple[Any, Mark, dict[int, Any] | None] | None:
    """The native builder's (data, root mark, marks or None); None when it is not here or the file
    is not its common case (the Python builder then reads it and reports what it finds)."""
    if _native is None:
        return None
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates in text handed to parse(): the Python builder says where
        return None
    with bulk_allocation():
        return _native.build(
            encoded, _RESOLVED, _native_plain, _UNUSUAL, MAX_NODES, MAX_DEPTH, MAX_SCALAR_CHARS, with_marks
        )


def _build_marked(text: str) -> tuple[Any, Mark, dict[int, Any]]:
    """Data, root mark and marks of a text the native builder read once without marks."""
    built = _native_build(text, with_marks=True)
    if built is not None and built[2] is not None:
        return built[0], built[1], built[2]
    # The same text and limits read natively once, so this is only reached if a limit changed
    # in between; the Python builder then gives the positions all the same.
    scratch = Document(file="")
    scratch.data = _build_python(scratch, text)
    return scratch.data, scratch.root, scratch.marks


def _build(doc: Document, text: str) -> Any:
    built = _native_build(text, with_marks=False)
    if built is not None:
        data, doc.root, _ = built
        doc._unmarked_text = text
        return data
    return _build_python(doc, text)


def _build_python(doc: Document, text: str) -> Any:
    loader = _Loader(text)
    try:
        # get_event() alone: yaml.parse would also call check_event() for every event. The tree is
        # acyclic: with the cyclic GC on, its collections rescan every node built so far, which
        # made a 10x larger file cost 17x (measured: bench/figures.py `linear`, `loader`).
        with bulk_allocation():
            return _Builder(doc).build(loader.get_event)
    finally:
        loader.dispose()


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


class _Merge:
    """The `<<` key: reported, never merged (it hides where values come from)."""


_MERGE = _Merge()


class _Frame:
    __slots__ = ("anchor", "container", "is_map", "key", "key_mark", "marks", "path", "start")

    def __init__(
        self, container: dict[Any, Any] | list[Any], path: PathKey | None, anchor: str | None, doc: Document
    ) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.path = path  # only for messages; None: inside something that is reported and dropped
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_mark: Mark = (1, 1)
        self.marks: Any = None
        self.start = 0  # the builder's node count when this container opened
        if path is not None:
            self.marks = {} if self.is_map else []
            doc.marks[id(container)] = self.marks


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.frames: list[_Frame] = []
        self.anchors: dict[str, Any] = {}
        self.weights: dict[str, int] = {}  # anchor -> nodes it stands for (its aliases expanded)
        self.nodes = 0
        self.root: Any = {}

    def build(self, next_event: Callable[[], Any]) -> Any:
        """Build the data from the events. The common case (an untagged, unanchored scalar of
        ordinary size inside a tracked mapping or list) is handled inline, because it is most of a
        large file; everything else goes through `_node`, which knows every rule."""
        documents = 0
        frames = self.frames
        frame: _Frame | None = None  # frames[-1], kept in step with pushes and pops
        resolved, doc = _RESOLVED, self.doc
        scalar_event, mapping_end, sequence_end = yaml.ScalarEvent, yaml.MappingEndEvent, yaml.SequenceEndEvent
        mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
        no_key, skip, complex_key = _NO_KEY, _SKIP, _COMPLEX_KEY
        while (event := next_event()) is not None:
            kind = type(event)
            if (
                kind is scalar_event
                and frame is not None
                and frame.marks is not None
                and event.tag is None
                and event.anchor is None
                and len(event.value) <= MAX_SCALAR_CHARS
            ):
                text = event.value
                if event.implicit[0]:
                    value = resolved.get(text, resolved)
                    if value is resolved:  # not seen yet, or not plain data: the full rules
                        self._count(event, 1)
                        self._node(event, kind)
                        continue
                else:
                    value = text
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    self._count(event, 0)
                start = event.start_mark
                container, key = frame.container, frame.key
                if not frame.is_map:
                    frame.marks.append((start.line + 1, start.column + 1))
                    container.append(value)  # type: ignore[union-attr]
                elif key is no_key:
                    key = value if type(value) is str else str(value)
                    if key in container:  # a duplicate: the full rules report it (it is counted)
                        self._node(event, kind)
                        continue
                    frame.key = key
                    frame.key_mark = (start.line + 1, start.column + 1)
                elif key is skip or key is complex_key:
                    self._place(frame, value)
                else:
                    frame.marks[key] = (frame.key_mark, (start.line + 1, start.column + 1))
                    container[key] = value
                    frame.key = no_key
            elif (
                (kind is mapping_start or kind is sequence_start)
                and frame is not None
                and frame.marks is not None
                and event.tag is None
                and event.anchor is None
                and len(frames) < MAX_DEPTH
                and (not frame.is_map or (frame.key is not no_key and frame.key is not skip))
                and frame.key is not complex_key
            ):
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    self._count(event, 0)
                start = event.start_mark
                mark = (start.line + 1, start.column + 1)
                child: dict[Any, Any] | list[Any] = {} if kind is mapping_start else []
                parent_path: PathKey = frame.path  # type: ignore[assignment]  # tracked: marks is not None
                if frame.is_map:
                    key = frame.key
                    frame.marks[key] = (frame.key_mark, mark)
                    frame.container[key] = child
                    frame.key = no_key
                    child_path: PathKey = (*parent_path, key)
                else:
                    child_path = (*parent_path, len(frame.container))
                    frame.marks.append(mark)
                    frame.container.append(child)  # type: ignore[union-attr]
                frame = _Frame(child, child_path, None, doc)
                frame.start = self.nodes
                frames.append(frame)
            elif kind is mapping_end or kind is sequence_end:
                done = frames.pop()
                if done.anchor:
                    self.anchors[done.anchor] = done.container
                    self.weights[done.anchor] = self.nodes - done.start
                frame = frames[-1] if frames else None
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    self._problem(event, (), "a stack file holds one YAML document; remove the second `---`")
                    break
            elif kind is yaml.StreamEndEvent:
                break
            elif kind not in _STRUCTURE:
                self._count(event, self.weights.get(event.anchor, 1) if kind is yaml.AliasEvent else 1)
                self._node(event, kind)
                frame = frames[-1] if frames else None
        return self.root

    def _count(self, event: Any, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            self._problem(
                event,
                (),
                f"more than {MAX_NODES:,} values (aliases counted as what they repeat); refused"
                " (a stack file this large is a mistake or an alias bomb)",
            )
            raise _Refused

    def _problem(self, event: Any, path: PathKey, message: str) -> None:
        mark = event.start_mark
        self.doc.problems.append(Problem(self.doc.file, mark.line + 1, mark.column + 1, display_path(path), message))

    def _node(self, event: Any, kind: type) -> None:
        frames = self.frames
        parent = frames[-1] if frames else None
        start = event.start_mark
        mark = (start.line + 1, start.column + 1)
        if parent is None:
            path: PathKey | None = ()
            self.doc.root = mark
        elif parent.is_map:
            if parent.key is _NO_KEY:
                self._key(parent, event, kind, mark)
                return
            if parent.marks is None or parent.key is _SKIP or parent.key is _COMPLEX_KEY:
                path = None
            else:
                path = parent.path
                parent.marks[parent.key] = (parent.key_mark, mark)
        elif parent.marks is None:
            path = None
        else:
            path = parent.path
            parent.marks.append(mark)
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            container: dict[Any, Any] | list[Any] = {} if kind is yaml.MappingStartEvent else []
            child_path = None if path is None else self._child_path(parent, path)
            self._collection_tag(event, kind, child_path)
            self._place(parent, container)
            self._push(_Frame(container, child_path, event.anchor, self.doc), event)
            return
        try:
            value = self._scalar(event, kind)
            if value is _MERGE:
                raise _Unreadable("'<<' (YAML's merge key) is not a value; quote it (\"<<\") to mean text")
        except _Unreadable as exc:
            if path is not None:
                self._problem(event, self._child_path(parent, path), str(exc))
            value = None
        if kind is yaml.ScalarEvent and event.anchor:
            self.anchors[event.anchor] = value
        self._place(parent, value)

    def _push(self, frame: _Frame, event: Any) -> None:
        if len(self.frames) >= MAX_DEPTH:
            self._problem(event, frame.path or (), f"nested deeper than {MAX_DEPTH} levels; refused")
            raise _Refused
        frame.start = self.nodes
        self.frames.append(frame)

    def _collection_tag(self, event: Any, kind: type, path: PathKey | None) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != _COLLECTION_TAGS[kind] and path is not None:
            what = "mapping" if kind is yaml.MappingStartEvent else "list"
            self._problem(
                event, path, f"YAML tag {_tag_name(tag)} is not supported here (a stack file holds a plain {what})"
            )

    @staticmethod
    def _child_path(parent: _Frame | None, path: PathKey) -> PathKey:
        if parent is None:
            return path
        return (*path, parent.key) if parent.is_map else (*path, len(parent.container))

    def _scalar(self, event: Any, kind: type) -> Any:
        """The value of a scalar or alias event; `_Unreadable` (the reason) when it has none."""
        if kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise _Unreadable(f"unknown alias *{event.anchor}")
            return self.anchors[event.anchor]
        text, tag = event.value, event.tag
        if len(text) > MAX_SCALAR_CHARS:
            raise _Unreadable(f"a value longer than {MAX_SCALAR_CHARS:,} characters; refused")
        if tag == "!":  # YAML's non-specific tag: the text as it is
            return text
        if tag is not None and tag not in _SCALAR_TAGS:
            raise _Unreadable(
                f"YAML tag {_tag_name(tag)} is not supported (only plain values; quote the text"
                " if the tag is meant literally)"
            )
        if tag is None:
            return _plain_value(text) if event.implicit[0] else text
        try:
            value = _tagged(tag, text)
        except ValueError as exc:
            raise _Unreadable(f"{_short(f'{_tag_name(tag)} {text}')!r} does not read as {exc}") from None
        return _data(value, text)

    def _key(self, parent: _Frame, event: Any, kind: type, mark: Mark) -> None:
        path = parent.path
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if path is not None:
                self._problem(event, path, "mapping keys must be plain text")
            parent.key = _COMPLEX_KEY
            self._push(_Frame({} if kind is yaml.MappingStartEvent else [], None, None, self.doc), event)
            return
        try:
            key = self._scalar(event, kind)
        except _Unreadable as exc:
            if path is not None:
                self._problem(event, path, f"key {exc}")
            parent.key = _SKIP
            return
        if key is _MERGE:
            if path is not None:
                self._problem(event, path, "YAML merge keys (<<) are not supported")
            parent.key = _SKIP
            return
        key = key if isinstance(key, str) else str(key)
        if key in parent.container:
            if path is not None:
                first_line = parent.marks[key][0][0]
                self._problem(
                    event, (*path, key), f"duplicate key {key!r} (first defined on line {first_line})"
                )
            parent.key = _SKIP
            return
        parent.key = key
        parent.key_mark = mark

    def _place(self, parent: _Frame | None, value: Any) -> None:
        if parent is None:
            self.root = value
        elif not parent.is_map:
            parent.container.append(value)  # type: ignore[union-attr]
        elif parent.key is _COMPLEX_KEY:
            parent.key = _SKIP  # the complex key's value is dropped with it
        else:
            if parent.key is not _SKIP:
                parent.container[parent.key] = value
            parent.key = _NO_KEY
