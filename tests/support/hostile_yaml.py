"""Hypothesis strategies for YAML that has broken loaders before: the hostile-input property tests
(tests/test_hostile_property.py) and the native builder's agreement with the Python one
(tests/test_native_builder.py) draw from the same ones."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent.parent
COMMITTED = {name: (ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text() for name in ("staging", "production")}

# Constructs that have crashed YAML loaders or schema checks (one per known class).
HOSTILE_SCALARS = [
    "!!int abc",
    "!!float x",
    "!!bool maybe",
    "!!null foo",
    "!!timestamp not-a-date",
    "!!binary aGVsbG8=",
    "!!str 1",
    "!!set {a: null}",
    "!!omap [a: 1]",
    "!!python/object:os.system x",
    "!vault secret/axiom",
    "! 12",
    "2026-01-01",
    "2026-01-01T10:00:00Z",
    "2026-13-45",
    "1:30",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "~",
    "null",
    "yes",
    "No",
    "on",
    "=",
    "<<",
    '"a\\nb"',
    '"\\u200b"',
    '"trailing\\n"',
    "'single'",
    "|\n  block",
    ">-\n  folded",
    "&a x",
    "*a",
    "*missing",
    "[",
    "]",
    "{",
    "}",
    "[a, [b, {c: d}]]",
    "{? complex : key}",
    "9" * 400,
    "-" * 3,
    "...",
    "%YAML 1.1",
    "@reserved",
    "`tick",
    "\t",
    "a: b: c",
    "- - -",
]


yaml_tokens = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.sampled_from(["config:", "alerting:routes:", "  ", "    ", "- ", ": ", "\n", "#", "&a ", "*a", "<<: *a", "---"]),
    st.text(max_size=12),
)


# Every value position of the committed stacks (the text after "key: " on its line).
VALUE_LINES = [
    (stack, n)
    for stack, text in COMMITTED.items()
    for n, line in enumerate(text.splitlines())
    if ": " in line and not line.lstrip().startswith("#")
]


# Any JSON value, written in YAML's flow style (JSON is YAML): wrong shapes at every position.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def committed_with_one_value(line: tuple[str, int], value: str) -> tuple[str, str]:
    """(stack name, text): a committed stack with the value on `line` replaced by `value`."""
    stack, number = line
    lines = COMMITTED[stack].splitlines()
    key, _, _ = lines[number].partition(": ")
    lines[number] = f"{key}: {value}"
    return stack, "\n".join(lines) + "\n"


# A value for a committed stack's value position: a hostile construct, any text, any JSON.
hostile_values = st.one_of(st.sampled_from(HOSTILE_SCALARS), st.text(max_size=40), JSON_VALUES.map(json.dumps))
