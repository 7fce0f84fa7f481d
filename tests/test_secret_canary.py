"""Secret canary: every command and error path runs with a canary API key, canary source tokens
and a canary password in a URL; nothing any of them writes — stdout, stderr, files — holds one.

Commands run as a user runs them (`python -m components …` in a fresh process, against the
emulator on 127.0.0.1), so logging, the CLI edge and the client's error translation are all real.
The error paths include a hostile server that echoes the key and every token in each field of its
error envelope (`Fault.echo_secrets`), a wrong key, a refused connection, a URL carrying
credentials and a stack file holding the key in plain text.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.incidentio.client import IncidentIoClient
from components.incidentio.emulator import Emulator, Fault
from tests.support.incidentio import load, seed_stack

ROOT = Path(__file__).resolve().parent.parent
CANARY_KEY = f"inc_live_CANARYKEY{secrets.token_hex(12)}"
CANARY_PASSWORD = f"canary-url-password-{secrets.token_hex(6)}"


@dataclass
class World:
    emulator: Emulator
    project: Path  # a copy of the project's stacks/ (commands may write there)
    out: Path  # where commands write backups, fragments and docs
    canaries: list[str]
    transcripts: list[str]

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_IO_")}
        environ |= {"INCIDENT_IO_TOKEN": CANARY_KEY, "INCIDENT_IO_API_URL": self.emulator.base_url}
        environ |= env or {}
        environ["PYTHONPATH"] = str(ROOT)
        done = subprocess.run(
            [sys.executable, "-m", "components", *args],
            cwd=self.project,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.transcripts.append(f"$ {' '.join(args)}\n{done.stdout}\n{done.stderr}")
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        return done


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "stacks", project / "stacks")
    with Emulator(CANARY_KEY) as emulator, IncidentIoClient(CANARY_KEY, emulator.base_url) as client:
        seed_stack(client, emulator, load("production"))  # seven sources, each with its token
        tokens = [str(s["secret_token"]) for s in emulator.stored_sources().values() if s.get("secret_token")]
        assert len(tokens) >= 5
        yield World(emulator, project, tmp_path / "out", [CANARY_KEY, CANARY_PASSWORD, *tokens], [])


def transcript_leaks(world: World) -> list[str]:
    """Every canary in what the commands printed."""
    return [f"transcript {n}: {c[:12]}…" for n, t in enumerate(world.transcripts) for c in world.canaries if c in t]


def file_leaks(world: World) -> list[str]:
    """Every canary in what the commands wrote (any file under the project copy or the output)."""
    found = []
    for folder in (world.project, world.out):
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file():
                data = path.read_bytes().decode("utf-8", "replace")
                found += [f"{path}: {c[:12]}…" for c in world.canaries if c in data]
    return found


def test_no_command_or_error_path_prints_or_writes_a_secret(world: World) -> None:
    out, emulator = world.out, world.emulator
    backup = str(out / "backup")

    # Offline commands (they never need the key, and must not show it when it is set), two at once.
    offline = (
        ["validate"],
        ["render", "staging"],
        ["render", "production", "--format", "yaml"],
        ["plan", "production"],
        ["route", "production", "--source", "alertmanager", "--label", "severity=critical"],
        ["test-routes"],
        ["docs", "--output", str(out / "routing.md")],
        ["promote", "staging", "production"],
    )
    with ThreadPoolExecutor(2) as pool:
        for args, done in zip(offline, pool.map(lambda args: world.run(*args), offline), strict=True):
            assert done.returncode == 0, (args, done.stderr[-2000:])

    # Commands that talk to incident.io, on the happy path.
    assert world.run("backup", backup).returncode == 0, world.transcripts[-1]
    assert world.run("restore", backup, "--dry-run").returncode == 0, world.transcripts[-1]
    assert world.run("import", "production", "--output", str(out / "fragment.yaml")).returncode == 0
    assert world.run("import", "staging", "--write").returncode == 0, world.transcripts[-1]
    route_id = next(iter(emulator.stored_routes()))
    emulator.edit_route_out_of_band(route_id, lambda route: route.update(name="Edited by hand"))
    assert world.run("restore", backup, "--yes").returncode == 0, world.transcripts[-1]

    # A hostile server: every field of every error envelope repeats the key and all the tokens.
    for args, path in (
        (["backup", str(out / "echoed")], "/v2/alert_routes"),
        (["import", "production"], "/v2/alert_sources"),
        (["restore", backup, "--yes"], "/v2/alert_routes"),
    ):
        emulator.edit_route_out_of_band(route_id, lambda route: route.update(name="Edited again"))
        emulator.inject(Fault.echo_secrets(times=100, status=422, path_prefix=path))
        assert world.run(*args).returncode != 0, world.transcripts[-1]
        emulator.clear_faults()
    emulator.inject(Fault.echo_secrets(times=100, status=500))
    assert world.run("backup", str(out / "echoed-5xx")).returncode != 0
    emulator.clear_faults()

    # Wrong key, a refused connection, credentials in the URL.
    assert world.run("backup", str(out / "b2"), env={"INCIDENT_IO_TOKEN": f"{CANARY_KEY}x"}).returncode == 2
    nobody = Emulator(CANARY_KEY)
    closed = nobody.start()
    nobody.stop()  # nothing listens there now
    assert world.run("backup", str(out / "b3"), env={"INCIDENT_IO_API_URL": closed}).returncode == 2
    with_password = emulator.base_url.replace("http://", f"http://robot:{CANARY_PASSWORD}@")
    assert world.run("backup", str(out / "b4"), env={"INCIDENT_IO_API_URL": with_password}).returncode == 2

    written = file_leaks(world)  # before the test itself writes a canary into a stack file

    # The key in a stack file, in plain text and inside a URL.
    stack = world.project / "stacks" / "Pulumi.staging.yaml"
    stack.write_text(
        stack.read_text().replace(
            "  alerting:policy:",
            f"  alerting:incidentioApiKey: {CANARY_KEY}\n"
            f"  alerting:incidentioApiUrl: https://robot:{CANARY_PASSWORD}@api.incident.io\n  alerting:policy:",
            1,
        )
    )
    for args in (["validate"], ["plan", "staging"], ["render", "staging"]):
        assert world.run(*args).returncode == 1, world.transcripts[-1]

    transcript = "\n".join(world.transcripts)
    assert "[redacted]" in transcript  # the echoes did arrive, and were scrubbed
    assert "rate limited" not in transcript
    found = written + transcript_leaks(world)
    leaking = [t[:1500] for t in world.transcripts if any(c in t for c in world.canaries)]
    assert found == [], "\n".join([*found, *leaking])
