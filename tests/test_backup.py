"""`backup` against the emulator: layout, byte-identical reruns, stale files, faults, the rate limit."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components import backup
from components.errors import OperationError, ServerError
from components.incidentio import bulk
from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.emulator import Emulator, Fault
from tests.support.cli import invoke
from tests.support.incidentio import API_KEY, Seeded, minimal_route

PATIENT = RetryPolicy(max_attempts=20, max_total_seconds=3600.0, base_delay=0.5, max_delay=4.0)


@dataclass(frozen=True)
class Org:
    sources: list[str]
    routes: list[str]


def make_org(
    client: IncidentIoClient, seeded: Seeded, route_payload: Callable, source_payload: Callable, n: int
) -> Org:
    extra = [
        client.create_alert_source(source_payload("Checkly (Production)", source_type="checkly"))["id"],
        client.create_alert_source(source_payload("sev0@", source_type="email"))["id"],
    ]
    routes = [client.create_alert_route(route_payload(f"Route {i:03d} – ünïcode")) for i in range(n)]
    return Org([seeded.source_id, *extra], [r["id"] for r in routes])


@pytest.fixture
def org(client: IncidentIoClient, seeded: Seeded, route_payload: Callable, source_payload: Callable) -> Org:
    return make_org(client, seeded, route_payload, source_payload, 6)


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_one_file_per_object_stable_names_sorted_keys_no_bookkeeping(
    client: IncidentIoClient, org: Org, tmp_path: Path
) -> None:
    report = backup.backup(client, tmp_path)
    report.check()
    assert (report.sources, report.routes, report.written, report.removed) == (3, 6, 9, [])
    written = files(tmp_path)
    assert sorted(written) == sorted(
        [f"alert_sources/{backup.slug(client.get_alert_source(i)['name'])}--{i}.json" for i in org.sources]
        + [f"alert_routes/route-{n:03d}-unicode--{i}.json" for n, i in enumerate(org.routes)]
    )
    for name, data in written.items():
        text = data.decode()
        record = json.loads(text)
        assert text == json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert not {"version", "created_at", "updated_at"} & set(record), name
        if name.startswith("alert_routes/"):
            live = client.get_alert_route(record["id"])
            assert record == {k: v for k, v in live.items() if k not in ("version", "created_at", "updated_at")}
        else:
            assert record["secret_token"] == "[redacted]"
    email = next(json.loads(d) for n, d in written.items() if n.startswith("alert_sources/sev0"))
    assert email["email_options"]["email_address"] == "[redacted]"


def test_a_record_redacts_every_secret_and_leaves_the_object_it_came_from_as_it_was() -> None:
    item = {
        "id": "01SOURCE",
        "version": 3,
        "secret_token": "tok-1",
        "email_options": {"email_address": "inbox@example.test", "other": [1]},
        "heartbeat_options": {"ping_url": "https://ping.example.test/x", "interval_seconds": 60},
        "template": {"title": {"literal": "kept"}},
    }
    before = json.loads(json.dumps(item))

    record = backup.backup_record(item)

    assert item == before  # the caller's object (the API's response) is not changed
    assert record == {
        "id": "01SOURCE",
        "secret_token": "[redacted]",
        "email_options": {"email_address": "[redacted]", "other": [1]},
        "heartbeat_options": {"ping_url": "[redacted]", "interval_seconds": 60},
        "template": {"title": {"literal": "kept"}},
    }
    # Where a secret's parent is missing or not an object, there is nothing to redact or to fail on.
    assert backup.backup_record({"id": "X", "email_options": None}) == {"id": "X", "email_options": None}


def test_second_backup_of_an_unchanged_org_is_byte_identical(
    client: IncidentIoClient, org: Org, tmp_path: Path
) -> None:
    backup.backup(client, tmp_path).check()
    first = files(tmp_path)
    report = backup.backup(client, tmp_path)
    assert files(tmp_path) == first
    assert (report.written, report.unchanged, report.removed) == (0, 9, [])


def test_an_edit_changes_only_that_file(emulator: Emulator, client: IncidentIoClient, org: Org, tmp_path: Path) -> None:
    backup.backup(client, tmp_path).check()
    first = files(tmp_path)
    emulator.edit_route_out_of_band(org.routes[2], lambda route: route.update(enabled=False))
    report = backup.backup(client, tmp_path)
    second = files(tmp_path)
    changed = [name for name in first if first[name] != second[name]]
    assert changed == [f"alert_routes/route-002-unicode--{org.routes[2]}.json"] and report.written == 1
    assert json.loads(second[changed[0]])["enabled"] is False


def test_files_of_deleted_or_renamed_objects_go_files_it_did_not_write_stay(
    emulator: Emulator, client: IncidentIoClient, org: Org, tmp_path: Path
) -> None:
    backup.backup(client, tmp_path).check()
    routes = tmp_path / "alert_routes"
    foreign = {
        routes / "README.md": "notes",
        routes / "mine--01ABCDEF.json": json.dumps({"id": "SOMETHINGELSE"}),  # our name pattern, not our content
        tmp_path / "elsewhere--01ABCDEF.json": json.dumps({"id": "01ABCDEF"}),  # not in our folders
    }
    for path, text in foreign.items():
        path.write_text(text)
    (routes / ".route-000--X.json.abc.tmp").write_text("half")  # an interrupted run's temporary file
    client.delete_alert_route(org.routes[0])
    emulator.edit_source_out_of_band(org.sources[1], lambda source: source.update(name="Checkly (Prod)"))
    report = backup.backup(client, tmp_path)
    assert sorted(report.removed) == sorted(
        [
            f"alert_routes/route-000-unicode--{org.routes[0]}.json",
            f"alert_sources/checkly-production--{org.sources[1]}.json",
        ]
    )
    assert (tmp_path / f"alert_sources/checkly-prod--{org.sources[1]}.json").is_file()
    assert all(path.read_text() == text for path, text in foreign.items())
    assert not list(routes.glob(".*.tmp"))


def test_api_calls_meet_the_goal(
    client: IncidentIoClient, seeded: Seeded, route_payload: Callable, source_payload: Callable, tmp_path: Path
) -> None:
    make_org(client, seeded, route_payload, source_payload, 120)
    report = backup.backup(client, tmp_path)
    assert report.requests == math.ceil(120 / 50) + 120 + 1


def test_429_storm_and_5xx_mid_backup_change_nothing_but_the_request_count(
    emulator: Emulator, org: Org, tmp_path: Path, sleeps: Callable
) -> None:
    with IncidentIoClient(API_KEY, emulator.base_url, retry=PATIENT, sleep=sleeps) as patient:
        backup.backup(patient, tmp_path / "calm").check()
        emulator.inject(Fault.rate_limited(8, retry_after=2, path_prefix="/v2/alert_routes/"))
        emulator.inject(Fault.server_error(3, path_prefix="/v2/alert_routes/"))
        emulator.inject(Fault.server_error(1, status=502, path_prefix="/v2/alert_sources"))
        report = backup.backup(patient, tmp_path / "storm")
    report.check()
    assert files(tmp_path / "storm") == files(tmp_path / "calm")
    assert report.requests == math.ceil(6 / 50) + 6 + 1 + 8 + 3 + 1


def test_partial_failure_lists_what_is_missing_and_writes_the_rest(
    emulator: Emulator, client: IncidentIoClient, org: Org, tmp_path: Path
) -> None:
    backup.backup(client, tmp_path).check()
    before = files(tmp_path)
    broken = org.routes[3]
    emulator.edit_route_out_of_band(broken, lambda route: route.update(enabled=False))
    emulator.edit_route_out_of_band(org.routes[4], lambda route: route.update(enabled=False))
    emulator.inject(Fault.server_error(100, path_prefix=f"/v2/alert_routes/{broken}"))
    report = backup.backup(client, tmp_path)
    with pytest.raises(OperationError) as raised:
        report.check()
    assert len(raised.value.missing) == 1 and broken in raised.value.missing[0]
    assert "503" in raised.value.missing[0]
    after = files(tmp_path)
    name = f"alert_routes/route-003-unicode--{broken}.json"
    assert after[name] == before[name]  # the previous copy is kept, not removed
    assert json.loads(after[f"alert_routes/route-004-unicode--{org.routes[4]}.json"])["enabled"] is False


def test_a_listing_failure_writes_nothing(
    emulator: Emulator, client: IncidentIoClient, org: Org, tmp_path: Path
) -> None:
    emulator.inject(Fault.server_error(100, path_prefix="/v2/alert_sources"))
    with pytest.raises(ServerError):
        backup.backup(client, tmp_path / "backup")
    assert not (tmp_path / "backup").exists()


class FakeClock:
    """Shared fake time for the emulator's rate limit and the limiter; sleeping advances it."""

    def __init__(self) -> None:
        self.now, self.lock = 1_000_000.0, threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_the_limiter_allows_at_most_n_per_window() -> None:
    clock = FakeClock()
    limiter = bulk.RateLimiter(10, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(35):
        limiter.acquire()
        times.append(clock())
        clock.sleep(0.5)
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) == 10
    assert times[-1] - times[0] >= 180  # 35 requests at 10/minute: at least three full windows


@pytest.fixture
def fake_clock_emulator() -> Iterator[tuple[Emulator, FakeClock]]:
    clock = FakeClock()
    with Emulator(API_KEY, clock=clock) as emu:
        yield emu, clock


def test_backup_stays_under_the_api_rate_limit(
    fake_clock_emulator: tuple[Emulator, FakeClock], source_payload: Callable, tmp_path: Path
) -> None:
    emulator, clock = fake_clock_emulator
    with IncidentIoClient(API_KEY, emulator.base_url) as seeder:
        source = seeder.create_alert_source(source_payload())["id"]
        for i in range(60):
            seeder.create_alert_route(minimal_route(f"Route {i}", source))
    emulator.rate_limit_per_minute = 30  # the API's limit, scaled down; the run needs 63 requests
    with bulk.connect(
        24, api_key=API_KEY, base_url=emulator.base_url, clock=clock, sleep=clock.sleep, retry=PATIENT
    ) as client:
        started = clock()
        report = backup.backup(client, tmp_path, workers=4)
    report.check()
    assert report.requests == 2 + 60 + 1  # not one 429: no request was retried
    assert clock() - started >= 120  # 63 requests at 24/minute took the limiter two windows


def test_cli_backup(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, org: Org, tmp_path: Path) -> None:
    monkeypatch.setenv("INCIDENT_IO_TOKEN", API_KEY)
    monkeypatch.setenv("INCIDENT_IO_API_URL", emulator.base_url)
    result = invoke(["backup", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("backed up 6 alert route(s) and 3 alert source(s)")
    assert result.stderr == ""  # no progress bar without a terminal

    # A 403 is not retried (a 5xx would be, with real sleeps: the module tests cover those).
    emulator.inject(Fault.server_error(100, status=403, path_prefix=f"/v2/alert_routes/{org.routes[1]}"))
    result = invoke(["backup", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "backup incomplete: 1 object(s) not backed up" in result.stderr
    assert f"alert route 'Route 001 – ünïcode' ({org.routes[1]})" in result.stderr
    assert "Traceback" not in result.output
