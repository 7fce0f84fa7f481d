"""IncidentIoClient against the emulator over real HTTP (and httpx.MockTransport for odd answers)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from components.errors import (
    AuthenticationError,
    IncidentIoError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransportError,
)
from components.incidentio.client import DEFAULT_BASE_URL, IncidentIoClient, RetryPolicy
from components.incidentio.emulator import Emulator, Fault

FAST = RetryPolicy(max_attempts=4, max_total_seconds=60.0, base_delay=0.5, max_delay=4.0)


def _posts(emulator: Emulator, prefix: str) -> int:
    return sum(1 for method, path, _ in emulator.requests if method == "POST" and path == prefix)


@pytest.fixture
def mock_client(api_key: str, sleeps: Any) -> Iterator[Callable[..., IncidentIoClient]]:
    """A client whose answers come from `handler` (no network)."""
    made: list[IncidentIoClient] = []

    def make(handler: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy = FAST) -> IncidentIoClient:
        made.append(
            IncidentIoClient(
                api_key, "https://api.test", transport=httpx.MockTransport(handler), retry=retry, sleep=sleeps
            )
        )
        return made[-1]

    yield make
    for c in made:
        c.close()


def _sequence(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """Answer with each response in turn, then keep repeating the last."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


OK_SOURCES = httpx.Response(200, json={"alert_sources": []})


# --- paging and CRUD -------------------------------------------------------------------------


def test_list_alert_routes_follows_pages_of_50(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    created = [client.create_alert_route(route_payload(f"Route {i:03}"))["id"] for i in range(120)]
    emulator.reset_log()
    before = client.request_count

    routes = client.list_alert_routes()

    assert [r["id"] for r in routes] == created
    assert all(set(r) == {"id", "name", "enabled"} for r in routes)
    queries = [q for method, path, q in emulator.requests if path == "/v2/alert_routes"]
    assert queries == [
        {"page_size": "50"},
        {"page_size": "50", "after": created[49]},
        {"page_size": "50", "after": created[99]},
    ]
    assert client.request_count - before == 3


def test_list_escalation_paths_follows_pages_of_25(emulator: Emulator, client: IncidentIoClient) -> None:
    names = [f"Path {i:02}" for i in range(30)]
    for name in names:
        emulator.add_escalation_path(name)

    paths = client.list_escalation_paths()

    assert [p["name"] for p in paths] == names
    assert [q["page_size"] for _, path, q in emulator.requests if path == "/v2/escalation_paths"] == ["25", "25"]


def test_a_cursor_that_does_not_advance_is_an_error_not_a_loop(mock_client: Callable[..., IncidentIoClient]) -> None:
    stuck = httpx.Response(200, json={"alert_routes": [], "pagination_meta": {"after": "X", "page_size": 50}})
    client = mock_client(_sequence(stuck))

    with pytest.raises(IncidentIoError, match="repeated cursor"):
        client.list_alert_routes()


def test_route_lifecycle(client: IncidentIoClient, route_payload: Callable[..., dict]) -> None:
    route = client.create_alert_route(route_payload())
    assert client.get_alert_route(route["id"]) == route

    updated = client.update_alert_route(route["id"], {**route_payload("Renamed"), "version": route["version"] + 1})
    assert (updated["name"], updated["version"]) == ("Renamed", 2)

    assert client.delete_alert_route(route["id"]) is True
    assert client.delete_alert_route(route["id"]) is False
    with pytest.raises(NotFoundError) as excinfo:
        client.get_alert_route(route["id"])
    assert excinfo.value.status == 404


def test_source_lifecycle(client: IncidentIoClient, source_payload: Callable[..., dict]) -> None:
    source = client.create_alert_source(source_payload("Checkly (Production)", source_type="checkly"))
    assert source["secret_token"] and source["alert_events_url"].endswith(f"/checkly/{source['id']}")
    assert client.get_alert_source(source["id"]) == source

    renamed = client.update_alert_source(source["id"], source_payload("Checkly (Prod)", source_type="checkly"))
    assert renamed["name"] == "Checkly (Prod)"
    assert [s["name"] for s in client.list_alert_sources()] == ["Checkly (Prod)"]

    assert client.delete_alert_source(source["id"]) is True
    assert client.delete_alert_source(source["id"]) is False


def test_attributes_and_managed_resource_claims(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    route = client.create_alert_route(route_payload())

    claim = client.create_managed_resource("alert_route", route["id"], {"alerting/stack": "production"})

    assert claim["managed_by"] == "external"
    assert sorted(a["name"] for a in client.list_alert_attributes()) == ["severity", "team"]
    with pytest.raises(PermissionError):
        emulator.edit_route_out_of_band(route["id"], lambda r: r.update(name="Dashboard edit"))


# --- typed errors ----------------------------------------------------------------------------


def test_stale_version_is_a_typed_rejection(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    route = client.create_alert_route(route_payload())
    emulator.edit_route_out_of_band(route["id"], lambda r: r.update(enabled=False))  # now version 2

    with pytest.raises(RejectedError) as excinfo:
        client.update_alert_route(route["id"], {**route_payload("Mine"), "version": 2})

    assert 400 <= excinfo.value.status < 500
    assert [e.field for e in excinfo.value.errors] == ["version"]
    assert client.get_alert_route(route["id"])["name"] == "Production Alerts"


@pytest.mark.sends_invalid_bodies
def test_validation_errors_keep_message_and_field(client: IncidentIoClient, route_payload: Callable[..., dict]) -> None:
    payload = route_payload()
    del payload["channel_config"]

    with pytest.raises(RejectedError) as excinfo:
        client.create_alert_route(payload)

    error = excinfo.value
    assert (error.status, error.error_type) == (422, "validation_error")
    assert [e.field for e in error.errors] == ["channel_config"]
    assert "channel_config: required field is missing" in str(error)
    assert error.request_id and error.request_id in str(error)


def test_wrong_key_is_an_authentication_error(emulator: Emulator, sleeps: Any) -> None:
    with (
        IncidentIoClient("inc_wrong_key", emulator.base_url, retry=FAST, sleep=sleeps) as client,
        pytest.raises(AuthenticationError) as excinfo,
    ):
        client.list_alert_sources()
    assert excinfo.value.status == 401
    assert sleeps.calls == []  # a 4xx is final


def test_missing_key_is_reported_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INCIDENT_IO_TOKEN", raising=False)

    with pytest.raises(IncidentIoError, match="INCIDENT_IO_TOKEN"):
        IncidentIoClient()


def test_credentials_default_from_the_environment(
    emulator: Emulator, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENT_IO_TOKEN", api_key)
    monkeypatch.setenv("INCIDENT_IO_API_URL", emulator.base_url)
    with IncidentIoClient() as client:
        assert client.list_alert_sources() == []

    monkeypatch.delenv("INCIDENT_IO_API_URL")
    with IncidentIoClient() as client:
        assert client.base_url == DEFAULT_BASE_URL


def test_api_key_never_appears_in_errors_reprs_or_logs(
    api_key: str, mock_client: Callable[..., IncidentIoClient], caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"type": f"bad {api_key}", "status": 503, "errors": [{"message": f"key {api_key} is odd"}]}
    rejected = {"type": "validation_error", "status": 422, "errors": [{"message": f"key {api_key} not allowed"}]}
    client = mock_client(_sequence(httpx.Response(503, json=echo), httpx.Response(422, json=rejected)))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(RejectedError) as excinfo:
        client.list_alert_sources()

    texts = [str(excinfo.value), repr(excinfo.value), repr(client), caplog.text, *map(str, excinfo.value.errors)]
    assert "[redacted]" in str(excinfo.value)
    assert "retry 1/3" in caplog.text  # the retry was logged...
    assert not [t for t in texts if api_key in t]  # ...and nothing shows the key


def test_transport_errors_are_typed_and_do_not_show_the_key(api_key: str, sleeps: Any) -> None:
    closed = Emulator(api_key)
    url = closed.start()
    closed.stop()  # nothing listens there now

    with IncidentIoClient(api_key, url, retry=FAST, sleep=sleeps) as client, pytest.raises(TransportError) as excinfo:
        client.list_alert_sources()

    assert len(sleeps.calls) == FAST.max_attempts - 1
    assert api_key not in str(excinfo.value)


# --- retries ---------------------------------------------------------------------------------


def test_429_with_http_date_retry_after_is_honoured(emulator: Emulator, client: IncidentIoClient, sleeps: Any) -> None:
    emulator.inject(Fault.rate_limited(retry_after=2, path_prefix="/v2/alert_sources"))

    assert client.list_alert_sources() == []

    [delay] = sleeps.calls
    assert 1.0 <= delay <= 3.5  # an HTTP date has one-second resolution


def test_429_body_retry_after_is_used_without_a_header(
    mock_client: Callable[..., IncidentIoClient], sleeps: Any
) -> None:
    retry_at = formatdate(time.time() + 5, usegmt=True).replace("GMT", "UTC")
    limited = httpx.Response(
        429, json={"type": "too_many_requests", "status": 429, "rate_limit": {"retry_after": retry_at}}
    )
    client = mock_client(_sequence(limited, OK_SOURCES))

    assert client.list_alert_sources() == []
    [delay] = sleeps.calls
    assert 3.5 <= delay <= 5.5


def test_429_retry_after_in_seconds(mock_client: Callable[..., IncidentIoClient], sleeps: Any) -> None:
    client = mock_client(_sequence(httpx.Response(429, headers={"Retry-After": "7"}), OK_SOURCES))

    client.list_alert_sources()

    assert sleeps.calls == [7.0]


def test_429_that_persists_ends_in_rate_limited_error(
    emulator: Emulator, client: IncidentIoClient, sleeps: Any
) -> None:
    emulator.inject(Fault.rate_limited(times=10, retry_after=1))

    with pytest.raises(RateLimitedError) as excinfo:
        client.list_alert_sources()

    assert excinfo.value.status == 429
    assert len(emulator.requests) == FAST.max_attempts
    assert len(sleeps.calls) == FAST.max_attempts - 1


def test_retry_after_beyond_the_time_budget_gives_up_at_once(emulator: Emulator, api_key: str, sleeps: Any) -> None:
    policy = RetryPolicy(max_attempts=5, max_total_seconds=10.0, base_delay=0.5, max_delay=4.0)
    emulator.inject(Fault.rate_limited(retry_after=120))

    with (
        IncidentIoClient(api_key, emulator.base_url, retry=policy, sleep=sleeps) as client,
        pytest.raises(RateLimitedError),
    ):
        client.list_alert_sources()

    assert sleeps.calls == []


def test_5xx_is_retried_with_growing_jittered_backoff_then_succeeds(
    emulator: Emulator, client: IncidentIoClient, sleeps: Any
) -> None:
    emulator.inject(Fault.server_error(times=3, status=503))

    assert client.list_alert_sources() == []

    first, second, third = sleeps.calls
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0 and 1.0 <= third <= 2.0


def test_5xx_retries_are_bounded_by_attempts(emulator: Emulator, client: IncidentIoClient, sleeps: Any) -> None:
    emulator.inject(Fault.server_error(times=100, status=502))

    with pytest.raises(ServerError) as excinfo:
        client.list_alert_sources()

    assert excinfo.value.status == 502
    assert len(emulator.requests) == FAST.max_attempts


def test_retries_are_bounded_by_total_time(emulator: Emulator, api_key: str, sleeps: Any) -> None:
    policy = RetryPolicy(max_attempts=100, max_total_seconds=3.0, base_delay=1.0, max_delay=1.0)
    emulator.inject(Fault.server_error(times=100))

    with (
        IncidentIoClient(api_key, emulator.base_url, retry=policy, sleep=sleeps) as client,
        pytest.raises(ServerError),
    ):
        client.list_alert_sources()

    assert 2 <= len(sleeps.calls) <= 6
    assert sum(sleeps.calls) <= 3.0


def test_read_timeout_is_retried(emulator: Emulator, api_key: str, sleeps: Any) -> None:
    emulator.inject(Fault.latency(1.0, method="GET"))

    with IncidentIoClient(api_key, emulator.base_url, retry=FAST, sleep=sleeps, timeout=0.2) as client:
        assert client.list_alert_sources() == []

    assert len(sleeps.calls) == 1


def test_non_json_5xx_becomes_server_error(mock_client: Callable[..., IncidentIoClient]) -> None:
    client = mock_client(_sequence(httpx.Response(502, text="<html>Bad gateway</html>")))

    with pytest.raises(ServerError, match="502"):
        client.list_alert_sources()


# --- ambiguous writes ------------------------------------------------------------------------


def test_create_route_committed_then_dropped_is_not_duplicated(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    emulator.inject(Fault.commit_then_drop(method="POST", path_prefix="/v2/alert_routes"))

    route = client.create_alert_route(route_payload())

    assert route["name"] == "Production Alerts" and route["version"] == 1
    assert [r["id"] for r in client.list_alert_routes()] == [route["id"]]
    assert _posts(emulator, "/v2/alert_routes") == 1


def test_create_source_committed_then_dropped_is_not_duplicated(
    emulator: Emulator, client: IncidentIoClient, source_payload: Callable[..., dict]
) -> None:
    emulator.inject(Fault.commit_then_drop(method="POST", path_prefix="/v2/alert_sources"))

    source = client.create_alert_source(source_payload("Grafana Cloud", source_type="grafana"))

    assert source["secret_token"]
    assert [s["name"] for s in client.list_alert_sources()] == ["Grafana Cloud"]
    assert _posts(emulator, "/v2/alert_sources") == 1


def test_create_route_lost_before_commit_is_sent_again(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    emulator.inject(Fault.drop(method="POST", path_prefix="/v2/alert_routes"))

    route = client.create_alert_route(route_payload())

    assert [r["id"] for r in client.list_alert_routes()] == [route["id"]]
    assert _posts(emulator, "/v2/alert_routes") == 2


def test_create_route_after_5xx_looks_up_before_resending(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    client.create_alert_route(route_payload("Same name, other config", channel="C0OTHER001"))
    emulator.reset_log()
    emulator.inject(Fault.server_error(method="POST", path_prefix="/v2/alert_routes"))

    route = client.create_alert_route(route_payload("Same name, other config"))

    # A namesake with another config is not mistaken for ours: the create is sent again.
    calls = [(method, path) for method, path, _ in emulator.requests]
    assert calls[0] == ("POST", "/v2/alert_routes") and calls[-1] == ("POST", "/v2/alert_routes")
    assert ("GET", "/v2/alert_routes") in calls[1:-1]
    assert len(client.list_alert_routes()) == 2
    assert route["channel_config"][0]["slack_targets"]["binding"]["array_value"][0]["literal"] == "C0ALERTS01"


def test_update_route_committed_then_dropped_is_recognised(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    route = client.create_alert_route(route_payload())
    emulator.inject(Fault.commit_then_drop(method="PUT"))

    updated = client.update_alert_route(route["id"], {**route_payload("Renamed"), "version": 2})

    assert (updated["name"], updated["version"]) == ("Renamed", 2)
    assert sum(1 for method, _, _ in emulator.requests if method == "PUT") == 1


def test_delete_committed_then_dropped_reports_it_existed(
    emulator: Emulator, client: IncidentIoClient, route_payload: Callable[..., dict]
) -> None:
    route = client.create_alert_route(route_payload())
    emulator.inject(Fault.commit_then_drop(method="DELETE"))

    assert client.delete_alert_route(route["id"]) is True
    assert client.list_alert_routes() == []


def test_throttle_is_asked_before_every_attempt_retries_included(api_key: str, sleeps: Any) -> None:
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"alert_sources": []}),
        ]
    )
    events: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        events.append("send")
        return next(answers)

    with IncidentIoClient(
        api_key,
        "https://api.test",
        transport=httpx.MockTransport(handler),
        retry=FAST,
        sleep=sleeps,
        throttle=lambda: events.append("throttle"),
    ) as client:
        client.list_alert_sources()
    assert events == ["throttle", "send"] * 3


# --- rate-limit storms and secrets in answers --------------------------------------------------


@pytest.mark.parametrize(
    "retry_after",
    ["0", formatdate(time.time() - 3600, usegmt=True)],
    ids=["zero-seconds", "a-date-in-the-past"],
)
def test_a_429_storm_backs_off_anyway_and_says_it_was_rate_limited(
    mock_client: Callable[..., IncidentIoClient], sleeps: Any, retry_after: str
) -> None:
    client = mock_client(lambda request: httpx.Response(429, headers={"Retry-After": retry_after}))

    with pytest.raises(RateLimitedError) as excinfo:
        client.list_alert_sources()

    # "Retry-After: 0" must not spend every attempt in the same instant: the backoff is a floor.
    assert len(sleeps.calls) == FAST.max_attempts - 1
    for attempt, delay in enumerate(sleeps.calls, 1):
        assert delay >= min(FAST.max_delay, FAST.base_delay * 2 ** (attempt - 1)) / 2
    message = str(excinfo.value)
    assert message.startswith("rate limited by incident.io: GET /v2/alert_sources -> 429")
    assert f"gave up after {FAST.max_attempts} attempts in" in message


def test_the_total_budget_ends_a_429_storm_before_the_attempts_do(api_key: str, sleeps: Any) -> None:
    policy = RetryPolicy(max_attempts=50, max_total_seconds=20.0, base_delay=1.0, max_delay=8.0)
    transport = httpx.MockTransport(lambda request: httpx.Response(429, headers={"Retry-After": "0"}))
    with (
        IncidentIoClient(api_key, "https://api.test", transport=transport, retry=policy, sleep=sleeps) as client,
        pytest.raises(RateLimitedError, match="gave up after"),
    ):
        client.list_alert_sources()

    assert 3 <= len(sleeps.calls) < 50  # 0.5-1 + 1-2 + 2-4 + 4-8 (+ 4-8): the budget, not 50 attempts
    assert sum(sleeps.calls) <= policy.max_total_seconds


def test_an_envelope_echoing_the_key_in_every_field_shows_it_nowhere(
    api_key: str, mock_client: Callable[..., IncidentIoClient]
) -> None:
    echo = {
        "type": f"bad_{api_key}",
        "status": 400,
        "request_id": f"req-{api_key}",
        "errors": [{"message": api_key, "code": api_key, "source": {"field": api_key}}],
    }
    client = mock_client(lambda request: httpx.Response(400, json=echo))

    with pytest.raises(RejectedError) as excinfo:
        client.list_alert_sources()

    error = excinfo.value
    texts = [str(error), repr(error), error.request_id or "", error.error_type or "", *map(str, error.errors)]
    assert "request_id req-[redacted]" in str(error)
    assert not [t for t in texts if api_key in t]


def test_a_source_token_the_client_received_is_scrubbed_from_later_errors(
    mock_client: Callable[..., IncidentIoClient],
) -> None:
    token = "canary-source-token-7f3a9c"
    source = {"id": "01ABCDEFGHJKMNPQRSTVWXYZ00", "name": "A", "source_type": "http", "secret_token": token}
    client = mock_client(
        _sequence(
            httpx.Response(200, json={"alert_source": source}),
            httpx.Response(422, json={"type": "validation_error", "errors": [{"message": f"token {token} reused"}]}),
        )
    )
    client.get_alert_source(source["id"])

    with pytest.raises(RejectedError) as excinfo:
        client.list_alert_sources()

    assert token not in str(excinfo.value) and "token [redacted] reused" in str(excinfo.value)


def test_an_api_url_with_user_info_is_refused_without_printing_it(api_key: str, sleeps: Any) -> None:
    with pytest.raises(IncidentIoError) as excinfo:
        IncidentIoClient(api_key, "http://robot:url-password-canary@127.0.0.1:9", retry=FAST, sleep=sleeps)

    assert "url-password-canary" not in str(excinfo.value)
    assert "'http://[redacted]@127.0.0.1:9' carries credentials" in str(excinfo.value)
