"""The compiler: exact API shapes (checked against incident.io's own schema), manifests, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import jsontext, validate
from components.compile import compile_stack
from components.incidentio import references
from components.model import Stack
from components.schemas import validate_api_body, validate_external_secret

ROOT = Path(__file__).resolve().parent.parent
STACKS = {validate.stack_name(p): p for p in validate.stack_files(ROOT / "stacks")}
EXAMPLES = [*STACKS.values(), *sorted((ROOT / "tests/data/stacks/valid").glob("Pulumi.*.yaml"))]


def load(path: Path) -> Stack:
    stacks, _ = validate.check([path])
    return stacks[path]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_payload_and_manifest_matches_the_official_schemas(path: Path) -> None:
    stack = load(path)
    compiled = compile_stack(stack)
    known_types = validate.known_source_types()
    for source in compiled["incident_io"]["alert_sources"]:
        errors = validate_api_body("AlertSourcesCreatePayloadV2", source["payload"])
        if source["source_type"] not in known_types:  # accepted with a warning; the spec's enum lags
            errors = [e for e in errors if not e.startswith("$.source_type:")]
        assert errors == [], source["key"]
    for route in compiled["incident_io"]["alert_routes"]:
        assert validate_api_body("AlertRoutesCreatePayloadV2", route["payload"]) == [], route["name"]
        update = {**route["payload"], "version": 2}
        assert validate_api_body("AlertRoutesUpdatePayloadV2", update) == []
    for manifest in compiled["kubernetes"]["manifests"]:
        if manifest["kind"] == "ExternalSecret":
            assert validate_external_secret(manifest) == []


def test_render_shape_has_the_documented_top_level_keys() -> None:
    compiled = compile_stack(load(STACKS["production"]))
    assert list(compiled) == ["stack", "environment", "incident_io", "aws", "kubernetes", "checkly", "alertmanager"]
    sources = compiled["incident_io"]["alert_sources"]
    keys = ("adopt", "discard_live_settings", "key", "name", "payload", "source_type")
    assert {tuple(sorted(s)) for s in sources} == {keys}
    routes = compiled["incident_io"]["alert_routes"]
    assert all(set(r) == {"name", "adopt", "discard_live_settings", "payload"} for r in routes)


def test_same_input_gives_byte_identical_output() -> None:
    first = json.dumps(compile_stack(load(STACKS["production"])), sort_keys=True)
    second = json.dumps(compile_stack(load(STACKS["production"])), sort_keys=True)
    assert first == second


def test_production_alerts_route_payload() -> None:
    compiled = compile_stack(load(STACKS["production"]))
    route = next(r["payload"] for r in compiled["incident_io"]["alert_routes"] if r["name"] == "Production Alerts")
    by_source = {s["alert_source_id"]: s["condition_groups"] for s in route["alert_sources"]}
    assert by_source == {
        "01KHSNW67SZJ1KGWEMA9C0GPT7": [
            {
                "conditions": [
                    {
                        "subject": "alert.attributes.${alert_attribute:severity}",
                        "operation": "one_of",
                        "param_bindings": [{"array_value": [{"literal": "critical"}]}],
                    }
                ]
            }
        ],
        "01HZ7GE7CASMF15RWV1QFCMKTQ": [],
        "${alert_source:sev0}": [],
        "${alert_source:grafana-cloud}": [],
    }
    assert route["escalation_config"]["escalation_targets"] == [
        {"escalation_paths": {"array_value": [{"literal": "${escalation_path:Engineering On-Call}"}]}}
    ]
    slack = route["channel_config"][0]["slack_targets"]["binding"]["array_value"]
    assert slack == [{"literal": "C0PLACEHOLDERPRD"}]
    assert route["incident_config"]["enabled"] is False
    assert route["incident_config"]["grouping_window_seconds"] == 0


def test_unrouted_alerts_uses_the_explicit_operation_without_values() -> None:
    compiled = compile_stack(load(STACKS["production"]))
    route = next(r["payload"] for r in compiled["incident_io"]["alert_routes"] if r["name"] == "Unrouted Alerts")
    condition = route["alert_sources"][0]["condition_groups"][0]["conditions"][0]
    assert (condition["operation"], condition["param_bindings"]) == ("is_blank", [])
    assert route["escalation_config"]["escalation_targets"] == []


def test_staging_never_pages() -> None:
    compiled = compile_stack(load(STACKS["staging"]))
    for route in compiled["incident_io"]["alert_routes"]:
        assert route["payload"]["escalation_config"]["escalation_targets"] == []
        assert route["payload"]["incident_config"]["enabled"] is False


def test_pinned_ids_replace_placeholders_and_or_groups_stay_ordered() -> None:
    stack = load(ROOT / "tests/data/stacks/valid/Pulumi.full-featured.yaml")
    route = compile_stack(stack)["incident_io"]["alert_routes"][0]["payload"]
    assert ("escalation_path", "Engineering On-Call") not in references.find(route)
    assert ("escalation_path", "Database On-Call") in references.find(route)  # not pinned: resolved at deploy
    groups = route["alert_sources"][0]["condition_groups"]
    assert [len(g["conditions"]) for g in groups] == [1, 2]
    assert groups[1]["conditions"][1] == {
        "subject": "alert.title",
        "operation": "contains",
        "param_bindings": [{"value": {"literal": "database"}}],
    }
    assert route["incident_config"]["grouping_window_seconds"] == 300
    assert route["incident_config"]["defer_time_seconds"] == 90


def test_external_secret_and_alertmanager_wiring() -> None:
    compiled = compile_stack(load(STACKS["staging"]))
    manifest, _heartbeat = compiled["kubernetes"]["manifests"]  # the heartbeat's: tests/test_heartbeat.py
    assert manifest["metadata"]["name"] == "alertmanager-incidentio"
    assert manifest["metadata"]["namespace"] == "monitoring"
    assert manifest["spec"]["refreshInterval"] == "1h"
    assert manifest["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"}
    assert {(d["secretKey"], d["remoteRef"]["key"], d["remoteRef"]["property"]) for d in manifest["spec"]["data"]} == {
        ("token", "unkey/alertmanager-incident-io", "alert_source_token"),
        ("url", "unkey/alertmanager-incident-io", "alert_source_url"),
    }
    assert manifest["metadata"]["annotations"] == {"alerting/token-version": "${secret_version:alertmanager}"}
    receiver, _heartbeat = compiled["alertmanager"]["receivers"]
    assert receiver["incidentio_configs"] == [
        {
            "url_file": "/etc/alertmanager/secrets/alertmanager-incidentio/url",
            "alert_source_token_file": "/etc/alertmanager/secrets/alertmanager-incidentio/token",
            "send_resolved": True,
        }
    ]
    values = compiled["alertmanager"]["helm_values"]["alertmanager"]
    assert values["alertmanagerSpec"]["secrets"] == ["alertmanager-heartbeat", "alertmanager-incidentio"]
    secret, _heartbeat = compiled["aws"]["secrets"]
    assert secret["secret_string"] == {
        "alert_source_token": "${alert_source:alertmanager.secret_token}",
        "alert_source_url": "${alert_source:alertmanager.alert_events_url}",
    }
    assert secret["protect"] is False
    assert compile_stack(load(STACKS["production"]))["aws"]["secrets"][0]["protect"] is True


def test_compiled_stacks_hold_no_float_so_render_takes_the_fast_json_path() -> None:
    paths = [*validate.stack_files(ROOT / "stacks"), *sorted((ROOT / "tests/data/stacks/valid").glob("Pulumi.*.yaml"))]
    stacks, _ = validate.check(paths)
    assert len(stacks) == len(paths)
    for stack in stacks.values():
        compiled = compile_stack(stack)
        assert not jsontext.has_float(compiled)
        assert jsontext.pretty(compiled, floats_possible=False) == jsontext.pretty(compiled)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_two_places_in_a_compiled_stack_share_a_dict_or_list(path: Path) -> None:
    # The compiler shares id strings between payloads, never containers (compile.StackIds): a
    # shared dict would carry any later in-place change of one route's payload into another's.
    compiled = compile_stack(load(path))
    seen: set[int] = set()
    pending: list[object] = [compiled]
    while pending:
        value = pending.pop()
        if isinstance(value, dict | list):
            assert id(value) not in seen, f"{path.name}: shared {value!r:.200}"
            seen.add(id(value))
            pending.extend(value.values() if isinstance(value, dict) else value)
