"""Promotion staging -> production: correspondence, bindings, paging decisions, safe writes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from components import promote, stackedit, validate
from components.compile import compile_stack
from components.errors import OperationError, StackError
from components.model import Stack
from components.promote import Action
from tests.support import cli
from tests.support.cli import Result

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "promote"
STACKS = ROOT / "stacks"
STAGING_IDS = (
    "01KH7FNXWPMH6KPCQTYJJY947G",
    "01KKZJERF1HQFJRE3XWFZ0NV19",
    "01KH7FNXWPMH6KPCQTYJJYRTE1",  # staging's own route ids
    "01KH7FNXWPMH6KPCQTYJJYRTE2",
    "C0PLACEHOLDERSTG",
    "C0PLACEHOLDERSBT",
)


pytestmark = pytest.mark.usefixtures("offline_from_repo_root")


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """A private copy of the promotion fixture (staging + production)."""
    folder = tmp_path / "stacks"
    shutil.copytree(FIXTURE, folder)
    return folder


def load(folder: Path, name: str) -> Stack:
    return validate.load_stack(folder / f"Pulumi.{name}.yaml")[0]


def promotion(folder: Path) -> promote.Promotion:
    return promote.prepare(load(folder, "staging"), load(folder, "production"))


def invoke(folder: Path, *args: str) -> Result:
    return cli.invoke(["promote", "staging", "production", "--stacks-dir", str(folder), *args])


def by_source_route(result: promote.Promotion) -> dict[str | None, promote.RoutePlan]:
    return {p.source_route or p.target_route: p for p in result.routes}


# -- correspondence and the plan ------------------------------------------------------------------


def test_correspondence_is_by_name_then_by_sources_and_conditions(stacks: Path) -> None:
    plans = by_source_route(promotion(stacks))
    assert (plans["Staging Alerts"].target_route, plans["Staging Alerts"].matched_by) == (
        "Production Alerts",
        "name, staging read as production",
    )
    assert plans["Staging Warnings"].action is Action.UNCHANGED
    assert (plans["Missing Severity"].target_route, plans["Missing Severity"].matched_by) == (
        "Unrouted Alerts",
        "sources and conditions",
    )
    assert (plans["Batch Jobs"].action, plans["Batch Jobs"].target_route) == (Action.ADD, "Batch Jobs")
    assert plans["Database Alerts"].action is Action.KEEP


def test_preview_shows_every_decision_and_writes_nothing(stacks: Path) -> None:
    before = (stacks / "Pulumi.production.yaml").read_text()
    result = invoke(stacks)
    assert result.exit_code == 0, result.output
    rows = [re.sub(r"\s+", " ", line.replace("│", " ")).strip() for line in result.stdout.splitlines()]
    assert "Staging Alerts Production Alerts name, staging read as production change Engineering On-Call (kept)" in rows
    assert "Missing Severity Unrouted Alerts sources and conditions change none (kept)" in rows
    assert "Batch Jobs Batch Jobs (new) no counterpart in production add none (new route)" in rows
    assert "Sentry Errors - - BLOCKED -" in rows
    assert "- Database Alerts - production only, kept Engineering On-Call" in rows
    assert "Production Alerts sources.alertmanager severity=critical severity in (critical, page)" in rows
    assert "Production Alerts grouping None window 5m by severity" in rows
    out = result.stdout
    assert (
        "Paging: 'Production Alerts' keeps paging Engineering On-Call (production's decision) and its"
        " conditions change" in out
    )
    assert "Paging: 'Batch Jobs' is new in production and arrives without escalation (staging never pages)" in out
    assert "BLOCKED, not promoted: 'Sentry Errors': source 'sentry' is not declared in production" in out
    assert (
        "BLOCKED, not promoted: 'Staging Chatter': Slack channel '#staging-only' is not declared in production" in out
    )
    assert "1 to add, 2 to change, 1 unchanged, 2 blocked, 1 production only (kept)" in out
    assert (stacks / "Pulumi.production.yaml").read_text() == before


def test_what_pages_differently_is_shown_alert_by_alert(stacks: Path) -> None:
    outcomes = {o.alert: o for o in promotion(stacks).outcomes}
    page = outcomes["alertmanager: severity=page"]
    assert page.before == "dropped: no route matches"
    assert page.after.startswith("Production Alerts (pages Engineering On-Call; Slack #alerts)")
    assert page.after.endswith("may also reach Batch Jobs (cannot tell)")  # team is not declared under emits
    result = invoke(stacks)
    assert "Declared alerts (emits) whose routing changes in production" in result.stdout
    assert "alertmanager: severity=page" in result.stdout


def test_a_staged_route_reaches_production_with_productions_bindings(stacks: Path) -> None:
    original = (stacks / "Pulumi.production.yaml").read_text()
    result = invoke(stacks, "--write", "--yes")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and "pulumi preview -s production" in result.stdout
    text = (stacks / "Pulumi.production.yaml").read_text()
    assert not any(staging_id in text for staging_id in STAGING_IDS)

    production = load(stacks, "production")
    routes = {r.name: r for r in production.routes}
    alerts = routes["Production Alerts"]
    assert alerts.escalate == ("Engineering On-Call",)  # production's paging decision, kept
    assert [f.source for f in alerts.sources] == ["alertmanager", "checkly", "sev0"]  # sev0: production only
    assert alerts.sources[0].groups[0][0].values == ("critical", "page")
    assert alerts.grouping is not None and alerts.grouping.window_seconds == 300
    assert routes["Batch Jobs"].escalate == ()  # a new route never pages by itself
    assert routes["Batch Jobs"].adopt is None  # staging's route id stays in staging
    assert alerts.adopt == "01KHSNW67SZJ1KGWEMA9C0RTE1"  # production's own route, still adopted
    assert routes["Unrouted Alerts"].grouping is not None and routes["Unrouted Alerts"].grouping.window_seconds == 600
    assert "Database Alerts" in routes and routes["Database Alerts"].escalate == ("Engineering On-Call",)
    assert "Sentry Errors" not in routes and "Staging Chatter" not in routes
    assert [r.name for r in production.routes] == [
        "Production Alerts",
        "Production Warnings",
        "Unrouted Alerts",
        "Batch Jobs",
        "Database Alerts",
    ]

    payloads = {r["name"]: r["payload"] for r in compile_stack(production)["incident_io"]["alert_routes"]}
    sources = payloads["Production Alerts"]["alert_sources"]
    assert sources[0]["alert_source_id"] == "01KHSNW67SZJ1KGWEMA9C0GPT7"  # production's Alertmanager
    assert sources[1]["alert_source_id"] == "01HZ7GE7CASMF15RWV1QFCMKTQ"  # production's Checkly
    slack = payloads["Batch Jobs"]["channel_config"][0]["slack_targets"]["binding"]["array_value"]
    assert slack == [{"literal": "C0PLACEHOLDERPBT"}]  # production's #batch id

    # Comments and layout: every original line is still there, in order, apart from the edited one.
    kept = [line for line in original.splitlines() if line not in text.splitlines()]
    assert kept == ["        alertmanager: {severity: critical}   # the pager condition"]
    assert "        alertmanager: {severity: [critical, page]} # the pager condition" in text
    assert "staging comment" not in text
    assert '      slack: ["#batch"]' in text


def test_a_route_on_an_attribute_production_does_not_bind_is_blocked(stacks: Path) -> None:
    production = stacks / "Pulumi.production.yaml"
    production.write_text(production.read_text().replace(", team: $.labels.team}", "}"))
    plans = by_source_route(promotion(stacks))
    assert plans["Batch Jobs"].action is Action.BLOCKED
    assert plans["Batch Jobs"].reasons == (
        "attribute 'team' is not bound by production's source 'alertmanager' (bind it there first under `attributes:`)",
    )


def test_pulumi_would_see_exactly_the_changes_shown(stacks: Path) -> None:
    before = load(stacks, "production")
    shown = {p.target_route for p in promotion(stacks).routes if p.action in (Action.ADD, Action.CHANGE)}
    assert invoke(stacks, "--write", "--yes").exit_code == 0
    after = load(stacks, "production")
    old, new = compile_stack(before), compile_stack(after)
    old_routes = {r["name"]: r["payload"] for r in old["incident_io"].pop("alert_routes")}
    new_routes = {r["name"]: r["payload"] for r in new["incident_io"].pop("alert_routes")}
    assert old == new  # sources, AWS, Kubernetes, Alertmanager: untouched
    assert {n for n in old_routes.keys() | new_routes.keys() if old_routes.get(n) != new_routes.get(n)} == shown
    assert shown == {"Production Alerts", "Unrouted Alerts", "Batch Jobs"}


def test_promoting_twice_is_a_no_op(stacks: Path) -> None:
    assert invoke(stacks, "--write", "--yes").exit_code == 0
    written = (stacks / "Pulumi.production.yaml").read_text()
    again = invoke(stacks, "--write", "--yes")
    assert again.exit_code == 0
    assert "Nothing to promote" in again.stdout and "wrote" not in again.stdout
    assert "2 blocked" in again.stdout  # still shown, still not written
    assert (stacks / "Pulumi.production.yaml").read_text() == written


# -- the committed stacks -------------------------------------------------------------------------


def test_committed_staging_catch_all_is_shown_with_its_overlaps_and_refused(tmp_path: Path) -> None:
    folder = tmp_path / "stacks"
    shutil.copytree(STACKS, folder, ignore=shutil.ignore_patterns("*.routing-tests.yaml"))
    before = (folder / "Pulumi.production.yaml").read_text()
    preview = invoke(folder)
    assert preview.exit_code == 0
    rows = [re.sub(r"\s+", " ", line.replace("│", " ")).strip() for line in preview.stdout.splitlines()]
    assert (
        "Staging Notifications Production Notifications (new) no counterpart in production add none (new route)" in rows
    )
    for kept, pages in (
        ("Production Alerts", "Engineering On-Call"),
        ("Production Warnings", "none"),
        ("Unrouted Alerts", "none"),
        ("Database Alerts", "Engineering On-Call"),
        ("Informational", "none"),
    ):
        assert f"- {kept} - production only, kept {pages}" in rows
    out = re.sub(r"\s+", " ", preview.stdout)
    assert "New warnings in the promoted" in out
    assert "alerts from alertmanager with severity=critical match 2 routes ('Production Alerts'," in out
    refused = invoke(folder, "--write", "--yes")
    assert refused.exit_code == 1
    assert "not written: the promotion adds 3 warning(s)" in refused.stderr
    assert (folder / "Pulumi.production.yaml").read_text() == before

    accepted = invoke(folder, "--write", "--yes", "--allow-warnings")
    assert accepted.exit_code == 0, accepted.output
    text = (folder / "Pulumi.production.yaml").read_text()
    assert text.startswith(before.split("  alerting:kubernetes:")[0])  # everything before: byte for byte
    assert "- name: Production Notifications" in text
    production = load(folder, "production")
    notifications = next(r for r in production.routes if r.name == "Production Notifications")
    assert notifications.escalate == () and production.paging is True


# -- refusals and safety nets ---------------------------------------------------------------------


def test_write_without_a_terminal_needs_yes(stacks: Path) -> None:
    before = (stacks / "Pulumi.production.yaml").read_text()
    result = invoke(stacks, "--write")
    assert result.exit_code == 1
    assert "refusing to write without confirmation: no terminal to ask on; pass --yes" in result.stderr
    assert (stacks / "Pulumi.production.yaml").read_text() == before


def test_a_declined_confirmation_writes_nothing(stacks: Path) -> None:
    result = promotion(stacks)
    with pytest.raises(OperationError, match="not confirmed"):
        promote.write(result, allow_warnings=False, confirm=lambda question: False)
    assert (stacks / "Pulumi.production.yaml").read_text() == result.original


def test_an_invalid_production_file_is_never_written(stacks: Path) -> None:
    path = stacks / "Pulumi.production.yaml"
    original = path.read_text()
    invalid = original.replace('slack: ["#alerts"]', 'slack: ["#nowhere"]', 1)
    with pytest.raises(StackError) as caught:
        stackedit.write_stack_file(path, original, invalid)
    assert "unknown Slack channel '#nowhere'" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")  # the production file's name, not a temporary one
    assert path.read_text() == original
    assert sorted(p.name for p in stacks.iterdir()) == ["Pulumi.production.yaml", "Pulumi.staging.yaml"]


def test_a_promotion_whose_result_is_invalid_is_shown_and_refused(
    stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_edit = promote.edit

    def broken_edit(*args: object, **kwargs: object) -> str:  # as if a rule forgot a declaration
        return real_edit(*args, **kwargs).replace('slack: ["#batch"]', 'slack: ["#nowhere"]')  # type: ignore[arg-type]

    monkeypatch.setattr(promote, "edit", broken_edit)
    result = promotion(stacks)
    assert [p.message for p in result.errors] == [
        "unknown Slack channel '#nowhere'; declare it under incidentio.slackChannels"
    ]
    with pytest.raises(StackError):
        promote.write(result, allow_warnings=True, confirm=lambda question: True)
    assert (stacks / "Pulumi.production.yaml").read_text() == result.original


def test_a_production_file_changed_meanwhile_is_not_overwritten(stacks: Path) -> None:
    result = promotion(stacks)
    path = stacks / "Pulumi.production.yaml"
    path.write_text(path.read_text() + "# someone else's edit\n")
    with pytest.raises(OperationError, match="changed since it was read; nothing was written"):
        promote.write(result, allow_warnings=False, confirm=lambda question: True)
    assert path.read_text().endswith("# someone else's edit\n")


def test_ambiguous_correspondence_is_blocked(stacks: Path) -> None:
    production = stacks / "Pulumi.production.yaml"
    production.write_text(
        production.read_text()
        + (
            "    - name: Warnings Copy\n"
            "      sources:\n"
            "        alertmanager: {severity: warning}\n"
            '      slack: ["#alerts"]\n'
        )
    )
    staging = stacks / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text().replace("- name: Staging Warnings", "- name: Warnings"))
    plan = by_source_route(promotion(stacks))["Warnings"]
    assert plan.action is Action.BLOCKED
    assert (
        "ambiguous: its sources and conditions match production routes 'Production Warnings', 'Warnings Copy'"
        in plan.reasons[0]
    )


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("Staging Alerts", "Production Alerts"),
        ("staging-db", "production-db"),
        ("STAGING", "PRODUCTION"),
        ("Backstaging Notes", "Backstaging Notes"),
        ("Checkly", "Checkly"),
    ],
)
def test_route_names_map_through_the_environment_word(name: str, mapped: str) -> None:
    assert promote.map_name(name, "staging", "production") == mapped


def test_promote_has_help() -> None:
    result = cli.invoke(["promote", "--help"])
    assert result.exit_code == 0
    assert "--write" in result.output and "--yes" in result.output and "--allow-warnings" in result.output
