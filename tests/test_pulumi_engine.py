"""`pulumi preview` / `up` / `refresh` / `destroy` for real: the Pulumi CLI (built by
.ci/install-pulumi.sh), its Python language host and the dynamic-provider plugin, driving this
project against the emulator on 127.0.0.1.

The API key reaches the providers only as `pulumi config set --secret alerting:incidentioApiKey`
(so `configure()` is what carries it; no INCIDENT_IO_TOKEN in the environment). Without the CLI
these tests skip, saying how to build it; in CI they fail instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.incidentio.emulator import Emulator, Fault
from tests.support.pulumi_cli import PulumiProject

pytestmark = pytest.mark.pulumi_cli

API_KEY = "inc_live_realengine_CANARYKEY_0123456789"
STACK = "engine"
WRITES = ("POST", "PUT", "DELETE")


def stack_text(*, adopt: str | None = None, extra_routes: int = 0) -> str:
    source = {"name": "Alertmanager (Engine)", "type": "alertmanager", "attributes": {"severity": "$.labels.severity"}}
    if adopt:
        source["adopt"] = adopt
    config = {
        "aws:region": "us-east-1",
        "alerting:environment": "development",
        "alerting:guards": {"awsAccountId": "333333333333", "kubeContext": "dev"},
        "alerting:policy": {"paging": True},
        "alerting:incidentio": {"slackChannels": {"#alerts": "C0ENGINEALERTS", "#other": "C0ENGINEOTHER"}},
        "alerting:sources": {"alertmanager": source},
        "alerting:routes": [
            {
                "name": "Engine Alerts",
                "sources": {"alertmanager": {"severity": "critical"}},
                "escalate": ["Engineering On-Call"],
                "slack": ["#alerts"],
            },
            *(
                {"name": f"Extra route {i:04d}" + " with a long name" * 13, "sources": {"alertmanager": {}}}
                for i in range(extra_routes)
            ),
        ],
    }
    return yaml.safe_dump({"config": config}, sort_keys=False)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(API_KEY) as emu:
        emu.add_alert_attribute("severity")
        emu.add_escalation_path("Engineering On-Call")
        yield emu
        assert emu.schema_violations == [], "a request body broke the official incident.io schema"


@pytest.fixture
def project(pulumi_bin: str, tmp_path: Path, emulator: Emulator) -> PulumiProject:
    (tmp_path / "project").mkdir()
    return PulumiProject(tmp_path / "project", pulumi_bin, STACK)


def calls(emulator: Emulator) -> list[str]:
    return [f"{method} {path}" for method, path, _query in emulator.requests]


def writes(emulator: Emulator) -> list[str]:
    return [c for c in calls(emulator) if c.split(" ")[0] in WRITES]


def live_routes(emulator: Emulator) -> list[dict]:
    return list(emulator.stored_routes().values())


def test_preview_up_refresh_drift_rotation_and_destroy(project: PulumiProject, emulator: Emulator) -> None:
    project.init(stack_text(), api_key=API_KEY, api_url=emulator.base_url)
    assert API_KEY not in project.stack_file.read_text(), "the key is stored encrypted in the stack file"

    # preview: the creates are shown, nothing is written.
    emulator.reset_log()
    preview = project.run("preview")
    assert re.search(r"\+\s+pulumi-python:dynamic/incidentio:AlertSource\s+alertmanager\s+create", preview.stdout)
    assert re.search(r"\+\s+pulumi-python:dynamic/incidentio:AlertRoute\s+engine-alerts\s+create", preview.stdout)
    assert writes(emulator) == []

    # up: the source and the route exist in incident.io.
    up = project.run("up", "--yes")
    assert "4 created" in up.stdout, up.stdout
    (source,) = project.resources("incidentio:AlertSource")
    (route,) = project.resources("incidentio:AlertRoute")
    assert {s["name"] for s in emulator.stored_sources().values()} == {"Alertmanager (Engine)"}
    assert [r["name"] for r in live_routes(emulator)] == ["Engine Alerts"]

    # a no-change preview costs no API call at all.
    emulator.reset_log()
    project.run("preview", "--expect-no-changes")
    assert calls(emulator) == []

    # refresh: one GET per object, and no change.
    emulator.reset_log()
    project.run("refresh", "--yes", "--skip-preview", "--expect-no-changes")  # without: a preview reads too
    assert sorted(calls(emulator)) == sorted(
        [f"GET /v2/alert_sources/{source['id']}", f"GET /v2/alert_routes/{route['id']}"]
    )

    # state and outputs: neither the API key nor the source token in plain text.
    exported = json.dumps(project.export())
    token = emulator.stored_sources()[source["id"]]["secret_token"]
    assert API_KEY not in exported and token not in exported
    assert "ciphertext" in exported
    outputs = project.run("stack", "output", "--json").stdout
    assert token not in outputs and API_KEY not in outputs

    # A dashboard edit: `preview --refresh` shows it; `up --refresh` puts the declared route back
    # (docs/incidentio-resources.md: refresh takes the live state in, up applies the file).
    emulator.edit_route_out_of_band(
        route["id"],
        lambda r: r["channel_config"][0]["slack_targets"]["binding"].update(array_value=[{"literal": "C0ENGINEOTHER"}]),
    )
    drifted = project.run("preview", "--refresh")
    assert re.search(r"~\s+pulumi-python:dynamic/incidentio:AlertRoute\s+engine-alerts\s+update", drifted.stdout), (
        drifted.stdout
    )
    project.run("up", "--refresh", "--yes")
    (live,) = live_routes(emulator)
    assert live["channel_config"][0]["slack_targets"]["binding"]["array_value"] == [{"literal": "C0ENGINEALERTS"}]

    # A token rotated in incident.io reaches the outputs with `up --refresh`.
    rotated = emulator.rotate_source_token(source["id"])
    project.run("up", "--refresh", "--yes")
    (after,) = project.resources("incidentio:AlertSource", show_secrets=True)
    assert after["outputs"]["secret_token"]["plaintext"] == json.dumps(rotated)
    assert rotated not in json.dumps(project.export())

    # A hostile server that echoes the key and every token in its error envelope: the engine's
    # output (the provider's error, traceback included) shows neither.
    emulator.edit_route_out_of_band(route["id"], lambda r: r.update(name="Edited by hand"))
    emulator.inject(Fault.echo_secrets(times=20, status=422, method="PUT", path_prefix="/v2/alert_routes"))
    failed = project.run("up", "--refresh", "--yes", check=False)
    emulator.clear_faults()
    assert failed.returncode != 0 and "echo: [redacted]" in failed.stdout + failed.stderr, failed.stdout[-3000:]
    assert API_KEY not in failed.stdout + failed.stderr and rotated not in failed.stdout + failed.stderr
    project.run("up", "--refresh", "--yes")

    # destroy deletes what the stack created.
    emulator.reset_log()
    project.run("destroy", "--yes")
    assert sorted(writes(emulator)) == sorted(
        [f"DELETE /v2/alert_sources/{source['id']}", f"DELETE /v2/alert_routes/{route['id']}"]
    )
    assert emulator.stored_sources() == {} and live_routes(emulator) == []


def test_adoption_takes_an_existing_source_over_and_destroy_releases_it(
    project: PulumiProject, emulator: Emulator
) -> None:
    from components import validate
    from components.compile import compile_stack
    from components.incidentio.references import ALERT_ATTRIBUTE, substitute

    adopt = "01KHSNW67SZJ1KGWEMA9C0GPT7"
    project.stack_file.write_text(stack_text(adopt=adopt))
    stack, _ = validate.load_stack(project.stack_file)
    (declared,) = compile_stack(stack)["incident_io"]["alert_sources"]
    live = substitute(declared["payload"], {(ALERT_ATTRIBUTE, "severity"): emulator.attribute_id("severity") or ""})
    token = emulator.seed_source(live, adopt)["secret_token"]  # clicked together before day one
    project.init(stack_text(adopt=adopt), api_key=API_KEY, api_url=emulator.base_url)

    emulator.reset_log()
    project.run("up", "--yes")
    assert "POST /v2/alert_sources" not in calls(emulator), "adopted, not duplicated"
    (source,) = project.resources("incidentio:AlertSource", show_secrets=True)
    assert source["id"] == adopt
    assert source["outputs"]["secret_token"]["plaintext"] == json.dumps(token), "Alertmanager keeps its token"

    project.run("destroy", "--yes")
    assert adopt in emulator.stored_sources(), "released, not deleted"
    assert live_routes(emulator) == [], "the route the stack created is deleted"


def test_a_stack_whose_config_outgrows_one_environment_string_still_runs(
    project: PulumiProject, emulator: Emulator
) -> None:
    """Linux refuses an environment string over 128 KiB ("argument list too long"), and the stack
    config reaches the program as one (PULUMI_CONFIG): the language host passes it by file."""
    text = stack_text(extra_routes=480)
    assert len(json.dumps(yaml.safe_load(text)["config"])) > 128 * 1024
    project.init(text, api_key=API_KEY, api_url=emulator.base_url)
    preview = project.run("preview")
    assert "+ 484 to create" in preview.stdout, preview.stdout[-2000:]
