"""The one JSON writer: byte for byte what the standard library writes, for any JSON value, whole
or in pieces."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from components.jsontext import pretty, pretty_bytes, pretty_chunks

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # beyond 64 bits: the fallback
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(value=_VALUES)
def test_pretty_writes_the_bytes_json_dumps_writes(value: Any) -> None:
    assert pretty(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_KEYS = st.text(max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(_KEYS, _VALUES, max_size=4),
    path=st.lists(_KEYS, min_size=1, max_size=3),
    items=st.lists(_VALUES, max_size=9),
    batch=st.integers(min_value=1, max_value=4),
)
def test_pretty_chunks_join_to_the_bytes_of_the_whole_document(
    document: dict[str, Any], path: list[str], items: list[Any], batch: int
) -> None:
    whole = copy.deepcopy(document)
    place = whole
    for key in path[:-1]:  # dicts down the path, made where the document has none
        place[key] = place = place[key] if isinstance(place.get(key), dict) else {}
    place[path[-1]] = items
    frame = copy.deepcopy(whole)
    before = copy.deepcopy(frame)

    chunks = list(pretty_chunks(frame, tuple(path), iter(items), batch=batch))

    assert b"".join(chunks) == pretty_bytes(whole)
    assert frame == before  # the caller's document is not changed
    for chunk in chunks:  # each piece whole UTF-8, for a text stream (a test's StringIO)
        chunk.decode("utf-8")


def test_a_document_that_holds_the_hole_marker_itself_is_still_written_exactly() -> None:
    document = {"note": "\x00alerting:jsontext:hole\x00", "routes": []}
    items = [{"name": f"route {i}"} for i in range(5)]

    chunks = list(pretty_chunks(document, ("routes",), items, batch=2))

    assert b"".join(chunks) == pretty_bytes({**document, "routes": items})
