"""The dead man's switch, offline: a heartbeat source declared in a stack file is validated, compiled
(the incident.io payload, the delivery of its ping URL, the Alertmanager Watchdog route and
receiver), shown by plan, docs and route, registered by the program with its ping URL secret, and
modelled by the emulator (ping endpoint; an alert on the source when pings stop).

The real Alertmanager side is tests/test_heartbeat_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components import docs, validate
from components.compile import alertmanager_config, compile_stack
from components.describe import duration_ms
from components.incidentio.client import IncidentIoClient
from components.incidentio.emulator import Emulator
from components.model import Stack
from components.schemas import validate_api_body
from tests.support.cli import invoke

offline = pytest.mark.usefixtures("offline_from_repo_root")  # the commands that must not touch a network

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "tests" / "data" / "stacks" / "heartbeat"
STACK_FILE = STACKS / "Pulumi.development.yaml"
KEY = "alertmanager-heartbeat"
API_KEY = "heartbeat-api-key"


def load() -> Stack:
    stack, warnings = validate.load_stack(STACK_FILE)
    assert warnings == []
    return stack


def problems_after(old: str, new: str) -> list[str]:
    """The stack file's problems once `old` (which must occur once) reads `new`."""
    text = STACK_FILE.read_text()
    assert text.count(old) == 1, old
    problems, _ = validate.check_text(text.replace(old, new), STACK_FILE, siblings=False)
    return [str(p) for p in problems]


# -- validate -------------------------------------------------------------------------------------


def test_the_heartbeat_stack_is_valid_and_its_model_holds_the_timing() -> None:
    heartbeat = load().source(KEY).heartbeat
    assert heartbeat is not None
    assert (heartbeat.interval_seconds, heartbeat.grace_seconds, heartbeat.repeat_seconds) == (3, 1, 1)
    assert heartbeat.alertname == "Watchdog"


def test_a_repeat_interval_not_shorter_than_the_interval_is_refused_at_its_line() -> None:
    assert problems_after("repeatInterval: 1s", "repeatInterval: 3s") == [
        f"{validate.display_name(STACK_FILE)}:28:25: $.sources.alertmanager-heartbeat"
        ".heartbeat.repeatInterval: 3s must be shorter than the heartbeat's interval (3s): otherwise a healthy"
        " Alertmanager misses pings and pages"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("interval: 3s", "interval: 49h", "heartbeat.interval: must be between 1s and 48h"),
        ("grace: 1s", "grace: 47h59m58s", "heartbeat.grace: interval + grace must not exceed 48h"),
        ("repeatInterval: 1s", "repeatInterval: 0s", "heartbeat.repeatInterval: must be at least 1s"),
        ("interval: 3s", "interval: soon", "heartbeat.interval: must be a duration like 1h, 30m or 1h30m"),
        (
            "      heartbeat:\n        interval: 3s",
            "      heartbeat:\n        intervall: 3s",
            "unknown key 'intervall'",
        ),
        ("type: heartbeat", "type: http", "alertmanager-heartbeat.heartbeat: only a source of type heartbeat"),
        (
            "        awsSecret: dev/alertmanager-heartbeat\n        kubernetesSecret: alertmanager-heartbeat\n",
            "        awsSecret: dev/alertmanager-heartbeat\n        kubernetesSecret: alertmanager-heartbeat\n"
            "      title: {literal: Silence}\n",
            "alertmanager-heartbeat.title: incident.io sets a heartbeat alert's title itself",
        ),
    ],
)
def test_heartbeat_mistakes_are_errors_naming_the_field(old: str, new: str, expected: str) -> None:
    problems = problems_after(old, new)
    assert any(expected in p for p in problems), problems
    assert all(": warning: " not in p for p in problems if expected in p)


def test_a_heartbeat_needs_its_options_and_a_delivered_one_its_repeat_interval() -> None:
    without_options = problems_after(
        "      heartbeat:\n        interval: 3s\n        grace: 1s\n        repeatInterval: 1s\n", ""
    )
    assert any("a heartbeat source needs heartbeat: {interval, repeatInterval}" in p for p in without_options)
    without_repeat = problems_after("        repeatInterval: 1s\n", "")
    assert any("a delivered heartbeat needs repeatInterval" in p for p in without_repeat), without_repeat


def test_a_heartbeat_without_delivery_is_pinged_from_elsewhere_with_a_warning() -> None:
    text = STACK_FILE.read_text()
    delivery = "      delivery:\n        awsSecret: dev/alertmanager-heartbeat\n"
    delivery += "        kubernetesSecret: alertmanager-heartbeat\n"
    # interval 1s: a repeatInterval that is not declared is not checked against it
    pinged_elsewhere = text.replace(delivery, "").replace("        repeatInterval: 1s\n", "")
    problems, stack = validate.check_text(
        pinged_elsewhere.replace("interval: 3s", "interval: 1s"), STACK_FILE, siblings=False
    )
    assert [p.severity for p in problems] == ["warning"]
    assert "no Alertmanager of this stack pings it" in problems[0].message
    assert stack is not None
    config = alertmanager_config(stack)
    assert config["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname="Watchdog"']}]
    assert [r["name"] for r in config["receivers"]] == ["null", "incident-io-alertmanager"]


def test_a_heartbeat_that_pages_nobody_is_a_warning() -> None:
    nobody = problems_after("        alertmanager-heartbeat: {}\n", "        alertmanager: {}\n")
    assert any("warning: no route takes the heartbeat 'alertmanager-heartbeat'" in p for p in nobody), nobody
    slack_only = problems_after("      escalate: [Engineering On-Call]\n", "")
    assert any("warning: no route escalates the heartbeat" in p for p in slack_only), slack_only


# -- compile --------------------------------------------------------------------------------------


def test_the_source_payload_carries_the_heartbeat_options_and_leaves_title_and_description_empty() -> None:
    compiled = compile_stack(load())
    (item,) = [s for s in compiled["incident_io"]["alert_sources"] if s["key"] == KEY]
    payload = item["payload"]
    assert payload["source_type"] == "heartbeat"
    assert payload["heartbeat_options"] == {"interval_seconds": 3, "grace_period_seconds": 1, "failure_threshold": 1}
    assert (payload["template"]["title"], payload["template"]["description"]) == ({}, {})
    assert validate_api_body("AlertSourcesCreatePayloadV2", payload) == []


def test_the_ping_url_and_token_are_delivered_like_a_source_token() -> None:
    compiled = compile_stack(load())
    (secret,) = [s for s in compiled["aws"]["secrets"] if s["source"] == KEY]
    assert secret["secret_string"] == {
        "alert_source_token": f"${{alert_source:{KEY}.secret_token}}",
        "alert_source_url": f"${{alert_source:{KEY}.heartbeat_ping_url}}",
    }
    values = compiled["alertmanager"]["helm_values"]["alertmanager"]
    assert values["alertmanagerSpec"]["secrets"] == ["alertmanager-heartbeat", "alertmanager-incidentio"]
    assert values["config"] == compiled["alertmanager"]["config"]


def test_the_alertmanager_config_sends_the_watchdog_to_the_ping_url_every_repeat_interval() -> None:
    config = compile_stack(load())["alertmanager"]["config"]
    assert config["route"]["receiver"] == "incident-io-alertmanager"
    (watchdog,) = config["route"]["routes"]
    # Alertmanager re-sends at the first group_interval tick after repeat_interval: half of 1s each.
    assert watchdog == {
        "receiver": f"heartbeat-{KEY}",
        "matchers": ['alertname="Watchdog"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "500ms",
        "repeat_interval": "500ms",
        "continue": False,
    }
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers[f"heartbeat-{KEY}"]["webhook_configs"] == [
        {
            "url_file": "/etc/alertmanager/secrets/alertmanager-heartbeat/url",
            "http_config": {
                "authorization": {
                    "type": "Bearer",
                    "credentials_file": "/etc/alertmanager/secrets/alertmanager-heartbeat/token",
                }
            },
            "send_resolved": False,
        }
    ]
    assert set(receivers) == {"null", "incident-io-alertmanager", f"heartbeat-{KEY}"}


def test_without_a_heartbeat_the_watchdog_goes_nowhere_as_in_kube_prometheus_stack() -> None:
    without, _ = validate.load_stack(ROOT / "tests" / "data" / "stacks" / "valid" / "Pulumi.full-featured.yaml")
    config = alertmanager_config(without)
    assert config["route"] == {
        "receiver": "incident-io-alertmanager",
        "routes": [{"receiver": "null", "matchers": ['alertname="Watchdog"']}],
    }
    assert config["receivers"][0] == {"name": "null"}


@pytest.mark.parametrize(
    ("milliseconds", "text"), [(0, "0s"), (500, "500ms"), (30_000, "30s"), (90_000, "1m30s"), (3_600_500, "1h500ms")]
)
def test_alertmanager_durations(milliseconds: int, text: str) -> None:
    assert duration_ms(milliseconds) == text


# -- what users see: render, plan, route, docs ---------------------------------------------------


@offline
def test_render_alertmanager_config_prints_that_one_document() -> None:
    result = invoke(["render", "development", "--stacks-dir", str(STACKS), "--alertmanager-config", "-f", "yaml"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == compile_stack(load())["alertmanager"]["config"]


@offline
def test_plan_shows_the_heartbeat_and_who_hears_of_a_miss() -> None:
    text = invoke(["plan", "development", "--stacks-dir", str(STACKS)])
    assert text.exit_code == 0, text.output
    assert "Heartbeats (dead man's switches)" in text.stdout
    assert "a ping every 3s (+1s grace)" in text.stdout
    document = json.loads(invoke(["plan", "development", "--stacks-dir", str(STACKS), "-f", "json"]).stdout)
    assert document["heartbeats"] == [
        {
            "source": KEY,
            "interval_seconds": 3,
            "grace_seconds": 1,
            "alertname": "Watchdog",
            "repeat_seconds": 1,
            "routes": ["Alertmanager Silent"],
        }
    ]
    (delivery,) = [d for d in document["delivery"] if d["source"] == KEY]
    assert delivery["alertmanager_receiver"] == f"heartbeat-{KEY}"


@offline
def test_route_shows_where_a_missed_heartbeat_goes() -> None:
    result = invoke(["route", "development", "--stacks-dir", str(STACKS), "--source", KEY, "-f", "json"])
    assert result.exit_code == 0, result.output
    (document,) = json.loads(result.stdout)
    assert [r["name"] for r in document["routes"]] == ["Alertmanager Silent"]
    assert document["pages"] == ["Engineering On-Call"]
    text = invoke(["route", "development", "--stacks-dir", str(STACKS), "--source", KEY]).stdout
    assert "its heartbeat was missed, no Watchdog ping in time" in text


@offline
def test_docs_list_the_heartbeat_with_whom_it_pages() -> None:
    text = docs.render([load()])
    assert (
        "| Alertmanager heartbeat (Development) | a ping every 3s (+1s grace) | Alertmanager's Watchdog alert, every 1s"
        " | Alertmanager Silent | Engineering On-Call | #alerts |"
    ) in text


# -- the emulator's heartbeat ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def heartbeat_payload() -> dict[str, Any]:
    (item,) = [s for s in compile_stack(load())["incident_io"]["alert_sources"] if s["key"] == KEY]
    return item["payload"]


def listed_alerts(emulator: Emulator) -> list[dict[str, Any]]:
    """`GET /v2/alerts`, as incident.io lists them."""
    reply = httpx.get(
        f"{emulator.base_url}/v2/alerts", params={"page_size": 25}, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["alerts"])


def test_emulator_pings_authenticate_with_the_source_token() -> None:
    with Emulator(API_KEY) as emulator, IncidentIoClient(API_KEY, emulator.base_url) as client:
        source = client.create_alert_source(heartbeat_payload())
        ping_url = source["heartbeat_options"]["ping_url"]
        assert ping_url == f"{emulator.base_url}/v2/heartbeat/{source['id']}/ping"
        token = source["secret_token"]
        assert httpx.post(ping_url, headers={"Authorization": f"Bearer {token}"}).status_code == 204
        assert httpx.get(ping_url, params={"token": token}).status_code == 204
        assert httpx.post(ping_url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(ping_url).status_code == 401
        assert httpx.post(f"{emulator.base_url}/v2/heartbeat/01NOSUCHSOURCE/ping").status_code == 404
        assert [source_id for source_id, _ in emulator.heartbeat_pings] == [source["id"], source["id"]]


def test_emulator_raises_a_routed_alert_when_pings_stop_and_resolves_it_on_the_next_ping() -> None:
    clock = Clock()
    with Emulator(API_KEY, clock=clock) as emulator, IncidentIoClient(API_KEY, emulator.base_url) as client:
        path_id = emulator.add_escalation_path("Engineering On-Call")
        source = client.create_alert_source(heartbeat_payload())
        route = compile_stack(load())["incident_io"]["alert_routes"][1]["payload"]
        route = json.loads(
            json.dumps(route)
            .replace(f"${{alert_source:{KEY}}}", source["id"])
            .replace("${escalation_path:Engineering On-Call}", path_id)
        )
        client.create_alert_route(route)
        ping = {"Authorization": f"Bearer {source['secret_token']}"}

        clock.now += 4  # interval 3s + grace 1s since creation: late, not yet missed
        emulator.check_heartbeats()
        assert emulator.routed_alerts() == []
        assert httpx.post(source["heartbeat_options"]["ping_url"], headers=ping).status_code == 204

        clock.now += 4.5  # 4.5s without a ping: missed
        emulator.check_heartbeats()
        emulator.check_heartbeats()  # one alert per miss, however often it is checked
        (alert,) = emulator.routed_alerts()
        assert alert["alert_source_id"] == source["id"]
        assert alert["title"] == "Heartbeat missed: Alertmanager heartbeat (Development)"
        assert [r["name"] for r in alert["routes"]] == ["Alertmanager Silent"]
        assert alert["escalation_path_ids"] == [path_id]
        (listed,) = listed_alerts(emulator)
        assert listed["status"] == "firing"

        assert httpx.post(source["heartbeat_options"]["ping_url"], headers=ping).status_code == 204
        (listed,) = listed_alerts(emulator)
        assert listed["status"] == "resolved"
