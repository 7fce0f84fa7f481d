"""Property: whatever bytes or YAML a stack file holds, the loader and `validate` answer with
problems that name the file, a line and a column — or a valid model. Never an exception.

Three generators: arbitrary bytes; YAML-shaped text assembled from the constructs that have broken
loaders before (tags, anchors and aliases, merge keys, dates, flow collections, odd scalars); and the
committed stacks with one value replaced by such a construct, so the check goes deep.
(Time is bounded by the loader's limits and measured by bench/hostile.py, not asserted here.)
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from components import validate
from components.compile import compile_stack
from components.jsontext import has_float
from components.report.plan import print_plan
from tests.support.hostile_yaml import VALUE_LINES, committed_with_one_value, hostile_values, yaml_tokens

# HOSTILE_EXAMPLES=5000 for a longer hunt; the default keeps the suite's pace.
SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


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


@SETTINGS
@given(tokens=st.lists(yaml_tokens, max_size=60))
def test_yaml_shaped_text(tmp_path: Path, tokens: list[str]) -> None:
    check_answers_cleanly(tmp_path, "".join(tokens))


@SETTINGS
@given(line=st.sampled_from(VALUE_LINES), value=hostile_values)
def test_a_committed_stack_with_one_hostile_value(tmp_path: Path, line: tuple[str, int], value: str) -> None:
    stack, text = committed_with_one_value(line, value)
    check_answers_cleanly(tmp_path, text, stack)
