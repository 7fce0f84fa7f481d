"""The loader (components/stackfile.py) on its own: data, positions, duplicates, and the inline fast
path agreeing with the full rules. Hostile files are in test_hostile_input.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from components import stackfile
from components.stackfile import Document, display_path


def parse(text: str) -> Document:
    return stackfile.parse(text, Document(file="Pulumi.test.yaml"))


def test_every_value_and_key_has_its_line_and_column() -> None:
    doc = parse("config:\n  alerting:routes:\n    - name: A\n      slack: ['#a', '#b']\n")
    assert doc.problems == []
    assert doc.data == {"config": {"alerting:routes": [{"name": "A", "slack": ["#a", "#b"]}]}}
    assert doc.where(("config", "alerting:routes", 0, "name")) == (3, 13)
    assert doc.where(("config", "alerting:routes", 0, "name"), key=True) == (3, 7)
    assert doc.where(("config", "alerting:routes", 0, "slack", 1)) == (4, 21)
    # A path that goes nowhere stops at its nearest ancestor.
    assert doc.where(("config", "alerting:routes", 0, "nope")) == (3, 7)


def test_a_duplicate_key_is_a_problem_at_the_second_naming_the_first() -> None:
    doc = parse("config:\n  a: 1\n  b: 2\n  a: 3\n")
    assert [(p.line, p.column, p.path, p.message) for p in doc.problems] == [
        (4, 3, "$.a", "duplicate key 'a' (first defined on line 2)")
    ]
    assert doc.data == {"config": {"a": 1, "b": 2}}  # the first is kept, nothing is overwritten


def test_plain_and_quoted_scalars_keep_yaml_meaning_once_cached() -> None:
    """The loader remembers resolved plain words; a quoted word is still text after a plain one."""
    first = parse("a: yes\nb: 'yes'\nc: 12\nd: '12'\ne: ~\nf: 1.5\n")
    again = parse("b: 'yes'\na: yes\nd: '12'\nc: 12\nf: 1.5\ne: ~\n")
    assert first.data == again.data == {"a": True, "b": "yes", "c": 12, "d": "12", "e": None, "f": 1.5}
    assert type(first.data["c"]) is int and type(again.data["d"]) is str


def test_numbers_used_as_keys_become_text() -> None:
    assert parse("codes:\n  404: missing\n  true: yes\n").data == {"codes": {"404": "missing", "True": True}}


def test_display_path_names_config_keys_without_the_project() -> None:
    assert display_path(("config", stackfile.config_key("routes"), 2, "name")) == "$.routes[2].name"
    assert display_path(("config", "aws:region")) == "$.aws:region"
    assert display_path(("config", "odd key\u200b")) == '$["odd key\\u200b"]'
    assert stackfile.config_key("sources") == "alerting:sources"


def test_load_names_an_unreadable_file_and_its_encoding_problem(tmp_path: Path) -> None:
    missing = stackfile.load(tmp_path / "Pulumi.none.yaml")
    assert missing.data is None and missing.problems[0].message.startswith("cannot read file")
    latin = tmp_path / "Pulumi.latin.yaml"
    latin.write_bytes(b"config:\n  name: caf\xe9\n")
    [problem] = stackfile.load(latin).problems
    assert (problem.line, problem.column) == (2, 12) and problem.message.startswith("not UTF-8 text")


def test_without_the_native_builder_validate_answers_the_same() -> None:
    """The native builder is optional (no compiler, or a PyYAML without libyaml): `validate` must
    then print the same problems, with the same places, and exit alike."""
    root = Path(__file__).resolve().parent.parent
    invalid = sorted((root / "tests" / "data" / "stacks" / "invalid").glob("Pulumi.*.yaml"))[:12]
    runner = (
        "import sys\n"
        "builder = sys.argv.pop(1)\n"
        "if builder == 'python':\n"
        "    sys.modules['alerting_yamlbuild'] = None  # as if it had never been built\n"
        "from components import cli, stackfile\n"
        "assert stackfile._native is None or builder != 'python'\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    answers = []
    for builder in ("python", "installed"):
        done = subprocess.run(
            [sys.executable, "-c", runner, builder, "validate", "--format", "json", *map(str, invalid)],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        answers.append((done.returncode, done.stdout))
    assert answers[0] == answers[1]
    assert answers[0][0] == 1 and answers[0][1].count('"line"') >= len(invalid)
