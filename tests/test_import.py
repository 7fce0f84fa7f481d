"""`import` against the emulator: import -> validate -> compile gives back the live routes, refusals
with reasons, other stacks' objects left alone, comment-keeping --write; and the end-to-end secret scan."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from components import importer, validate
from components.compile import compile_stack
from components.errors import OperationError
from components.incidentio.client import IncidentIoClient
from components.incidentio.emulator import Emulator
from components.incidentio.normalise import canonical_route, canonical_source
from components.incidentio.references import ALERT_ATTRIBUTE, ESCALATION_PATH, substitute
from tests.support.cli import invoke
from tests.support.incidentio import (
    API_KEY,
    ROOT,
    SUMMARY_DOC,
    Seeded,
    SeededStack,
    bind_paths,
    load,
    minimal_route,
    seed_stack,
)


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    folder = tmp_path / "stacks"
    folder.mkdir()
    for path in (ROOT / "stacks").glob("Pulumi.*.yaml"):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def production(client: IncidentIoClient, emulator: Emulator) -> SeededStack:
    """The runbook's production routes, clicked together before day one."""
    return seed_stack(client, emulator, load("production"))


def live_routes(client: IncidentIoClient) -> dict[str, dict]:
    return {r["name"]: client.get_alert_route(r["id"]) for r in client.list_alert_routes()}


def assert_round_trip(stack_file: Path, client: IncidentIoClient, names: set[str]) -> None:
    """Each named route, compiled from the stack file with placeholders resolved the way the
    providers resolve them, is canonically equal to the live route."""
    stack, _ = validate.load_stack(stack_file)
    resolved = {(ESCALATION_PATH, p["name"]): p["id"] for p in client.list_escalation_paths()}
    resolved |= {(ALERT_ATTRIBUTE, a["name"]): a["id"] for a in client.list_alert_attributes()}
    compiled = {r["name"]: r["payload"] for r in compile_stack(stack)["incident_io"]["alert_routes"]}
    live = live_routes(client)
    assert names <= set(compiled)
    for name in names:
        assert canonical_route(substitute(compiled[name], resolved)) == canonical_route(live[name]), name


def prepare(client: IncidentIoClient, stack_file: Path, match: str | None = None) -> importer.Imported:
    return importer.prepare(importer.read_live(client), importer.read_target(stack_file), match=match)


def test_production_round_trip_through_the_stack_file(
    client: IncidentIoClient, production: SeededStack, stacks: Path
) -> None:
    stack_file = stacks / "Pulumi.production.yaml"
    original = stack_file.read_text()
    imported = prepare(client, stack_file)
    imported.check()
    assert [r["name"] for r in imported.routes] == list(production.routes)
    assert importer.write(imported, importer.read_live(client)) is True
    assert_round_trip(stack_file, client, set(production.routes))
    stack, _ = validate.load_stack(stack_file)
    assert {s.key: s.adopt for s in stack.sources} == production.sources  # the same keys, the live ids
    assert {r.name: r.adopt for r in stack.routes} == production.routes  # taken over, never duplicated
    text = stack_file.read_text()
    for line in original.splitlines():  # comments, delivery, emits, kubernetes: all kept
        if "adopt:" not in line:
            assert line in text
    again = prepare(client, stack_file)
    assert importer.write(again, importer.read_live(client)) is False  # idempotent
    fragment = yaml.safe_load(imported.fragment)["config"]
    assert {k: v["adopt"] for k, v in fragment["alerting:sources"].items()} == production.sources


@pytest.fixture
def rich(emulator: Emulator, client: IncidentIoClient, seeded: Seeded, route_payload: Callable) -> dict[str, str]:
    """Routes using every construct the language has, and some it has not."""
    db_path = emulator.add_escalation_path("Database On-Call")
    on_attr = emulator.add_alert_attribute("on")  # a name YAML 1.1 would read as `true`
    nameless = emulator.add_escalation_path("")  # a name the stack language cannot hold
    amgr = seeded.source_id
    paths = {seeded.severity_attr: ("severity", "$.labels.severity"), seeded.team_attr: ("team", "$.labels.team")}
    emulator.edit_source_out_of_band(
        amgr, lambda s: bind_paths(s["template"], {**paths, on_attr: ("on", "$.labels.on")})
    )
    checkly_template = {"title": {"reference": "alert.title"}, "description": {"reference": "alert.description"}}
    bind_paths(checkly_template, {seeded.team_attr: ("team", "$.team")})
    checkly = client.create_alert_source({"name": "Checkly", "source_type": "checkly", "template": checkly_template})[
        "id"
    ]

    def condition(subject: str, operation: str, *values: str, array: bool = True) -> dict:
        literals = [{"literal": v} for v in values]
        bindings = ([{"array_value": literals}] if array else [{"value": v} for v in literals]) if values else []
        return {"subject": subject, "operation": operation, "param_bindings": bindings}

    severity, team, on = (f"alert.attributes.{a}" for a in (seeded.severity_attr, seeded.team_attr, on_attr))
    slack = {
        "condition_groups": [],
        "slack_targets": {
            "binding": {"array_value": [{"literal": "C0PLACEHOLDERPRD"}, {"literal": "C0NEWCHANNEL"}]},
            "channel_visibility": "public",
        },
    }
    routes = {
        "Everything": minimal_route(
            "Everything",
            amgr,
            alert_sources=[
                {
                    "alert_source_id": amgr,
                    "condition_groups": [
                        {
                            "conditions": [
                                condition(severity, "one_of", "critical", "page"),
                                condition(team, "one_of", "yes"),
                            ]
                        }
                    ],
                },
                {"alert_source_id": checkly, "condition_groups": []},
            ],
            condition_groups=[{"conditions": [condition("alert.title", "one_of", "Boom")]}],
            channel_config=[slack],
            escalation_config={
                "auto_cancel_escalations": False,
                "escalation_targets": [
                    {"escalation_paths": {"array_value": [{"literal": seeded.path_id}]}},
                    {"escalation_paths": {"array_value": [{"literal": db_path}]}},
                ],
            },
            incident_config={
                "enabled": True,
                "auto_decline_enabled": True,
                "condition_groups": [],
                "defer_time_seconds": 90,
                "grouping_keys": [{"reference": severity}, {"reference": "alert.title"}],
                "grouping_window_seconds": 300,
            },
        ),
        "Either": minimal_route(
            "Either",
            amgr,
            enabled=False,
            alert_sources=[
                {
                    "alert_source_id": amgr,
                    "condition_groups": [
                        {"conditions": [condition(severity, "one_of", "critical")]},
                        {"conditions": [condition(team, "one_of", "db"), condition(severity, "one_of", "warning")]},
                    ],
                }
            ],
        ),
        "Operations": minimal_route(
            "Operations",
            amgr,
            alert_sources=[
                {
                    "alert_source_id": amgr,
                    "condition_groups": [
                        {
                            "conditions": [
                                condition(severity, "is_blank"),
                                condition(on, "one_of", "on", "12:30", "null", "007"),
                                condition("alert.title", "contains", "db", array=False),
                            ]
                        }
                    ],
                }
            ],
        ),
        "Custom": route_payload("Custom"),  # expressions, a summary template, auto-cancel
        "Conditional Slack": minimal_route(
            "Conditional Slack",
            amgr,
            channel_config=[{**slack, "condition_groups": [{"conditions": [condition(severity, "one_of", "page")]}]}],
        ),
        "By reference": minimal_route(
            "By reference",
            amgr,
            condition_groups=[
                {
                    "conditions": [
                        {
                            "subject": severity,
                            "operation": "one_of",
                            "param_bindings": [{"array_value": [{"reference": "alert.title"}]}],
                        }
                    ]
                }
            ],
        ),
        "Private": minimal_route("Private", amgr, is_private=True),
        "Nameless path": minimal_route(
            "Nameless path",
            amgr,
            escalation_config={
                "auto_cancel_escalations": False,
                "escalation_targets": [{"escalation_paths": {"array_value": [{"literal": nameless}]}}],
            },
        ),
    }
    return {name: client.create_alert_route(payload)["id"] for name, payload in routes.items()}


EXPRESSIBLE = {"Everything", "Either", "Operations"}


def test_every_construct_round_trips_and_the_rest_is_refused_with_reasons(
    client: IncidentIoClient, rich: dict[str, str], stacks: Path
) -> None:
    stack_file = stacks / "Pulumi.production.yaml"
    imported = prepare(client, stack_file)
    assert {r["name"] for r in imported.routes} == EXPRESSIBLE
    refused = dict(line.split(": ", 1) for line in imported.refused)
    assert refused == {
        f"alert route 'Custom' ({rich['Custom']})": (
            "it uses expressions (2); custom incident template (name, summary);"
            " auto_cancel_escalations is on (the language always sends false)"
        ),
        f"alert route 'Conditional Slack' ({rich['Conditional Slack']})": "its Slack channels are conditional",
        f"alert route 'By reference' ({rich['By reference']})": (
            "a route-wide condition on 'severity' uses references or expressions, not plain values"
        ),
        f"alert route 'Private' ({rich['Private']})": "it is private",
        f"alert route 'Nameless path' ({rich['Nameless path']})": (
            "its entry would not validate ($.routes[3].escalate[0]: must not be empty)"
        ),
    }
    assert [w for w in imported.warnings if w.startswith("alert source 'Alertmanager")] == []
    alertmanager = imported.sources["alertmanager"]
    assert alertmanager["attributes"] == {"on": "$.labels.on", "severity": "$.labels.severity", "team": "$.labels.team"}
    assert json.loads(alertmanager["description"]["literal"]) == json.loads(SUMMARY_DOC)  # the live template, kept
    assert "title" not in alertmanager  # the default
    with pytest.raises(OperationError) as raised:
        imported.check()
    assert len(raised.value.missing) == 5

    assert importer.write(imported, importer.read_live(client))
    assert_round_trip(stack_file, client, EXPRESSIBLE)
    config = yaml.safe_load(stack_file.read_text())["config"]
    assert config["alerting:incidentio"]["slackChannels"] == {
        "#alerts": "C0PLACEHOLDERPRD",
        "C0NEWCHANNEL": "C0NEWCHANNEL",
    }
    # "checkly" is the stack's key for "Checkly (Production)" (which adopts an id incident.io lacks)
    checkly = config["alerting:sources"]["checkly-2"]
    assert checkly == {
        "name": "Checkly",
        "type": "checkly",
        "adopt": checkly["adopt"],
        "attributes": {"team": "$.team"},
    }
    routes = {r["name"]: r for r in config["alerting:routes"]}
    assert routes["Everything"] == {
        "name": "Everything",
        "adopt": rich["Everything"],
        "sources": {"alertmanager": {"severity": ["critical", "page"], "team": "yes"}, "checkly-2": {}},
        "when": {"title": "Boom"},
        "escalate": ["Engineering On-Call", "Database On-Call"],
        "slack": ["#alerts", "C0NEWCHANNEL"],
        "grouping": {"window": "5m", "by": ["severity", "title"]},
        "incident": {"enabled": True, "autoDecline": True, "defer": "1m30s"},
    }
    assert routes["Either"]["enabled"] is False
    assert routes["Either"]["sources"]["alertmanager"] == [
        {"severity": "critical"},
        {"team": "db", "severity": "warning"},
    ]
    assert routes["Operations"]["sources"]["alertmanager"] == {
        "severity": {"operation": "is_blank"},
        "on": ["on", "12:30", "null", "007"],  # strings, as incident.io holds them
        "title": {"operation": "contains", "values": ["db"]},
    }


def test_a_template_the_language_cannot_hold_is_named_not_replaced(
    client: IncidentIoClient, seeded: Seeded, stacks: Path
) -> None:
    """The seeded source binds with a merge strategy and a reference the language cannot write."""
    imported = prepare(client, stacks / "Pulumi.production.yaml")
    assert "attributes" not in imported.sources["alertmanager"]
    assert (
        "alert source 'Alertmanager (Production)': its template (attribute bindings, expressions, title) cannot be"
        " expressed; `pulumi up` stops rather than replace it (declare it by hand, or set"
        " discardLiveSettings: true on the source to let it go)"
    ) in imported.warnings


def test_other_stacks_objects_are_left_to_them(
    client: IncidentIoClient, production: SeededStack, stacks: Path, source_payload: Callable
) -> None:
    importer.write(prepare(client, stacks / "Pulumi.production.yaml"), importer.read_live(client))
    staging = client.create_alert_source(source_payload("Alertmanager (Staging)"))["id"]
    client.create_alert_route(minimal_route("Staging Notifications", staging))
    client.create_alert_route(
        minimal_route(
            "Staging Pages",
            staging,
            escalation_config={
                "auto_cancel_escalations": False,
                "escalation_targets": [
                    {
                        "escalation_paths": {
                            "array_value": [
                                {"literal": production.references[(ESCALATION_PATH, "Engineering On-Call")]}
                            ]
                        }
                    }
                ],
            },
        )
    )
    client.create_alert_route(
        minimal_route(
            "Mixed",
            staging,
            alert_sources=[
                {"alert_source_id": staging, "condition_groups": []},
                {"alert_source_id": production.sources["checkly"], "condition_groups": []},
            ],
        )
    )
    imported = prepare(client, stacks / "Pulumi.staging.yaml")
    assert [r["name"] for r in imported.routes] == ["Staging Notifications"]
    assert list(imported.sources) == ["alertmanager"]  # the stack's key for "Alertmanager (Staging)"
    ids = {name: route["id"] for name, route in live_routes(client).items()}
    assert sorted(imported.refused) == [
        f"alert route 'Mixed' ({ids['Mixed']}): it uses alert source {production.sources['checkly']},"
        f" owned by {stacks / 'Pulumi.production.yaml'} (sources.checkly)",
        f"alert route 'Staging Pages' ({ids['Staging Pages']}):"
        " it escalates, but this stack never pages (policy.paging: false)",
    ]
    assert sum("declared by" in line for line in imported.skipped) == len(production.routes)
    assert sum("owned by" in line for line in imported.skipped) == len(production.sources)


def test_match_selects_routes_and_only_the_sources_they_use(
    client: IncidentIoClient, production: SeededStack, stacks: Path
) -> None:
    imported = prepare(client, stacks / "Pulumi.production.yaml", match="^Database")
    assert [r["name"] for r in imported.routes] == ["Database Alerts"]
    # the sources the stack declares (all seven here) are refreshed; no other source is added
    assert set(imported.sources) == set(production.sources)


def test_cli_import(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, client: IncidentIoClient, rich: dict[str, str], stacks: Path
) -> None:
    monkeypatch.setenv("INCIDENT_IO_TOKEN", API_KEY)
    monkeypatch.setenv("INCIDENT_IO_API_URL", emulator.base_url)
    args = ["import", "production", "--stacks-dir", str(stacks)]
    result = invoke(args)
    assert result.exit_code == 1
    config = yaml.safe_load(result.stdout)["config"]
    assert {r["name"] for r in config["alerting:routes"]} == EXPRESSIBLE
    assert "5 alert route(s) not imported" in result.stderr and "it is private" in result.stderr
    assert "alert route" in result.stderr and "Traceback" not in result.output

    result = invoke([*args, "--output", str(stacks / "fragment.yaml")])
    assert result.exit_code == 1 and result.stdout == ""
    assert yaml.safe_load((stacks / "fragment.yaml").read_text()) == {"config": config}

    result = invoke([*args, "--write", "--match", "^(Everything|Either|Operations)$"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{stacks / 'Pulumi.production.yaml'} written\n"
    result = invoke([*args, "--write", "--match", "^(Everything|Either|Operations)$"])
    assert result.stdout == f"{stacks / 'Pulumi.production.yaml'} already up to date\n"
    assert invoke(["validate", "--stacks-dir", str(stacks)]).exit_code == 0
    result = invoke([*args, "--match", "("])
    assert result.exit_code == 2 and "--match '(' is not a regular expression" in result.stderr


def test_secret_scan_no_key_or_token_in_any_file_output_or_request(
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    client: IncidentIoClient,
    production: SeededStack,
    stacks: Path,
    tmp_path: Path,
) -> None:
    """backup, a wrecked org, restore, import: the API key and every source token appear nowhere."""
    monkeypatch.setenv("INCIDENT_IO_TOKEN", API_KEY)
    monkeypatch.setenv("INCIDENT_IO_API_URL", emulator.base_url)
    sent: list[bytes] = []
    handle = httpx.HTTPTransport.handle_request

    def recording(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        sent.append(request.read())
        return handle(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", recording)
    outputs: list[str] = []

    def run(*args: str) -> None:
        result = invoke(list(args))
        outputs.append(result.stdout + result.stderr)
        assert result.exit_code == 0, result.output

    folder = tmp_path / "backup"
    run("backup", str(folder))
    client.delete_alert_source(production.sources["axiom"])  # recreated by restore: a new token
    client.delete_alert_route(production.routes["Informational"])
    emulator.edit_source_out_of_band(production.sources["alertmanager"], lambda s: s.update(name="Renamed"))
    run("restore", str(folder), "--yes")
    run("backup", str(folder))
    run("import", "production", "--stacks-dir", str(stacks))
    run("import", "production", "--stacks-dir", str(stacks), "--write")

    secrets = [API_KEY, *(s["secret_token"] for s in client.list_alert_sources())]
    assert len(secrets) == 1 + len(production.sources) and all(len(s) >= 32 for s in secrets)
    texts = [*outputs, *(b.decode() for b in sent)]
    texts += [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert len(texts) > 20 and sent
    for secret in secrets:
        assert not [t[:80] for t in texts if secret in t]
    tokens = json.dumps([json.loads(p.read_text()).get("secret_token") for p in (folder / "alert_sources").glob("*")])
    assert set(json.loads(tokens)) == {"[redacted]"}


def test_a_live_heartbeat_imports_with_its_timing(client: IncidentIoClient, stacks: Path) -> None:
    payload = {
        "name": "Cron heartbeat",
        "source_type": "heartbeat",
        "template": {"title": {}, "description": {}, "expressions": [], "attributes": []},
        "heartbeat_options": {"interval_seconds": 300, "grace_period_seconds": 60, "failure_threshold": 1},
    }
    live = client.create_alert_source(payload)
    stack_file = stacks / "Pulumi.staging.yaml"
    imported = prepare(client, stack_file)
    (entry,) = [e for e in imported.sources.values() if e["name"] == "Cron heartbeat"]
    assert entry == {
        "name": "Cron heartbeat",
        "type": "heartbeat",
        "adopt": live["id"],
        "attributes": {},
        "heartbeat": {"interval": "5m", "grace": "1m"},
    }
    imported.check()  # valid: pinged from elsewhere (no delivery) is a warning, not an error
    assert importer.write(imported, importer.read_live(client)) is True
    stack, _ = validate.load_stack(stack_file)
    (source,) = [s for s in stack.sources if s.adopt == live["id"]]
    assert source.heartbeat is not None and (source.heartbeat.interval_seconds, source.heartbeat.grace_seconds) == (
        300,
        60,
    )
    compiled = compile_stack(stack)
    (item,) = [s for s in compiled["incident_io"]["alert_sources"] if s["adopt"] == live["id"]]
    assert canonical_source(item["payload"]) == canonical_source(live), "adopting it changes nothing"
