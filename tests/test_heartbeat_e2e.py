"""The dead man's switch, for real: a real Alertmanager runs the configuration `render
--alertmanager-config` prints (the secret mount moved to a temp directory), its Watchdog alert
pings the heartbeat the providers created in the emulator, and when that Alertmanager stops, the
emulator raises the missed-heartbeat alert and routes it to the paging route.

Outside CI, where Alertmanager is not installed, the `alertmanager_bin` fixture skips with the
command that installs it; in CI (``CI`` set) a missing Alertmanager fails the test.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import yaml

from components import validate
from components.compile import compile_stack, delivered
from components.incidentio.emulator import Emulator
from tests.support.alertmanager import (
    AlertmanagerProcess,
    check_config,
    deliver,
    find_amtool,
    remap_secret_paths,
    wait_until,
)
from tests.support.cli import invoke
from tests.support.deploy import deploy

pytestmark = pytest.mark.alertmanager

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "tests" / "data" / "stacks" / "heartbeat"
HEARTBEAT = "alertmanager-heartbeat"
API_KEY = "heartbeat-e2e-api-key"
FOREVER = "2999-01-01T00:00:00Z"  # the Watchdog never ends (Prometheus: `vector(1)`)


def test_the_watchdog_pings_the_heartbeat_and_a_stopped_alertmanager_pages(
    alertmanager_bin: str, tmp_path: Path
) -> None:
    stack, _ = validate.load_stack(STACKS / "Pulumi.development.yaml")
    compiled = compile_stack(stack)

    # 1. What `render --alertmanager-config` prints is one document amtool accepts as it is.
    rendered = invoke(["render", "development", "--stacks-dir", str(STACKS), "--alertmanager-config", "-f", "yaml"])
    assert rendered.exit_code == 0, rendered.output
    as_printed = tmp_path / "rendered.yml"
    as_printed.write_text(rendered.stdout)
    amtool = find_amtool(alertmanager_bin)
    assert amtool, "amtool is installed with Alertmanager"
    checked = check_config(as_printed, amtool)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with Emulator(API_KEY) as emulator:
        # 2. The providers create the sources and routes; the ping URL and token reach the files
        #    the receiver reads as the AWS secret and ExternalSecret would put them there.
        deployed = deploy(stack, emulator, API_KEY)
        heartbeat_id = deployed.sources[HEARTBEAT]["id"]
        ping_url = deployed.sources[HEARTBEAT]["heartbeat_ping_url"]
        assert ping_url == f"{emulator.base_url}/v2/heartbeat/{heartbeat_id}/ping"
        secrets_root = tmp_path / "secrets"
        for source in delivered(stack):
            deliver(compiled, source.key, deployed.sources[source.key], secrets_root)
        config = tmp_path / "alertmanager.yml"
        config.write_text(yaml.safe_dump(remap_secret_paths(yaml.safe_load(rendered.stdout), secrets_root)))

        def pings() -> list[float]:
            return [at for source_id, at in list(emulator.heartbeat_pings) if source_id == heartbeat_id]

        def missed() -> list[dict]:
            return [a for a in emulator.routed_alerts() if a["alert_source_id"] == heartbeat_id]

        with AlertmanagerProcess(config, tmp_path / "am", binary=alertmanager_bin) as am:
            # 3. The always-firing Watchdog pings the heartbeat (authenticated: the emulator counts
            #    only pings with the source token), about once per repeatInterval (1s).
            am.post_alerts([{"labels": {"alertname": "Watchdog", "severity": "none"}, "endsAt": FOREVER}])
            wait_until(lambda: len(pings()) >= 4, timeout=30, message="four Watchdog pings")
            at = pings()
            gaps = [b - a for a, b in itertools.pairwise(at)]
            assert max(gaps) < 3, f"pings must come more often than the 3s interval: {gaps}"
            assert missed() == [], "a healthy Alertmanager raises no missed-heartbeat alert"
            watchdog_at_incident_io = [
                e
                for e in emulator.alert_events
                if any(a["labels"].get("alertname") == "Watchdog" for a in e.body["alerts"])
            ]
            assert watchdog_at_incident_io == [], "the Watchdog goes to the heartbeat only, never to the alert source"
        stopped = time.time()

        # 4. Alertmanager is gone: no ping for interval + grace (4s), and the heartbeat pages.
        (alert,) = wait_until(missed, timeout=30, message="the missed-heartbeat alert")
        assert [r["name"] for r in alert["routes"]] == ["Alertmanager Silent"]
        assert [deployed.escalation_paths[i] for i in alert["escalation_path_ids"]] == ["Engineering On-Call"]
        assert alert["slack_channel_ids"] == [stack.slack_channel_ids["#alerts"]]
        assert alert["title"] == "Heartbeat missed: Alertmanager heartbeat (Development)"
        assert all(at <= stopped for at in pings()), "no ping after Alertmanager stopped"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_committed_stacks_alertmanager_config_passes_amtool_as_printed(
    alertmanager_bin: str, tmp_path: Path, stack: str
) -> None:
    rendered = invoke(["render", stack, "--alertmanager-config", "-f", "yaml"])
    assert rendered.exit_code == 0, rendered.output
    config = yaml.safe_load(rendered.stdout)
    assert [r["receiver"] for r in config["route"]["routes"]] == ["heartbeat-alertmanager-heartbeat"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(rendered.stdout)
    checked = check_config(path, find_amtool(alertmanager_bin))
    assert checked.returncode == 0, checked.stdout + checked.stderr
