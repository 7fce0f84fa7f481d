"""Every routing test of the committed stacks, for real: the alert goes through a real Alertmanager
(for Alertmanager sources) into the emulator holding what the providers created for the stack, and
the emulator's routing equals both the simulator's prediction and the test's expectation.

Alertmanager alerts are POSTed to its ``/api/v2/alerts`` and reach the emulator through the
compiled ``incidentio_configs`` receiver with the source's token; alerts of other HTTP sources are
POSTed to the source's ``alert_events_url`` with its token, as their senders do; sources that
receive no HTTP events (email, dashboards) are handed to the emulator directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from components import routing, simulate, validate
from components.incidentio.emulator import Emulator
from components.model import Stack
from tests.support.alertmanager import (
    AlertmanagerProcess,
    deliver,
    remap_secret_paths,
    wait_until,
    write_alertmanager_config,
)
from tests.support.deploy import Deployed, deploy

pytestmark = pytest.mark.alertmanager

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "routing-e2e-api-key"
# Alerts that do not arrive over HTTP; a heartbeat's is raised by incident.io itself on a missed ping.
_NON_HTTP = ("email", "status_page_views", "incoming_calls", "jira", "github_issue", "heartbeat")


def send(case: simulate.RoutingCase, index: int, stack: Stack, deployed: Deployed, emulator: Emulator, am: Any) -> None:
    source = stack.source(case.alert.source)
    outputs = deployed.sources[source.key]
    labels = {k: v for k, v in case.alert.labels if v is not None}
    if source.type == "alertmanager" and case.alert.payload is not None:  # the labels and annotations given
        payload = case.alert.payload
        am.post_alerts([{"labels": payload.get("labels", {}), "annotations": payload.get("annotations", {})}])
    elif source.type == "alertmanager":
        alert: dict[str, Any] = {"labels": {"alertname": f"RoutingCase{index}", **labels}}
        if case.alert.title is not None:
            alert["annotations"] = {"summary": case.alert.title}
        am.post_alerts([alert])
    elif source.type in _NON_HTTP:
        emulator.receive_alert(outputs["id"], case.alert.body(source.type))
    else:
        headers = {"Authorization": f"Bearer {outputs['secret_token']}"}
        reply = httpx.post(outputs["alert_events_url"], json=case.alert.body(source.type), headers=headers, timeout=10)
        assert reply.status_code == 202, reply.text


@pytest.mark.parametrize("stack_name", ["staging", "production"])
def test_every_routing_test_routes_alike_in_alertmanager_the_emulator_and_the_simulator(
    alertmanager_bin: str, tmp_path: Path, stack_name: str
) -> None:
    stack, _ = validate.load_stack(ROOT / "stacks" / f"Pulumi.{stack_name}.yaml")
    cases = simulate.load_routing_tests(simulate.routing_tests_path(stack), stack)
    channel_names = {channel_id: name for name, channel_id in stack.slack_channels}
    with Emulator(API_KEY) as emulator:
        deployed = deploy(stack, emulator, API_KEY)
        compiled = simulate.compiler.compile_stack(stack)
        for source in simulate.compiler.delivered(stack):
            deliver(compiled, source.key, deployed.sources[source.key], tmp_path / "secrets")
        receivers = remap_secret_paths(simulate.compiler.alertmanager_receivers(stack), tmp_path / "secrets")
        config = write_alertmanager_config(tmp_path / "alertmanager.yml", receivers)
        with AlertmanagerProcess(config, tmp_path / "am", binary=alertmanager_bin) as am:
            for index, case in enumerate(cases):
                before = len(emulator.routed_alerts())
                send(case, index, stack, deployed, emulator, am)
                arrived = wait_until(lambda n=before: emulator.routed_alerts()[n:], message=f"{case.name!r} routed")
                (got,) = arrived
                if stack.source(case.alert.source).type == "alertmanager":
                    (event,) = [e for e in emulator.alert_events if e.body.get("alerts", [{}])[0] == got["payload"]]
                    assert event.body["version"] == "1", "incidentio_configs posts webhook version 1"
                    assert (
                        event.headers["authorization"]
                        == f"Bearer {deployed.sources[case.alert.source]['secret_token']}"
                    )

                # The emulator (what incident.io would do with what the providers created) ...
                routes = sorted(r["name"] for r in got["routes"])
                pages = sorted(deployed.escalation_paths[i] for i in got["escalation_path_ids"])
                slack = sorted(channel_names[i] for i in got["slack_channel_ids"])
                assert got["undecided_routes"] == [], case.name
                # ... equals the simulator's prediction for the very payload that arrived ...
                predicted = simulate.simulate(stack, simulate.Alert(case.alert.source, payload=got["payload"]))
                assert routes == sorted(r.name for r in predicted.matched), case.name
                assert pages == sorted(predicted.pages), case.name
                assert slack == sorted(predicted.slack), case.name
                assert got["dropped"] is predicted.dropped, case.name
                # ... and the routing test's expectation.
                assert routes == sorted(case.routes), case.name
                if case.escalate is not None:
                    assert pages == sorted(case.escalate), case.name
                if case.slack is not None:
                    assert slack == sorted(case.slack), case.name
    assert emulator.schema_violations == []


def test_the_emulator_lists_alerts_in_the_official_shape(tmp_path: Path) -> None:
    """`GET /v2/alerts` answers `AlertsListResultV2`, attributes evaluated from the bindings."""
    from components.schemas import validate_api_body

    stack, _ = validate.load_stack(ROOT / "stacks" / "Pulumi.production.yaml")
    with Emulator(API_KEY) as emulator:
        deployed = deploy(stack, emulator, API_KEY)
        source = deployed.sources["alertmanager"]
        body = {
            "version": "1",
            "status": "firing",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "A", "severity": "critical"}, "fingerprint": "f1"},
                {"status": "firing", "labels": {"alertname": "B", "severity": "info"}, "fingerprint": "f2"},
            ],
            "commonLabels": {},
            "groupLabels": {},
        }
        headers = {"Authorization": f"Bearer {source['secret_token']}"}
        assert httpx.post(source["alert_events_url"], json=body, headers=headers).status_code == 202
        listed = httpx.get(
            f"{emulator.base_url}/v2/alerts", params={"page_size": 25}, headers={"Authorization": f"Bearer {API_KEY}"}
        ).json()
        assert validate_api_body("AlertsListResultV2", listed) == []
        by_title = {a["title"]: a for a in listed["alerts"]}
        assert [(x["attribute"]["name"], x["value"]["literal"]) for x in by_title["A"]["attributes"]] == [
            ("severity", "critical")
        ]
        routed = {a["title"]: a for a in emulator.routed_alerts()}
        assert [r["name"] for r in routed["A"]["routes"]] == ["Production Alerts"]
        assert routed["B"]["dropped"] is True  # severity=info: the runbook's warning
        assert routing.split_event("alertmanager", body) == [a for a in body["alerts"]]
