"""`restore` against the emulator: round trip, out-of-band edits, faults, a killed run, prune, the prompt."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from components import backup, restore
from components.errors import OperationError
from components.incidentio.bulk import Organisation, read_organisation
from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.emulator import Emulator, Fault
from components.incidentio.normalise import canonical_route, canonical_source, route_payload_from_response
from components.report.restore import ConsoleView
from tests.support.cli import invoke
from tests.support.incidentio import API_KEY, ROOT, Seeded, minimal_route

PATIENT = RetryPolicy(max_attempts=20, max_total_seconds=3600.0, base_delay=0.5, max_delay=4.0)


@dataclass(frozen=True)
class Org:
    sources: list[str]  # [seeded alertmanager, checkly, email]
    routes: list[str]


@pytest.fixture
def org(client: IncidentIoClient, seeded: Seeded, route_payload: Callable, source_payload: Callable) -> Org:
    checkly = client.create_alert_source(source_payload("Checkly (Production)", source_type="checkly"))["id"]
    email = client.create_alert_source(source_payload("sev0@", source_type="email"))["id"]
    routes = [client.create_alert_route(route_payload(f"Route {i}"))["id"] for i in range(5)]
    routes.append(client.create_alert_route(minimal_route("Checkly Alerts", checkly))["id"])
    routes.append(client.create_alert_route(minimal_route("Email Alerts", email))["id"])
    return Org([seeded.source_id, checkly, email], routes)


@pytest.fixture
def saved(client: IncidentIoClient, org: Org, tmp_path: Path) -> Path:
    directory = tmp_path / "backup"
    backup.backup(client, directory).check()
    return directory


def by_name(org: Organisation) -> tuple[dict, dict]:
    """Canonical sources and routes by name, routes pointing at sources by name: ids may differ."""
    names = {s["id"]: s["name"] for s in org.sources}
    routes = {}
    for route in org.routes:
        body = route_payload_from_response(route)
        for entry in body["alert_sources"]:
            entry["alert_source_id"] = names.get(entry["alert_source_id"], entry["alert_source_id"])
        routes[route["name"]] = canonical_route(body)
    assert len(routes) == len(org.routes), "duplicate route names"
    return {s["name"]: canonical_source(s) for s in org.sources}, routes


def assert_live_matches(client: IncidentIoClient, directory: Path) -> None:
    assert by_name(read_organisation(client)) == by_name(backup.load_backup(directory))


def writes(emulator: Emulator) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in list(emulator.requests) if m in ("POST", "PUT", "DELETE")]


def run_restore(client: IncidentIoClient, directory: Path, **options: object) -> tuple[restore.RestoreReport, str]:
    out = Console(file=io.StringIO(), width=200)
    options.setdefault("confirm", lambda question: True)
    report = restore.restore(client, directory, view=ConsoleView(out, out), **options)  # type: ignore[arg-type]
    return report, out.file.getvalue()  # type: ignore[attr-defined]


def wreck(emulator: Emulator, client: IncidentIoClient, org: Org) -> None:
    """Deleted routes, a deleted source (and so its route), out-of-band edits."""
    client.delete_alert_route(org.routes[0])
    client.delete_alert_route(org.routes[1])
    client.delete_alert_route(org.routes[5])
    client.delete_alert_source(org.sources[1])  # checkly: "Checkly Alerts" must follow it to its new id
    emulator.edit_route_out_of_band(org.routes[2], lambda r: r.update(enabled=False))
    emulator.edit_route_out_of_band(
        org.routes[3],
        lambda r: r["channel_config"][0]["slack_targets"]["binding"].update(array_value=[{"literal": "C0ELSEWHERE"}]),
    )
    emulator.edit_source_out_of_band(org.sources[0], lambda s: s["template"].update(title={"literal": "Boom"}))


def test_round_trip_after_deletions_and_edits(
    emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path
) -> None:
    wreck(emulator, client, org)
    report, shown = run_restore(client, saved)
    report.check()
    assert report.done == {"create": 4, "update": 3}
    assert_live_matches(client, saved)
    assert "recreated alert source 'Checkly (Production)'" in shown
    emulator.reset_log()
    report, shown = run_restore(client, saved)  # twice: the second run changes nothing
    assert "Nothing to restore." in shown and writes(emulator) == [] and not report.done


def test_plan_shows_the_semantic_difference_before_anything_changes(
    emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path
) -> None:
    wreck(emulator, client, org)
    emulator.reset_log()
    _, shown = run_restore(client, saved, dry_run=True)
    assert writes(emulator) == []
    for expected in (
        "│ update │ alert route  │ Route 2",
        "│ update │ alert route  │ Route 3",
        "│ update │ alert source │ Alertmanager (Production)",
        "│ create │ alert source │ Checkly (Production)",
        "│ create │ alert route  │ Checkly Alerts",
        "  enabled\n    incident.io: false\n    backup:      true",
        '  channel_config\n    incident.io: [{"slack_targets":{"binding":{"array_value":[{"literal":"C0ELSEWHERE"}]}',
        '  template.title.literal\n    incident.io: "Boom"\n    backup:      (absent)',
        '  template.title.reference\n    incident.io: (absent)\n    backup:      "alert.title"',
    ):
        assert expected in shown, expected


def test_restore_after_an_out_of_band_edit_puts_the_next_version(
    emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path
) -> None:
    emulator.edit_route_out_of_band(
        org.routes[4], lambda r: r["escalation_config"].update(auto_cancel_escalations=False)
    )
    version = client.get_alert_route(org.routes[4])["version"]
    emulator.reset_log()
    report, _ = run_restore(client, saved)
    report.check()
    assert writes(emulator) == [("PUT", f"/v2/alert_routes/{org.routes[4]}")]
    gets = [p for m, p, _ in emulator.requests if m == "GET" and p == f"/v2/alert_routes/{org.routes[4]}"]
    assert len(gets) == 2  # once for the plan, once right before the PUT
    assert client.get_alert_route(org.routes[4])["version"] == version + 1
    assert_live_matches(client, saved)


def test_429_storms_and_5xx_mid_restore(
    emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path, sleeps: Callable
) -> None:
    wreck(emulator, client, org)
    emulator.inject(Fault.rate_limited(6, retry_after=3))
    emulator.inject(Fault.server_error(2, method="PUT"))
    emulator.inject(Fault.commit_then_drop(1, method="POST", path_prefix="/v2/alert_routes"))  # applied, no answer
    emulator.inject(Fault.commit_then_drop(1, method="PUT", path_prefix="/v2/alert_routes/"))
    emulator.inject(Fault.server_error(1, status=502, method="POST", path_prefix="/v2/alert_sources"))
    with IncidentIoClient(API_KEY, emulator.base_url, retry=PATIENT, sleep=sleeps) as patient:
        report, _ = run_restore(patient, saved)
    report.check()
    assert_live_matches(client, saved)  # and no duplicates, despite the ambiguous POST


def test_a_restore_killed_half_way_completes_when_run_again(
    emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path
) -> None:
    for route_id in org.routes:
        client.delete_alert_route(route_id)
    client.delete_alert_source(org.sources[2])
    emulator.latency = 0.05
    emulator.reset_log()
    env = {**os.environ, "INCIDENT_IO_TOKEN": API_KEY, "INCIDENT_IO_API_URL": emulator.base_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "components", "restore", str(saved), "--yes", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len([w for w in writes(emulator) if w[1].startswith("/v2/alert_routes")]) < 3:
            assert process.poll() is None and time.monotonic() < deadline, "restore ended before it could be killed"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    emulator.latency = 0.0
    time.sleep(0.3)  # requests the killed process had sent are still being served
    created = len(client.list_alert_routes())
    assert 0 < created < len(org.routes), "killed half way"
    report, _ = run_restore(client, saved)  # the rerun finds what the first run created, by name
    report.check()
    assert report.done["create"] == len(org.routes) - created
    assert_live_matches(client, saved)


def test_changed_between_plan_and_apply_is_refused_not_overwritten(
    emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path
) -> None:
    emulator.edit_route_out_of_band(org.routes[2], lambda r: r.update(enabled=False))
    plan = restore.plan_restore(backup.load_backup(saved), read_organisation(client))
    emulator.edit_route_out_of_band(org.routes[2], lambda r: r.update(name="Renamed meanwhile"))
    report = restore.apply_restore(client, plan)
    with pytest.raises(OperationError) as raised:
        report.check()
    assert "changed in incident.io since the plan was shown (name)" in raised.value.missing[0]
    assert client.get_alert_route(org.routes[2])["name"] == "Renamed meanwhile"


def test_prune_deletes_only_what_the_backup_lacks_and_only_when_asked(
    client: IncidentIoClient, org: Org, saved: Path, source_payload: Callable
) -> None:
    extra_source = client.create_alert_source(source_payload("Grafana", source_type="grafana"))["id"]
    extra_route = client.create_alert_route(minimal_route("Grafana Alerts", extra_source))["id"]
    report, shown = run_restore(client, saved)
    assert "│ not in backup │ alert route  │ Grafana Alerts" in shown and not report.done
    client.get_alert_route(extra_route)
    report, shown = run_restore(client, saved, prune=True)
    report.check()
    assert re.search(r"│ delete +│ alert route +│ Grafana Alerts", shown)
    assert report.done == {"delete": 2}
    assert {s["id"] for s in client.list_alert_sources()} == set(org.sources)
    assert_live_matches(client, saved)


def test_prune_with_an_empty_backup_is_refused(client: IncidentIoClient, org: Org, tmp_path: Path) -> None:
    (tmp_path / "alert_routes").mkdir()
    with pytest.raises(OperationError, match="refusing --prune with an empty backup"):
        run_restore(client, tmp_path, prune=True)


def test_a_source_whose_name_now_has_another_type_blocks_it_and_its_routes(
    client: IncidentIoClient, org: Org, saved: Path, source_payload: Callable
) -> None:
    client.delete_alert_route(org.routes[5])
    client.delete_alert_source(org.sources[1])
    client.create_alert_source(source_payload("Checkly (Production)", source_type="http"))
    report, _ = run_restore(client, saved)
    with pytest.raises(OperationError) as raised:
        report.check()
    source, route = raised.value.missing
    assert "alert source 'Checkly (Production)'" in source and "source_type cannot change" in source
    assert "alert route 'Checkly Alerts'" in route
    assert "its alert source 'Checkly (Production)' cannot be restored" in route


def test_answering_no_changes_nothing(emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path) -> None:
    emulator.edit_route_out_of_band(org.routes[2], lambda r: r.update(enabled=False))
    emulator.reset_log()
    with pytest.raises(OperationError, match="not confirmed; nothing was changed"):
        run_restore(client, saved, confirm=lambda question: False)
    assert writes(emulator) == []


def test_a_damaged_backup_changes_nothing(emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path) -> None:
    next((saved / "alert_routes").glob("*.json")).write_text("{not json")
    emulator.reset_log()
    with pytest.raises(OperationError, match="is damaged"):
        run_restore(client, saved)
    assert writes(emulator) == []


def test_cli_refuses_without_a_terminal_unless_yes(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, client: IncidentIoClient, org: Org, saved: Path
) -> None:
    monkeypatch.setenv("INCIDENT_IO_TOKEN", API_KEY)
    monkeypatch.setenv("INCIDENT_IO_API_URL", emulator.base_url)
    emulator.edit_route_out_of_band(org.routes[2], lambda r: r.update(enabled=False))
    emulator.reset_log()
    result = invoke(["restore", str(saved)])
    assert result.exit_code == 1
    assert "refusing to write without confirmation: no terminal to ask on; pass --yes" in result.stderr
    assert "Restore plan" in result.stdout and writes(emulator) == []
    result = invoke(["restore", str(saved), "--dry-run"])
    assert result.exit_code == 0 and writes(emulator) == []
    result = invoke(["restore", str(saved), "--yes"])
    assert result.exit_code == 0, result.output
    assert "restore: 0 created, 1 updated, 0 deleted" in result.stdout
    assert_live_matches(client, saved)
    result = invoke(["restore", str(tmp := saved / "nowhere")])
    assert result.exit_code == 2 and f"no backup in {tmp}" in result.stderr
