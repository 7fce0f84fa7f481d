"""The vendored schemas and their validators (components/schemas)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.schemas import (
    api_schema_names,
    validate_api_body,
    validate_external_secret,
)
from tests.support.payloads import condition, literals, route_body

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "components" / "schemas"
REFERENCE = Path(os.environ.get("ALERTING_REFERENCE_DIR", "/work/shared/reference"))
OPENAPI_SOURCE = REFERENCE / "incident-io-openapi.json"
CRD_SOURCE = REFERENCE / "external-secrets-externalsecret-crd.yaml"

ROUTE_REQUIRED = (
    "name",
    "enabled",
    "is_private",
    "alert_sources",
    "condition_groups",
    "expressions",
    "channel_config",
    "escalation_config",
    "incident_config",
    "incident_template",
)


def route_payload() -> dict[str, Any]:
    """A minimal AlertRoutesCreatePayloadV2, shaped like our compiler's output."""
    return route_body(
        "Platform: critical",
        "${alert_source:prometheus}",
        conditions=[[condition("alert.attributes.${alert_attribute:severity}", "one_of", "critical")]],
        slack=["C0123456789"],
        escalation_paths=["${escalation_path:Engineering On-Call}"],
        auto_cancel=True,
        incident=True,
        grouping_keys=["alert.title"],
    )


def source_payload(source_type: str = "alertmanager") -> dict[str, Any]:
    return {
        "name": "Prometheus (production)",
        "source_type": source_type,
        "template": {
            "title": {"reference": "alert.title"},
            "description": {"literal": "{}"},
            "attributes": [],
            "expressions": [],
        },
    }


def external_secret() -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": "incident-io-alertmanager",
            "namespace": "monitoring",
            "labels": {"app.kubernetes.io/managed-by": "pulumi"},
        },
        "spec": {
            "refreshInterval": "1h0m0s",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"},
            "target": {"name": "incident-io-alertmanager", "creationPolicy": "Owner"},
            "data": [
                {
                    "secretKey": "platform-token",
                    "remoteRef": {"key": "alerting/production/incident-io", "property": "platform"},
                }
            ],
        },
    }


# --- incident.io API bodies ------------------------------------------------------------------


def test_expected_schemas_are_vendored() -> None:
    names = set(api_schema_names())
    assert {
        "AlertRoutesCreatePayloadV2",
        "AlertRoutesUpdatePayloadV2",
        "AlertSourcesCreatePayloadV2",
        "AlertSourcesUpdatePayloadV2",
        "ManagedResourcesCreateManagedResourcePayloadV2",
        "AlertRouteV2",
        "AlertSourceV2",
        "EscalationPathV2",
        "AlertAttributeV2",
    } <= names


def test_minimal_route_payload_is_valid() -> None:
    assert validate_api_body("AlertRoutesCreatePayloadV2", route_payload()) == []


def test_update_payload_also_needs_version() -> None:
    body = route_payload()
    assert validate_api_body("AlertRoutesUpdatePayloadV2", body) == ["$.version: required field is missing"]
    assert validate_api_body("AlertRoutesUpdatePayloadV2", {**body, "version": 4}) == []
    assert validate_api_body("AlertRoutesUpdatePayloadV2", {**body, "version": "4"}) == [
        '$.version: expected integer, got string "4"'
    ]


@pytest.mark.parametrize("key", ROUTE_REQUIRED)
def test_each_required_route_key_is_enforced(key: str) -> None:
    body = route_payload()
    del body[key]
    assert validate_api_body("AlertRoutesCreatePayloadV2", body) == [f"$.{key}: required field is missing"]


def test_wrong_types_are_reported_with_their_path() -> None:
    body = route_payload()
    body["enabled"] = "yes"
    body["incident_config"]["grouping_window_seconds"] = "300"
    assert validate_api_body("AlertRoutesCreatePayloadV2", body) == [
        '$.enabled: expected boolean, got string "yes"',
        '$.incident_config.grouping_window_seconds: expected integer, got string "300"',
    ]


def test_wrong_nested_shapes_are_reported_with_their_path() -> None:
    body = route_payload()
    condition = body["condition_groups"][0]["conditions"][0]
    condition["param_bindings"] = {"value": {"literal": "critical"}}  # object, not a list
    del body["escalation_config"]["auto_cancel_escalations"]
    body["channel_config"][0]["slack_targets"] = {"binding": literals("C0123456789")}
    body["alert_sources"][0] = "${alert_source:prometheus}"  # id alone, not {alert_source_id,…}
    assert validate_api_body("AlertRoutesCreatePayloadV2", body) == [
        '$.alert_sources[0]: expected object, got string "${alert_source:prometheus}"',
        "$.channel_config[0].slack_targets.channel_visibility: required field is missing",
        (
            "$.condition_groups[0].conditions[0].param_bindings: expected array, "
            'got object {"value": {"literal": "critical"}}'
        ),
        "$.escalation_config.auto_cancel_escalations: required field is missing",
    ]


def test_response_shapes_are_not_payload_shapes() -> None:
    # A GET body cannot be PUT back: responses carry subject/operation as objects.
    from_get = {
        "subject": {"label": "Alert → Title", "reference": "alert.title"},
        "operation": {"label": "is set", "value": "is_set"},
        "param_bindings": [],
    }
    assert validate_api_body("ConditionV2", from_get) == []
    assert validate_api_body("ConditionPayloadV2", from_get) == [
        '$.operation: expected string, got object {"label": "is set", "value": "is_set"}',
        ('$.subject: expected string, got object {"label": "Alert → Title", "reference": "alert.title"}'),
    ]


def test_unknown_fields_are_tolerated_in_api_bodies() -> None:
    assert validate_api_body("AlertRoutesCreatePayloadV2", {**route_payload(), "new": 1}) == []


def test_alert_source_type_is_checked_against_the_spec_enum() -> None:
    assert validate_api_body("AlertSourcesCreatePayloadV2", source_payload()) == []
    [message] = validate_api_body("AlertSourcesCreatePayloadV2", source_payload("carrier_pigeon"))
    assert message.startswith('$.source_type: "carrier_pigeon" is not one of "alertmanager", ')
    assert message.endswith("(49 allowed)")


def test_managed_resource_payload() -> None:
    body = {"resource_type": "alert_route", "resource_id": "01H0", "annotations": {"a/b": "c"}}
    assert validate_api_body("ManagedResourcesCreateManagedResourcePayloadV2", body) == []
    body["annotations"] = {"stack.example/name": 3}
    assert validate_api_body("ManagedResourcesCreateManagedResourcePayloadV2", body) == [
        '$.annotations["stack.example/name"]: expected string, got integer 3'
    ]


def test_messages_are_sorted_with_numeric_indices() -> None:
    body = route_payload()
    body["expressions"] = [{} for _ in range(11)]
    messages = validate_api_body("AlertRoutesCreatePayloadV2", body)
    assert messages[:4] == [
        f"$.expressions[0].{key}: required field is missing"
        for key in ("label", "operations", "reference", "root_reference")
    ]
    second = messages.index("$.expressions[2].label: required field is missing")
    assert second < messages.index("$.expressions[10].label: required field is missing")
    assert validate_api_body("AlertRoutesCreatePayloadV2", body) == messages


def test_non_object_body_and_unknown_schema_name() -> None:
    assert validate_api_body("AlertSourcesCreatePayloadV2", []) == ["$: expected object, got array []"]
    with pytest.raises(ValueError, match=r"no vendored incident.io schema 'AlertRouteV9'"):
        validate_api_body("AlertRouteV9", {})


def test_validation_does_not_modify_the_body() -> None:
    body = route_payload()
    before = copy.deepcopy(body)
    validate_api_body("AlertRoutesCreatePayloadV2", body)
    assert body == before


# --- ExternalSecret --------------------------------------------------------------------------


def test_valid_external_secret() -> None:
    assert validate_external_secret(external_secret()) == []


def test_remote_ref_without_key_is_rejected() -> None:
    manifest = external_secret()
    del manifest["spec"]["data"][0]["remoteRef"]["key"]
    assert validate_external_secret(manifest) == ["$.spec.data[0].remoteRef.key: required field is missing"]


def test_api_version_and_kind_are_checked() -> None:
    manifest = external_secret()
    manifest["apiVersion"] = "external-secrets.io/v1beta1"
    del manifest["kind"]
    assert validate_external_secret(manifest) == [
        '$.apiVersion: expected "external-secrets.io/v1", got "external-secrets.io/v1beta1"',
        '$.kind: expected "ExternalSecret", got nothing',
    ]


def test_misspelt_and_invalid_fields_are_rejected() -> None:
    manifest = external_secret()
    manifest["spec"]["refreshinterval"] = "1h"  # would be silently pruned by the API server
    manifest["spec"]["secretStoreRef"]["kind"] = "AwsSecretStore"
    manifest["spec"]["data"][0]["secretKey"] = "platform token"
    assert validate_external_secret(manifest) == [
        "$.spec.data[0].secretKey: 'platform token' does not match '^[-._a-zA-Z0-9]+$'",
        "$.spec.refreshinterval: unknown field",
        '$.spec.secretStoreRef.kind: "AwsSecretStore" is not one of "SecretStore", "ClusterSecretStore"',
    ]


def test_nullable_fields_accept_null() -> None:
    manifest = external_secret()
    manifest["status"] = {"refreshTime": None}
    assert validate_external_secret(manifest) == []


# --- the vendored files ----------------------------------------------------------------------


def refs_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs_in(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs_in(value) for value in node))
    return set()


def test_vendored_openapi_subset_is_closed_and_attributed() -> None:
    doc = json.loads((SCHEMAS / "incident-io-openapi-subset.json").read_text(encoding="utf-8"))
    provenance = doc["x-provenance"]
    assert provenance["commit"] == "a438c9e"
    assert provenance["missing_roots"] == []
    schemas = doc["components"]["schemas"]
    assert set(provenance["roots"]) <= set(schemas)
    assert {f"#/components/schemas/{name}" for name in schemas} >= refs_in(schemas)
    assert all("example" not in schema for schema in schemas.values())


def test_vendored_externalsecret_schema_is_attributed() -> None:
    doc = json.loads((SCHEMAS / "externalsecret-v1.schema.json").read_text(encoding="utf-8"))
    assert doc["x-provenance"]["version"] == "v2.9.0"
    assert set(doc["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}


def test_import_reads_no_files() -> None:
    code = (
        "import components.schemas as s; "
        "assert s._openapi_document.cache_info().currsize == 0; "
        "assert s._eso_validator.cache_info().currsize == 0"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.skipif(
    not (OPENAPI_SOURCE.is_file() and CRD_SOURCE.is_file()),
    reason=f"reference sources not present under {REFERENCE} (set ALERTING_REFERENCE_DIR)",
)
def test_vendored_files_match_the_regeneration_script() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "vendor_schemas.py"),
            "--openapi",
            str(OPENAPI_SOURCE),
            "--crd",
            str(CRD_SOURCE),
            "--check",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "up to date"
