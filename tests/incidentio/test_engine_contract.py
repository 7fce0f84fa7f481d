"""Engine contract: the providers driven over gRPC in ``python -m pulumi.dynamic``, as Pulumi does.

One provider process (a fresh interpreter: it must import and unpickle the providers by reference)
and one emulator serve the whole module. Credentials reach the process only through Configure
(its environment has no INCIDENT_IO_*). HTTP calls are counted in the emulator's request log.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.incidentio.emulator import Emulator
from components.incidentio.provider import CONFIG_API_KEY, CONFIG_API_URL, AlertRouteProvider, AlertSourceProvider
from tests.support.engine import REPO, DynamicProviderProcess, urn, with_provider
from tests.support.payloads import condition, parse_expression, route_body

API_KEY = "inc_contract_0123456789abcdefSECRETKEY"
ROUTE_URN = urn("dynamic/incidentio:AlertRoute", "production-alerts")
SOURCE_URN = urn("dynamic/incidentio:AlertSource", "alertmanager")
PATH_REF = "${escalation_path:Engineering On-Call}"
SEVERITY_REF = "${alert_attribute:severity}"


@dataclass(frozen=True)
class World:
    emulator: Emulator
    engine: DynamicProviderProcess
    source_id: str
    severity_id: str

    def calls(self) -> list[str]:
        return [f"{method} {path}" for method, path, _ in self.emulator.requests]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Emulator(API_KEY) as emulator:
        severity_id = emulator.add_alert_attribute("severity")
        emulator.add_escalation_path("Engineering On-Call")
        with DynamicProviderProcess(project="alerting", stack="production") as engine:
            engine.configure(
                {CONFIG_API_KEY: API_KEY, CONFIG_API_URL: emulator.base_url, "aws:region": "us-east-1"},
                secret_keys=(CONFIG_API_KEY,),
            )
            # A source for the routes to name, created through the provider process itself.
            source_id, _ = engine.create(SOURCE_URN, source_inputs("Alertmanager (Production)"))
            yield World(emulator, engine, source_id, severity_id)
            assert emulator.schema_violations == [], "a request body broke the official schema"
            assert_key_never_crossed(engine)


def assert_key_never_crossed(engine: DynamicProviderProcess) -> None:
    """Not in a response (properties, inputs, ids, errors) and not in a pickled provider."""
    assert engine.wire, "nothing was recorded"
    for raw in engine.wire:
        assert API_KEY.encode() not in raw
    for provider in (AlertSourceProvider(), AlertRouteProvider()):
        pickled = with_provider(provider, {})["__provider"]
        assert API_KEY.encode() not in base64.b64decode(pickled)


def source_inputs(name: str) -> dict[str, Any]:
    payload = {
        "name": name,
        "source_type": "alertmanager",
        "template": {
            "title": {"reference": "alert.title"},
            "description": {"reference": "alert.description"},
            "expressions": [],
            "attributes": [{"alert_attribute_id": SEVERITY_REF, "binding": {"value": {"reference": "alert.severity"}}}],
        },
    }
    return with_provider(
        AlertSourceProvider(),
        {"payload": payload, "stack": "production", "project": "alerting", "claim_managed": False},
    )


def route_inputs(source_id: str, *, name: str = "Production Alerts", channel: str = "C0ALERTS01") -> dict[str, Any]:
    """A compiled route (placeholders for names) exercising the server's normalisations."""
    payload = route_body(
        name,
        source_id,
        # one_of is read back as contains_one_of
        source_conditions=[[condition(f"alert.attributes.{SEVERITY_REF}", "one_of", "critical")]],
        expressions=[parse_expression("a_first", "$.a"), parse_expression("b_second", "$.b")],  # reordered
        slack=[channel],
        escalation_paths=[PATH_REF],  # read back with a `users` echo
        incident=True,
        grouping_window=300,  # a double on the wire
    )
    payload["incident_template"]["summary"] = {
        "binding": {"value": {"literal": json.dumps({"type": "doc", "content": []})}}
    }
    return with_provider(
        AlertRouteProvider(),
        {"payload": payload, "stack": "production", "project": "alerting", "claim_managed": False},
    )


def without_provider(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != "__provider"}


# --- tests -------------------------------------------------------------------------------------


def test_the_provider_module_imports_in_a_fresh_interpreter_without_side_effects() -> None:
    code = (
        "import threading, components.incidentio.provider as p;"
        "assert threading.active_count() == 1, 'no thread started';"
        "assert p._PROCESS._client is None and p._PROCESS.api_key is None;"
        "print(p.AlertSource._resource_type_name, p.AlertRoute._resource_type_name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, env={"PATH": ""}
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["dynamic/incidentio:AlertSource", "dynamic/incidentio:AlertRoute"]


def test_route_lifecycle_create_read_diff_update_delete(world: World) -> None:
    engine = world.engine
    news = route_inputs(world.source_id)
    checked, failures = engine.check(ROUTE_URN, {}, news)
    assert failures == []

    world.emulator.reset_log()
    route_id, outs = engine.create(ROUTE_URN, checked)
    # Attribute names were listed (and cached, per process) by the source's create.
    assert world.calls() == ["GET /v2/escalation_paths", "POST /v2/alert_routes"]
    assert outs["version"] == 1
    assert without_provider(outs)["payload"] == checked["payload"]

    # Refresh right after the apply: the same outputs, the same inputs.
    world.emulator.reset_log()
    read_id, read_outs, read_inputs = engine.read(ROUTE_URN, route_id, outs, checked)
    assert world.calls() == [f"GET /v2/alert_routes/{route_id}"]
    assert (read_id, read_outs) == (route_id, outs)
    assert read_inputs == checked

    # No-change diff (the server normalised the route; the diff is semantic): no HTTP call.
    world.emulator.reset_log()
    diff = engine.diff(ROUTE_URN, route_id, read_outs, checked)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert list(diff.replaces) == []
    assert world.calls() == []

    # A change: diff says update (not replace); the update is exactly GET + PUT.
    changed, _ = engine.check(ROUTE_URN, checked, route_inputs(world.source_id, channel="C0NEWCHAN1"))
    diff = engine.diff(ROUTE_URN, route_id, read_outs, changed)
    assert (diff.changes, list(diff.replaces)) == (provider_pb2.DiffResponse.DIFF_SOME, [])
    world.emulator.reset_log()
    updated = engine.update(ROUTE_URN, route_id, read_outs, changed)
    assert world.calls() == [f"GET /v2/alert_routes/{route_id}", f"PUT /v2/alert_routes/{route_id}"]
    assert updated["version"] == 2
    assert engine.diff(ROUTE_URN, route_id, updated, changed).changes == provider_pb2.DiffResponse.DIFF_NONE

    # Delete; a second delete (already gone) is fine; a refresh then reads it as gone.
    engine.delete(ROUTE_URN, route_id, updated)
    engine.delete(ROUTE_URN, route_id, updated)
    gone_id, gone_outs, _ = engine.read(ROUTE_URN, route_id, updated, changed)
    assert gone_id == "" and without_provider(gone_outs) == {}


def test_source_outputs_cross_the_wire_and_refresh_is_quiet(world: World) -> None:
    engine = world.engine
    checked, failures = engine.check(SOURCE_URN, {}, source_inputs("Checkly"))
    assert failures == []
    source_id, outs = engine.create(SOURCE_URN, checked)
    assert outs["alert_events_url"].endswith(f"/v2/alert_events/alertmanager/{source_id}")
    assert len(outs["secret_token"]) == 64
    assert outs["references"] == {SEVERITY_REF: world.severity_id}
    read_id, read_outs, _ = engine.read(SOURCE_URN, source_id, outs, checked)
    assert (read_id, read_outs) == (source_id, outs)
    renamed, _ = engine.check(SOURCE_URN, checked, source_inputs("Checkly (Production)"))
    diff = engine.diff(SOURCE_URN, source_id, outs, renamed)
    assert (diff.changes, list(diff.replaces)) == (provider_pb2.DiffResponse.DIFF_SOME, [])
    retyped = source_inputs("Checkly")
    retyped["payload"] = {**retyped["payload"], "source_type": "checkly"}
    diff = engine.diff(SOURCE_URN, source_id, outs, retyped)
    assert list(diff.replaces) == ["payload"] and diff.deleteBeforeReplace
    engine.delete(SOURCE_URN, source_id, outs)


def test_preview_unknowns_pass_check_and_diff_as_a_change(world: World) -> None:
    engine = world.engine
    route_id, outs = engine.create(ROUTE_URN, route_inputs(world.source_id, name="Preview"))
    unknown_source = route_inputs(rpc.UNKNOWN, name="Preview")  # the source is being replaced
    whole_unknown = {**route_inputs(world.source_id), "payload": rpc.UNKNOWN}  # an apply() not run yet
    world.emulator.reset_log()
    for news in (unknown_source, whole_unknown):
        _, failures = engine.check(ROUTE_URN, outs, news)
        assert failures == []
        diff = engine.diff(ROUTE_URN, route_id, outs, news)
        assert (diff.changes, list(diff.replaces)) == (provider_pb2.DiffResponse.DIFF_SOME, [])
    assert world.calls() == []
    engine.delete(ROUTE_URN, route_id, outs)


def test_errors_cross_as_one_clear_line_without_secrets(world: World) -> None:
    engine = world.engine
    route_id, outs = engine.create(ROUTE_URN, route_inputs(world.source_id, name="Drifting"))

    def dashboard(config: dict) -> None:
        config["channel_config"][0]["slack_targets"]["binding"]["array_value"] = [{"literal": "C0DASHBOARD"}]

    world.emulator.edit_route_out_of_band(route_id, dashboard)
    with pytest.raises(grpc.RpcError) as error:
        engine.update(ROUTE_URN, route_id, outs, route_inputs(world.source_id, name="Drifting", channel="C0NEW00001"))
    details = error.value.details()  # the SDK sends the traceback; its last line is our message
    assert details.strip().splitlines()[-1] == (
        "components.errors.DriftError: alert route 'Drifting' was changed outside this stack (channel_config)."
        " Run `pulumi refresh -s production` to take the live state into the stack's state, then"
        " `pulumi up -s production` to apply the stack file again (copy the change into"
        " stacks/Pulumi.production.yaml first to keep it)."
    )
    assert API_KEY not in details
    engine.delete(ROUTE_URN, route_id, outs)
