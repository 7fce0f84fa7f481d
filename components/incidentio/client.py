"""Synchronous incident.io API client: paging, bounded retries, typed errors.

- Every call goes through `IncidentIoClient._request`, into the project's one retry loop
  (`components.retry`): 429 honours ``Retry-After`` (seconds or HTTP date) or the body's
  ``rate_limit.retry_after``; 5xx and connection problems back off exponentially with jitter;
  both are bounded by `RetryPolicy`'s attempt count *and* total time.
- A POST that creates an object is never retried blindly: after an ambiguous failure (the request
  may have been applied: dropped connection, timeout, 5xx) the object is looked up by its unique
  name and returned if it exists. An ambiguous PUT of a route is checked the same way, because a
  replayed PUT would carry a version that is no longer current+1.
- Error envelopes become the typed errors of `components.errors`. The API key lives in the
  httpx client's headers (httpx masks ``Authorization`` in reprs); it and every ``secret_token``
  an answer carries are registered with `components.errors.scrub`, which every message passes.
- 429s back off at least as long as 5xx do, whatever ``Retry-After`` says (``0`` or a past date
  would otherwise spend every attempt at once).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from components.errors import (
    REDACTED,
    ApiError,
    AuthenticationError,
    FieldError,
    IncidentIoError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransportError,
    register_secret,
    scrub,
    scrub_remote,
)
from components.incidentio.normalise import canonical_route, canonical_source
from components.retry import Retryable, RetryPolicy, retry_after, with_retries

__all__ = ["DEFAULT_BASE_URL", "IncidentIoClient", "RetryPolicy"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.incident.io"
ROUTE_PAGE_SIZE = 50  # the API's maximum for /v2/alert_routes
ESCALATION_PATH_PAGE_SIZE = 25  # the API's maximum for /v2/escalation_paths


Lookup = Callable[[], "dict | None"]


class IncidentIoClient:
    """incident.io API v2: alert routes, alert sources, escalation paths, attributes, claims."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
        throttle: Callable[[], None] | None = None,
    ) -> None:
        """`throttle`, when given, is called before every attempt (retries included): a rate
        limiter shared by concurrent callers (backup/restore) plugs in there."""
        key = api_key if api_key is not None else os.environ.get("INCIDENT_IO_TOKEN", "")
        if not key:
            raise IncidentIoError("no incident.io API key: set INCIDENT_IO_TOKEN or alerting:incidentioApiKey")
        register_secret(key)
        self.base_url = (base_url or os.environ.get("INCIDENT_IO_API_URL") or DEFAULT_BASE_URL).rstrip("/")
        try:
            userinfo = httpx.URL(self.base_url).userinfo
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise IncidentIoError(f"the incident.io API URL {self.base_url!r} is not a URL: {exc}") from None
        if userinfo:  # httpx would send it as Basic auth in place of the API key
            raise IncidentIoError(
                f"the incident.io API URL {self.base_url!r} carries credentials: remove them; the API key goes in"
                " INCIDENT_IO_TOKEN or alerting:incidentioApiKey"
            )
        self.retry = retry or RetryPolicy()
        self.request_count = 0
        self._sleep = sleep
        self._throttle = throttle
        self._rng = random.Random()
        self._count_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            transport=transport,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"IncidentIoClient(base_url={scrub(self.base_url)!r})"

    def __enter__(self) -> IncidentIoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- alert routes ----------------------------------------------------------------------

    def list_alert_routes(self) -> list[dict]:
        """Every route as a slim item ``{id, name, enabled}`` (no version, no config)."""
        return self._paged("/v2/alert_routes", "alert_routes", ROUTE_PAGE_SIZE)

    def get_alert_route(self, route_id: str) -> dict:
        return self._request("GET", f"/v2/alert_routes/{route_id}")["alert_route"]

    def create_alert_route(self, payload: dict) -> dict:
        def already_created() -> dict | None:
            for slim in self.list_alert_routes():
                if slim.get("name") == payload.get("name"):
                    route = self.get_alert_route(slim["id"])
                    if canonical_route(route) == canonical_route(payload):
                        return {"alert_route": route}
            return None

        body = self._request("POST", "/v2/alert_routes", json=payload, lookup=already_created)
        return body["alert_route"]

    def update_alert_route(self, route_id: str, payload: dict) -> dict:
        """Full replacement; ``payload["version"]`` must be the current version + 1."""

        def already_applied() -> dict | None:
            route = self.get_alert_route(route_id)
            if route.get("version") == payload.get("version") and canonical_route(route) == canonical_route(payload):
                return {"alert_route": route}
            return None

        path = f"/v2/alert_routes/{route_id}"
        return self._request("PUT", path, json=payload, lookup=already_applied)["alert_route"]

    def delete_alert_route(self, route_id: str) -> bool:
        """Delete; True if it existed, False if it was already gone."""
        return self._delete(f"/v2/alert_routes/{route_id}")

    # --- alert sources ---------------------------------------------------------------------

    def list_alert_sources(self) -> list[dict]:
        return self._request("GET", "/v2/alert_sources")["alert_sources"]

    def get_alert_source(self, source_id: str) -> dict:
        return self._request("GET", f"/v2/alert_sources/{source_id}")["alert_source"]

    def create_alert_source(self, payload: dict) -> dict:
        def already_created() -> dict | None:
            for source in self.list_alert_sources():
                if source.get("name") == payload.get("name") and canonical_source(source) == canonical_source(payload):
                    return {"alert_source": source}
            return None

        body = self._request("POST", "/v2/alert_sources", json=payload, lookup=already_created)
        return body["alert_source"]

    def update_alert_source(self, source_id: str, payload: dict) -> dict:
        # A full replacement without a version: replaying it is harmless.
        return self._request("PUT", f"/v2/alert_sources/{source_id}", json=payload)["alert_source"]

    def delete_alert_source(self, source_id: str) -> bool:
        """Delete; True if it existed, False if it was already gone."""
        return self._delete(f"/v2/alert_sources/{source_id}")

    # --- references and claims -------------------------------------------------------------

    def list_escalation_paths(self) -> list[dict]:
        return self._paged("/v2/escalation_paths", "escalation_paths", ESCALATION_PATH_PAGE_SIZE)

    def list_alert_attributes(self) -> list[dict]:
        return self._request("GET", "/v2/alert_attributes")["alert_attributes"]

    def create_managed_resource(self, resource_type: str, resource_id: str, annotations: dict[str, str]) -> dict:
        """Mark a resource as managed from code (the dashboard then refuses edits to it)."""
        payload = {
            "resource_type": resource_type,
            "resource_id": resource_id,
            "annotations": annotations,
        }
        # Claiming is keyed by the resource, so replaying it is harmless: plain retries apply.
        return self._request("POST", "/v2/managed_resources", json=payload)["managed_resource"]

    # --- plumbing --------------------------------------------------------------------------

    def _paged(self, path: str, key: str, page_size: int) -> list[dict]:
        items: list[dict] = []
        params: dict[str, Any] = {"page_size": page_size}
        seen: set[str] = set()
        while True:
            body = self._request("GET", path, params=params)
            items.extend(body.get(key) or [])
            after = (body.get("pagination_meta") or {}).get("after")
            if not after:
                return items
            if after in seen:  # a server bug must not become an endless loop
                raise IncidentIoError(f"GET {path}: pagination repeated cursor {after!r}")
            seen.add(after)
            params = {"page_size": page_size, "after": after}

    def _delete(self, path: str) -> bool:
        def gone() -> dict | None:
            # After an ambiguous DELETE, a 404 means our attempt did it: it did exist.
            try:
                self._request("GET", path)
            except NotFoundError:
                return {}
            return None

        try:
            self._request("DELETE", path, lookup=gone)
        except NotFoundError:
            return False
        return True

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict | None = None,
        lookup: Lookup | None = None,
    ) -> dict:
        """Send with bounded retries; `lookup` (for non-idempotent writes) says whether an
        ambiguous attempt took effect, returning the body it would have answered, or None."""
        return with_retries(
            lambda: self._attempt(method, path, params, json),
            self.retry,
            sleep=self._sleep,
            rng=self._rng,
            what=f"{method} {path}",
            recover=lookup,
        )

    def _attempt(self, method: str, path: str, params: dict[str, Any] | None, json: dict | None) -> dict:
        """One HTTP exchange: a decoded body, a typed error, or `Retryable`."""
        if self._throttle is not None:
            self._throttle()
        with self._count_lock:
            self.request_count += 1
        try:
            response = self._http.request(method, path, params=params, json=json)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise TransportError(f"{method} {path}: {exc}") from None
        except httpx.TransportError as exc:
            unanswered = TransportError(f"{method} {path}: no response from {self.base_url} ({type(exc).__name__})")
            # A connect failure means nothing was sent; anything later may have been applied.
            sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            raise Retryable(unanswered, ambiguous=sent) from None

        status = response.status_code
        if status < 400:
            if status == 204 or not response.content:
                return {}
            try:
                decoded = response.json()
            except ValueError:
                raise TransportError(f"{method} {path} -> {status}: body is not JSON") from None
            if not isinstance(decoded, dict):
                raise TransportError(f"{method} {path} -> {status}: body is not a JSON object")
            if path.startswith("/v2/alert_sources"):
                _register_tokens(decoded)
            return decoded

        envelope = _decode_envelope(response)
        error = _api_error(method, path, status, envelope)
        if status == 429:
            raise Retryable(error, _retry_after(response, envelope))
        if status >= 500:
            raise Retryable(error, ambiguous=True)
        raise error


def _api_error(method: str, path: str, status: int, envelope: dict) -> ApiError:
    """The typed error for an error envelope; every text the server wrote is scrubbed."""
    errors = []
    for item in envelope.get("errors") or []:
        if not isinstance(item, dict):
            continue
        raw_source = item.get("source")
        source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
        errors.append(
            FieldError(
                message=scrub_remote(str(item.get("message") or item.get("code") or "")),
                field=scrub_remote(str(source["field"])) if source.get("field") else None,
                code=scrub_remote(str(item["code"])) if item.get("code") else None,
            )
        )
    cls: type[ApiError] = {
        401: AuthenticationError,
        404: NotFoundError,
        429: RateLimitedError,
    }.get(status, ServerError if status >= 500 else RejectedError)
    error_type = envelope.get("type")
    request_id = envelope.get("request_id")
    return cls(
        method=method,
        path=path,
        status=status,
        error_type=scrub_remote(error_type) if isinstance(error_type, str) else None,
        request_id=scrub_remote(request_id) if isinstance(request_id, str) else None,
        errors=errors,
    )


def _register_tokens(body: dict) -> None:
    """Every alert source token in an answer becomes a secret the scrubber removes."""
    sources = body.get("alert_sources")
    for source in [body.get("alert_source"), *(sources if isinstance(sources, list) else [])]:
        if isinstance(source, dict) and source.get("secret_token") != REDACTED:
            register_secret(source.get("secret_token"))


def _decode_envelope(response: httpx.Response) -> dict:
    """The error envelope, or {} when the body is not one (e.g. a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response, envelope: dict) -> float | None:
    """Seconds to wait from ``Retry-After`` or the body's ``rate_limit.retry_after``."""
    rate_limit = envelope.get("rate_limit")
    body_value = rate_limit.get("retry_after") if isinstance(rate_limit, dict) else None
    for value in (response.headers.get("Retry-After"), body_value):
        seconds = retry_after(value)
        if seconds is not None:
            return seconds
    return None
