"""AlertSource / AlertRoute providers against the emulator over real HTTP, in-process.

Values cross `roundtrip` (the engine's protobuf encoding) between calls, as in the real engine.
Every test ends with the emulator fixture asserting that no request body broke the official schema
(the emulator 422s those and records them).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.compile import compile_stack
from components.errors import (
    AlertingError,
    AuthenticationError,
    DriftError,
    IncidentIoError,
    LiveSettingsError,
    OwnershipError,
    ReferenceNotFoundError,
    RejectedError,
)
from components.incidentio import emulator as emulator_module
from components.incidentio import provider as provider_module
from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.emulator import Emulator, Fault
from components.incidentio.normalise import canonical_route, differences
from components.incidentio.provider import (
    CONFIG_API_KEY,
    CONFIG_API_URL,
    MAX_UPDATE_ATTEMPTS,
    OWNER_ANNOTATION,
    AlertRoute,
    AlertRouteProvider,
    AlertSource,
    AlertSourceProvider,
)
from tests.support.engine import roundtrip
from tests.support.incidentio import bind_paths, load

if TYPE_CHECKING:
    from tests.incidentio.conftest import FakeSleep, Seeded

STACK = "production"
PATH_NAME = "Engineering On-Call"
PATH_REF = "${escalation_path:Engineering On-Call}"
SEVERITY_REF = "${alert_attribute:severity}"
TEAM_REF = "${alert_attribute:team}"
PLATFORM_REF = "${escalation_path:Platform On-Call}"

FAST_RETRY = RetryPolicy(max_attempts=4, max_total_seconds=60.0, base_delay=0.5, max_delay=4.0)

sources = AlertSourceProvider()
routes = AlertRouteProvider()


def configure(api_key: str | None, api_url: str | None) -> None:
    config = {k: v for k, v in ((CONFIG_API_KEY, api_key), (CONFIG_API_URL, api_url)) if v is not None}
    routes.configure(ConfigureRequest(Config(config, "alerting")))


@pytest.fixture(autouse=True)
def process(emulator: Emulator, api_key: str, sleeps: FakeSleep, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh provider process state, configured like the engine does, for each test."""
    monkeypatch.delenv("INCIDENT_IO_TOKEN", raising=False)
    monkeypatch.delenv("INCIDENT_IO_API_URL", raising=False)
    provider_module.reset_process(retry=FAST_RETRY, sleep=sleeps)
    configure(api_key, emulator.base_url)
    yield
    provider_module.reset_process()  # (the emulator fixture checks every body against the schema)


def calls(emulator: Emulator) -> list[str]:
    return [f"{method} {path}" for method, path, _ in emulator.requests]


def inputs(payload: Any, *, claim: bool = False, stack: str = STACK, **extra: Any) -> dict[str, Any]:
    return {"payload": payload, "stack": stack, "project": "alerting", "claim_managed": claim, **extra}


def with_placeholders(payload: dict, seeded: Seeded) -> dict:
    """The compiled shape: names where the program leaves resolution to the provider."""
    text = json.dumps(payload)
    for id_, placeholder in (
        (seeded.path_id, PATH_REF),
        (seeded.severity_attr, SEVERITY_REF),
        (seeded.team_attr, TEAM_REF),
    ):
        text = text.replace(id_, placeholder)
    return json.loads(text)


@pytest.fixture
def compiled_route(route_payload: Callable[..., dict], seeded: Seeded) -> Callable[..., dict]:
    return lambda *a, **kw: with_placeholders(route_payload(*a, **kw), seeded)


def create_route(props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = routes.create(roundtrip(props))
    return result.id, roundtrip(result.outs)


def create_source(props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = sources.create(roundtrip(props))
    return result.id, roundtrip(result.outs)


def set_channel(channel: str) -> Callable[[dict], None]:
    def mutate(config: dict) -> None:
        config["channel_config"][0]["slack_targets"]["binding"]["array_value"] = [{"literal": channel}]

    return mutate


# --- create, references ------------------------------------------------------------------------


def test_create_resolves_names_once_per_process_and_echoes_inputs(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict], seeded: Seeded
) -> None:
    emulator.reset_log()
    props = inputs(compiled_route())
    route_id, outs = create_route(props)

    assert sorted(calls(emulator)) == ["GET /v2/alert_attributes", "GET /v2/escalation_paths", "POST /v2/alert_routes"]
    assert {k: outs[k] for k in props} == props  # inputs echoed, placeholders kept
    assert outs["references"] == {
        PATH_REF: seeded.path_id,
        SEVERITY_REF: seeded.severity_attr,
        TEAM_REF: seeded.team_attr,
    }
    assert outs["version"] == 1 and outs["owner"] == "alerting/production" and outs["claimed"] is False
    live = client.get_alert_route(route_id)
    assert live["escalation_config"]["escalation_targets"][0]["escalation_paths"]["array_value"][0]["literal"] == (
        seeded.path_id
    )
    assert outs["applied"] == canonical_route(live)

    emulator.reset_log()
    create_route(inputs(compiled_route("Second Route")))
    assert calls(emulator) == ["POST /v2/alert_routes"], "names are resolved from the per-process cache"


def test_an_unknown_escalation_path_lists_the_known_names(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    emulator.add_escalation_path("Database On-Call")
    payload = json.loads(json.dumps(compiled_route()).replace(PATH_REF, PLATFORM_REF))
    with pytest.raises(ReferenceNotFoundError) as error:
        routes.create(roundtrip(inputs(payload)))
    assert str(error.value) == (
        "no escalation path named 'Platform On-Call' in incident.io; known: 'Database On-Call', 'Engineering On-Call'"
    )
    assert client.list_alert_routes() == []


def test_a_name_missing_from_the_cached_listing_is_looked_up_again(
    emulator: Emulator, compiled_route: Callable[..., dict]
) -> None:
    create_route(inputs(compiled_route()))  # caches the listings
    new_path = emulator.add_escalation_path("Platform On-Call")
    payload = json.loads(json.dumps(compiled_route("Platform")).replace(PATH_REF, PLATFORM_REF))
    emulator.reset_log()
    _, outs = create_route(inputs(payload))
    assert outs["references"][PLATFORM_REF] == new_path
    assert calls(emulator) == ["GET /v2/escalation_paths", "POST /v2/alert_routes"]


def test_two_paths_with_the_same_name_must_be_pinned(emulator: Emulator, compiled_route: Callable[..., dict]) -> None:
    emulator.add_escalation_path(PATH_NAME)
    with pytest.raises(AlertingError, match=r"2 escalation paths are named 'Engineering On-Call'.*escalationPaths"):
        routes.create(roundtrip(inputs(compiled_route())))


def test_integers_survive_the_engines_doubles(emulator: Emulator, compiled_route: Callable[..., dict]) -> None:
    payload = compiled_route()
    payload["incident_config"].update(grouping_window_seconds=300, defer_time_seconds=60)
    props = roundtrip(inputs(payload))
    assert props["payload"]["incident_config"]["grouping_window_seconds"] == 300.0  # a double on the wire
    _, outs = create_route(props)
    assert outs["version"] == 1
    # The autouse fixture asserts that no body (300.0 for an integer) broke the schema.


# --- check and diff ----------------------------------------------------------------------------


def test_check_reports_schema_problems_and_unsubstituted_placeholders(compiled_route: Callable[..., dict]) -> None:
    payload = compiled_route()
    del payload["channel_config"]
    payload["alert_sources"][0]["alert_source_id"] = "${alert_source:checkly}"
    result = routes.check({}, inputs(payload, stack=""))
    assert [(f.property, f.reason) for f in result.failures] == [
        ("payload", "$.channel_config: required field is missing"),
        ("payload", "placeholder ${alert_source:checkly} must be substituted by the program"),
        ("stack", "expected the Pulumi stack name"),
    ]
    assert routes.check({}, inputs(compiled_route())).failures == []


def test_check_accepts_source_types_newer_than_the_spec(source_payload: Callable[..., dict]) -> None:
    assert sources.check({}, inputs(source_payload(source_type="brand_new_monitor"))).failures == []
    bad = source_payload()
    del bad["template"]
    assert [f.reason for f in sources.check({}, inputs(bad)).failures] == ["$.template: required field is missing"]


@pytest.mark.parametrize("unknown", [Unknown(), rpc.UNKNOWN], ids=["Unknown", "sentinel"])
def test_preview_unknowns_are_a_change_not_a_crash(
    emulator: Emulator, compiled_route: Callable[..., dict], source_payload: Callable[..., dict], unknown: Any
) -> None:
    olds = inputs(compiled_route())
    partly = compiled_route()
    partly["alert_sources"][0]["alert_source_id"] = unknown
    emulator.reset_log()
    for news in (inputs(unknown), inputs(partly)):
        assert routes.check(olds, news).failures == []
        result = routes.diff("r", olds, news)
        assert (result.changes, result.replaces) == (True, None)
    source = source_payload()
    source["name"] = unknown
    result = sources.diff("s", inputs(source_payload()), inputs(source))
    assert (result.changes, result.replaces) == (True, None)
    assert calls(emulator) == []


def test_diff_is_semantic_and_makes_no_call(emulator: Emulator, compiled_route: Callable[..., dict]) -> None:
    olds = compiled_route()
    equivalent = compiled_route()
    # What the server does to a route, done by hand: every one of these is "no change".
    equivalent["condition_groups"][0]["conditions"][0]["operation"] = "contains_one_of"  # alias
    equivalent["expressions"].reverse()  # a set
    target = equivalent["escalation_config"]["escalation_targets"][0]
    target["users"] = target["escalation_paths"]  # legacy echo
    summary = equivalent["incident_template"]["summary"]["binding"]["value"]
    summary["literal"] = json.dumps(json.loads(summary["literal"]), indent=2, sort_keys=True)  # JSON in a string
    equivalent["incident_config"]["auto_relate_grouped_alerts"] = False  # a default filled in
    equivalent = roundtrip(equivalent)  # numbers as doubles
    emulator.reset_log()

    result = routes.diff("r", inputs(olds), inputs(equivalent))
    assert (result.changes, result.replaces) == (False, None)
    changed = compiled_route(channel="C0OTHER001")
    result = routes.diff("r", inputs(olds), inputs(changed))
    assert (result.changes, result.replaces) == (True, None)
    assert routes.diff("r", inputs(olds), inputs(olds, claim=True)).changes is True
    assert calls(emulator) == []


def test_only_a_new_source_type_replaces_a_source(source_payload: Callable[..., dict]) -> None:
    olds = inputs(source_payload(), adopt=None)
    renamed = sources.diff("s", olds, inputs(source_payload("Alertmanager (Prod)")))
    assert (renamed.changes, renamed.replaces, renamed.delete_before_replace) == (True, None, None)
    retyped = sources.diff("s", olds, inputs(source_payload(source_type="http")))
    assert (retyped.changes, retyped.replaces, retyped.delete_before_replace) == (True, ["payload"], True)


# --- read (refresh) ----------------------------------------------------------------------------


def test_create_read_diff_shows_no_change_despite_the_normalisations(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    props = inputs(compiled_route())
    route_id, outs = create_route(props)
    live = client.get_alert_route(route_id)
    # The server really did normalise: the test is only meaningful if these hold.
    operations = {c["operation"]["value"] for g in live["condition_groups"] for c in g["conditions"]}
    assert operations == {"contains_one_of"}
    assert [e["reference"] for e in live["expressions"]] == ["b_team", "a_parsed"]
    assert "users" in live["escalation_config"]["escalation_targets"][0]
    sent = props["payload"]["incident_template"]["summary"]["binding"]["value"]["literal"]
    assert live["incident_template"]["summary"]["binding"]["value"]["literal"] != sent

    emulator.reset_log()
    read = routes.read(route_id, outs)
    assert calls(emulator) == [f"GET /v2/alert_routes/{route_id}"]
    assert (read.id, roundtrip(read.outs)) == (route_id, outs), "a refresh after an apply shows no diff"
    assert read.inputs == {k: outs[k] for k in props}
    emulator.reset_log()
    assert routes.diff(route_id, roundtrip(read.outs), roundtrip(props)).changes is False
    assert calls(emulator) == []


def test_read_after_a_dashboard_delete_is_gone(client: IncidentIoClient, compiled_route: Callable[..., dict]) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    client.delete_alert_route(route_id)
    read = routes.read(route_id, outs)
    assert (read.id, read.outs) == (None, {})


def test_read_after_a_dashboard_edit_returns_the_live_state_in_input_shape(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    props = inputs(compiled_route())
    route_id, outs = create_route(props)
    emulator.edit_route_out_of_band(route_id, set_channel("C0DASHBOARD"))

    read = routes.read(route_id, outs)
    refreshed = roundtrip(read.outs)
    assert refreshed["version"] == 2
    assert json.dumps(refreshed["payload"]).count(PATH_REF) == 1, "ids are mapped back to placeholders"
    assert SEVERITY_REF in json.dumps(refreshed["payload"])
    assert differences(canonical_route(props["payload"]), canonical_route(refreshed["payload"])) == ["channel_config"]
    assert read.inputs["payload"] == read.outs["payload"]
    assert routes.diff(route_id, refreshed, roundtrip(props)).changes is True

    # `pulumi refresh` then `pulumi up`: the stack file wins, no drift error.
    emulator.reset_log()
    updated = routes.update(route_id, refreshed, roundtrip(props))
    assert calls(emulator) == [f"GET /v2/alert_routes/{route_id}", f"PUT /v2/alert_routes/{route_id}"]
    assert updated.outs["version"] == 3
    live = client.get_alert_route(route_id)
    assert live["channel_config"][0]["slack_targets"]["binding"]["array_value"][0]["literal"] == "C0ALERTS01"


# --- update ------------------------------------------------------------------------------------


def test_update_is_one_get_and_one_put(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    news = roundtrip(inputs(compiled_route(channel="C0NEWCHAN1")))
    emulator.reset_log()
    result = routes.update(route_id, outs, news)
    assert calls(emulator) == [f"GET /v2/alert_routes/{route_id}", f"PUT /v2/alert_routes/{route_id}"]
    assert result.outs["version"] == 2
    assert result.outs["payload"] == news["payload"]
    assert result.outs["applied"] == canonical_route(client.get_alert_route(route_id))


def test_update_after_an_out_of_band_edit_names_the_fields(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))

    def dashboard(config: dict) -> None:
        set_channel("C0DASHBOARD")(config)
        config["enabled"] = False

    emulator.edit_route_out_of_band(route_id, dashboard)
    with pytest.raises(DriftError) as error:
        routes.update(route_id, outs, roundtrip(inputs(compiled_route("Renamed"))))
    assert error.value.fields == ["channel_config", "enabled"]
    assert str(error.value).startswith(
        "alert route 'Renamed' was changed outside this stack (channel_config, enabled). "
        "Run `pulumi refresh -s production`"
    )
    assert "\n" not in str(error.value)
    assert client.get_alert_route(route_id)["version"] == 2, "nothing was written"


def test_update_of_a_route_deleted_in_the_dashboard_advises_refresh(
    client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    client.delete_alert_route(route_id)
    with pytest.raises(DriftError, match=r"\(\(deleted\)\)\. Run `pulumi refresh -s production`"):
        routes.update(route_id, outs, roundtrip(inputs(compiled_route(channel="C0NEWCHAN1"))))


def bump_version_after_each_get(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, times: int) -> None:
    """Someone saves the route (same content, new version) between our GET and our PUT."""
    real_get = IncidentIoClient.get_alert_route
    left = [times]

    def racing_get(self: IncidentIoClient, route_id: str) -> dict:
        route = real_get(self, route_id)
        if left[0] > 0:
            left[0] -= 1
            emulator.edit_route_out_of_band(route_id, lambda config: None)
        return route

    monkeypatch.setattr(IncidentIoClient, "get_alert_route", racing_get)


def test_a_version_race_with_unchanged_content_is_retried(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, compiled_route: Callable[..., dict]
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    bump_version_after_each_get(monkeypatch, emulator, times=1)
    emulator.reset_log()
    result = routes.update(route_id, outs, roundtrip(inputs(compiled_route(channel="C0NEWCHAN1"))))
    one = [f"GET /v2/alert_routes/{route_id}", f"PUT /v2/alert_routes/{route_id}"]
    assert calls(emulator) == one * 2  # the first PUT got 409
    assert result.outs["version"] == 3


def test_version_races_are_retried_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, compiled_route: Callable[..., dict]
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    bump_version_after_each_get(monkeypatch, emulator, times=100)
    emulator.reset_log()
    with pytest.raises(IncidentIoError, match="version conflict 3 times in a row"):
        routes.update(route_id, outs, roundtrip(inputs(compiled_route(channel="C0NEWCHAN1"))))
    assert len(calls(emulator)) == 2 * MAX_UPDATE_ATTEMPTS


def test_a_rejected_payload_is_not_retried(emulator: Emulator, compiled_route: Callable[..., dict]) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    bad = compiled_route()
    bad["alert_sources"][0]["alert_source_id"] = "01NOSUCHSOURCE000000000000"
    emulator.reset_log()
    with pytest.raises(RejectedError, match="alert_sources"):
        routes.update(route_id, outs, roundtrip(inputs(bad)))
    assert len(calls(emulator)) == 2


def test_an_update_whose_answer_was_lost_is_not_an_error(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    news = roundtrip(inputs(compiled_route(channel="C0NEWCHAN1")))
    emulator.inject(Fault.commit_then_drop(method="PUT"))
    result = routes.update(route_id, outs, news)
    assert result.outs["version"] == 2
    # And if the engine never recorded it, the next update finds the wanted state already live.
    emulator.reset_log()
    again = routes.update(route_id, outs, news)
    assert calls(emulator) == [f"GET /v2/alert_routes/{route_id}"]
    assert again.outs["version"] == 2


# --- delete ------------------------------------------------------------------------------------


def test_delete_treats_already_gone_as_done(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict], seeded: Seeded
) -> None:
    route_id, outs = create_route(inputs(compiled_route()))
    routes.delete(route_id, outs)
    routes.delete(route_id, outs)
    assert client.list_alert_routes() == []
    sources.delete(seeded.source_id, {})
    sources.delete(seeded.source_id, {})
    assert client.list_alert_sources() == []


# --- faults ------------------------------------------------------------------------------------


def test_faults_are_absorbed_without_duplicates(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict], sleeps: FakeSleep
) -> None:
    emulator.inject(Fault.rate_limited(retry_after=2.0, method="POST"))
    emulator.inject(Fault.commit_then_drop(method="POST", path_prefix="/v2/alert_routes"))
    emulator.inject(Fault.server_error(method="GET", path_prefix="/v2/escalation_paths"))
    route_id, outs = create_route(inputs(compiled_route()))
    assert [r["id"] for r in client.list_alert_routes()] == [route_id]
    assert sleeps.calls, "the 429 was waited out (fake sleep)"

    emulator.inject(Fault.drop(method="GET"))
    emulator.inject(Fault.server_error(times=2, method="PUT"))
    assert routes.update(route_id, outs, roundtrip(inputs(compiled_route(channel="C0NEWCHAN1")))).outs["version"] == 2
    emulator.inject(Fault.commit_then_drop(method="DELETE"))
    routes.delete(route_id, outs)
    assert client.list_alert_routes() == []


# --- sources: outputs, adoption, ownership ------------------------------------------------------


def test_source_outputs_url_and_token_and_refresh_is_quiet(
    emulator: Emulator, client: IncidentIoClient, source_payload: Callable[..., dict], seeded: Seeded
) -> None:
    payload = with_placeholders(source_payload("Checkly (Production)", source_type="checkly", attr_id="X"), seeded)
    payload["template"]["attributes"][0]["alert_attribute_id"] = SEVERITY_REF
    props = inputs(payload, adopt=None)
    source_id, outs = create_source(props)
    live = client.get_alert_source(source_id)
    url = f"{emulator.base_url}/v2/alert_events/checkly/{source_id}"
    assert outs["alert_events_url"] == live["alert_events_url"] == url
    assert outs["secret_token"] == live["secret_token"]
    assert outs["references"] == {SEVERITY_REF: seeded.severity_attr}
    assert "secret_token" not in json.dumps(outs["applied"])
    read = sources.read(source_id, outs)
    assert roundtrip(read.outs) == outs
    assert sources.diff(source_id, roundtrip(read.outs), roundtrip(props)).changes is False


def test_refresh_picks_up_a_token_rotated_in_the_dashboard(
    emulator: Emulator, source_payload: Callable[..., dict]
) -> None:
    props = inputs(source_payload("Grafana", source_type="grafana"), adopt=None)
    source_id, outs = create_source(props)
    token = emulator.rotate_source_token(source_id)
    read = roundtrip(sources.read(source_id, outs).outs)
    assert read == {**outs, "secret_token": token}  # only the token moved: delivery follows it
    assert sources.diff(source_id, read, roundtrip(props)).changes is False


def test_source_update_is_two_calls_and_drift_is_refused(
    emulator: Emulator, source_payload: Callable[..., dict], seeded: Seeded
) -> None:
    source_id, outs = create_source(inputs(source_payload("Grafana", source_type="grafana"), adopt=None))
    changed = source_payload("Grafana", source_type="grafana")
    changed["template"]["title"] = {"reference": "alert.description"}
    emulator.reset_log()
    updated = sources.update(source_id, outs, roundtrip(inputs(changed, adopt=None)))
    assert calls(emulator) == [f"GET /v2/alert_sources/{source_id}", f"PUT /v2/alert_sources/{source_id}"]
    assert updated.outs["secret_token"] == outs["secret_token"]

    emulator.edit_source_out_of_band(source_id, lambda config: config.update(name="Grafana (renamed by hand)"))
    with pytest.raises(DriftError) as error:
        sources.update(source_id, roundtrip(updated.outs), roundtrip(inputs(source_payload("Grafana 2"), adopt=None)))
    assert error.value.fields == ["name"]
    assert outs["secret_token"] not in str(error.value)


def test_adoption_takes_over_the_existing_source_keeping_its_token(
    emulator: Emulator, client: IncidentIoClient, source_payload: Callable[..., dict], seeded: Seeded
) -> None:
    before = client.get_alert_source(seeded.source_id)
    declared = source_payload(attr_id=SEVERITY_REF)  # same name and type, another description
    declared["template"]["description"] = {"reference": "alert.description"}
    emulator.reset_log()
    with pytest.raises(
        LiveSettingsError, match=r"would discard live settings it does not declare:\n  - the template description"
    ):
        create_source(inputs(declared, adopt=seeded.source_id))
    assert [c for c in calls(emulator) if not c.startswith("GET")] == [], "nothing was written"
    assert client.get_alert_source(seeded.source_id) == before
    emulator.reset_log()
    source_id, outs = create_source(inputs(declared, adopt=seeded.source_id, discard_live=True))  # the opt-in
    assert source_id == seeded.source_id
    assert "POST /v2/alert_sources" not in calls(emulator), "no duplicate"
    assert calls(emulator)[-2:] == [f"GET /v2/alert_sources/{source_id}", f"PUT /v2/alert_sources/{source_id}"]
    assert outs["secret_token"] == before["secret_token"], "Alertmanager keeps working"
    assert client.get_alert_source(source_id)["template"]["description"]["reference"] == "alert.description"
    assert outs["adopt"] == seeded.source_id


@pytest.mark.parametrize(
    ("name", "source_type", "message"),
    [
        (
            "Alertmanager (Staging)",
            "alertmanager",
            "the 'alertmanager' source 'Alertmanager (Production)', the stack"
            " declares the 'alertmanager' source 'Alertmanager (Staging)'",
        ),
        ("Alertmanager (Production)", "http", "the stack declares the 'http' source"),
    ],
)
def test_adoption_refuses_an_object_that_is_not_the_declared_one(
    emulator: Emulator, source_payload: Callable[..., dict], seeded: Seeded, name: str, source_type: str, message: str
) -> None:
    emulator.reset_log()
    with pytest.raises(OwnershipError, match=re.escape(message)):
        sources.create(roundtrip(inputs(source_payload(name, source_type=source_type), adopt=seeded.source_id)))
    assert [c for c in calls(emulator) if not c.startswith("GET")] == [], "nothing was changed"


def test_adoption_of_an_unknown_id_is_a_clear_error(source_payload: Callable[..., dict]) -> None:
    with pytest.raises(AlertingError, match="adopt: no alert source with id 01NOSUCHSOURCE000000000000"):
        sources.create(roundtrip(inputs(source_payload(), adopt="01NOSUCHSOURCE000000000000")))


def test_route_adoption_takes_over_the_live_route_without_a_duplicate(
    emulator: Emulator,
    client: IncidentIoClient,
    route_payload: Callable[..., dict],
    compiled_route: Callable[..., dict],
) -> None:
    live = client.create_alert_route(route_payload(channel="C0BYHAND01"))  # made in the dashboard
    emulator.reset_log()
    route_id, outs = create_route(inputs(compiled_route(), adopt=live["id"]))

    assert route_id == live["id"]
    assert [r["id"] for r in client.list_alert_routes()] == [live["id"]], "no duplicate"
    assert "POST /v2/alert_routes" not in calls(emulator)
    now = client.get_alert_route(route_id)
    assert now["version"] == live["version"] + 1 == outs["version"]  # made to match the stack file
    assert differences(canonical_route(now), canonical_route(route_payload())) == []
    assert outs["adopt"] == live["id"]


def test_route_adoption_of_a_route_already_as_declared_changes_nothing(
    emulator: Emulator,
    client: IncidentIoClient,
    route_payload: Callable[..., dict],
    compiled_route: Callable[..., dict],
) -> None:
    live = client.create_alert_route(route_payload())
    emulator.reset_log()
    create_route(inputs(compiled_route(), adopt=live["id"]))
    assert [c for c in calls(emulator) if not c.startswith("GET")] == []
    assert client.get_alert_route(live["id"])["version"] == live["version"]


def test_route_adoption_refuses_a_route_of_another_name(
    emulator: Emulator,
    client: IncidentIoClient,
    route_payload: Callable[..., dict],
    compiled_route: Callable[..., dict],
) -> None:
    live = client.create_alert_route(route_payload("Staging Notifications"))
    emulator.reset_log()
    with pytest.raises(OwnershipError, match="it is the route 'Staging Notifications', the stack declares"):
        routes.create(roundtrip(inputs(compiled_route(), adopt=live["id"])))
    assert [c for c in calls(emulator) if not c.startswith("GET")] == [], "nothing was changed"
    with pytest.raises(AlertingError, match="adopt: no alert route with id 01NOSUCHROUTE0000000000000"):
        routes.create(roundtrip(inputs(compiled_route(), adopt="01NOSUCHROUTE0000000000000")))


def test_claims_carry_the_owning_stack_and_lock_the_dashboard(
    emulator: Emulator, compiled_route: Callable[..., dict], source_payload: Callable[..., dict], seeded: Seeded
) -> None:
    route_id, outs = create_route(inputs(compiled_route(), claim=True))
    assert outs["claimed"] is True
    claim = emulator.managed_resources[("alert_route", route_id)]
    assert claim["annotations"] == {OWNER_ANNOTATION: "alerting/production"}
    with pytest.raises(PermissionError):
        emulator.edit_route_out_of_band(route_id, set_channel("C0DASHBOARD"))

    live = source_payload(attr_id=seeded.severity_attr)  # the live source as it is: nothing to discard
    source_id, _ = create_source(inputs(live, claim=True, adopt=seeded.source_id))
    assert emulator.managed_resources[("alert_source", source_id)]["annotations"][OWNER_ANNOTATION] == (
        "alerting/production"
    )
    # Opting in later claims on the next update; no PUT when only the claim changed.
    plain_id, plain = create_route(inputs(compiled_route("Later"), claim=False))
    emulator.reset_log()
    result = routes.update(plain_id, plain, roundtrip(inputs(compiled_route("Later"), claim=True)))
    assert calls(emulator) == [f"GET /v2/alert_routes/{plain_id}", "POST /v2/managed_resources"]
    assert result.outs["claimed"] is True


def keep_the_first_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API where a second claim does not replace the first (undocumented either way)."""
    real = emulator_module.Emulator._create_managed_resource

    def first_claim_wins(self: Emulator, req: Any) -> Any:
        existing = self.managed_resources.get((req.body.get("resource_type"), req.body.get("resource_id")))
        if existing is not None:
            return emulator_module._Reply(200, {"managed_resource": existing})
        return real(self, req)

    table = [(m, p, first_claim_wins if h is real else h, k) for m, p, h, k in emulator_module._ROUTES]
    monkeypatch.setattr(emulator_module, "_ROUTES", table)


def test_adoption_refuses_a_source_claimed_by_another_stack(
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    client: IncidentIoClient,
    source_payload: Callable[..., dict],
    seeded: Seeded,
) -> None:
    keep_the_first_claim(monkeypatch)
    client.create_managed_resource("alert_source", seeded.source_id, {OWNER_ANNOTATION: "alerting/staging"})
    declared = source_payload(attr_id=SEVERITY_REF)
    declared["template"]["description"] = {"reference": "alert.description"}
    emulator.reset_log()
    with pytest.raises(OwnershipError, match=r"is claimed by stack 'alerting/staging', not 'alerting/production'"):
        sources.create(roundtrip(inputs(declared, claim=True, adopt=seeded.source_id, discard_live=True)))
    assert "PUT" not in " ".join(calls(emulator)), "refused before anything was changed"


def test_a_failed_claim_leaves_no_object_behind(
    emulator: Emulator, client: IncidentIoClient, compiled_route: Callable[..., dict]
) -> None:
    emulator.inject(Fault.server_error(status=403, method="POST", path_prefix="/v2/managed_resources"))
    with pytest.raises(RejectedError):
        routes.create(roundtrip(inputs(compiled_route(), claim=True)))
    assert client.list_alert_routes() == []


# --- credentials and secrets -------------------------------------------------------------------


def test_environment_credentials_are_the_fallback(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, api_key: str, compiled_route: Callable[..., dict]
) -> None:
    configure(None, None)
    monkeypatch.setenv("INCIDENT_IO_TOKEN", api_key)
    monkeypatch.setenv("INCIDENT_IO_API_URL", emulator.base_url)
    assert create_route(inputs(compiled_route()))[1]["version"] == 1


def test_configure_per_provider_class_keeps_the_shared_client(api_key: str, emulator: Emulator) -> None:
    # The engine configures each provider class once, maybe while the other one's calls run.
    first = provider_module._PROCESS.client()
    sources.configure(ConfigureRequest(Config({CONFIG_API_KEY: api_key, CONFIG_API_URL: emulator.base_url}, "x")))
    assert provider_module._PROCESS.client() is first
    configure("inc_other_key_000000000000", emulator.base_url)
    assert provider_module._PROCESS.client() is not first
    assert first.list_alert_sources() is not None, "the old client was not closed under its users"


def test_missing_or_wrong_credentials_fail_clearly(emulator: Emulator, compiled_route: Callable[..., dict]) -> None:
    configure(None, emulator.base_url)
    with pytest.raises(IncidentIoError, match=r"no incident\.io API key: set INCIDENT_IO_TOKEN or alerting:"):
        routes.create(roundtrip(inputs(compiled_route())))
    configure("inc_wrong_key_0123456789", emulator.base_url)
    with pytest.raises(AuthenticationError) as error:
        routes.create(roundtrip(inputs(compiled_route())))
    assert "inc_wrong_key_0123456789" not in str(error.value)


def test_pickled_providers_hold_no_credentials_and_pickle_by_reference(api_key: str, emulator: Emulator) -> None:
    assert api_key not in repr(provider_module._PROCESS) + repr(provider_module._PROCESS.client())
    for provider in (AlertSourceProvider(), AlertRouteProvider()):
        assert vars(provider) == {}
        text = serialize_provider(provider)
        raw = base64.b64decode(text)
        assert api_key.encode() not in raw and api_key not in text
        assert emulator.base_url.encode() not in raw
        assert b"components.incidentio.provider" in raw and type(provider).__name__.encode() in raw
        assert len(raw) < 300, "by reference: module and class name, no code"


def test_secret_token_never_appears_in_an_error(
    emulator: Emulator, client: IncidentIoClient, source_payload: Callable[..., dict], seeded: Seeded
) -> None:
    token = client.get_alert_source(seeded.source_id)["secret_token"]
    problems: list[Exception] = []
    with pytest.raises(OwnershipError) as adopt_other:
        sources.create(roundtrip(inputs(source_payload("Other"), adopt=seeded.source_id)))
    with pytest.raises(RejectedError) as name_taken:  # 422
        sources.create(roundtrip(inputs(source_payload(), adopt=None)))
    problems += [adopt_other.value, name_taken.value]
    mine, outs = create_source(inputs(source_payload("Mine", source_type="http"), adopt=None))
    emulator.edit_source_out_of_band(mine, lambda config: config.update(name="Edited"))
    with pytest.raises(DriftError) as drift:
        sources.update(mine, outs, roundtrip(inputs(source_payload("Mine 2", source_type="http"), adopt=None)))
    problems.append(drift.value)
    tokens = [token, outs["secret_token"]]
    for problem in problems:
        assert not [t for t in tokens if t in str(problem) or t in repr(problem.args)]


# --- the resource classes ----------------------------------------------------------------------


def test_resource_types_and_interfaces() -> None:
    assert AlertSource._resource_type_name == "dynamic/incidentio:AlertSource"
    assert AlertRoute._resource_type_name == "dynamic/incidentio:AlertRoute"


def test_alert_source_registers_the_token_and_the_ping_url_as_secret_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def record(self: Any, provider: Any, name: str, props: dict, opts: Any = None) -> None:
        seen.update(provider=provider, name=name, props=props, opts=opts)

    monkeypatch.setattr("pulumi.dynamic.Resource.__init__", record)
    monkeypatch.setattr(provider_module.pulumi, "get_project", lambda: "alerting")
    AlertSource("alertmanager", payload={"name": "x"}, stack=STACK, adopt="01ABC", claim_managed=True)
    assert isinstance(seen["provider"], AlertSourceProvider)
    assert seen["opts"].additional_secret_outputs == ["secret_token", "heartbeat_ping_url"]
    assert {k: v for k, v in seen["props"].items() if v is not None} == {
        "payload": {"name": "x"},
        "stack": STACK,
        "project": "alerting",
        "adopt": "01ABC",
        "claim_managed": True,
        "discard_live": False,
    }
    assert {"secret_token", "alert_events_url", "heartbeat_ping_url", "declared", "applied"} <= set(seen["props"])


# --- adoption never silently discards live configuration ---------------------------------------


def production_source_payload() -> dict:
    """The committed production stack's compiled Alertmanager source (placeholders included)."""
    compiled = compile_stack(load("production"))["incident_io"]["alert_sources"]
    return next(s["payload"] for s in compiled if s["key"] == "alertmanager")


@pytest.fixture
def live_alertmanager(emulator: Emulator, client: IncidentIoClient) -> dict:
    """The source as someone clicked it together: `severity` bound from the payload, a custom title."""
    severity = emulator.add_alert_attribute("severity")
    template: dict[str, Any] = {
        "title": {"literal": "Prod: {{ alertname }}"},
        "description": {"reference": "alert.description"},
    }
    bind_paths(template, {severity: ("severity", "$.labels.severity")})
    return client.create_alert_source(
        {"name": "Alertmanager (Production)", "source_type": "alertmanager", "template": template}
    )


def test_adopting_with_a_template_that_drops_bindings_stops_before_any_write(
    emulator: Emulator, client: IncidentIoClient, live_alertmanager: dict
) -> None:
    """The issue's reproduction: the stack once sent `template.attributes: []` over a live binding."""
    declared = production_source_payload()
    declared["template"]["attributes"], declared["template"]["expressions"] = [], []
    emulator.reset_log()
    with pytest.raises(LiveSettingsError) as raised:
        create_source(inputs(declared, adopt=live_alertmanager["id"]))
    assert [c for c in calls(emulator) if not c.startswith("GET")] == [], "nothing was written"
    assert client.get_alert_source(live_alertmanager["id"]) == live_alertmanager
    losses = raised.value.losses
    assert any(loss.startswith("the binding of alert attribute") for loss in losses)
    assert any(loss.startswith("template expression 'severity'") for loss in losses)
    assert any(loss.startswith("the template title") for loss in losses)
    assert "python -m components import production --write" in str(raised.value)
    assert "discardLiveSettings: true" in str(raised.value)


def test_the_committed_stack_keeps_the_live_binding_and_stops_only_for_the_title(
    emulator: Emulator, client: IncidentIoClient, live_alertmanager: dict
) -> None:
    with pytest.raises(LiveSettingsError) as raised:
        create_source(inputs(production_source_payload(), adopt=live_alertmanager["id"]))
    assert raised.value.losses == ["the template title ({'literal': 'Prod: {{ alertname }}'})"]
    _, outs = create_source(inputs(production_source_payload(), adopt=live_alertmanager["id"], discard_live=True))
    live = client.get_alert_source(live_alertmanager["id"])
    assert live["template"]["title"]["reference"] == "alert.title"  # the opt-in let it go
    assert [a["binding"]["value"]["reference"] for a in live["template"]["attributes"]] == ['expressions["severity"]']
    assert outs["declared"]["template"]["attributes"], "what the stack declared is kept in the state"


def test_an_update_that_drops_a_binding_someone_added_stops(
    emulator: Emulator, client: IncidentIoClient, live_alertmanager: dict
) -> None:
    """After `pulumi refresh` took a dashboard edit into the state, `up` still refuses to drop it."""
    declared = production_source_payload()
    _, outs = create_source(inputs(declared, adopt=live_alertmanager["id"], discard_live=True))
    team = emulator.add_alert_attribute("team")
    emulator.edit_source_out_of_band(
        live_alertmanager["id"],
        lambda s: s["template"]["attributes"].append(
            {"alert_attribute_id": team, "binding": {"value": {"literal": "payments"}}}
        ),
    )
    read = sources.read(live_alertmanager["id"], outs)  # what `pulumi refresh` does
    with pytest.raises(LiveSettingsError, match=f"the binding of alert attribute {team}"):
        sources.update(live_alertmanager["id"], roundtrip(read.outs), roundtrip(inputs(declared)))
    removed = {**declared, "template": {**declared["template"], "attributes": [], "expressions": []}}
    # Removing a binding the stack itself declared is the stack's own change: no stop for that one.
    with pytest.raises(LiveSettingsError) as raised:
        sources.update(live_alertmanager["id"], roundtrip(read.outs), roundtrip(inputs(removed)))
    assert all(team in loss for loss in raised.value.losses if "binding" in loss)


def test_adopting_a_route_with_settings_the_language_cannot_express_stops(
    emulator: Emulator,
    client: IncidentIoClient,
    route_payload: Callable[..., dict],
    compiled_route: Callable[..., dict],
    seeded: Seeded,
) -> None:
    live = route_payload()
    live["channel_config"][0]["condition_groups"] = [
        {
            "conditions": [
                {
                    "subject": f"alert.attributes.{seeded.severity_attr}",
                    "operation": "one_of",
                    "param_bindings": [{"array_value": [{"literal": "critical"}]}],
                }
            ]
        }
    ]
    live_id = client.create_alert_route(live)["id"]
    declared = compiled_route()
    emulator.reset_log()
    with pytest.raises(LiveSettingsError, match="a conditional Slack channel"):
        create_route(inputs(declared, adopt=live_id))
    assert [c for c in calls(emulator) if not c.startswith("GET")] == []
