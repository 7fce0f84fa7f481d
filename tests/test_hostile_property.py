"""Property: whatever bytes or YAML a stack file holds, the loader and `validate` answer with
problems that name the file, a line and a column — or a valid model. Never an exception.

Three generators: arbitrary bytes; YAML-shaped text assembled from the constructs that have broken
loaders before (tags, anchors and aliases, merge keys, dates, flow collections, odd scalars); and the
committed stacks with one value replaced by such a construct, so the check goes deep.
(Time is bounded by the loader's limits and measured by bench/hostile.py, not asserted here.)
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from components import validate
from components.compile import compile_stack
from components.jsontext import has_float
from components.report.plan import print_plan

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = {name: (ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text() for name in ("staging", "production")}
# HOSTILE_EXAMPLES=5000 for a longer hunt; the default keeps the suite's pace.
SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

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


def check_answers_cleanly(tmp_path: Path, text_or_bytes: str | bytes, stack: str = "staging") -> None:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    if isinstance(text_or_bytes, bytes):
        path.write_bytes(text_or_bytes)
    else:
        path.write_text(text_or_bytes, encoding="utf-8", errors="surrogatepass")
    stacks, problems = validate.check([path])  # must not raise, whatever the file holds
    for problem in problems:
        assert problem.file == validate.display_name(path)
        assert problem.line >= 1 and problem.column >= 1, problem
        assert problem.path.startswith("$"), problem
        assert problem.message and "Traceback" not in problem.message
    errors = [p for p in problems if p.severity == "error"]
    assert (path in stacks) == (not errors)
    for stack in stacks.values():  # what validate accepts, the later stages take as it is
        assert not has_float(compile_stack(stack))  # render's fast JSON path relies on it
        print_plan(stack, Console(file=io.StringIO(), width=200))


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    check_answers_cleanly(tmp_path, data)


_token = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.sampled_from(["config:", "alerting:routes:", "  ", "    ", "- ", ": ", "\n", "#", "&a ", "*a", "<<: *a", "---"]),
    st.text(max_size=12),
)


@SETTINGS
@given(tokens=st.lists(_token, max_size=60))
def test_yaml_shaped_text(tmp_path: Path, tokens: list[str]) -> None:
    check_answers_cleanly(tmp_path, "".join(tokens))


# Every value position of the committed stacks (the text after "key: " on its line).
_VALUE_LINES = [
    (stack, n)
    for stack, text in COMMITTED.items()
    for n, line in enumerate(text.splitlines())
    if ": " in line and not line.lstrip().startswith("#")
]


# Any JSON value, written in YAML's flow style (JSON is YAML): wrong shapes at every position.
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(
    line=st.sampled_from(_VALUE_LINES),
    value=st.one_of(st.sampled_from(HOSTILE_SCALARS), st.text(max_size=40), _JSON.map(json.dumps)),
)
def test_a_committed_stack_with_one_hostile_value(tmp_path: Path, line: tuple[str, int], value: str) -> None:
    stack, number = line
    lines = COMMITTED[stack].splitlines()
    key, _, _ = lines[number].partition(": ")
    lines[number] = f"{key}: {value}"
    check_answers_cleanly(tmp_path, "\n".join(lines) + "\n", stack)
