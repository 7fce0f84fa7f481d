"""The emulator over real HTTP: what a client of incident.io would observe."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from components.incidentio.emulator import Emulator, Fault
from components.incidentio.normalise import canonical_route, differences, route_payload_from_response
from components.schemas import validate_api_body

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


@pytest.fixture
def http(emulator: Emulator, api_key: str) -> Iterator[httpx.Client]:
    """A raw httpx client authenticated with the API key (no retries, no translation)."""
    with httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


def _create_route(http: httpx.Client, payload: dict) -> dict:
    response = http.post("/v2/alert_routes", json=payload)
    assert response.status_code == 201, response.text
    return response.json()["alert_route"]


def _conditions(route: dict) -> list[dict]:
    return route["alert_sources"][0]["condition_groups"][0]["conditions"]


# --- auth and envelopes ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", [None, "Bearer wrong", "Basic {key}", "Bearer {key}x"])
def test_requests_without_the_right_bearer_key_get_401_envelope(
    emulator: Emulator, api_key: str, scheme: str | None
) -> None:
    headers = {"Authorization": scheme.format(key=api_key)} if scheme else {}
    response = httpx.get(f"{emulator.base_url}/v2/alert_sources", headers=headers)

    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "authentication_error" and body["status"] == 401
    assert body["request_id"] and body["errors"][0]["message"]


def test_unknown_ids_and_endpoints_get_404_envelope(http: httpx.Client) -> None:
    for path in ("/v2/alert_routes/01HZZZNOPE0000000000000000", "/v2/alert_sources/nope", "/v2/nothing"):
        response = http.get(path)
        assert response.status_code == 404
        assert response.json()["type"] == "not_found"


# --- alert routes ----------------------------------------------------------------------------


def test_route_create_returns_201_with_ulid_version_1_and_a_valid_response_shape(
    http: httpx.Client, route_payload: Callable[..., dict]
) -> None:
    route = _create_route(http, route_payload())

    assert ULID.fullmatch(route["id"])
    assert route["version"] == 1
    assert validate_api_body("AlertRouteV2", route) == []
    assert http.get(f"/v2/alert_routes/{route['id']}").json()["alert_route"] == route


def test_route_read_back_applies_the_documented_normalisations(
    http: httpx.Client, route_payload: Callable[..., dict], seeded: Any
) -> None:
    route = _create_route(http, route_payload())

    severity, team = _conditions(route)
    # Response-shaped subject / operation; aliases chosen by subject type.
    assert severity["subject"] == {"label": "Alert → severity", "reference": f"alert.attributes.{seeded.severity_attr}"}
    assert severity["operation"]["value"] == "contains_one_of"  # string attribute: one_of
    assert team["operation"]["value"] == "name_contains"  # catalog attribute: contains
    assert route["condition_groups"][0]["conditions"][0]["operation"]["value"] == "contains_one_of"  # alert.title
    # Binding values carry labels; escalation path ids are labelled with the path's name.
    target = route["escalation_config"]["escalation_targets"][0]
    assert target["escalation_paths"]["array_value"] == [{"literal": seeded.path_id, "label": "Engineering On-Call"}]
    assert target["users"] == target["escalation_paths"]  # legacy echo
    # Expressions come back in another order, decorated with `returns`.
    assert [e["reference"] for e in route["expressions"]] == ["b_team", "a_parsed"]
    assert all("returns" in e for e in route["expressions"])
    # Rich text comes back re-serialised: equal as JSON, not as a string.
    sent = route_payload()["incident_template"]["summary"]["binding"]["value"]["literal"]
    got = route["incident_template"]["summary"]["binding"]["value"]["literal"]
    assert got != sent and json.loads(got) == json.loads(sent)


def test_route_response_converts_back_to_a_payload_equal_to_what_was_sent(
    http: httpx.Client, route_payload: Callable[..., dict]
) -> None:
    route = _create_route(http, route_payload())
    back = route_payload_from_response(route)

    assert validate_api_body("AlertRoutesUpdatePayloadV2", {**back, "version": 2}) == []
    assert differences(canonical_route(back), canonical_route(route_payload())) == []
    response = http.put(f"/v2/alert_routes/{route['id']}", json={**back, "version": 2})
    assert response.status_code == 200, response.text
    assert canonical_route(response.json()["alert_route"]) == canonical_route(route)


def test_route_list_is_slim_and_paged_in_creation_order(http: httpx.Client, route_payload: Callable[..., dict]) -> None:
    ids = [_create_route(http, route_payload(f"Route {i}"))["id"] for i in range(7)]

    seen, after, pages = [], None, 0
    while True:
        params = {"page_size": 3} | ({"after": after} if after else {})
        body = http.get("/v2/alert_routes", params=params).json()
        pages += 1
        assert all(set(item) == {"id", "name", "enabled"} for item in body["alert_routes"])
        seen += [item["id"] for item in body["alert_routes"]]
        after = body["pagination_meta"].get("after")
        if after is None:
            break

    assert seen == ids
    assert pages == 3


@pytest.mark.parametrize("query", ["", "?page_size=0", "?page_size=51", "?page_size=ten"])
def test_route_list_requires_page_size_from_1_to_50(http: httpx.Client, query: str) -> None:
    response = http.get(f"/v2/alert_routes{query}")

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"field": "page_size"}


def test_route_put_requires_current_version_plus_one(http: httpx.Client, route_payload: Callable[..., dict]) -> None:
    route = _create_route(http, route_payload())
    url = f"/v2/alert_routes/{route['id']}"

    for stale in (1, 3):
        response = http.put(url, json={**route_payload("Renamed"), "version": stale})
        assert response.status_code == 409
        assert response.json()["errors"][0]["source"] == {"field": "version"}

    ok = http.put(url, json={**route_payload("Renamed"), "version": 2})
    assert ok.status_code == 200
    assert ok.json()["alert_route"]["version"] == 2
    assert http.get(url).json()["alert_route"]["name"] == "Renamed"


def test_route_put_is_a_full_replacement(http: httpx.Client, route_payload: Callable[..., dict]) -> None:
    route = _create_route(http, route_payload())
    payload = route_payload()
    payload["expressions"] = []

    updated = http.put(f"/v2/alert_routes/{route['id']}", json={**payload, "version": 2}).json()["alert_route"]

    assert updated["expressions"] == []


def test_route_delete_answers_204_then_404(http: httpx.Client, route_payload: Callable[..., dict]) -> None:
    route = _create_route(http, route_payload())
    url = f"/v2/alert_routes/{route['id']}"

    first = http.delete(url)
    assert first.status_code == 204 and first.content == b""
    assert http.delete(url).status_code == 404
    assert http.get(url).status_code == 404


@pytest.mark.sends_invalid_bodies
def test_schema_violations_get_422_and_are_recorded(
    emulator: Emulator, http: httpx.Client, route_payload: Callable[..., dict]
) -> None:
    bad = route_payload()
    del bad["incident_template"]
    bad["condition_groups"][0]["conditions"][0]["subject"] = {"reference": "alert.title"}  # response shape

    response = http.post("/v2/alert_routes", json=bad)

    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "validation_error"
    fields = sorted(e["source"]["field"] for e in body["errors"])
    assert fields == ["condition_groups[0].conditions[0].subject", "incident_template"]
    assert [(v.method, v.schema) for v in emulator.schema_violations] == [("POST", "AlertRoutesCreatePayloadV2")]
    assert http.get("/v2/alert_routes", params={"page_size": 50}).json()["alert_routes"] == []


def test_routes_must_reference_existing_objects(http: httpx.Client, route_payload: Callable[..., dict]) -> None:
    unresolved = route_payload()
    unresolved["escalation_config"]["escalation_targets"][0]["escalation_paths"]["array_value"] = [
        {"literal": "${escalation_path:Engineering On-Call}"}
    ]
    unknown_source = route_payload()
    unknown_source["alert_sources"][0]["alert_source_id"] = "${alert_source:prod}"

    for payload, field in [
        (unresolved, "escalation_config.escalation_targets[0].escalation_paths"),
        (unknown_source, "alert_sources[0].alert_source_id"),
    ]:
        response = http.post("/v2/alert_routes", json=payload)
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"]["field"] == field


def test_out_of_band_edit_bumps_version_and_is_refused_once_claimed(
    emulator: Emulator, http: httpx.Client, route_payload: Callable[..., dict]
) -> None:
    route = _create_route(http, route_payload())
    url = f"/v2/alert_routes/{route['id']}"

    emulator.edit_route_out_of_band(route["id"], lambda r: r.__setitem__("name", "Dashboard edit"))

    live = http.get(url).json()["alert_route"]
    assert (live["name"], live["version"]) == ("Dashboard edit", 2)
    assert http.put(url, json={**route_payload(), "version": 2}).status_code == 409  # our view is stale

    claim = http.post(
        "/v2/managed_resources",
        json={"resource_type": "alert_route", "resource_id": route["id"], "annotations": {"stack": "prod"}},
    )
    assert claim.status_code == 200
    assert claim.json()["managed_resource"]["managed_by"] == "external"
    with pytest.raises(PermissionError):
        emulator.edit_route_out_of_band(route["id"], lambda r: r.__setitem__("name", "Again"))
    assert http.get(url).json()["alert_route"]["version"] == 2


def test_out_of_band_source_edit_is_refused_once_claimed(
    emulator: Emulator, http: httpx.Client, source_payload: Callable[..., dict]
) -> None:
    source = http.post("/v2/alert_sources", json=source_payload("Original")).json()["alert_source"]

    emulator.edit_source_out_of_band(source["id"], lambda s: s.update(name="Edited"))
    http.post(
        "/v2/managed_resources",
        json={"resource_type": "alert_source", "resource_id": source["id"], "annotations": {}},
    )
    with pytest.raises(PermissionError):
        emulator.edit_source_out_of_band(source["id"], lambda s: s.update(name="Again"))

    live = http.get(f"/v2/alert_sources/{source['id']}").json()["alert_source"]
    assert (live["name"], live["secret_token"]) == ("Edited", source["secret_token"])


@pytest.mark.sends_invalid_bodies
def test_managed_resource_claims_need_an_existing_object_and_a_valid_body(http: httpx.Client) -> None:
    missing = {"resource_type": "alert_route", "resource_id": "01HZZZNOPE0000000000000000", "annotations": {}}
    assert http.post("/v2/managed_resources", json=missing).status_code == 404
    assert http.post("/v2/managed_resources", json={"resource_type": "alert_route"}).status_code == 422


# --- alert sources ---------------------------------------------------------------------------


def test_source_create_answers_200_with_token_and_events_url(
    emulator: Emulator, http: httpx.Client, source_payload: Callable[..., dict]
) -> None:
    response = http.post("/v2/alert_sources", json=source_payload())

    assert response.status_code == 200
    source = response.json()["alert_source"]
    assert validate_api_body("AlertSourceV2", source) == []
    assert ULID.fullmatch(source["id"])
    assert len(source["secret_token"]) >= 32
    assert source["alert_events_url"] == f"{emulator.base_url}/v2/alert_events/alertmanager/{source['id']}"
    assert source["template"]["title"]["label"]
    listed = http.get("/v2/alert_sources").json()
    assert listed == {"alert_sources": [source]}  # no paging; token shown on list too


def test_source_names_are_unique_and_type_is_fixed(http: httpx.Client, source_payload: Callable[..., dict]) -> None:
    source = http.post("/v2/alert_sources", json=source_payload("A")).json()["alert_source"]
    assert http.post("/v2/alert_sources", json=source_payload("A")).status_code == 422

    url = f"/v2/alert_sources/{source['id']}"
    retyped = http.put(url, json=source_payload("A", source_type="grafana"))
    assert retyped.status_code == 422
    renamed = http.put(url, json=source_payload("B"))
    assert renamed.status_code == 200
    assert renamed.json()["alert_source"]["secret_token"] == source["secret_token"]  # token survives
    assert http.delete(url).status_code == 204
    assert http.get(url).status_code == 404


@pytest.mark.sends_invalid_bodies
def test_source_schema_violation_is_422(
    emulator: Emulator, http: httpx.Client, source_payload: Callable[..., dict]
) -> None:
    payload = source_payload(source_type="carrier_pigeon")

    response = http.post("/v2/alert_sources", json=payload)

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["field"] == "source_type"
    assert emulator.schema_violations[0].schema == "AlertSourcesCreatePayloadV2"


# --- alert events ----------------------------------------------------------------------------


@pytest.fixture
def source(http: httpx.Client, source_payload: Callable[..., dict]) -> dict:
    return http.post("/v2/alert_sources", json=source_payload()).json()["alert_source"]


@pytest.mark.parametrize("style", ["bearer", "basic", "query"])
def test_alert_events_accept_the_source_token_three_ways(emulator: Emulator, source: dict, style: str) -> None:
    token = source["secret_token"]
    headers, params = {}, {}
    if style == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif style == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(f"alertmanager:{token}".encode()).decode()
    else:
        params["token"] = token
    event = {"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "Boom"}}]}

    response = httpx.post(source["alert_events_url"], json=event, headers=headers, params=params)

    assert response.status_code == 202
    assert [(e.source_id, e.source_type, e.body) for e in emulator.alert_events] == [
        (source["id"], "alertmanager", event)
    ]
    assert emulator.alert_events[0].headers["content-type"] == "application/json"


@pytest.mark.parametrize("scheme", [None, "Bearer wrong", "Bearer {api_key}", "Basic d3Jvbmc6d3Jvbmc="])
def test_alert_events_refuse_a_wrong_token(emulator: Emulator, api_key: str, source: dict, scheme: str | None) -> None:
    headers = {"Authorization": scheme.format(api_key=api_key)} if scheme else {}
    response = httpx.post(source["alert_events_url"], json={"status": "firing"}, headers=headers)

    assert response.status_code == 401
    assert response.json()["type"] == "authentication_error"
    assert emulator.alert_events == []


def test_alert_events_for_unknown_source_or_type_are_404(emulator: Emulator, source: dict) -> None:
    auth = {"Authorization": f"Bearer {source['secret_token']}"}
    wrong_type = source["alert_events_url"].replace("/alertmanager/", "/grafana/")
    assert httpx.post(wrong_type, json={}, headers=auth).status_code == 404
    assert (
        httpx.post(f"{emulator.base_url}/v2/alert_events/alertmanager/nope", json={}, headers=auth).status_code == 404
    )


# --- references ------------------------------------------------------------------------------


def test_escalation_paths_page_at_most_25(emulator: Emulator, http: httpx.Client) -> None:
    names = [f"Path {i:02}" for i in range(30)]
    for name in names:
        emulator.add_escalation_path(name)

    first = http.get("/v2/escalation_paths", params={"page_size": 25}).json()
    second = http.get(
        "/v2/escalation_paths", params={"page_size": 25, "after": first["pagination_meta"]["after"]}
    ).json()

    assert [p["name"] for p in first["escalation_paths"] + second["escalation_paths"]] == names
    assert "after" not in second["pagination_meta"]
    assert http.get("/v2/escalation_paths", params={"page_size": 26}).status_code == 422


def test_attributes_and_paths_can_be_created_through_the_api(http: httpx.Client) -> None:
    attr = http.post("/v2/alert_attributes", json={"name": "team", "type": "String", "array": False})
    path = http.post("/v2/escalation_paths", json={"name": "Primary", "path": []})

    assert attr.status_code == 201 and path.status_code == 201
    assert http.get("/v2/alert_attributes").json()["alert_attributes"] == [attr.json()["alert_attribute"]]
    assert [p["name"] for p in http.get("/v2/escalation_paths").json()["escalation_paths"]] == ["Primary"]


# --- test hooks ------------------------------------------------------------------------------


def test_request_log_records_method_path_and_query(emulator: Emulator, http: httpx.Client) -> None:
    emulator.reset_log()
    http.get("/v2/alert_routes", params={"page_size": 5})
    http.get("/v2/alert_sources")

    assert emulator.requests == [("GET", "/v2/alert_routes", {"page_size": "5"}), ("GET", "/v2/alert_sources", {})]
    emulator.reset_log()
    assert emulator.requests == []


def test_injected_429_carries_http_date_retry_after_and_documented_body(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject(Fault.rate_limited(retry_after=30, path_prefix="/v2/alert_sources"))

    limited = http.get("/v2/alert_sources")
    again = http.get("/v2/alert_sources")

    assert limited.status_code == 429 and again.status_code == 200
    wait = parsedate_to_datetime(limited.headers["Retry-After"]).timestamp() - time.time()
    assert 25 < wait <= 32
    body = limited.json()
    assert body["type"] == "too_many_requests"
    assert set(body["rate_limit"]) == {"name", "limit", "remaining", "retry_after"}
    assert body["rate_limit"]["retry_after"].endswith(" UTC")


def test_injected_faults_match_method_and_path_and_run_out(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject(Fault.server_error(times=2, status=502, method="GET", path_prefix="/v2/alert_attributes"))

    assert http.get("/v2/alert_sources").status_code == 200  # other path: untouched
    assert [http.get("/v2/alert_attributes").status_code for _ in range(3)] == [502, 502, 200]


def test_commit_then_drop_applies_the_write_but_sends_no_answer(
    emulator: Emulator, http: httpx.Client, source_payload: Callable[..., dict]
) -> None:
    emulator.inject(Fault.commit_then_drop(method="POST"))

    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v2/alert_sources", json=source_payload("Committed"))

    assert [s["name"] for s in http.get("/v2/alert_sources").json()["alert_sources"]] == ["Committed"]


def test_drop_neither_applies_nor_answers(
    emulator: Emulator, http: httpx.Client, source_payload: Callable[..., dict]
) -> None:
    emulator.inject(Fault.drop(method="POST"))

    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v2/alert_sources", json=source_payload("Lost"))

    assert http.get("/v2/alert_sources").json()["alert_sources"] == []


def test_rate_limit_enforcement_per_key_per_minute(api_key: str) -> None:
    now = [1_000_000.0]
    with Emulator(api_key, rate_limit_per_minute=3, clock=lambda: now[0]) as emu:
        auth = {"Authorization": f"Bearer {api_key}"}
        statuses = [httpx.get(f"{emu.base_url}/v2/alert_sources", headers=auth).status_code for _ in range(4)]
        limited = httpx.get(f"{emu.base_url}/v2/alert_sources", headers=auth)
        now[0] += 61
        after_a_minute = httpx.get(f"{emu.base_url}/v2/alert_sources", headers=auth)

    assert statuses == [200, 200, 200, 429]
    assert limited.json()["rate_limit"]["limit"] == 3
    retry_at = parsedate_to_datetime(limited.headers["Retry-After"]).timestamp()
    assert now[0] - 61 < retry_at <= now[0] - 61 + 61
    assert after_a_minute.status_code == 200


def test_stop_closes_the_port_and_kept_alive_connections(api_key: str) -> None:
    emu = Emulator(api_key)
    url = emu.start()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=2) as c:
        assert c.get("/v2/alert_sources").status_code == 200  # leaves a kept-alive connection
        emu.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/v2/alert_sources")
