"""The command line as a user meets it: exit codes, messages, no tracebacks, no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cli import invoke

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("offline_from_repo_root")


def test_validate_committed_stacks() -> None:
    result = invoke(["validate"])
    assert result.exit_code == 0, result.output
    assert "2 stack file(s) valid" in result.output


def alone(tmp_path: Path, example: str) -> str:
    """An example stack file in a folder of its own: `validate FILE` also checks FILE's siblings."""
    copy = tmp_path / Path(example).name
    copy.write_text((ROOT / example).read_text())
    return str(copy)


def test_validate_reports_every_problem_and_exits_1_without_traceback(tmp_path: Path) -> None:
    bad = alone(tmp_path, "tests/data/stacks/invalid/Pulumi.several-problems.yaml")
    result = invoke(["validate", bad])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"{bad}:3:25: $.environment: unknown environment 'prod'; one of development, staging, production",
        f"{bad}:8:13: $.policy.paging: expected true or false, got str 'yes please'",
        f"{bad}:32:9: $.routes[1].sources.planetscal: unknown source 'planetscal' (did you mean 'planetscale'?)",
        "3 error(s); nothing was changed.",
    ]
    assert "Traceback" not in result.output


def test_validate_of_one_file_checks_it_against_its_siblings(tmp_path: Path) -> None:
    """Pre-commit passes only the changed file: the guards between environments still see the rest."""
    case = ROOT / "tests/data/stacks/guards/staging-uses-production-account"
    for stack in case.iterdir():
        (tmp_path / stack.name).write_text(stack.read_text())
    result = invoke(["validate", str(tmp_path / "Pulumi.staging.yaml")])
    assert result.exit_code == 1
    assert "$.guards.awsAccountId: AWS account" in result.stderr and "also used by stack 'production'" in result.stderr
    assert all(line.startswith(str(tmp_path / "Pulumi.staging.yaml")) for line in result.stderr.splitlines()[:-1])


def test_validate_prints_warnings_but_passes() -> None:
    result = invoke(["validate", "tests/data/stacks/valid/Pulumi.full-featured.yaml"])
    assert result.exit_code == 0
    assert "warning: unknown source type 'tracer_io'" in result.stderr


def test_unknown_stack_names_the_known_ones() -> None:
    result = invoke(["plan", "prod"])
    assert result.exit_code == 2
    assert "no stack 'prod'" in result.stderr and "production, staging" in result.stderr


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_plan_matches_the_golden_runbook_table(stack: str) -> None:
    result = invoke(["plan", stack])
    assert result.exit_code == 0, result.output
    assert result.stdout == (ROOT / "tests" / "golden" / f"plan-{stack}.txt").read_text()


@pytest.mark.parametrize(
    "stack", ["production", str(ROOT / "tests/data/stacks/valid/Pulumi.full-featured.yaml")], ids=["production", "full"]
)
def test_render_matches_its_golden_file_byte_for_byte(stack: str) -> None:
    # Every payload feature (or-groups, array and value bindings, title, grouping keys, adoption,
    # heartbeats, Checkly) in the exact bytes a reviewer diffs and `pulumi up` sends.
    result = invoke(["render", stack])
    assert result.exit_code == 0, result.output
    golden = ROOT / "tests" / "golden" / f"render-{Path(stack).stem.removeprefix('Pulumi.')}.json"
    assert result.stdout == golden.read_text()


def test_render_json_and_yaml_say_the_same() -> None:
    as_json = invoke(["render", "production"])
    as_yaml = invoke(["render", "production", "--format", "yaml"])
    assert as_json.exit_code == as_yaml.exit_code == 0
    assert json.loads(as_json.stdout) == yaml.safe_load(as_yaml.stdout)
    assert json.loads(as_json.stdout)["stack"] == "production"


def test_render_of_an_invalid_stack_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.broken.yaml"
    bad.write_text("config:\n  aws:region: [\n")
    result = invoke(["render", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{bad}:3:1: $: YAML syntax error")
    assert result.stdout == ""


COMMANDS = ["validate", "render", "plan", "sandbox", "route", "test-routes", "docs", "promote", "backup", "restore"]
COMMANDS += ["import"]


def test_the_overview_lists_every_command() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.split()]
    assert [name for name in listed if name in COMMANDS] == COMMANDS
    no_command = invoke([])
    assert no_command.exit_code == 2 and "validate" in no_command.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"usage: python -m components {command} ")
    assert "--stacks-dir" in result.stdout or command in ("sandbox", "backup", "restore")


def test_a_usage_error_names_the_option_and_exits_2() -> None:
    result = invoke(["backup", "--workers", "99"])
    assert result.exit_code == 2
    assert "argument --workers: 99 is not in 1..32" in result.stderr
    result = invoke(["render", "staging", "--format", "xml"])
    assert result.exit_code == 2 and "invalid choice: 'xml'" in result.stderr


def test_an_unexpected_error_is_one_scrubbed_line_and_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("compiler bug near http://robot:hunter2-secret@example.test")

    monkeypatch.setattr("components.compile.route_payload", broken)
    result = invoke(["render", "staging"])

    assert result.exit_code == 70 and result.stdout == ""
    assert result.stderr.startswith("internal error: RuntimeError: compiler bug near http://[redacted]@example.test")
    assert "ALERTING_DEBUG=1" in result.stderr and "hunter2" not in result.output
    assert "Traceback" not in result.output

    monkeypatch.setenv("ALERTING_DEBUG", "1")
    with pytest.raises(RuntimeError, match="compiler bug"):  # the traceback, on request
        invoke(["render", "staging"])


@pytest.mark.parametrize("command", [["test-routes"], ["docs", "--check"]])
def test_multi_stack_commands_read_each_stack_file_once(monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    from components import stackfile

    reads: list[str] = []
    real_load = stackfile.load

    def counting(path: Path, display: str | None = None) -> stackfile.Document:
        reads.append(Path(path).name)
        return real_load(path, display)

    monkeypatch.setattr(stackfile, "load", counting)
    result = invoke(command)

    assert result.exit_code == 0, result.output
    stack_reads = sorted(name for name in reads if name.startswith("Pulumi."))
    assert stack_reads == ["Pulumi.production.yaml", "Pulumi.staging.yaml"]  # not once per stack per stack


def test_validate_answers_in_json_with_the_same_problems_and_exit_code(tmp_path: Path) -> None:
    bad = alone(tmp_path, "tests/data/stacks/invalid/Pulumi.several-problems.yaml")
    text = invoke(["validate", bad])
    result = invoke(["validate", bad, "--format", "json"])

    assert result.exit_code == text.exit_code == 1
    document = json.loads(result.stdout)
    assert document["files"] == [bad] and document["errors"] == 3 and document["warnings"] == 0
    assert document["problems"][0] == {
        "file": bad,
        "line": 3,
        "column": 25,
        "path": "$.environment",
        "message": "unknown environment 'prod'; one of development, staging, production",
        "severity": "error",
    }
    shown = [f"{p['file']}:{p['line']}:{p['column']}: {p['path']}: {p['message']}" for p in document["problems"]]
    assert shown == text.stderr.splitlines()[:3]

    valid = invoke(["validate", "--format", "json"])
    assert valid.exit_code == 0
    assert json.loads(valid.stdout) == {
        "files": ["stacks/Pulumi.production.yaml", "stacks/Pulumi.staging.yaml"],
        "problems": [],
        "errors": 0,
        "warnings": 0,
    }


def test_a_reader_that_leaves_early_ends_render_quietly(tmp_path: Path) -> None:
    """`render big | head`: exit 141 (SIGPIPE's), no "internal error", no traceback."""
    from tests.support.stack_texts import overlapping_routes

    stack = tmp_path / "Pulumi.staging.yaml"
    stack.write_text(overlapping_routes(300))  # ~1 MB of JSON: far more than a pipe holds
    process = subprocess.Popen(
        [sys.executable, "-m", "components", "render", str(stack)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10) == b'{\n  "alert'
    process.stdout.close()
    assert process.wait(timeout=60) == 141
    errors = process.stderr.read().decode()  # the stack's overlap warnings, and nothing else
    assert "error" not in errors and "Traceback" not in errors and "warning" in errors


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "staging"],  # rich tables
        ["test-routes"],  # rich, and a command whose exit 1 means "a case failed"
        ["route", "staging", "--source", "alertmanager", "--label", "severity=critical"],
        ["validate", "--format", "json"],
        ["render", "staging"],
    ],
)
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
def test_every_command_ends_with_141_when_its_reader_has_gone(command: list[str], unbuffered: bool) -> None:
    """`… | head` under `set -o pipefail`: 141 (SIGPIPE's) whichever way the output is written
    (buffered, the last bytes meet the closed pipe only at the final flush), never an exit code
    that means something else (0: all went out; 1: invalid stack, failed routing test)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "components", *command],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "error" not in done.stderr.lower() and "Traceback" not in done.stderr


def test_a_render_larger_than_a_pipe_arrives_whole_through_a_widened_pipe(tmp_path: Path) -> None:
    """`render big | jq`: every byte, as in-process and as the whole compiled stack encodes at once
    (render writes its routes in batches); the pipe raised to 1 MiB, so the writer stops for its
    reader 16x less often than at Linux's 64 KiB."""
    import fcntl

    from components import jsontext, validate
    from components.cli import WIDE_PIPE
    from components.compile import compile_stack
    from tests.support.stack_texts import overlapping_routes

    stack = tmp_path / "Pulumi.staging.yaml"
    stack.write_text(overlapping_routes(1000))  # ~1.6 MB of JSON
    process = subprocess.Popen(
        [sys.executable, "-m", "components", "render", str(stack), "-f", "json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    piped = process.stdout.read()
    assert process.wait(timeout=60) == 0
    widened = fcntl.fcntl(process.stdout.fileno(), fcntl.F_GETPIPE_SZ)
    process.stdout.close()

    assert len(piped) > WIDE_PIPE
    assert piped == invoke(["render", str(stack), "-f", "json"]).stdout.encode()
    assert piped == jsontext.pretty_bytes(compile_stack(validate.load_stack(stack)[0]))
    assert widened == WIDE_PIPE


def test_a_large_output_to_a_stream_without_a_descriptor_is_written_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """An embedding tool's stdout (bytes, but no file descriptor) has no pipe to widen: no error."""
    import io

    from components.cli import WIDE_PIPE, write_bytes

    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw)
    monkeypatch.setattr(sys, "stdout", stdout)
    data = b"x" * (2 * WIDE_PIPE)
    write_bytes(data)
    stdout.flush()
    assert raw.getvalue() == data


def test_plan_answers_in_json_with_the_tables_facts() -> None:
    text, result = invoke(["plan", "staging"]), invoke(["plan", "staging", "--format", "json"])
    assert result.exit_code == text.exit_code == 0
    document = json.loads(result.stdout)
    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())["config"]
    assert [r["name"] for r in document["routes"]] == [r["name"] for r in stack["alerting:routes"]]
    assert all(route["name"] in text.stdout for route in document["routes"])
    assert {s["key"] for s in document["sources"]} == set(stack["alerting:sources"])
    assert [d["aws_secret"] for d in document["delivery"]] == [
        "unkey/alertmanager-incident-io",
        "unkey/alertmanager-heartbeat",
    ]
    assert "unkey/alertmanager-incident-io" in text.stdout


def test_route_answers_in_json_one_document_per_alert() -> None:
    args = ["route", "production", "--source", "alertmanager", "--label", "severity=critical"]
    [document] = json.loads(invoke([*args, "--format", "json"]).stdout)
    assert [r["name"] for r in document["routes"]] == ["Production Alerts"]
    assert document["pages"] == ["Engineering On-Call"] and document["dropped"] is False
    dropped = json.loads(invoke([*args[:-1], "severity=info", "-f", "json"]).stdout)
    assert dropped[0]["dropped"] is True and dropped[0]["routes"] == []
    payload = ["--payload", "examples/alertmanager-critical.json", "-f", "json"]
    assert len(json.loads(invoke([*args[:4], *payload]).stdout)) >= 1


def test_test_routes_answers_in_json_with_the_same_verdict() -> None:
    text, result = invoke(["test-routes"]), invoke(["test-routes", "--format", "json"])
    assert result.exit_code == text.exit_code == 0
    document = json.loads(result.stdout)
    assert f"{document['passed']} passed, {document['failed']} failed" in text.stdout
    assert document["passed"] > 0 and all(case["passed"] for cases in document["files"].values() for case in cases)


def test_promote_answers_in_json_and_refuses_it_with_write() -> None:
    promotion = ["promote", "staging", "production"]
    text, result = invoke(promotion), invoke([*promotion, "-f", "json"])
    assert result.exit_code == text.exit_code == 0
    document = json.loads(result.stdout)
    added = sum(route["action"] == "add" for route in document["routes"])
    assert f"{added} to add" in text.stdout and document["changed"] is True
    assert all({"file", "line", "column", "path", "message"} <= set(w) for w in document["new_warnings"])
    refused = invoke(["promote", "staging", "production", "--write", "-f", "json"])
    assert refused.exit_code == 2 and "--format json shows a promotion" in refused.stderr
