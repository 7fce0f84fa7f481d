"""The one JSON writer for what users read and commit (`render -f json`, backup files).

Two-space indent, sorted keys, UTF-8 kept, trailing newline: byte for byte what
``json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"`` writes, ~10x faster
(orjson's encoder is native; Python's indenting encoder is pure Python). Data with a float
(orjson writes 6.1e-05 as 0.000061) or an integer beyond 64 bits goes to the standard library;
compiled stacks and backups hold neither, so they take the fast path.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


def pretty(data: Any, *, floats_possible: bool = True) -> str:
    """`floats_possible=False` skips the search for floats (a third of the time on a large
    compiled stack): for data that holds none by construction, like `compile_stack`'s."""
    return pretty_bytes(data, floats_possible=floats_possible).decode("utf-8")


def pretty_bytes(data: Any, *, floats_possible: bool = True) -> bytes:
    """`pretty` as UTF-8 bytes, for writing straight to a file or stdout (a 40 MB render is not
    decoded and encoded again)."""
    return _encode(data, floats_possible, None)


def _encode(data: Any, floats_possible: bool, default: Callable[[Any], Any] | None) -> bytes:
    if not (floats_possible and has_float(data)):
        try:
            return orjson.dumps(data, default=default, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits
            pass
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=default)
    return (text + "\n").encode("utf-8")


class _Hole:
    """Where `pretty_chunks` puts a list it encodes apart."""


# Written where the hole is; escaped alike by both encoders. Should a document hold this text
# itself, the hole cannot be told apart and `pretty_chunks` encodes the whole document at once.
_HOLE_TEXT = "\x00alerting:jsontext:hole\x00"
_HOLE_BYTES = orjson.dumps(_HOLE_TEXT)


def _fill(hole: Any) -> str:
    if isinstance(hole, _Hole):
        return _HOLE_TEXT
    raise TypeError(f"not JSON: {type(hole).__name__}")


def _around_hole(document: Any, floats_possible: bool) -> tuple[bytes, bytes] | None:
    """The bytes before and after the one `_Hole` in `document`, or None if it is not alone."""
    text = _encode(document, floats_possible, _fill)
    if text.count(_HOLE_BYTES) != 1:
        return None
    before, after = text.split(_HOLE_BYTES)
    return before, after


def _placed(document: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """`document` with `value` at `path` (its dicts along the path copied, not changed)."""
    key, *rest = path
    return {**document, key: _placed(document[key], tuple(rest), value) if rest else value}


def _nested(path: tuple[str, ...], value: Any) -> Any:
    """`value` under the keys of `path`: `("a", "b")` -> `{"a": {"b": value}}`."""
    for key in reversed(path):
        value = {key: value}
    return value


def pretty_chunks(
    document: Mapping[str, Any],
    path: tuple[str, ...],
    items: Iterable[Any],
    *,
    floats_possible: bool = True,
    batch: int = 32,
) -> Iterator[bytes]:
    """`pretty_bytes(document)` with the list at `path` (a key of each dict on the way down)
    drawn from `items`, in pieces whose bytes join to exactly that.

    `batch` items are encoded at a time and then let go: a 10,000-route render holds one batch,
    not all its payloads and 40 MB of their text, and it is faster for it (measured: 32 items
    stay in the CPU's cache). Each batch is encoded nested under `path`'s keys, so its lines get
    the indentation they have in the whole document; `pretty_bytes` decides every byte."""
    outside = _around_hole(_placed(document, path, _Hole()), floats_possible)
    inside = _around_hole(_nested(path, [_Hole()]), floats_possible)
    pending = iter(items)
    if outside is None or inside is None:
        yield pretty_bytes(_placed(document, path, list(pending)), floats_possible=floats_possible)
        return
    (before, after), (opening, closing) = outside, inside
    # `opening` ends with the list's "[", a newline and an item's indentation; `closing` starts
    # with the newline and indentation of its "]".
    first = list(itertools.islice(pending, batch))
    if not first:
        yield before + b"[]" + after
        return
    yield before + opening[opening.rindex(b"[") :]
    separator = b",\n" + opening[opening.rindex(b"\n") + 1 :]
    chunk = first
    while chunk:
        text = _encode(_nested(path, chunk), floats_possible, None)
        yield text[len(opening) : len(text) - len(closing)]
        chunk = list(itertools.islice(pending, batch))
        if chunk:
            yield separator
    yield closing[: closing.index(b"]") + 1] + after


def has_float(data: Any) -> bool:
    """Whether `data` holds a float anywhere (iteratively: no recursion limit)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif type(value) is float:
            return True
    return False
