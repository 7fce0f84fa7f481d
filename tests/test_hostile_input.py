"""Hostile and broken stack files, as a new user or a careless merge makes them: every command answers
with `file:line:col: $.path: message` and exit 1 — never a traceback, never minutes of work.

Each file class is bounded where it enters (components/stackfile.py): size, values counted with
aliases expanded, nesting, one value's length. How long they take is measured by bench/hostile.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components import stackfile
from tests.support.cli import invoke
from tests.support.stack_texts import HOSTILE, STAGING

ROOT = Path(__file__).resolve().parent.parent
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): \$[^:]*: ")


pytestmark = pytest.mark.usefixtures("offline_from_repo_root")


@pytest.mark.parametrize("command", ["validate", "render", "plan", "route"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_with_its_place_by_every_command(tmp_path: Path, case: str, command: str) -> None:
    make, message = HOSTILE[case]
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(make())
    args = {"validate": [str(path)], "route": [str(path), "--source", "alertmanager"]}.get(command, [str(path)])

    result = invoke([command, *args])

    assert result.exit_code == 1, result.output[-2000:]
    first = result.stderr.splitlines()[0]
    located = LOCATED.match(first)
    assert located and located["file"] == str(path), first
    assert message in first
    assert "Traceback" not in result.output and result.stdout == ""


def test_the_limits_leave_room_for_large_real_stacks() -> None:
    """The 10,000-route benchmark stack (2.7 MB, 330,000 values) is far inside every limit."""
    routes = "".join(
        f"    - name: Route {i:05d}\n      sources: {{alertmanager: {{severity: critical}}}}\n" for i in range(10_000)
    )
    text = STAGING.replace("  alerting:routes:\n", "  alerting:routes:\n" + routes, 1)
    doc = stackfile.parse(text, stackfile.Document(file="big.yaml"))
    assert doc.problems == []
    committed = stackfile.parse(STAGING, stackfile.Document(file="staging.yaml")).data["config"]["alerting:routes"]
    assert len(doc.data["config"]["alerting:routes"]) == 10_000 + len(committed)


def test_a_file_that_is_not_utf8_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_bytes(STAGING.encode().replace(b"kubeContext: staging-eks", b"kubeContext: staging-\xff\xfeeks", 1))

    result = invoke(["validate", str(path)])

    line, column = next(
        (n, text.index("staging-") + len("staging-") + 1)
        for n, text in enumerate(STAGING.splitlines(), 1)
        if "kubeContext" in text
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:{line}:{column}: $: not UTF-8 text: invalid start byte")
