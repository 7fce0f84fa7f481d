"""The committed staging stack's Alertmanager wiring, run for real: token and URL from incident.io
(the emulator) through the compiled secret and ExternalSecret into files, read by a real
Alertmanager (>= 0.29) whose receiver is exactly the compiled one; then a token rotation.

Outside CI, where Alertmanager is not installed, the `alertmanager_bin` fixture skips with the
command that installs it; in CI (``CI`` set) a missing Alertmanager fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import validate
from components.compile import compile_stack
from components.incidentio.client import IncidentIoClient
from components.incidentio.emulator import AlertEvent, Emulator
from components.incidentio.references import ALERT_ATTRIBUTE, find, substitute
from tests.support.alertmanager import (
    AlertmanagerProcess,
    check_config,
    deliver,
    find_amtool,
    remap_secret_paths,
    wait_until,
    write_alertmanager_config,
)

pytestmark = pytest.mark.alertmanager

ROOT = Path(__file__).resolve().parent.parent
STAGING = ROOT / "stacks" / "Pulumi.staging.yaml"
SOURCE = "alertmanager"  # the staging source with `delivery`
API_KEY = "e2e-api-key"


@pytest.fixture
def compiled() -> dict[str, Any]:
    stack, _warnings = validate.load_stack(STAGING)
    return compile_stack(stack)


@pytest.fixture
def emulator() -> Any:
    with Emulator(API_KEY) as emu:
        yield emu
        assert emu.schema_violations == [], "a request body broke the official incident.io schema"


def section(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    (found,) = [i for i in items if all(i.get(k) == v for k, v in match.items())]
    return found


def events_for(emulator: Emulator, alertname: str) -> list[AlertEvent]:
    return [
        e
        for e in list(emulator.alert_events)
        if any(a.get("labels", {}).get("alertname") == alertname for a in e.body.get("alerts", []))
    ]


def posts_to(emulator: Emulator, path: str) -> int:
    return sum(1 for method, p, _query in list(emulator.requests) if method == "POST" and p == path)


def authorization(event: AlertEvent) -> str:
    return {k.lower(): v for k, v in event.headers.items()}["authorization"]


def test_compiled_receiver_delivers_to_incident_io_and_follows_a_token_rotation(
    alertmanager_bin: str, tmp_path: Path, compiled: dict[str, Any], emulator: Emulator
) -> None:
    # 1. The staging Alertmanager source, created through the API from its compiled payload.
    payload = section(compiled["incident_io"]["alert_sources"], key=SOURCE)["payload"]
    assert find(payload) == {(ALERT_ATTRIBUTE, "severity")}, "the attribute is resolved at deploy time"
    payload = substitute(payload, {(ALERT_ATTRIBUTE, "severity"): emulator.add_alert_attribute("severity")})
    with IncidentIoClient(API_KEY, emulator.base_url) as client:
        source = client.create_alert_source(payload)
    source_path = f"/v2/alert_events/alertmanager/{source['id']}"
    assert source["alert_events_url"] == emulator.base_url + source_path
    first_token = source["secret_token"]

    # 2. Token and URL delivered into the files the compiled receiver reads.
    secrets_root = tmp_path / "secrets"
    directory = deliver(compiled, SOURCE, source, secrets_root)
    assert (directory / "token").read_text() == first_token
    assert (directory / "url").read_text() == source["alert_events_url"]
    receivers = remap_secret_paths(compiled["alertmanager"]["receivers"], secrets_root)
    config = write_alertmanager_config(tmp_path / "alertmanager.yml", receivers)
    assert first_token not in config.read_text(), "the config holds file paths, never the token"

    # 3. amtool accepts the compiled receiver.
    amtool = find_amtool(alertmanager_bin)
    assert amtool, "amtool is installed with Alertmanager"
    checked = check_config(config, amtool)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with AlertmanagerProcess(config, tmp_path / "am", binary=alertmanager_bin) as am:
        # 4. An alert reaches the source's endpoint with the delivered token.
        am.post_alerts([{"labels": {"alertname": "E2EFirst", "severity": "critical"}}])
        (first,) = wait_until(lambda: events_for(emulator, "E2EFirst"), message="E2EFirst at incident.io")
        assert (first.source_type, first.source_id) == ("alertmanager", source["id"])
        assert posts_to(emulator, source_path) == 1
        assert authorization(first) == f"Bearer {first_token}"
        assert first_token not in json.dumps(first.body), "the token travels only in the header"
        assert first.body["alerts"][0]["labels"] == {"alertname": "E2EFirst", "severity": "critical"}

        # 5. Rotated in incident.io but not yet delivered: the old token is refused (401).
        second_token = emulator.rotate_source_token(source["id"])
        am.post_alerts([{"labels": {"alertname": "E2EStale", "severity": "critical"}}])
        wait_until(lambda: posts_to(emulator, source_path) >= 2, message="the stale-token attempt")
        assert events_for(emulator, "E2EStale") == []

        # 6. Delivered again (new secret version -> ESO -> files) and reloaded, as the config
        #    reloader does when the mounted secret changes: the new token is used, no restart.
        deliver(compiled, SOURCE, {**source, "secret_token": second_token}, secrets_root)
        am.reload()
        am.post_alerts([{"labels": {"alertname": "E2ESecond", "severity": "warning"}}])
        (second,) = wait_until(lambda: events_for(emulator, "E2ESecond"), message="E2ESecond at incident.io")
        assert second.source_id == source["id"]
        assert authorization(second) == f"Bearer {second_token}"
