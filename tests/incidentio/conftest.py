"""Shared fixtures: a started emulator on 127.0.0.1, a client pointed at it, valid payloads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.emulator import Emulator

API_KEY = "inc_test_0123456789abcdefSECRETKEY"

# A rich-text incident summary, as incident.io stores templates (JSON inside a string literal).
SUMMARY_DOC = json.dumps(
    {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Check the runbook"}]}]}
)

FAST_RETRY = RetryPolicy(max_attempts=4, max_total_seconds=60.0, base_delay=0.5, max_delay=4.0)


@dataclass
class FakeSleep:
    """Records requested delays instead of sleeping."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass(frozen=True)
class Seeded:
    """Objects every route needs: an alert source, an escalation path, alert attributes."""

    source_id: str
    path_id: str
    severity_attr: str  # a String attribute
    team_attr: str  # a catalog attribute


@pytest.fixture
def api_key() -> str:
    """The emulator's API key (a fixture: test modules do not import conftest)."""
    return API_KEY


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A started emulator; afterwards, no request body may have broken the official schema
    (unless the test is marked `sends_invalid_bodies`, to check the emulator rejects them)."""
    with Emulator(API_KEY) as emu:
        yield emu
        if request.node.get_closest_marker("sends_invalid_bodies") is None:
            assert emu.schema_violations == [], "a request body broke the official incident.io schema"


@pytest.fixture
def sleeps() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def client(emulator: Emulator, sleeps: FakeSleep) -> Iterator[IncidentIoClient]:
    with IncidentIoClient(API_KEY, emulator.base_url, retry=FAST_RETRY, sleep=sleeps, timeout=5.0) as c:
        yield c


@pytest.fixture
def source_payload() -> Callable[..., dict]:
    def make(name: str = "Alertmanager (Production)", *, source_type: str = "alertmanager", attr_id: str | None = None):
        attributes = []
        if attr_id is not None:
            attributes.append(
                {
                    "alert_attribute_id": attr_id,
                    "binding": {"value": {"reference": "alert.metadata.severity"}, "merge_strategy": "first_wins"},
                }
            )
        return {
            "name": name,
            "source_type": source_type,
            "template": {
                "title": {"reference": "alert.title"},
                "description": {"literal": SUMMARY_DOC},
                "attributes": attributes,
                "expressions": [],
            },
        }

    return make


@pytest.fixture
def seeded(emulator: Emulator, client: IncidentIoClient, source_payload: Callable[..., dict]) -> Seeded:
    severity = emulator.add_alert_attribute("severity")
    team = emulator.add_alert_attribute("team", type='CatalogEntry["01TEAMTYPE0000000000000000"]')
    source = client.create_alert_source(source_payload(attr_id=severity))
    return Seeded(source["id"], emulator.add_escalation_path("Engineering On-Call"), severity, team)


@pytest.fixture
def route_payload(seeded: Seeded) -> Callable[..., dict]:
    """A valid ``AlertRoutesCreatePayloadV2`` exercising every normalisation the server applies."""

    def make(name: str = "Production Alerts", *, channel: str = "C0ALERTS01") -> dict:
        return {
            "name": name,
            "enabled": True,
            "is_private": False,
            "alert_sources": [
                {
                    "alert_source_id": seeded.source_id,
                    "condition_groups": [
                        {
                            "conditions": [
                                {
                                    "subject": f"alert.attributes.{seeded.severity_attr}",
                                    "operation": "one_of",
                                    "param_bindings": [{"array_value": [{"literal": "critical"}, {"literal": "page"}]}],
                                },
                                {
                                    "subject": f"alert.attributes.{seeded.team_attr}",
                                    "operation": "contains",
                                    "param_bindings": [{"value": {"literal": "payments"}}],
                                },
                            ]
                        }
                    ],
                }
            ],
            "condition_groups": [
                {
                    "conditions": [
                        {
                            "subject": "alert.title",
                            "operation": "one_of",
                            "param_bindings": [{"array_value": [{"literal": "Boom"}]}],
                        }
                    ]
                }
            ],
            "expressions": [
                {
                    "label": "Parsed team",
                    "reference": "a_parsed",
                    "root_reference": "alert",
                    "operations": [
                        {
                            "operation_type": "parse",
                            "parse": {"source": "$.labels.team", "returns": {"type": "String", "array": False}},
                        }
                    ],
                },
                {
                    "label": "Team",
                    "reference": "b_team",
                    "root_reference": f"alert.attributes.{seeded.team_attr}",
                    "operations": [{"operation_type": "navigate", "navigate": {"reference": "catalog_attribute"}}],
                },
            ],
            "channel_config": [
                {
                    "condition_groups": [],
                    "slack_targets": {
                        "binding": {"array_value": [{"literal": channel}]},
                        "channel_visibility": "public",
                    },
                }
            ],
            "escalation_config": {
                "auto_cancel_escalations": True,
                "escalation_targets": [{"escalation_paths": {"array_value": [{"literal": seeded.path_id}]}}],
            },
            "incident_config": {
                "enabled": True,
                "auto_decline_enabled": False,
                "condition_groups": [],
                "defer_time_seconds": 0,
                "grouping_keys": [],
                "grouping_window_seconds": 0,
            },
            "incident_template": {
                "name": {"autogenerated": True},
                "summary": {"autogenerated": False, "binding": {"value": {"literal": SUMMARY_DOC}}},
            },
        }

    return make
