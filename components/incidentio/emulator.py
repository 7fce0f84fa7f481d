"""A local incident.io API: a real HTTP server on 127.0.0.1 behaving like the parts we use.

Used by the tests and by ``python -m components sandbox`` (`run_sandbox`). It starts empty and is
filled through the API, like a fresh organisation. Behaviour follows the API notes in the docs:

- bearer-key auth; ULID ids; error envelopes ``{type, status, request_id, errors[]}``;
- alert routes v2: slim paged list, version rule on PUT (409 ``conflict`` unless current + 1),
  and the read-back normalisations that broke the Terraform provider (operation aliases by
  subject type, escalation paths echoed under ``users``, expressions reordered, response-shaped
  subjects/operations, ``label`` on binding values, JSON rich text re-serialised);
- alert sources v2 (create answers 200, ``secret_token``, ``alert_events_url``), escalation
  paths, alert attributes, managed resources, and alert-event ingestion checking source tokens;
- heartbeats: ``GET|POST /v2/heartbeat/{id}/ping`` (source token as Bearer or ``?token=``, 204),
  and an alert on the heartbeat source when pings stop (`check_heartbeats`, every 0.2 s while
  serving), resolved by the next ping;
- create/update bodies validated against the vendored official schemas (422 + `schema_violations`);
- every accepted alert event routed like incident.io routes it (`components.routing`, the evaluator
  the simulator uses) through the sources and routes held *at that moment*: ``GET /v2/alerts``
  (``AlertV2``, attributes from the source's bindings) and, **not part of incident.io**, the
  emulator's own ``GET /_emulator/alerts`` (per alert: routes, escalation path ids, Slack channel
  ids, dropped).

Test hooks: `requests` / `reset_log`, `inject` (`Fault`), `edit_route_out_of_band`,
`edit_source_out_of_band`, `alert_events`, optional per-key rate limiting, seeding helpers.

The response shape is produced here by `_decorate`, the inverse of
`normalise._strip_response_only`; defaults come from `normalise.fill_*_defaults`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from components import routing
from components.incidentio.defaults import DOCUMENTED_REQUESTS_PER_MINUTE
from components.incidentio.normalise import fill_route_defaults, fill_source_defaults
from components.schemas import validate_api_body

__all__ = ["AlertEvent", "Emulator", "Fault", "SchemaViolation", "run_sandbox", "serve_forever"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ROUTE_MAX_PAGE_SIZE = 50
ESCALATION_PATH_MAX_PAGE_SIZE = 25
ALERT_MAX_PAGE_SIZE = 250
HEARTBEAT_CHECK_SECONDS = 0.2  # how often the emulator looks for missed heartbeats

# Source types that receive events by email or an integration, not over HTTP.
_NON_HTTP_SOURCE_TYPES = frozenset(
    {"email", "heartbeat", "jira", "incoming_calls", "status_page_views", "github_issue"}
)
_STRING_SUBJECTS = frozenset({"alert.title", "alert.description"})
_OPERATION_LABELS = {
    "one_of": "is one of",
    "contains_one_of": "contains one of",
    "not_one_of": "is not one of",
    "is_set": "is set",
    "is_blank": "is not set",
    "contains": "contains",
    "name_contains": "name contains",
}
_SCHEMA_MESSAGE = re.compile(r"^\$\.?(?P<field>[^:]*): (?P<message>.*)$", re.S)

FaultKind = Literal["rate_limit", "server_error", "latency", "commit_then_drop", "drop", "echo_secrets"]


@dataclass(frozen=True)
class Fault:
    """Something to go wrong on the next `times` matching requests (see `Emulator.inject`)."""

    kind: FaultKind
    times: int = 1
    method: str | None = None
    path_prefix: str | None = None
    status: int = 503
    seconds: float = 0.0  # rate_limit: how far ahead Retry-After points; latency: the delay

    @classmethod
    def rate_limited(
        cls,
        times: int = 1,
        *,
        retry_after: float = 1.0,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> Fault:
        """429 with an HTTP-date ``Retry-After`` `retry_after` seconds ahead (and body)."""
        return cls("rate_limit", times, method, path_prefix, 429, retry_after)

    @classmethod
    def server_error(
        cls,
        times: int = 1,
        *,
        status: int = 503,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> Fault:
        return cls("server_error", times, method, path_prefix, status)

    @classmethod
    def latency(
        cls,
        seconds: float,
        times: int = 1,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> Fault:
        return cls("latency", times, method, path_prefix, seconds=seconds)

    @classmethod
    def commit_then_drop(cls, times: int = 1, *, method: str | None = None, path_prefix: str | None = None) -> Fault:
        """Apply the request, then close the socket without answering (an ambiguous failure)."""
        return cls("commit_then_drop", times, method, path_prefix)

    @classmethod
    def drop(cls, times: int = 1, *, method: str | None = None, path_prefix: str | None = None) -> Fault:
        """Close the socket without applying or answering the request."""
        return cls("drop", times, method, path_prefix)

    @classmethod
    def echo_secrets(
        cls, times: int = 1, *, status: int = 400, method: str | None = None, path_prefix: str | None = None
    ) -> Fault:
        """An error envelope that repeats the caller's API key and every source token in each of
        its fields (type, request_id, message, code, field): a hostile server, for secret canaries."""
        return cls("echo_secrets", times, method, path_prefix, status)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


@dataclass(frozen=True)
class SchemaViolation:
    """A request body the official schema refuses (answered with 422)."""

    method: str
    path: str
    schema: str
    errors: list[str]


@dataclass(frozen=True)
class AlertEvent:
    """One event accepted by ``POST /v2/alert_events/<source_type>/<source id>``."""

    source_type: str
    source_id: str
    headers: dict[str, str]  # names lower-cased
    body: Any


class _HttpError(Exception):
    """Raised inside handlers; becomes an error envelope (plus `extra_body`/`headers`)."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        errors: list[dict] | None = None,
        extra_body: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error_type = status, error_type
        entry: dict[str, Any] = {"code": code or error_type, "message": message}
        if field:
            entry["source"] = {"field": field}
        self.errors = errors or [entry]
        self.extra_body, self.headers = extra_body or {}, headers or {}

    def reply(self) -> _Reply:
        body = {
            "type": self.error_type,
            "status": self.status,
            "request_id": secrets.token_hex(8),
            "errors": self.errors,
            **self.extra_body,
        }
        return _Reply(self.status, body, dict(self.headers))


@dataclass
class _Reply:
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    match: re.Match[str]
    query: dict[str, str]
    headers: Any  # http.client.HTTPMessage
    body: Any

    @property
    def id(self) -> str:
        return self.match["id"]


_Handler = Callable[["Emulator", _Request], _Reply]


class Emulator:
    """The incident.io API on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        api_key: str,
        *,
        latency: float = 0.0,
        rate_limit_per_minute: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.latency = latency
        self.rate_limit_per_minute = rate_limit_per_minute  # None: not enforced
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.alert_events: list[AlertEvent] = []
        self.heartbeat_pings: list[tuple[str, float]] = []  # (heartbeat source id, clock time)
        self.schema_violations: list[SchemaViolation] = []
        self.managed_resources: dict[tuple[str, str], dict] = {}
        self.base_url = ""
        self._api_key = api_key
        self._clock = clock
        self._lock = threading.RLock()
        self._routes: dict[str, dict] = {}  # id -> stored payload-shaped route + server fields
        self._sources: dict[str, dict] = {}
        self._escalation_paths: dict[str, dict] = {}
        self._attributes: dict[str, dict] = {}
        self._alerts: dict[str, _RoutedAlert] = {}  # alert id -> the alert and where it went
        self._alert_ids: dict[tuple[str, str], str] = {}  # (source id, deduplication key) -> alert id
        # Heartbeat source id -> when it last pinged (its creation until the first ping), and the
        # deduplication key of its open missed-heartbeat alert.
        self._pinged: dict[str, float] = {}
        self._missed: dict[str, str] = {}
        self._ticker: threading.Event | None = None
        self._faults: list[list[Any]] = []  # [Fault, remaining]
        self._hits: dict[str, deque[float]] = {}
        self._last_id = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def __repr__(self) -> str:
        return f"Emulator(base_url={self.base_url!r})"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:`port` (0: any free port) in a thread; returns the base URL."""
        server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
            name="incident-io-emulator",
        )
        self._thread.start()
        self._ticker = stopped = threading.Event()
        threading.Thread(target=self._watch_heartbeats, args=(stopped,), daemon=True, name="heartbeats").start()
        return self.base_url

    def _watch_heartbeats(self, stopped: threading.Event) -> None:
        while not stopped.wait(HEARTBEAT_CHECK_SECONDS):
            self.check_heartbeats()

    def stop(self) -> None:
        if self._server is None:
            return
        if self._ticker is not None:
            self._ticker.set()
        self._server.shutdown()
        self._server.server_close()
        # Kept-alive connections would otherwise leave clients waiting on a dead emulator.
        with self._lock:
            for conn in list(self._connections):
                _shutdown(conn)
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test hooks ------------------------------------------------------------------------

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def inject(self, fault: Fault) -> None:
        """Queue a fault; the first queued fault matching a request applies to it."""
        with self._lock:
            self._faults.append([fault, fault.times])

    def clear_faults(self) -> None:
        """Drop every queued fault (the ones not used up yet)."""
        with self._lock:
            self._faults.clear()

    def add_escalation_path(self, name: str) -> str:
        with self._lock:
            path_id = self._new_id()
            self._escalation_paths[path_id] = {
                "id": path_id,
                "name": name,
                "path": [],
                "team_ids": [],
            }
            return path_id

    def add_alert_attribute(self, name: str, *, type: str = "String", array: bool = False) -> str:
        """`type` as incident.io names it: "String", or 'CatalogEntry["<type id>"]'."""
        with self._lock:
            attr_id = self._new_id()
            self._attributes[attr_id] = {
                "id": attr_id,
                "name": name,
                "type": type,
                "array": array,
                "required": False,
            }
            return attr_id

    def stored_sources(self) -> dict[str, dict]:
        """What the organisation holds now (id -> stored source, token included): a test's view."""
        with self._lock:
            return copy.deepcopy(self._sources)

    def stored_routes(self) -> dict[str, dict]:
        with self._lock:
            return copy.deepcopy(self._routes)

    def attribute_id(self, name: str) -> str | None:
        with self._lock:
            return next((a["id"] for a in self._attributes.values() if a["name"] == name), None)

    def edit_route_out_of_band(self, route_id: str, mutate: Callable[[dict], None]) -> None:
        """A dashboard user editing a route: `mutate` gets its payload-shaped config; bumps version.

        Raises PermissionError for a route claimed through ``/v2/managed_resources``.
        """
        with self._lock:
            self._refuse_if_managed("alert_route", route_id)
            stored = self._routes[route_id]
            config = {k: v for k, v in copy.deepcopy(stored).items() if k not in _ROUTE_SERVER}
            mutate(config)
            self._routes[route_id] = {
                **self._server_route(config),
                "id": route_id,
                "version": stored["version"] + 1,
                "created_at": stored["created_at"],
                "updated_at": self._now_iso(),
            }

    def edit_source_out_of_band(self, source_id: str, mutate: Callable[[dict], None]) -> None:
        """A dashboard user editing a source. Raises PermissionError if it is claimed."""
        with self._lock:
            self._refuse_if_managed("alert_source", source_id)
            stored = self._sources[source_id]
            config = {k: v for k, v in copy.deepcopy(stored).items() if k not in _SOURCE_SERVER}
            mutate(config)
            self._sources[source_id] = {
                **self._server_source(config),
                **{k: stored[k] for k in _SOURCE_SERVER},
            }

    def seed_source(self, payload: dict, source_id: str) -> dict:
        """A source that exists before day one, under a known id (what a stack then adopts)."""
        with self._lock:
            stored = {**self._server_source(payload), "id": source_id, "secret_token": secrets.token_hex(32)}
            self._sources[source_id] = stored
            self._watch_if_heartbeat(stored)
            return self._source_response(stored)

    def receive_alert(self, source_id: str, payload: Any) -> None:
        """An alert arriving by a way that is not HTTP (email, a dashboard integration), routed as
        an HTTP event would be."""
        with self._lock:
            self._receive_alert(self._source(source_id), payload)

    def rotate_source_token(self, source_id: str) -> str:
        """The dashboard's "rotate token" (no API does this); returns the new token."""
        with self._lock:
            token = secrets.token_hex(32)
            self._sources[source_id]["secret_token"] = token
            return token

    def _refuse_if_managed(self, resource_type: str, resource_id: str) -> None:
        claim = self.managed_resources.get((resource_type, resource_id))
        if claim is not None:
            raise PermissionError(
                f"{resource_type} {resource_id} is managed by {claim['managed_by']}: the dashboard refuses edits"
            )

    # --- HTTP plumbing ---------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        method, path = handler.command, url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append((method, path, query))
            fault = self._take_fault(method, path)
        delay = self.latency + (fault.seconds if fault and fault.kind == "latency" else 0.0)
        if delay:
            time.sleep(delay)
        if fault and fault.kind == "drop":
            _drop(handler)
            return
        if fault and fault.kind == "rate_limit":
            reply = self._too_many_requests(fault.seconds).reply()
        elif fault and fault.kind == "server_error":
            reply = _HttpError(fault.status, "internal_server_error", "injected fault").reply()
        elif fault and fault.kind == "echo_secrets":
            reply = self._echo_secrets(fault.status, handler.headers)
        else:
            reply = self._dispatch(method, path, query, handler.headers, raw)
        if fault and fault.kind == "commit_then_drop":
            _drop(handler)
            return
        with contextlib.suppress(OSError):  # the client gave up waiting (e.g. a latency fault)
            _send(handler, reply)

    def _echo_secrets(self, status: int, headers: Any) -> _Reply:
        key = str(headers.get("Authorization") or "").removeprefix("Bearer ")
        with self._lock:
            tokens = " ".join(str(s.get("secret_token")) for s in self._sources.values())
        echoed = f"{key} {tokens}".strip()
        entry = {"code": echoed, "message": f"echo: {echoed}", "source": {"field": echoed}}
        body = {"type": f"echo {echoed}", "status": status, "request_id": echoed, "errors": [entry]}
        return _Reply(status, body)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for entry in self._faults:
            fault, remaining = entry
            if remaining > 0 and fault.matches(method, path):
                entry[1] -= 1
                if entry[1] == 0:
                    self._faults.remove(entry)
                return fault
        return None

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: Any, raw: bytes) -> _Reply:
        try:
            allowed: list[str] = []
            for route_method, pattern, handle, needs_key in _ROUTES:
                match = pattern.fullmatch(path)
                if not match:
                    continue
                if route_method != method:
                    allowed.append(route_method)
                    continue
                if needs_key:  # alert events authenticate with the source token instead
                    self._authenticate(headers)
                body = _parse_body(raw)
                if method in ("POST", "PUT") and needs_key and not isinstance(body, dict):
                    raise _HttpError(400, "bad_request", "request body must be a JSON object")
                with self._lock:
                    return handle(self, _Request(method, path, match, query, headers, body))
            if allowed:
                raise _HttpError(405, "method_not_allowed", f"use {', '.join(allowed)}")
            raise _HttpError(404, "not_found", f"no such endpoint: {path}")
        except _HttpError as error:
            return error.reply()
        except Exception as exc:  # an emulator bug: answer like a server would, visibly
            return _HttpError(500, "internal_server_error", f"emulator error: {exc!r}").reply()

    def _authenticate(self, headers: Any) -> None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), self._api_key.encode()):
            raise _HttpError(401, "authentication_error", "missing or invalid API key", code="unauthenticated")
        if self.rate_limit_per_minute is not None:
            self._count_against_rate_limit(token)

    def _count_against_rate_limit(self, key: str) -> None:
        """Sliding one-minute window per API key."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= (self.rate_limit_per_minute or 0):
                raise self._too_many_requests(hits[0] + 60 - now)
            hits.append(now)

    def _too_many_requests(self, seconds: float) -> _HttpError:
        """The documented 429: body ``rate_limit`` (UTC date) and an HTTP-date ``Retry-After``."""
        when = int(self._clock() + seconds) + 1  # whole seconds, rounded up
        http_date = formatdate(when, usegmt=True)
        rate_limit = {
            "name": "api_key",
            "limit": self.rate_limit_per_minute or DOCUMENTED_REQUESTS_PER_MINUTE,
            "remaining": 0,
            "retry_after": http_date.replace("GMT", "UTC"),
        }
        return _HttpError(
            429,
            "too_many_requests",
            "rate limit exceeded",
            extra_body={"rate_limit": rate_limit},
            headers={"Retry-After": http_date},
        )

    def _new_id(self) -> str:
        """ULID-like: 48-bit millisecond time + 80 random bits, Crockford base32, increasing."""
        value = (int(self._clock() * 1000) << 80) | secrets.randbits(80)
        value = max(value, self._last_id + 1)
        self._last_id = value
        return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat().replace("+00:00", "Z")

    # --- validation ------------------------------------------------------------------------

    def _validate(self, req: _Request, schema: str) -> None:
        problems = validate_api_body(schema, req.body)
        if not problems:
            return
        self.schema_violations.append(SchemaViolation(req.method, req.path, schema, problems))
        errors = []
        for problem in problems:
            m = _SCHEMA_MESSAGE.match(problem)
            entry: dict[str, Any] = {"code": "invalid_value", "message": problem}
            if m:
                entry["message"] = m["message"]
                if m["field"]:
                    entry["source"] = {"field": m["field"]}
            errors.append(entry)
        raise _HttpError(422, "validation_error", "", errors=errors)

    def _check_route_references(self, body: dict) -> None:
        """Ids must exist, as in incident.io (this also catches unresolved ${…} placeholders)."""
        for i, source in enumerate(body.get("alert_sources") or []):
            if source.get("alert_source_id") not in self._sources:
                _reject(f"alert_sources[{i}].alert_source_id", "no alert source with this id")
        targets = (body.get("escalation_config") or {}).get("escalation_targets") or []
        for i, target in enumerate(targets):
            for value in _binding_values(target.get("escalation_paths")):
                if "literal" in value and value["literal"] not in self._escalation_paths:
                    _reject(
                        f"escalation_config.escalation_targets[{i}].escalation_paths",
                        "no escalation path with this id",
                    )
        for where, condition in _conditions(body):
            attr_id = _attribute_of(condition.get("subject", ""))
            if attr_id is not None and attr_id not in self._attributes:
                _reject(f"{where}.subject", "no alert attribute with this id")

    def _check_source_references(self, body: dict) -> None:
        for i, attr in enumerate((body.get("template") or {}).get("attributes") or []):
            if attr.get("alert_attribute_id") not in self._attributes:
                _reject(f"template.attributes[{i}].alert_attribute_id", "no such alert attribute")

    # --- server-side normalisation and response shapes -------------------------------------

    def _server_route(self, payload: dict) -> dict:
        """What the server keeps of a route payload: defaults filled, operations and JSON rich
        text normalised (the read-back differences clients must tolerate)."""
        body = fill_route_defaults({k: v for k, v in payload.items() if k not in _ROUTE_SERVER})
        for _, condition in _conditions(body):
            condition["operation"] = self._stored_operation(
                condition.get("subject", ""), condition.get("operation", "")
            )
        _reserialise_json_literals(body)
        return body

    def _server_source(self, payload: dict) -> dict:
        body = fill_source_defaults({k: v for k, v in payload.items() if k not in _SOURCE_SERVER})
        _reserialise_json_literals(body)
        return body

    def _stored_operation(self, subject: str, operation: str) -> str:
        attr = self._attributes.get(_attribute_of(subject) or "")
        catalog = attr is not None and attr["type"].startswith("CatalogEntry")
        if operation == "one_of" and (subject in _STRING_SUBJECTS or (attr is not None and not catalog)):
            return "contains_one_of"
        if operation == "contains" and catalog:
            return "name_contains"
        return operation

    def _route_response(self, stored: dict) -> dict:
        body = self._decorate(copy.deepcopy(stored), parent=None)
        # The order of expressions is not preserved by the server.
        body["expressions"] = sorted(body.get("expressions") or [], key=lambda e: e.get("reference", ""), reverse=True)
        for target in (body.get("escalation_config") or {}).get("escalation_targets") or []:
            if "escalation_paths" in target and "users" not in target:
                target["users"] = copy.deepcopy(target["escalation_paths"])  # legacy echo
        return body

    def _source_response(self, stored: dict) -> dict:
        body = self._decorate(copy.deepcopy(stored), parent=None)
        source_type, source_id = body["source_type"], body["id"]
        if source_type not in _NON_HTTP_SOURCE_TYPES:
            body["alert_events_url"] = f"{self.base_url}/v2/alert_events/{source_type}/{source_id}"
        if source_type == "email":
            body.setdefault("email_options", {"redactions": []})
            body["email_options"]["email_address"] = f"alerts-{source_id.lower()}@example.com"
        if source_type == "heartbeat" and isinstance(body.get("heartbeat_options"), dict):
            body["heartbeat_options"]["ping_url"] = f"{self.base_url}/v2/heartbeat/{source_id}/ping"
        return body

    def _decorate(self, node: Any, parent: str | None) -> Any:
        """Payload -> response shape: the inverse of `normalise._strip_response_only`."""
        if isinstance(node, list):
            return [self._decorate(item, parent) for item in node]
        if not isinstance(node, dict):
            return node
        out = {k: self._decorate(v, k) for k, v in node.items()}
        if isinstance(node.get("subject"), str) and isinstance(node.get("operation"), str):
            out["subject"] = {"label": self._subject_label(node["subject"]), "reference": node["subject"]}
            out["operation"] = {
                "label": _OPERATION_LABELS.get(node["operation"], node["operation"]),
                "value": node["operation"],
            }
        if parent in ("value", "array_value", "title", "description") and ("literal" in node or "reference" in node):
            out["label"] = self._value_label(node)
        if parent in ("expressions", "operations"):
            out["returns"] = _returns_of(node)
        if parent == "navigate":
            out["reference_label"] = str(node.get("reference", ""))
        return out

    def _subject_label(self, subject: str) -> str:
        attr = self._attributes.get(_attribute_of(subject) or "")
        if attr is not None:
            return f"Alert → {attr['name']}"
        if subject.startswith("alert."):
            return "Alert → " + subject.removeprefix("alert.").replace("_", " ").title()
        return subject

    def _value_label(self, value: dict) -> str:
        literal = value.get("literal")
        if literal is None:
            return str(value.get("reference", ""))
        for table in (self._escalation_paths, self._sources, self._attributes):
            if literal in table:
                return table[literal]["name"]
        return literal

    # --- handlers (called with the lock held) ----------------------------------------------

    def _list_routes(self, req: _Request) -> _Reply:
        page_size = _page_size(req.query, required=True, maximum=ROUTE_MAX_PAGE_SIZE)
        slim = [{"id": r["id"], "name": r["name"], "enabled": r["enabled"]} for r in self._routes.values()]
        return _Reply(200, _page("alert_routes", slim, req.query.get("after"), page_size))

    def _create_route(self, req: _Request) -> _Reply:
        self._validate(req, "AlertRoutesCreatePayloadV2")
        self._check_route_references(req.body)
        route_id, now = self._new_id(), self._now_iso()
        stored = {
            **self._server_route(req.body),
            "id": route_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        self._routes[route_id] = stored
        return _Reply(201, {"alert_route": self._route_response(stored)})

    def _show_route(self, req: _Request) -> _Reply:
        return _Reply(200, {"alert_route": self._route_response(self._route(req.id))})

    def _update_route(self, req: _Request) -> _Reply:
        current = self._route(req.id)
        self._validate(req, "AlertRoutesUpdatePayloadV2")
        if req.body["version"] != current["version"] + 1:
            raise _HttpError(
                409,
                "conflict",
                "version must be the current version + 1 (someone else may have changed it)",
                field="version",
                code="version_conflict",
            )
        self._check_route_references(req.body)
        stored = {
            **self._server_route(req.body),
            "id": current["id"],
            "version": req.body["version"],
            "created_at": current["created_at"],
            "updated_at": self._now_iso(),
        }
        self._routes[current["id"]] = stored
        return _Reply(200, {"alert_route": self._route_response(stored)})

    def _delete_route(self, req: _Request) -> _Reply:
        self._route(req.id)
        del self._routes[req.id]
        self.managed_resources.pop(("alert_route", req.id), None)
        return _Reply(204)

    def _route(self, route_id: str) -> dict:
        if route_id not in self._routes:
            raise _HttpError(404, "not_found", "alert route not found")
        return self._routes[route_id]

    def _list_sources(self, req: _Request) -> _Reply:
        sources = [self._source_response(s) for s in self._sources.values()]
        return _Reply(200, {"alert_sources": sources})  # not paged

    def _create_source(self, req: _Request) -> _Reply:
        self._validate(req, "AlertSourcesCreatePayloadV2")
        self._check_unique_source_name(req.body["name"], None)
        self._check_source_references(req.body)
        source_id = self._new_id()
        stored = {
            **self._server_source(req.body),
            "id": source_id,
            "secret_token": secrets.token_hex(32),
        }
        self._sources[source_id] = stored
        self._watch_if_heartbeat(stored)
        return _Reply(200, {"alert_source": self._source_response(stored)})  # 200, not 201

    def _show_source(self, req: _Request) -> _Reply:
        return _Reply(200, {"alert_source": self._source_response(self._source(req.id))})

    def _update_source(self, req: _Request) -> _Reply:
        current = self._source(req.id)
        self._validate(req, "AlertSourcesUpdatePayloadV2")
        if req.body.get("source_type", current["source_type"]) != current["source_type"]:
            _reject("source_type", "cannot be changed; create a new alert source")
        self._check_unique_source_name(req.body["name"], current["id"])
        self._check_source_references(req.body)
        stored = {
            **self._server_source(req.body),
            **{k: current[k] for k in _SOURCE_SERVER},
            "source_type": current["source_type"],
        }
        self._sources[current["id"]] = stored
        return _Reply(200, {"alert_source": self._source_response(stored)})

    def _delete_source(self, req: _Request) -> _Reply:
        self._source(req.id)
        del self._sources[req.id]
        self._pinged.pop(req.id, None)
        self._missed.pop(req.id, None)
        self.managed_resources.pop(("alert_source", req.id), None)
        return _Reply(204)

    def _source(self, source_id: str) -> dict:
        if source_id not in self._sources:
            raise _HttpError(404, "not_found", "alert source not found")
        return self._sources[source_id]

    def _check_unique_source_name(self, name: str, own_id: str | None) -> None:
        if any(s["name"] == name and s["id"] != own_id for s in self._sources.values()):
            _reject("name", "an alert source with this name already exists")

    def _list_escalation_paths(self, req: _Request) -> _Reply:
        page_size = _page_size(req.query, required=False, maximum=ESCALATION_PATH_MAX_PAGE_SIZE)
        paths = list(self._escalation_paths.values())
        return _Reply(200, _page("escalation_paths", paths, req.query.get("after"), page_size))

    def _create_escalation_path(self, req: _Request) -> _Reply:
        # EscalationsCreatePathPayloadV2 is not vendored: check only what the sandbox relies on.
        if not isinstance(req.body.get("name"), str) or not req.body["name"]:
            _reject("name", "required")
        if not isinstance(req.body.get("path"), list):
            _reject("path", "required")
        path_id = self.add_escalation_path(req.body["name"])
        self._escalation_paths[path_id]["path"] = req.body["path"]
        return _Reply(201, {"escalation_path": self._escalation_paths[path_id]})

    def _list_attributes(self, req: _Request) -> _Reply:
        return _Reply(200, {"alert_attributes": list(self._attributes.values())})

    def _create_attribute(self, req: _Request) -> _Reply:
        # AlertAttributesCreatePayloadV2 is not vendored: its required fields, checked by hand.
        for name, kind in (("name", str), ("type", str), ("array", bool)):
            if not isinstance(req.body.get(name), kind):
                _reject(name, "required")
        body = req.body
        attr_id = self.add_alert_attribute(body["name"], type=body["type"], array=body["array"])
        return _Reply(201, {"alert_attribute": self._attributes[attr_id]})

    def _create_managed_resource(self, req: _Request) -> _Reply:
        self._validate(req, "ManagedResourcesCreateManagedResourcePayloadV2")
        kind, resource_id = req.body["resource_type"], req.body["resource_id"]
        table = {
            "alert_route": self._routes,
            "alert_source": self._sources,
            "escalation_path": self._escalation_paths,
        }.get(kind)
        if table is not None and resource_id not in table:
            raise _HttpError(404, "not_found", f"{kind} not found")
        claim = {
            "resource_type": kind,
            "resource_id": resource_id,
            "annotations": req.body["annotations"],
            "managed_by": "external",
        }
        self.managed_resources[(kind, resource_id)] = claim  # claiming again just updates it
        return _Reply(200, {"managed_resource": claim})

    def _alert_event(self, req: _Request) -> _Reply:
        source = self._sources.get(req.id)
        if source is None or source["source_type"] != req.match["source_type"]:
            raise _HttpError(404, "not_found", "alert source not found")
        _check_source_token(source, req, "alert source")
        if req.body is None:
            _reject("body", "expected a JSON body")
        headers = {name.lower(): value for name, value in req.headers.items()}
        event = AlertEvent(req.match["source_type"], req.id, headers, req.body)
        self.alert_events.append(event)
        payloads = routing.split_event(source["source_type"], req.body)
        keys = [self._receive_alert(source, payload) for payload in payloads]
        dedup = req.body.get("deduplication_key") if isinstance(req.body, dict) else None
        return _Reply(
            202,
            {
                "status": "success",
                "message": "Event accepted for processing",
                "deduplication_key": dedup or (keys[0] if len(keys) == 1 else self._new_id()),
            },
        )

    # --- heartbeats ----------------------------------------------------------------------------

    def _watch_if_heartbeat(self, stored: dict) -> None:
        if stored["source_type"] == "heartbeat":
            self._pinged[stored["id"]] = self._clock()

    def _ping_heartbeat(self, req: _Request) -> _Reply:
        """`GET|POST /v2/heartbeat/{id}/ping`, authenticated by the source token (Bearer or
        ``?token=``); 204. A ping after a miss resolves the missed-heartbeat alert."""
        source = self._sources.get(req.id)
        if source is None or source["source_type"] != "heartbeat":
            raise _HttpError(404, "not_found", "heartbeat not found")
        _check_source_token(source, req, "heartbeat")
        self.heartbeat_pings.append((req.id, self._clock()))
        self._pinged[req.id] = self._clock()
        missed = self._missed.pop(req.id, None)
        if missed is not None:
            self._receive_alert(source, {"deduplication_key": missed, "status": "resolved"})
        return _Reply(204)

    def check_heartbeats(self) -> None:
        """Raise an alert on every heartbeat source whose ping is overdue: none for
        ``interval_seconds x failure_threshold + grace_period_seconds`` since the last one (or
        since the source was created). The alert is routed like any other of that source."""
        with self._lock:
            now = self._clock()
            for source_id, last in list(self._pinged.items()):
                source = self._sources.get(source_id)
                options = (source or {}).get("heartbeat_options")
                if source is None or not isinstance(options, dict) or source_id in self._missed:
                    continue
                allowed = int(options.get("interval_seconds") or 0) * int(options.get("failure_threshold") or 1)
                if now <= last + allowed + int(options.get("grace_period_seconds") or 0):
                    continue
                key = f"heartbeat-{source_id}-{int(last * 1000)}"
                self._missed[source_id] = key
                title = f"Heartbeat missed: {source['name']}"
                self._receive_alert(source, {"title": title, "status": "firing", "deduplication_key": key})

    def _receive_alert(self, source: dict, payload: Any) -> str:
        """One alert of an event: a new one is routed through the routes held now; a repeat (same
        deduplication key) updates its status. Returns the deduplication key."""
        body = payload if isinstance(payload, dict) else {}
        key = str(body.get("fingerprint") or body.get("deduplication_key") or _fingerprint(payload))
        status = "resolved" if body.get("status") == "resolved" else "firing"
        now = self._now_iso()
        alert_id = self._alert_ids.get((source["id"], key))
        if alert_id is not None:
            alert = self._alerts[alert_id].alert
            alert.update(status=status, updated_at=now)
            if status == "resolved":
                alert["resolved_at"] = now
            return key
        outcome = routing.route_alert(source["id"], source, list(self._routes.values()), payload)
        attributes = []
        for attr_id, value in sorted(outcome.alert.attributes.items()):
            if isinstance(value, str) and attr_id in self._attributes:
                attributes.append({"attribute": dict(self._attributes[attr_id]), "value": {"literal": value}})
        title = outcome.alert.title
        alert_id = self._new_id()
        alert = {
            "id": alert_id,
            "alert_source_id": source["id"],
            "deduplication_key": key,
            "status": status,
            "title": title if isinstance(title, str) and title else "Untitled alert",
            "attributes": attributes,
            "alert_group_ids": [],
            "created_at": now,
            "updated_at": now,
        }
        if isinstance(outcome.alert.description, str):
            alert["description"] = outcome.alert.description
        self._alerts[alert_id] = _RoutedAlert(alert, outcome, copy.deepcopy(payload))
        self._alert_ids[(source["id"], key)] = alert_id
        return key

    def routed_alerts(self) -> list[dict]:
        """`GET /_emulator/alerts`: every alert and where the routes held at its arrival sent it."""
        with self._lock:
            return [self._routing_of(item) for _, item in sorted(self._alerts.items())]

    def _routing_of(self, item: _RoutedAlert) -> dict:
        outcome = item.outcome
        return {
            "alert_id": item.alert["id"],
            "alert_source_id": item.alert["alert_source_id"],
            "deduplication_key": item.alert["deduplication_key"],
            "title": item.alert["title"],
            "payload": copy.deepcopy(item.payload),
            "attributes": {a["attribute"]["name"]: a["value"]["literal"] for a in item.alert["attributes"]},
            "routes": [{"id": r["id"], "name": r["name"]} for r in outcome.matched],
            "undecided_routes": [
                {"id": r["id"], "name": r["name"], "reasons": sorted(reasons)} for r, reasons in outcome.undecided
            ],
            "escalation_path_ids": list(outcome.escalation_path_ids),
            "slack_channel_ids": list(outcome.slack_channel_ids),
            "dropped": outcome.dropped,
        }

    def _list_alerts(self, req: _Request) -> _Reply:
        page_size = _page_size(req.query, required=True, maximum=ALERT_MAX_PAGE_SIZE)
        alerts = [item.alert for item in self._alerts.values()]
        return _Reply(200, _page("alerts", copy.deepcopy(alerts), req.query.get("after"), page_size))

    def _emulator_alerts(self, req: _Request) -> _Reply:
        return _Reply(200, {"alerts": self.routed_alerts()})


@dataclass(frozen=True)
class _RoutedAlert:
    alert: dict  # AlertV2
    outcome: routing.Outcome
    payload: Any  # the alert's payload as the source received it (emulator listing only)


def _fingerprint(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Fields the server owns; never taken from a payload.
_ROUTE_SERVER = ("id", "version", "created_at", "updated_at")
_SOURCE_SERVER = ("id", "secret_token")

_ID = r"(?P<id>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], _Handler, bool]] = [
    (method, re.compile(pattern), handler, needs_key)
    for method, pattern, handler, needs_key in [
        ("GET", "/v2/alert_routes", Emulator._list_routes, True),
        ("POST", "/v2/alert_routes", Emulator._create_route, True),
        ("GET", f"/v2/alert_routes/{_ID}", Emulator._show_route, True),
        ("PUT", f"/v2/alert_routes/{_ID}", Emulator._update_route, True),
        ("DELETE", f"/v2/alert_routes/{_ID}", Emulator._delete_route, True),
        ("GET", "/v2/alert_sources", Emulator._list_sources, True),
        ("POST", "/v2/alert_sources", Emulator._create_source, True),
        ("GET", f"/v2/alert_sources/{_ID}", Emulator._show_source, True),
        ("PUT", f"/v2/alert_sources/{_ID}", Emulator._update_source, True),
        ("DELETE", f"/v2/alert_sources/{_ID}", Emulator._delete_source, True),
        ("GET", "/v2/escalation_paths", Emulator._list_escalation_paths, True),
        ("POST", "/v2/escalation_paths", Emulator._create_escalation_path, True),
        ("GET", "/v2/alert_attributes", Emulator._list_attributes, True),
        ("POST", "/v2/alert_attributes", Emulator._create_attribute, True),
        ("POST", "/v2/managed_resources", Emulator._create_managed_resource, True),
        ("GET", "/v2/alerts", Emulator._list_alerts, True),
        # Not incident.io: the emulator's own view of where each alert went (tests, sandbox).
        ("GET", "/_emulator/alerts", Emulator._emulator_alerts, True),
        # Authenticated by the source's token, not the API key (handled in _dispatch).
        ("POST", f"/v2/alert_events/(?P<source_type>[a-z_]+)/{_ID}", Emulator._alert_event, False),
        ("GET", f"/v2/heartbeat/{_ID}/ping", Emulator._ping_heartbeat, False),
        ("POST", f"/v2/heartbeat/{_ID}/ping", Emulator._ping_heartbeat, False),
    ]
]


# --- helpers -------------------------------------------------------------------------------


def _reject(field_path: str, message: str) -> None:
    raise _HttpError(422, "validation_error", message, field=field_path, code="invalid_value")


def _page_size(query: dict[str, str], *, required: bool, maximum: int) -> int:
    raw = query.get("page_size")
    if raw is None and not required:
        return maximum
    try:
        size = int(raw or "")
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        _reject("page_size", f"must be an integer from 1 to {maximum}")
    return size


def _page(key: str, items: list[dict], after: str | None, page_size: int) -> dict:
    """Items in id (creation) order after the cursor; `after` in the meta only if more remain."""
    ordered = sorted(items, key=lambda item: item["id"])
    if after:
        ordered = [item for item in ordered if item["id"] > after]
    page = ordered[:page_size]
    meta: dict[str, Any] = {"page_size": page_size}
    if len(ordered) > page_size:
        meta["after"] = page[-1]["id"]
    return {key: page, "pagination_meta": meta}


def _conditions(body: Any, where: str = "") -> Iterator[tuple[str, dict]]:
    """Every condition dict in a payload, with its dotted location."""
    if isinstance(body, dict):
        if "subject" in body and "operation" in body:
            yield where, body
        for key, value in body.items():
            yield from _conditions(value, f"{where}.{key}" if where else key)
    elif isinstance(body, list):
        for i, item in enumerate(body):
            yield from _conditions(item, f"{where}[{i}]")


def _attribute_of(subject: str) -> str | None:
    """The attribute id in a subject like ``alert.attributes.<id>`` (or ``….<id>.<field>``)."""
    if not isinstance(subject, str) or not subject.startswith("alert.attributes."):
        return None
    return subject.removeprefix("alert.attributes.").split(".", 1)[0]


def _binding_values(binding: Any) -> list[dict]:
    if not isinstance(binding, dict):
        return []
    values = [binding["value"]] if isinstance(binding.get("value"), dict) else []
    return values + [v for v in binding.get("array_value") or [] if isinstance(v, dict)]


def _returns_of(node: dict) -> dict:
    """What an (already decorated) expression or operation returns, as the server reports it."""
    operations = node.get("operations")
    if isinstance(operations, list) and operations and isinstance(operations[-1], dict):
        return operations[-1].get("returns") or _returns_of(operations[-1])
    for opts in ("branches", "parse", "cast"):
        inner = node.get(opts)
        if isinstance(inner, dict) and isinstance(inner.get("returns"), dict):
            return inner["returns"]
    return {"type": "String", "array": False}


def _reserialise_json_literals(node: Any) -> None:
    """The server stores rich-text (JSON) literals in its own serialisation."""
    if isinstance(node, list):
        for item in node:
            _reserialise_json_literals(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "literal" and isinstance(value, str) and value[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    node[key] = json.dumps(json.loads(value), sort_keys=True)
            else:
                _reserialise_json_literals(value)


def _check_source_token(source: dict, req: _Request, what: str) -> None:
    """401 unless the request offers the source's token (alert events and heartbeat pings alike)."""
    expected = source["secret_token"].encode()
    if not any(secrets.compare_digest(token.encode(), expected) for token in _presented_tokens(req.headers, req.query)):
        raise _HttpError(401, "authentication_error", f"invalid {what} token", code="unauthenticated")


def _presented_tokens(headers: Any, query: dict[str, str]) -> list[str]:
    """Source tokens offered: ``Bearer <t>``, ``Basic base64(<any>:<t>)`` or ``?token=<t>``."""
    tokens = [query["token"]] if "token" in query else []
    scheme, _, value = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        tokens.append(value.strip())
    elif scheme.lower() == "basic":
        with contextlib.suppress(ValueError):  # malformed Basic credentials offer no token
            tokens.append(base64.b64decode(value.strip()).decode().partition(":")[2])
    return tokens


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise _HttpError(400, "bad_request", "request body is not valid JSON") from None


def _send(handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
    data = b"" if reply.body is None else json.dumps(reply.body).encode()
    handler.send_response(reply.status)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    if reply.body is not None:
        handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if data:
        handler.wfile.write(data)


def _drop(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    _shutdown(handler.connection)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        conn.shutdown(socket.SHUT_RDWR)


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its load balancer
        server_version = "incident-io-emulator"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            # Headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with emulator._lock:
                emulator._connections.add(self.connection)

        def finish(self) -> None:
            with emulator._lock:
                emulator._connections.discard(self.connection)
            with contextlib.suppress(OSError):  # a dropped connection cannot be flushed
                super().finish()

        def _any(self) -> None:
            emulator._serve(self)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests and the sandbox print their own output

    return Handler


# --- sandbox -------------------------------------------------------------------------------


def serve_forever(port: int, api_key: str, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Run an emulator on 127.0.0.1:`port` until interrupted (Ctrl-C)."""
    emulator = Emulator(api_key)
    url = emulator.start(port)
    try:
        if on_ready is not None:
            on_ready(url)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


def run_sandbox(port: int, api_key: str) -> None:
    """``python -m components sandbox``: print how to use the emulator, serve until Ctrl-C."""

    def announce(url: str) -> None:
        print(f"incident.io emulator listening on {url} (empty; Ctrl-C to stop)", flush=True)
        print(f"  export INCIDENT_IO_API_URL={url}")
        print("  export INCIDENT_IO_TOKEN=<the --api-key you passed>", flush=True)

    serve_forever(port, api_key, on_ready=announce)
