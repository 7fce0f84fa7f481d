"""Property: for generated stacks and alerts, the simulator (offline, over the compiled stack) and
the emulator (over what the providers created, reached by HTTP like a sender) route alike.

What this guards: the compiler, the providers' name resolution, the emulator's server-side
normalisation (``one_of`` stored as ``contains_one_of``, response shapes) and the event path all
keep the meaning the simulator sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import simulate, validate
from components.incidentio.emulator import Emulator
from tests.support.deploy import deploy

API_KEY = "property-api-key"
ATTRIBUTES = {
    "alertmanager": {"severity": "$.labels.severity", "team": "$.labels.team"},
    "uptime": {"region": "$.metadata.region"},
}
VALUES = {"severity": ["critical", "warning", "info"], "team": ["db", "web"], "region": ["eu", "us"]}
PATHS = ["Engineering On-Call", "Database On-Call"]
CHANNELS = {"#alerts": "C0PROPALERTS", "#db": "C0PROPDB"}


@st.composite
def conditions(draw: st.DrawFn, source: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in draw(st.lists(st.sampled_from(sorted(ATTRIBUTES[source])), unique=True, max_size=2)):
        found[attribute] = draw(
            st.one_of(
                st.sampled_from(VALUES[attribute]),
                st.lists(st.sampled_from(VALUES[attribute]), min_size=1, max_size=2, unique=True),
                st.sampled_from([{"operation": "is_set"}, {"operation": "is_blank"}]),
            )
        )
    return found


@st.composite
def routes(draw: st.DrawFn) -> list[dict[str, Any]]:
    found = []
    for index in range(draw(st.integers(1, 4))):
        keys = draw(st.lists(st.sampled_from(sorted(ATTRIBUTES)), min_size=1, unique=True))
        route: dict[str, Any] = {"name": f"Route {index}", "sources": {k: draw(conditions(k)) for k in keys}}
        if draw(st.booleans()):
            route["when"] = {"title": {"operation": "contains", "values": ["disk"]}}
        if not draw(st.integers(0, 4)):
            route["enabled"] = False
        route["escalate"] = draw(st.lists(st.sampled_from(PATHS), unique=True, max_size=2))
        route["slack"] = draw(st.lists(st.sampled_from(sorted(CHANNELS)), unique=True, max_size=2))
        found.append(route)
    return found


def stack_text(route_list: list[dict[str, Any]]) -> str:
    config = {
        "aws:region": "us-east-1",
        "alerting:environment": "development",
        "alerting:guards": {"awsAccountId": "333333333333", "kubeContext": "dev"},
        "alerting:policy": {"paging": True},
        "alerting:incidentio": {"slackChannels": CHANNELS},
        "alerting:sources": {
            "alertmanager": {"name": "Alertmanager", "type": "alertmanager", "attributes": ATTRIBUTES["alertmanager"]},
            "uptime": {"name": "Uptime", "type": "http", "attributes": ATTRIBUTES["uptime"]},
        },
        "alerting:routes": route_list,
    }
    return yaml.safe_dump({"config": config}, sort_keys=False)


alerts = st.tuples(
    st.sampled_from(sorted(ATTRIBUTES)),
    st.fixed_dictionaries({}, optional={name: st.sampled_from([*values, ""]) for name, values in VALUES.items()}),
    st.sampled_from([None, "disk full", "Disk full", "cpu"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route_list=routes(), sent=st.lists(alerts, min_size=1, max_size=4))
def test_simulator_and_emulator_agree(tmp_path_factory: Any, route_list: list[dict], sent: list[tuple]) -> None:
    path = Path(tmp_path_factory.mktemp("property")) / "Pulumi.property.yaml"
    path.write_text(stack_text(route_list))
    stack, _ = validate.load_stack(path)
    with Emulator(API_KEY) as emulator:
        deployed = deploy(stack, emulator, API_KEY)
        channels = {v: k for k, v in CHANNELS.items()}
        for source_key, labels, title in sent:
            source = stack.source(source_key)
            alert = simulate.Alert(source_key, tuple(labels.items()), title)
            outputs = deployed.sources[source_key]
            body = alert.body(source.type)
            if source.type == "alertmanager":  # the group Alertmanager posts
                body = {"version": "1", "status": "firing", "alerts": [body], "commonLabels": {}, "groupLabels": {}}
            headers = {"Authorization": f"Bearer {outputs['secret_token']}"}
            reply = httpx.post(outputs["alert_events_url"], json=body, headers=headers)
            assert reply.status_code == 202
            # A repeat of an alert that is still firing is the same alert (its deduplication key),
            # routed once, when it first arrived.
            [got] = [a for a in emulator.routed_alerts() if a["deduplication_key"] == reply.json()["deduplication_key"]]
            predicted = simulate.simulate(stack, alert)
            assert sorted(r["name"] for r in got["routes"]) == sorted(r.name for r in predicted.matched)
            assert sorted(r["name"] for r in got["undecided_routes"]) == sorted(r.name for r, _ in predicted.undecided)
            assert sorted(deployed.escalation_paths[i] for i in got["escalation_path_ids"]) == sorted(predicted.pages)
            assert sorted(channels[i] for i in got["slack_channel_ids"]) == sorted(predicted.slack)
            assert got["dropped"] is predicted.dropped
        assert emulator.schema_violations == []
