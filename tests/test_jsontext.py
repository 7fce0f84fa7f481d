"""The one JSON writer: byte for byte what the standard library writes, for any JSON value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from components.jsontext import pretty

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
