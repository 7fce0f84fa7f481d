"""The routing simulator (`route`), routing tests as data (`test-routes`) and validate's coverage warnings."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from components import simulate, validate
from components.model import Stack
from components.simulate import Alert
from tests.support.cli import invoke
from tests.support.stack_texts import overlapping_routes

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
COVERAGE = ROOT / "tests" / "data" / "simulate" / "Pulumi.coverage.yaml"

# The runbook's routes table and the alerts it warns about, as (stack, source, labels) -> routes, pages.
RUNBOOK = [
    ("production", "alertmanager", {"severity": "critical"}, ["Production Alerts"], ["Engineering On-Call"]),
    ("production", "alertmanager", {"severity": "warning"}, ["Production Warnings"], []),
    ("production", "alertmanager", {}, ["Unrouted Alerts"], []),
    ("production", "alertmanager", {"severity": "info"}, [], []),
    ("production", "checkly", {}, ["Production Alerts"], ["Engineering On-Call"]),
    ("production", "sev0", {}, ["Production Alerts"], ["Engineering On-Call"]),
    ("production", "grafana-cloud", {}, ["Production Alerts"], ["Engineering On-Call"]),
    ("production", "planetscale", {"branch": "main"}, ["Database Alerts"], ["Engineering On-Call"]),
    ("production", "planetscale", {"branch": "feature-x"}, [], []),
    ("production", "axiom", {}, ["Informational"], []),
    ("production", "status-page-views", {}, ["Informational"], []),
    ("staging", "alertmanager", {"severity": "critical"}, ["Staging Notifications"], []),
    ("staging", "alertmanager", {"severity": "warning"}, ["Staging Notifications"], []),
    ("staging", "alertmanager", {}, ["Staging Notifications"], []),
    ("staging", "alertmanager", {"severity": "info"}, ["Staging Notifications"], []),
    ("staging", "checkly", {}, ["Staging Notifications"], []),
]


pytestmark = pytest.mark.usefixtures("offline_from_repo_root")


def committed(stack: str) -> Stack:
    model, _ = validate.load_stack(STACKS / f"Pulumi.{stack}.yaml")
    return model


# -- the committed stacks, row by row -------------------------------------------------------------


@pytest.mark.parametrize(("stack", "source", "labels", "routes", "pages"), RUNBOOK)
def test_every_runbook_row_routes_as_the_runbook_says(
    stack: str, source: str, labels: dict[str, str], routes: list[str], pages: list[str]
) -> None:
    sim = simulate.simulate(committed(stack), Alert(source, tuple(labels.items())))
    assert [r.name for r in sim.matched] == routes
    assert list(sim.pages) == pages
    assert list(sim.slack) == (["#alerts"] if routes else [])
    assert sim.dropped is (not routes)
    assert not sim.undecided


def test_staging_never_pages_whatever_the_alert() -> None:
    stack = committed("staging")
    for source in stack.sources:
        for severity in ("critical", "warning", "info", None):
            assert simulate.simulate(stack, Alert(source.key, (("severity", severity),))).pages == ()


def test_route_command_answers_the_on_call_question() -> None:
    result = invoke(["route", "production", "--source", "alertmanager", "--label", "severity=critical"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Production Alerts" in out and "alertmanager: severity=critical" in out
    assert "Pages: Engineering On-Call" in out
    assert "Slack: #alerts" in out
    assert "DROPPED" not in out


def test_route_command_says_plainly_that_severity_info_is_dropped() -> None:
    result = invoke(["route", "production", "--source", "alertmanager", "--label", "severity=info"])
    assert result.exit_code == 0
    assert "DROPPED: no route matches this alert" in result.stdout
    assert "notifies nobody" in result.stdout
    assert "declares severity values critical, warning, missing; 'info' is not one of them" in result.stdout
    assert "Pages:" not in result.stdout


def test_route_command_routes_a_real_alertmanager_body_alert_by_alert(tmp_path: Path) -> None:
    """examples/alertmanager-critical.json was captured from the real Alertmanager 0.33."""
    body = json.loads((ROOT / "examples" / "alertmanager-critical.json").read_text())
    info = json.loads(json.dumps(body["alerts"][0]))
    info["labels"]["severity"] = "info"
    body["alerts"].append(info)
    (tmp_path / "group.json").write_text(json.dumps(body))
    args = ["route", "production", "--source", "alertmanager", "--payload", str(tmp_path / "group.json")]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    first, second = result.stdout.split("Alert from ")[1:]
    assert "Attributes (the source's bindings): severity=critical" in first
    assert "Production Alerts" in first and "Pages: Engineering On-Call" in first
    assert "severity=info" in second and "DROPPED" in second


def test_route_payload_and_labels_exclude_each_other() -> None:
    args = ["route", "production", "--source", "alertmanager", "--label", "severity=critical"]
    result = invoke([*args, "--payload", str(ROOT / "examples" / "alertmanager-critical.json")])
    assert result.exit_code == 2
    assert "--payload replaces --label and --title" in result.stderr


def test_route_command_on_staging_says_it_never_pages() -> None:
    result = invoke(["route", "staging", "--source", "checkly"])
    assert result.exit_code == 0
    assert "Staging Notifications" in result.stdout
    assert "Pages: nobody (stack staging never pages: policy.paging is false)" in result.stdout


def test_route_command_rejects_unknown_source_and_bad_label() -> None:
    unknown = invoke(["route", "production", "--source", "alertmanagr"])
    assert unknown.exit_code == 2
    assert "no source 'alertmanagr' (did you mean 'alertmanager'?)" in unknown.stderr
    bad = invoke(["route", "production", "--source", "alertmanager", "--label", "severity"])
    assert bad.exit_code == 2
    assert "--label wants NAME=VALUE" in bad.stderr
    assert "Traceback" not in unknown.output + bad.output


def test_route_command_says_when_it_cannot_tell(tmp_path: Path) -> None:
    shutil.copy(COVERAGE, tmp_path / COVERAGE.name)
    args = ["route", "coverage", "--stacks-dir", str(tmp_path), "--source", "alertmanager", "--title", "Disk full"]
    result = invoke(args)
    assert result.exit_code == 0
    assert "Title Based (CANNOT TELL)" in result.stdout
    assert "whether 'contains' ignores case is not documented" in result.stdout
    assert "CANNOT TELL: the result above is incomplete" in result.stdout
    assert "DROPPED" not in result.stdout


def test_a_label_no_binding_extracts_is_not_an_attribute(tmp_path: Path) -> None:
    """incident.io's model: without `attributes: {severity: ...}` the label never reaches a route."""
    text = (ROOT / "stacks" / "Pulumi.production.yaml").read_text()
    unbound = re.sub(r"      attributes:.*\n        severity: \$\.labels\.severity\n", "", text)
    assert unbound != text
    (tmp_path / "Pulumi.production.yaml").write_text(unbound)
    result = invoke(["validate", str(tmp_path / "Pulumi.production.yaml")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "does not bind attribute 'severity'" in line]
    assert len(lines) == 3  # Production Alerts, Production Warnings, Unrouted Alerts
    assert all(":" in line.split(" ")[0] and "$.routes[" in line for line in lines)
    assert "`attributes: {severity: $.labels.severity}`" in lines[0]


# -- coverage warnings ----------------------------------------------------------------------------


def test_validate_warns_about_uncovered_overlapping_and_undecidable_declared_alerts() -> None:
    stacks, problems = validate.check([COVERAGE])
    assert COVERAGE in stacks
    file = str(COVERAGE.relative_to(ROOT))
    assert [str(p) for p in problems] == [
        f"{file}:19:39: $.sources.alertmanager.emits.severity[2]: warning: alerts from alertmanager with"
        " severity=info match no route: they are dropped and nobody is notified"
        " (disabled route 'Old Info' would take them)",
        f"{file}:19:45: $.sources.alertmanager.emits.severity[3]: warning: cannot tell whether alerts from"
        " alertmanager with severity missing reach a route (the alert title is not known)",
        f"{file}:25:9: $.sources.uptime.emits: warning: alerts from uptime with region=us, severity missing"
        " match no route: they are dropped and nobody is notified",
        f"{file}:38:9: $.routes[1].sources.alertmanager: warning: alerts from alertmanager with"
        " severity=critical match 2 routes ('Pager', 'Critical Copy'): each of them notifies",
        f"{file}:47:9: $.routes[3].sources.uptime: warning: alerts from uptime with region=eu,"
        " severity=critical match 2 routes ('Pager', 'EU Uptime'): each of them notifies",
    ]


def test_validate_command_prints_coverage_warnings_and_still_passes() -> None:
    result = invoke(["validate", str(COVERAGE.relative_to(ROOT))])
    assert result.exit_code == 0
    assert "severity=info match no route: they are dropped" in result.stderr


def test_committed_stacks_cover_every_declared_alert_exactly_once() -> None:
    _, problems = validate.check(validate.stack_files(STACKS))
    assert [str(p) for p in problems] == []


def test_an_uncovered_declared_value_in_a_committed_stack_is_warned(tmp_path: Path) -> None:
    text = (STACKS / "Pulumi.production.yaml").read_text()
    (tmp_path / "Pulumi.production.yaml").write_text(
        text.replace("[critical, warning, null]", "[critical, warning, info, null]")
    )
    _, problems = validate.check([tmp_path / "Pulumi.production.yaml"])
    assert [p.message for p in problems] == [
        "alerts from alertmanager with severity=info match no route: they are dropped and nobody is notified"
    ]
    assert problems[0].path == "$.sources.alertmanager.emits.severity[2]"


# -- routing tests as data ------------------------------------------------------------------------


def test_committed_routing_tests_pass_for_every_stack() -> None:
    result = invoke(["test-routes"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"\d+ passed, 0 failed", result.stdout.splitlines()[-1])
    assert "FAILED" not in result.stdout
    for stack in ("production", "staging"):
        assert f"stacks/{stack}.routing-tests.yaml" in result.stdout


@pytest.mark.parametrize(("stack", "source", "labels", "routes", "pages"), RUNBOOK)
def test_committed_routing_tests_cover_every_runbook_row(
    stack: str, source: str, labels: dict[str, str], routes: list[str], pages: list[str]
) -> None:
    cases = simulate.load_routing_tests(STACKS / f"{stack}.routing-tests.yaml", committed(stack))
    matching = [
        c
        for c in cases
        if c.alert.source == source
        and c.alert.payload is None
        and {k: v for k, v in c.alert.labels if v is not None} == labels
    ]
    assert matching, f"no routing test for {source} {labels} in stacks/{stack}.routing-tests.yaml"
    assert all(sorted(c.routes) == sorted(routes) for c in matching)
    assert all(c.escalate is None or list(c.escalate) == pages for c in matching)


def _stack_dir(tmp_path: Path, tests: object) -> Path:
    shutil.copy(STACKS / "Pulumi.production.yaml", tmp_path)
    (tmp_path / "production.routing-tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return tmp_path


def test_a_failing_routing_test_exits_1_with_a_pytest_like_summary(tmp_path: Path) -> None:
    folder = _stack_dir(
        tmp_path,
        {
            "tests": [
                {
                    "name": "critical pages",
                    "alert": {"source": "alertmanager", "labels": {"severity": "critical"}},
                    "expect": {"routes": ["Production Alerts"], "escalate": ["Engineering On-Call"]},
                },
                {
                    "name": "info reaches someone",
                    "alert": {"source": "alertmanager", "labels": {"severity": "info"}},
                    "expect": {"routes": ["Production Warnings"]},
                },
                {
                    "name": "warning pages",
                    "alert": {"source": "alertmanager", "labels": {"severity": "warning"}},
                    "expect": {"routes": ["Production Warnings"], "escalate": ["Engineering On-Call"]},
                },
            ]
        },
    )
    result = invoke(["test-routes", "production", "--stacks-dir", str(folder)])
    assert result.exit_code == 1
    out = result.stdout
    assert "PASSED critical pages" in out
    assert "FAILED info reaches someone" in out
    assert "expected routes Production Warnings, but the alert is dropped (no route matches)" in out
    assert "FAILED warning pages" in out and "expected escalate Engineering On-Call, got (none)" in out
    assert out.splitlines()[-1] == "1 passed, 2 failed"


def test_a_routing_tests_file_with_mistakes_reports_each_at_its_line(tmp_path: Path) -> None:
    folder = _stack_dir(
        tmp_path,
        {
            "tests": [
                {"name": "typo", "alert": {"source": "alertmanagr"}, "expect": {"routes": ["Production Alert"]}},
                {"name": "extra", "alert": {"source": "checkly"}, "expect": {"routes": []}, "expected": 1},
            ]
        },
    )
    result = invoke(["test-routes", "production", "--stacks-dir", str(folder)])
    assert result.exit_code == 1
    file = folder / "production.routing-tests.yaml"
    assert (
        f"{file}:4:13: $.tests[0].alert.source: stack production has no source 'alertmanagr'"
        " (did you mean 'alertmanager'?)" in result.stderr
    )
    assert (
        f"{file}:7:7: $.tests[0].expect.routes[0]: stack production has no route 'Production Alert'"
        " (did you mean 'Production Alerts'?)" in result.stderr
    )
    assert "$.tests[1].expected: unknown key 'expected' (did you mean 'expect'?)" in result.stderr
    assert "Traceback" not in result.output


def test_a_routing_test_that_cannot_be_simulated_fails(tmp_path: Path) -> None:
    shutil.copy(COVERAGE, tmp_path / COVERAGE.name)
    (tmp_path / "coverage.routing-tests.yaml").write_text(
        yaml.safe_dump(
            {
                "tests": [
                    {
                        "name": "disk alert",
                        "alert": {"source": "alertmanager", "title": "Disk full"},
                        "expect": {"routes": ["Title Based"]},
                    },
                ]
            }
        )
    )
    result = invoke(["test-routes", "coverage", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot tell whether route 'Title Based' matches: whether 'contains' ignores case" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_a_named_stack_without_routing_tests_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copy(STACKS / "Pulumi.production.yaml", tmp_path)
    named = invoke(["test-routes", "production", "--stacks-dir", str(tmp_path)])
    assert named.exit_code == 2
    assert "has no routing tests" in named.stderr
    everything = invoke(["test-routes", "--stacks-dir", str(tmp_path)])
    assert everything.exit_code == 0
    assert "production" in everything.stdout and "no routing tests" in everything.stdout


def _overlapping_stack(tmp_path: Path, routes: int) -> Path:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(overlapping_routes(routes))
    return path


def test_an_overlap_of_many_routes_is_summarised_and_detailed_on_request(tmp_path: Path) -> None:
    path = _overlapping_stack(tmp_path, 8)
    what = "alerts from alertmanager with severity=critical"

    _, summary = validate.check([path])
    overlaps = [p.message for p in summary if "severity=critical" in p.message]
    five = "'Overlap 0', 'Overlap 1', 'Overlap 2', 'Overlap 3', 'Overlap 4' and 3 more"
    assert overlaps == [f"{what} match 8 routes ({five}): each of them notifies"] * 4 + [
        f"{what} match 3 more routes, this one and the ones after it"
        " (`validate --details` warns on each and names them all)"
    ]

    _, detailed = validate.check([path], details=True)
    overlaps = [p.message for p in detailed if "severity=critical" in p.message]
    assert len(overlaps) == 7  # one per route after the first
    assert all(f"'Overlap {i}'" in overlaps[0] for i in range(8))
    assert all(five in message for message in overlaps[1:])


def test_overlap_warnings_grow_with_the_routes_not_their_square(tmp_path: Path) -> None:
    sizes = []
    for routes in (100, 400):
        folder = tmp_path / str(routes)
        folder.mkdir()
        _, problems = validate.check([_overlapping_stack(folder, routes)])
        sizes.append(sum(len(str(p)) for p in problems))
    assert sizes[1] <= sizes[0] * 1.1  # bounded per overlap class: the same few warnings


def test_validate_details_flag_reaches_the_coverage_warnings(tmp_path: Path) -> None:
    path = _overlapping_stack(tmp_path, 7)
    plain = invoke(["validate", str(path)])
    detailed = invoke(["validate", str(path), "--details"])
    assert plain.exit_code == detailed.exit_code == 0
    assert plain.stderr.count("each of them notifies") == 4 and "--details" in plain.stderr
    assert detailed.stderr.count("each of them notifies") == 6
