"""The loader's native builder (native/alerting_yamlbuild.c) against the Python builder it speeds up.

The native builder reads only the common case and hands everything else to the Python builder, so
a user must never see a difference: the same data (same types: `1` is not `True`), the same
problems, and the same line and column for every value and key. Files that are the common case
(the committed stacks, valid examples, a large generated stack) must really be read natively, or
the speed-up is gone without anyone noticing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import stackfile
from components.stackfile import Document, PathKey
from tests.support.hostile_yaml import (
    HOSTILE_SCALARS,
    VALUE_LINES,
    committed_with_one_value,
    hostile_values,
    yaml_tokens,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from compile import stack_text  # noqa: E402  (bench/compile.py: the benchmark's generated stack)

pytestmark = pytest.mark.usefixtures("native_builder")

STACK_FILES = sorted([*(ROOT / "stacks").glob("Pulumi.*.yaml"), *(ROOT / "tests" / "data").rglob("*.yaml")])
VALID_FILES = [p for p in STACK_FILES if "invalid" not in p.parts and "guards" not in p.parts]


class Reads:
    """Counts the files the Python builder had to read (the native builder handed them on)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.python = 0
        real = stackfile._build_python

        def counted(doc: Document, text: str) -> Any:
            self.python += 1
            return real(doc, text)

        monkeypatch.setattr(stackfile, "_build_python", counted)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def typed(value: Any) -> Any:
    """`value` with every scalar's type beside it (`==` alone takes 1 for True and 1.0 for 1)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def paths(value: Any, path: PathKey = ()) -> Iterator[PathKey]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*path, index))


def python_only(text: str) -> Document:
    native, stackfile._native = stackfile._native, None
    try:
        return stackfile.parse(text, Document(file="Pulumi.test.yaml"))
    finally:
        stackfile._native = native


def assert_read_alike(text: str, *, positions: bool = True) -> Document:
    """Parse `text` both ways; what a user can see of the two documents must be the same."""
    expected = python_only(text)
    got = stackfile.parse(text, Document(file="Pulumi.test.yaml"))
    assert typed(got.data) == typed(expected.data)
    assert got.problems == expected.problems
    assert got.root == expected.root
    if positions:
        for path in paths(expected.data):
            assert got.where(path) == expected.where(path), path
            assert got.where(path, key=True) == expected.where(path, key=True), path
        assert got.where(("config", "no such key", 3)) == expected.where(("config", "no such key", 3))
    return got


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_and_example_stack_reads_alike(path: Path, reads: Reads) -> None:
    assert_read_alike(path.read_text())


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_stacks_are_read_natively(path: Path, reads: Reads) -> None:
    doc = stackfile.load(path)
    assert reads.python == 0 and doc.problems == []
    doc.where(("config",))  # asking for a position reads the marks natively too
    assert reads.python == 0


def test_a_large_stack_is_read_natively_and_alike(reads: Reads) -> None:
    text = stack_text(300)
    doc = assert_read_alike(text)
    assert reads.python == 1  # only python_only's own read
    assert len(doc.data["config"]["alerting:routes"]) == 300


# Each is something the Python builder has to report, or a form only it reads (`!!str 12`).
NOT_THE_COMMON_CASE = {
    "duplicate key": "config:\n  a: 1\n  a: 2\n",
    "explicit tag": "config:\n  a: !!str 12\n",
    "unknown tag": "config:\n  a: !vault secret/x\n",
    "tagged mapping": "config:\n  a: !!map {b: 1}\n",
    "anchor and alias": "config:\n  a: &x [1]\n  b: *x\n",
    "merge key": "config:\n  <<: {a: 1}\n",
    "complex key": "config:\n  ? [a, b]\n  : c\n",
    "date": "config:\n  a: 2026-01-01\n",
    "infinity": "config:\n  a: .inf\n",
    "second document": "config: {}\n---\nconfig: {}\n",
    "scalar root": "just text\n",
    "list root": "- a\n- b\n",  # read natively, then refused by the structure check, not the loader
    "empty file": "# only a comment\n",
    "syntax error": "config:\n  a: [1, 2\n",
    "tab indentation": "config:\n\ta: 1\n",
}


@pytest.mark.parametrize("text", NOT_THE_COMMON_CASE.values(), ids=NOT_THE_COMMON_CASE.keys())
def test_what_the_python_builder_has_to_report_it_reads_itself(text: str, reads: Reads) -> None:
    assert_read_alike(text)
    assert reads.python == (1 if text.startswith("- ") else 2)  # python_only's read, and the builder's


@pytest.mark.parametrize(
    ("limit", "fits", "crosses"),
    [
        # the root, config, its mapping, a, the list and its 3 items: 8 values
        ("MAX_NODES", "config:\n  a: [1, 2, 3]\n", "config:\n  a: [1, 2, 3, 4]\n"),
        ("MAX_DEPTH", "config:\n  a: {b: {c: {d: 1}}}\n", "config:\n  a: {b: {c: {d: {e: 1}}}}\n"),
        ("MAX_SCALAR_CHARS", "config:\n  a: " + "x" * 6 + "\n", "config:\n  a: " + "x" * 7 + "\n"),
    ],
)
def test_the_limits_hold_at_their_edge(
    monkeypatch: pytest.MonkeyPatch, reads: Reads, limit: str, fits: str, crosses: str
) -> None:
    monkeypatch.setattr(stackfile, limit, {"MAX_NODES": 8, "MAX_DEPTH": 5, "MAX_SCALAR_CHARS": 6}[limit])
    assert assert_read_alike(fits).problems == []
    assert reads.python == 1  # python_only's read: the native builder read the file at the limit
    crossed = assert_read_alike(crosses)
    assert crossed.problems and reads.python == 3


def test_a_position_asked_after_a_later_stage_changed_the_data_is_still_the_file_s(reads: Reads) -> None:
    doc = stackfile.parse("config:\n  a: {b: 1}\n  c: 2\n", Document(file="Pulumi.test.yaml"))
    doc.data["config"].pop("a")
    doc.data["config"]["c"] = {"new": "shape"}
    assert doc.where(("config", "a", "b")) == (2, 10)
    assert doc.where(("config", "c"), key=True) == (3, 3)
    assert reads.python == 0


def test_plain_words_resolve_alike_in_a_fresh_process_and_after_the_cache_filled() -> None:
    """The native builder resolves through the Python builder's cache; a word first met in a key
    and then as a value (or quoted) keeps each meaning."""
    words = [scalar for scalar in HOSTILE_SCALARS if "\n" not in scalar and ":" not in scalar]
    for index, word in enumerate(words):
        assert_read_alike(f"config:\n  k{index}: {word}\n  {word}: k{index}\n  q{index}: '{word}'\n")


# HOSTILE_EXAMPLES=5000 for a longer hunt (as in test_hostile_property.py).
SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(tokens=st.lists(yaml_tokens, max_size=60))
def test_yaml_shaped_text_reads_alike(tokens: list[str]) -> None:
    assert_read_alike("".join(tokens))


@SETTINGS
@given(line=st.sampled_from(VALUE_LINES), value=hostile_values)
def test_a_committed_stack_with_one_hostile_value_reads_alike(line: tuple[str, int], value: str) -> None:
    _, text = committed_with_one_value(line, value)
    assert_read_alike(text)


# Plain data of every shape, dumped by PyYAML in block and flow styles: the native builder's own
# ground (most of these it reads itself), with odd keys, multi-line and escaped text, numbers.
_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)


@SETTINGS
@given(data=st.dictionaries(st.text(max_size=12), _DATA, min_size=1, max_size=4), flow=st.booleans())
def test_any_plain_data_dumped_as_yaml_reads_alike(data: dict[str, Any], flow: bool) -> None:
    assert_read_alike(yaml.safe_dump(data, allow_unicode=True, default_flow_style=flow, width=40))
