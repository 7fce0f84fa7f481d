"""Shared fixtures: a started emulator on 127.0.0.1, a client pointed at it, valid payloads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.emulator import Emulator
from tests.support.payloads import condition, parse_expression, route_body

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
        return route_body(
            name,
            seeded.source_id,
            source_conditions=[
                [
                    condition(f"alert.attributes.{seeded.severity_attr}", "one_of", "critical", "page"),
                    condition(f"alert.attributes.{seeded.team_attr}", "contains", "payments"),
                ]
            ],
            conditions=[[condition("alert.title", "one_of", "Boom")]],
            expressions=[
                parse_expression("a_parsed", "$.labels.team", label="Parsed team"),
                {
                    "label": "Team",
                    "reference": "b_team",
                    "root_reference": f"alert.attributes.{seeded.team_attr}",
                    "operations": [{"operation_type": "navigate", "navigate": {"reference": "catalog_attribute"}}],
                },
            ],
            slack=[channel],
            escalation_paths=[seeded.path_id],
            auto_cancel=True,
            incident=True,
            summary=SUMMARY_DOC,
        )

    return make
