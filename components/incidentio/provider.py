"""Pulumi dynamic providers for incident.io alert sources and alert routes.

Resources: `AlertSource` (``pulumi-python:dynamic/incidentio:AlertSource``) and `AlertRoute`
(``pulumi-python:dynamic/incidentio:AlertRoute``). Their providers run in the engine's
``python -m pulumi.dynamic`` process, unpickled by reference (module + class name: never rename or
move them), so this module imports without side effects and the provider objects hold no state.

- **Credentials**: `configure()` stores ``alerting:incidentioApiKey`` / ``alerting:incidentioApiUrl``
  in the module-level `_PROCESS` (never on an instance, never in an input or output); without them
  the client falls back to ``INCIDENT_IO_TOKEN`` / ``INCIDENT_IO_API_URL``.
- **Outputs**: the inputs echoed (``payload``, ``stack``, ``project``, ``claim_managed``,
  ``adopt``) plus ``applied`` (canonical form of what incident.io answered to the last
  write: the baseline for drift), ``references`` (placeholder -> id used), ``owner``
  (``<project>/<stack>``), ``claimed``; routes add ``version``; sources add ``alert_events_url``
  ("" for sources that take no HTTP events), ``heartbeat_ping_url`` (a heartbeat's, secret; else ""),
  ``secret_token`` (a secret output) and ``declared``
  (the payload the stack last applied, which a refresh leaves alone: whose bindings are the stack's
  own, see `components.incidentio.preserve`).
- **check** validates against the vendored official schema; **diff** is local (no API call) and
  compares canonical forms (`normalise`); only a changed ``source_type`` replaces (a source, and
  delete-before-replace, since source names are unique in incident.io). Preview-time unknowns
  are a change, never a crash. ``adopt`` is read by create only (like Pulumi's ``import``).
- **read** returns the live object: unchanged state when it still matches ``applied`` (so a
  refresh right after an apply shows no diff), else the live payload with ids mapped back to the
  placeholders in ``references``; gone (404) -> ``ReadResult(None, {})``.
- **update** = GET + PUT. Live != ``applied`` -> `DriftError` naming the fields; a rejected route
  PUT (version conflict) is re-checked the same way and retried, at most `MAX_UPDATE_ATTEMPTS`.

Ownership (what incident.io can and cannot tell): alert sources and routes carry no free-form
labels, and managed-resource claims are write-only (the API offers ``POST /v2/managed_resources``
and no way to read a claim back). So incident.io cannot say which stack owns an object, and the
provider enforces only what it can observe:

1. adoption takes over an object *as it is*: its name (and a source's ``source_type``) must be the
   declared ones, otherwise `OwnershipError` (the usual mistake: one environment's stack pointing at another
   environment's source id). Renaming is a later, ordinary update. (`validate` also refuses an id
   adopted by two stack files of the folder, offline.)
2. with ``claim_managed`` the object is claimed with the annotation ``alerting/stack:
   <project>/<stack>`` right after create/adopt (and before an adopted object is changed), which
   makes the dashboard refuse edits; if incident.io answers with a claim naming another stack, the
   provider refuses (`OwnershipError`). Whether a second claim replaces the first is not
   documented (the emulator replaces it), so claims record ownership; they cannot prove it.
   The API has no call to release a claim: turning ``claim_managed`` off leaves existing claims.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown

from components.errors import (
    AlertingError,
    DriftError,
    IncidentIoError,
    LiveSettingsError,
    NotFoundError,
    OwnershipError,
    ReferenceNotFoundError,
    RejectedError,
    install_log_scrubber,
)
from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.normalise import (
    canonical_route,
    canonical_source,
    differences,
    route_payload_from_response,
    source_payload_from_response,
)
from components.incidentio.preserve import route_losses, source_losses
from components.incidentio.references import ALERT_ATTRIBUTE, ESCALATION_PATH, find, ref, substitute
from components.schemas import validate_api_body
from components.wire import has_unknowns, plain

__all__ = [
    "CONFIG_API_KEY",
    "CONFIG_API_URL",
    "MAX_UPDATE_ATTEMPTS",
    "OWNER_ANNOTATION",
    "AlertRoute",
    "AlertRouteProvider",
    "AlertSource",
    "AlertSourceProvider",
    "reset_process",
]

CONFIG_API_KEY = "alerting:incidentioApiKey"
CONFIG_API_URL = "alerting:incidentioApiUrl"
OWNER_ANNOTATION = "alerting/stack"
MAX_UPDATE_ATTEMPTS = 3
PROVIDER_KEY = "__provider"

# Placeholders the provider resolves by name: kind -> (what people call it, stack-file pin key).
_RESOLVED_KINDS = {
    ESCALATION_PATH: ("escalation path", "incidentio.escalationPaths"),
    ALERT_ATTRIBUTE: ("alert attribute", "incidentio.attributes"),
}

_META_INPUTS = ("stack", "project", "claim_managed", "discard_live")


# --- process-wide state (lives in the provider process; never pickled) -----------------------


@dataclass
class _Process:
    """Credentials from `configure`, one shared client, and name -> id listings (cached)."""

    api_key: str | None = field(default=None, repr=False)  # never in a repr or log line
    api_url: str | None = None
    retry: RetryPolicy | None = None  # tests shorten it; None: the client's default policy
    sleep: Callable[[float], None] = time.sleep
    listings: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (base_url, kind)
    lock: threading.Lock = field(default_factory=threading.Lock)  # credentials and client
    listing_lock: threading.Lock = field(default_factory=threading.Lock)
    _client: IncidentIoClient | None = None

    def configure(self, api_key: str | None, api_url: str | None) -> None:
        # Called once per provider class, possibly while the other class's operations run:
        # same credentials keep the client; new ones get a new client (the old one is left to
        # the operations still using it, not closed under them).
        with self.lock:
            if (api_key or None, api_url or None) != (self.api_key, self.api_url):
                self.api_key, self.api_url = api_key or None, api_url or None
                self._client = None

    def client(self) -> IncidentIoClient:
        # One client per process: the engine serves up to 4 operations at once, httpx is thread-safe.
        with self.lock:
            if self._client is None:
                self._client = IncidentIoClient(self.api_key, self.api_url, retry=self.retry, sleep=self.sleep)
            return self._client

    def resolve(self, client: IncidentIoClient, kind: str, name: str) -> str:
        """The id of the escalation path / alert attribute called `name`; listings cached."""
        label, pin = _RESOLVED_KINDS[kind]
        fetch = client.list_escalation_paths if kind == ESCALATION_PATH else client.list_alert_attributes
        key = (client.base_url, kind)
        with self.listing_lock:  # held over the listing call: parallel operations list only once
            listing = self.listings.get(key)
            fresh = listing is None
            if listing is None:
                listing = self.listings[key] = fetch()
            ids = [item["id"] for item in listing if item.get("name") == name]
            if not ids and not fresh:  # created since this process listed them?
                listing = self.listings[key] = fetch()
                ids = [item["id"] for item in listing if item.get("name") == name]
        if not ids:
            raise ReferenceNotFoundError(label, name, [str(item.get("name")) for item in listing])
        if len(ids) > 1:
            raise AlertingError(f"{len(ids)} {label}s are named {name!r} in incident.io; pin one by id under {pin}")
        return ids[0]

    def reset(self) -> None:
        """Forget credentials, client and listings (tests; a new emulator may reuse a port)."""
        with self.lock, self.listing_lock:
            self.api_key = self.api_url = None
            self.retry, self.sleep = None, time.sleep
            self.listings.clear()
            if self._client is not None:
                self._client.close()
                self._client = None


_PROCESS = _Process()


def reset_process(*, retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
    """Test and bench hook: the provider process's state back to "just started" (with a retry
    policy and sleep function for the client, e.g. a fake sleep)."""
    _PROCESS.reset()
    _PROCESS.retry, _PROCESS.sleep = retry, sleep


# --- what differs between sources and routes ------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    label: str  # in messages: "alert source"
    resource_type: str  # managed-resource type
    schema: str  # create payload schema
    canonical: Callable[[dict], dict]
    from_response: Callable[[dict], dict]


_SOURCE = _Kind(
    "alert source", "alert_source", "AlertSourcesCreatePayloadV2", canonical_source, source_payload_from_response
)
_ROUTE = _Kind("alert route", "alert_route", "AlertRoutesCreatePayloadV2", canonical_route, route_payload_from_response)


# --- the providers ---------------------------------------------------------------------------


class _Provider(ResourceProvider):
    """Shared behaviour; subclasses set `kind` and implement create/read/update."""

    kind: ClassVar[_Kind]
    input_keys: ClassVar[tuple[str, ...]] = ("payload", *_META_INPUTS, "adopt")

    def configure(self, req: ConfigureRequest) -> None:
        # Runs in the provider process with the decrypted stack config; kept at module level.
        install_log_scrubber()
        _PROCESS.configure(req.config.get(CONFIG_API_KEY), req.config.get(CONFIG_API_URL))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        payload = news.get("payload")
        if not has_unknowns(payload):  # a preview may not know it yet: checked again at apply
            if not isinstance(payload, dict):
                failures.append(CheckFailure("payload", f"expected a {self.kind.schema} object"))
            else:
                failures += [CheckFailure("payload", p) for p in self._schema_problems(plain(payload))]
                failures += [
                    CheckFailure("payload", f"placeholder {ref(k, n)} must be substituted by the program")
                    for k, n in sorted(find(payload))
                    if k not in _RESOLVED_KINDS
                ]
        stack = news.get("stack")
        if not has_unknowns(stack) and (not isinstance(stack, str) or not stack):
            failures.append(CheckFailure("stack", "expected the Pulumi stack name"))
        if not isinstance(news.get("claim_managed", False), bool | Unknown):
            failures.append(CheckFailure("claim_managed", "expected true or false"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Local and semantic: canonical payloads compared, never an API call."""
        replaces = self._replaces(olds, news)
        dbr = True if replaces else None
        if has_unknowns([news.get(k) for k in self.input_keys]):
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=dbr)
        old, new = plain(olds), plain(news)
        changed = not isinstance(old.get("payload"), dict) or self.kind.canonical(
            old["payload"]
        ) != self.kind.canonical(new["payload"])
        changed = changed or any(old.get(k) != new.get(k) for k in _META_INPUTS)
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=dbr)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        self._delete(_PROCESS.client(), id_)  # already gone (404): done

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Adopt by id when the input says so, else create; then claim (a refused claim deletes
        what was just created, so nothing is left half-made)."""
        inputs = self._inputs(props)
        client = _PROCESS.client()
        payload, references = self._resolve(client, inputs["payload"])
        adopt = inputs.get("adopt")
        if adopt:
            live, claimed = self._adopt(client, adopt, payload, inputs)
        else:
            live = self._create(client, payload)
            try:
                claimed = self._claim(client, live["id"], inputs)
            except Exception:
                self._undo_create(client, live["id"])
                raise
        return CreateResult(live["id"], self._created_outs(inputs, live, references, claimed, payload))

    def _create(self, client: IncidentIoClient, payload: dict) -> dict:
        raise NotImplementedError

    def _adopt(self, client: IncidentIoClient, id_: str, payload: dict, inputs: dict[str, Any]) -> tuple[dict, bool]:
        raise NotImplementedError

    def _created_outs(
        self, inputs: dict[str, Any], live: dict, references: dict[str, str], claimed: bool, payload: dict
    ) -> dict[str, Any]:
        raise NotImplementedError

    # --- helpers shared by create/read/update ----------------------------------------------

    def _schema_problems(self, payload: dict) -> list[str]:
        return validate_api_body(self.kind.schema, payload)

    def _replaces(self, _olds: dict[str, Any], _news: dict[str, Any]) -> list[str] | None:
        return None

    def _delete(self, client: IncidentIoClient, id_: str) -> None:
        raise NotImplementedError

    def _inputs(self, props: dict[str, Any]) -> dict[str, Any]:
        """The declared inputs only (never `__provider`, never an output), protobuf floats fixed."""
        return {k: plain(props[k]) for k in self.input_keys if k in props}

    def _resolve(self, client: IncidentIoClient, payload: dict) -> tuple[dict, dict[str, str]]:
        """Payload with escalation-path / attribute names replaced by ids, and the ids used."""
        found = sorted(find(payload))
        left = [ref(k, n) for k, n in found if k not in _RESOLVED_KINDS]
        if left:
            raise AlertingError(f"{self.kind.label} {payload.get('name')!r}: unresolved {', '.join(left)}")
        ids = {(k, n): _PROCESS.resolve(client, k, n) for k, n in found}
        return substitute(payload, ids), {ref(k, n): i for (k, n), i in ids.items()}

    def _claim(self, client: IncidentIoClient, id_: str, inputs: dict[str, Any]) -> bool:
        """Opt-in managed-resource claim; refuses an answer naming another stack."""
        if not inputs.get("claim_managed"):
            return False
        owner = _owner(inputs)
        claim = client.create_managed_resource(self.kind.resource_type, id_, {OWNER_ANNOTATION: owner})
        holder = (claim.get("annotations") or {}).get(OWNER_ANNOTATION)
        if holder is not None and holder != owner:
            raise OwnershipError(
                f"{self.kind.label} {_name(inputs)!r} ({id_}) is claimed by stack {holder!r}, not {owner!r}:"
                " leave it to that stack, or remove its claim in the incident.io dashboard"
            )
        return True

    def _undo_create(self, client: IncidentIoClient, id_: str) -> None:
        # create must be transactional: an object the engine will not record must not stay.
        with contextlib.suppress(IncidentIoError):
            self._delete(client, id_)

    def _keep_live(self, inputs: dict[str, Any], losses: list[str]) -> None:
        """Stop before a write that would discard live settings the stack does not declare."""
        if losses and not inputs.get("discard_live"):
            raise LiveSettingsError(self.kind.label, _name(inputs), losses, str(inputs.get("stack", "<stack>")))

    def _drift(self, inputs: dict[str, Any], fields: list[str]) -> DriftError:
        stack = inputs.get("stack", "<stack>")
        advice = (
            f"Run `pulumi refresh -s {stack}` to take the live state into the stack's state, then "
            f"`pulumi up -s {stack}` to apply the stack file again (copy the change into "
            f"stacks/Pulumi.{stack}.yaml first to keep it)."
        )
        return DriftError(self.kind.label, _name(inputs), fields or ["(unknown fields)"], advice)

    def _live_payload(self, live: dict, references: Mapping[str, str]) -> dict:
        """A live object in payload shape, its ids written back as this stack's placeholders."""
        return _to_placeholders(self.kind.from_response(live), references)

    def _read_outs(self, props: dict[str, Any], live: dict) -> dict[str, Any]:
        """Old outputs if the live object is still what was applied, else the live state."""
        old = {k: plain(v) for k, v in props.items() if k != PROVIDER_KEY}
        live_canonical = self.kind.canonical(live)
        if live_canonical == old.get("applied"):
            return old
        payload = self._live_payload(live, old.get("references") or {})
        return {**old, "payload": payload, "applied": live_canonical}


class AlertSourceProvider(_Provider):
    """CRUD for ``/v2/alert_sources``; `create` adopts by id when the input ``adopt`` says so."""

    kind = _SOURCE

    def _schema_problems(self, payload: dict) -> list[str]:
        # `source_type` grows over time: a type newer than the vendored spec is not an error.
        return [p for p in super()._schema_problems(payload) if not p.startswith("$.source_type:")]

    def _replaces(self, olds: dict[str, Any], news: dict[str, Any]) -> list[str] | None:
        old, new = (_get(p.get("payload"), "source_type") for p in (olds, news))
        if old is None or new is None or has_unknowns([old, new]) or old == new:
            return None
        return ["payload"]  # delete first: the new source may not reuse a name still taken

    def _create(self, client: IncidentIoClient, payload: dict) -> dict:
        return client.create_alert_source(payload)

    def _created_outs(
        self, inputs: dict[str, Any], live: dict, references: dict[str, str], claimed: bool, payload: dict
    ) -> dict[str, Any]:
        return self._outs(inputs, live, references, claimed, payload)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            source = _PROCESS.client().get_alert_source(id_)
        except NotFoundError:
            return ReadResult(None, {})
        outs = {**self._read_outs(props, source), **_endpoint(source)}  # the token may have been rotated
        return ReadResult(id_, outs, {k: outs[k] for k in self.input_keys if k in outs})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs, old = self._inputs(news), plain(olds)
        client = _PROCESS.client()
        payload, references = self._resolve(client, inputs["payload"])
        try:
            live = client.get_alert_source(id_)
        except NotFoundError:
            raise self._drift(inputs, ["(deleted)"]) from None
        wanted = canonical_source(payload)
        if canonical_source(live) != wanted:
            applied = old.get("applied")
            if applied is not None and canonical_source(live) != applied:
                raise self._drift(inputs, differences(applied, canonical_source(live)))
            self._keep_live(inputs, source_losses(live, payload, old.get("declared")))
            live = client.update_alert_source(id_, _source_update_body(payload))
        claimed = self._claim(client, id_, inputs) if _claim_changed(old, inputs) else bool(old.get("claimed"))
        return UpdateResult(self._outs(inputs, live, references, claimed, payload))

    def _delete(self, client: IncidentIoClient, id_: str) -> None:
        client.delete_alert_source(id_)

    def _adopt(self, client: IncidentIoClient, id_: str, payload: dict, inputs: dict[str, Any]) -> tuple[dict, bool]:
        """Take over an existing source as it is; then claim it; then apply the declared payload."""
        try:
            live = client.get_alert_source(id_)
        except NotFoundError:
            raise AlertingError(f"adopt: no alert source with id {id_} in incident.io") from None
        declared = (payload.get("source_type"), payload.get("name"))
        if (live.get("source_type"), live.get("name")) != declared:
            raise OwnershipError(
                f"refusing to adopt alert source {id_}: it is the {live.get('source_type')!r} source"
                f" {live.get('name')!r}, the stack declares the {declared[0]!r} source {declared[1]!r}."
                " Adoption takes an object over as it is: check `adopt` (another stack's source?);"
                " to rename, adopt it under its current name first"
            )
        changes = canonical_source(live) != canonical_source(payload)
        if changes:
            self._keep_live(inputs, source_losses(live, payload))  # before any write, the claim included
        claimed = self._claim(client, id_, inputs)  # before changing anything: refuse another stack's
        if changes:
            live = client.update_alert_source(id_, _source_update_body(payload))
        return live, claimed

    @staticmethod
    def _outs(
        inputs: dict[str, Any], source: dict, references: dict[str, str], claimed: bool, declared: dict
    ) -> dict[str, Any]:
        return {
            **inputs,
            **_endpoint(source),
            "declared": declared,  # what the stack asked for: survives refresh (the baseline of "declared")
            "applied": canonical_source(source),
            "references": references,
            "owner": _owner(inputs),
            "claimed": claimed,
        }


class AlertRouteProvider(_Provider):
    """CRUD for ``/v2/alert_routes``; updates follow the version rule (GET, then PUT version+1)."""

    kind = _ROUTE

    def _create(self, client: IncidentIoClient, payload: dict) -> dict:
        return client.create_alert_route(payload)

    def _created_outs(
        self, inputs: dict[str, Any], live: dict, references: dict[str, str], claimed: bool, payload: dict
    ) -> dict[str, Any]:
        return self._outs(inputs, live, references, claimed)

    def _adopt(self, client: IncidentIoClient, id_: str, payload: dict, inputs: dict[str, Any]) -> tuple[dict, bool]:
        """Take over an existing route as it is (same name); claim it; then apply the declared payload."""
        try:
            live = client.get_alert_route(id_)
        except NotFoundError:
            raise AlertingError(f"adopt: no alert route with id {id_} in incident.io") from None
        if live.get("name") != payload.get("name"):
            raise OwnershipError(
                f"refusing to adopt alert route {id_}: it is the route {live.get('name')!r}, the stack declares"
                f" {payload.get('name')!r}. Adoption takes a route over as it is: check `adopt`;"
                " to rename, adopt it under its current name first"
            )
        if canonical_route(live) != canonical_route(payload):
            self._keep_live(inputs, route_losses(live, payload))  # before any write, the claim included
        claimed = self._claim(client, id_, inputs)  # before changing anything: refuse another stack's
        # No "last applied" yet: the live route is taken as the baseline, then made to match.
        return self._put(client, id_, payload, inputs, canonical_route(live)), claimed

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            route = _PROCESS.client().get_alert_route(id_)
        except NotFoundError:
            return ReadResult(None, {})
        outs = {**self._read_outs(props, route), "version": route["version"]}
        return ReadResult(id_, outs, {k: outs[k] for k in self.input_keys if k in outs})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs, old = self._inputs(news), plain(olds)
        client = _PROCESS.client()
        payload, references = self._resolve(client, inputs["payload"])
        route = self._put(client, id_, payload, inputs, old.get("applied"))
        claimed = self._claim(client, id_, inputs) if _claim_changed(old, inputs) else bool(old.get("claimed"))
        return UpdateResult(self._outs(inputs, route, references, claimed))

    def _put(self, client: IncidentIoClient, id_: str, payload: dict, inputs: dict, applied: dict | None) -> dict:
        """GET + PUT version+1; a rejected PUT is re-checked for drift and retried (bounded)."""
        wanted = canonical_route(payload)
        for attempt in range(1, MAX_UPDATE_ATTEMPTS + 1):
            try:
                live = client.get_alert_route(id_)
            except NotFoundError:
                raise self._drift(inputs, ["(deleted)"]) from None
            live_canonical = canonical_route(live)
            if live_canonical == wanted:  # e.g. an earlier apply whose answer was lost
                return live
            if applied is not None and live_canonical != applied:
                raise self._drift(inputs, differences(applied, live_canonical))
            self._keep_live(inputs, route_losses(live, payload))
            try:
                return client.update_alert_route(id_, {**payload, "version": live["version"] + 1})
            except RejectedError as error:
                if not _is_version_conflict(error):
                    raise
                if attempt == MAX_UPDATE_ATTEMPTS:
                    raise IncidentIoError(
                        f"alert route {_name(inputs)!r}: version conflict {attempt} times in a row"
                        " (being edited right now?); run `pulumi up` again"
                    ) from None
        raise AssertionError("unreachable")

    def _delete(self, client: IncidentIoClient, id_: str) -> None:
        client.delete_alert_route(id_)

    @staticmethod
    def _outs(inputs: dict[str, Any], route: dict, references: dict[str, str], claimed: bool) -> dict[str, Any]:
        return {
            **inputs,
            "version": route["version"],
            "applied": canonical_route(route),
            "references": references,
            "owner": _owner(inputs),
            "claimed": claimed,
        }


# --- resources ---------------------------------------------------------------------------------

_SOURCE_OUTPUTS = (
    "alert_events_url",
    "heartbeat_ping_url",
    "secret_token",
    "declared",
    "applied",
    "references",
    "owner",
    "claimed",
)
_ROUTE_OUTPUTS = ("version", "applied", "references", "owner", "claimed")


def _props(
    payload: pulumi.Input[dict],
    stack: str,
    adopt: str | None,
    claim_managed: bool,
    discard_live: bool,
    outputs: tuple[str, ...],
) -> dict[str, Any]:
    """The inputs (never a credential) plus the output names, declared so they can be read."""
    return {
        "payload": payload,
        "stack": stack,
        "project": pulumi.get_project(),
        "adopt": adopt,
        "claim_managed": claim_managed,
        "discard_live": discard_live,
        **dict.fromkeys(outputs),
    }


class AlertSource(pulumi.dynamic.Resource, module="incidentio", name="AlertSource"):
    """An incident.io alert source, created from a compiled payload or adopted by id."""

    payload: pulumi.Output[dict]
    adopt: pulumi.Output[str | None]
    alert_events_url: pulumi.Output[str]
    heartbeat_ping_url: pulumi.Output[str]  # secret: with the token it is how to keep a heartbeat quiet
    secret_token: pulumi.Output[str]  # secret (additional_secret_outputs)
    applied: pulumi.Output[dict]
    references: pulumi.Output[dict]
    owner: pulumi.Output[str]
    claimed: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        payload: pulumi.Input[dict],
        stack: str,
        adopt: str | None = None,
        claim_managed: bool = False,
        discard_live: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = _props(payload, stack, adopt, claim_managed, discard_live, _SOURCE_OUTPUTS)
        secret = pulumi.ResourceOptions(additional_secret_outputs=["secret_token", "heartbeat_ping_url"])
        opts = pulumi.ResourceOptions.merge(opts or pulumi.ResourceOptions(), secret)
        super().__init__(AlertSourceProvider(), resource_name, props, opts)


class AlertRoute(pulumi.dynamic.Resource, module="incidentio", name="AlertRoute"):
    """An incident.io alert route (v2), from a compiled payload whose source ids are substituted,
    created or adopted by id."""

    payload: pulumi.Output[dict]
    adopt: pulumi.Output[str | None]
    version: pulumi.Output[int]
    applied: pulumi.Output[dict]
    references: pulumi.Output[dict]
    owner: pulumi.Output[str]
    claimed: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        payload: pulumi.Input[dict],
        stack: str,
        adopt: str | None = None,
        claim_managed: bool = False,
        discard_live: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = _props(payload, stack, adopt, claim_managed, discard_live, _ROUTE_OUTPUTS)
        super().__init__(AlertRouteProvider(), resource_name, props, opts)


# --- small pure helpers ----------------------------------------------------------------------


def _get(payload: Any, key: str) -> Any:
    return payload.get(key) if isinstance(payload, dict) else None


def _name(inputs: Mapping[str, Any]) -> str:
    return str(_get(inputs.get("payload"), "name") or "?")


def _owner(inputs: Mapping[str, Any]) -> str:
    return f"{inputs.get('project') or pulumi.get_project()}/{inputs.get('stack')}"


def _claim_changed(old: Mapping[str, Any], inputs: Mapping[str, Any]) -> bool:
    return bool(inputs.get("claim_managed")) and (not old.get("claimed") or old.get("owner") != _owner(inputs))


def _endpoint(source: dict) -> dict[str, str]:
    """Where the source takes alerts (or, a heartbeat, pings) and its token; "" where it has none."""
    heartbeat = source.get("heartbeat_options")
    return {
        "alert_events_url": source.get("alert_events_url") or "",
        "heartbeat_ping_url": (heartbeat.get("ping_url") if isinstance(heartbeat, dict) else None) or "",
        "secret_token": source.get("secret_token") or "",
    }


def _source_update_body(payload: dict) -> dict:
    # AlertSourcesUpdatePayloadV2 has no source_type: it cannot change (a change replaces).
    return {k: v for k, v in payload.items() if k != "source_type"}


def _is_version_conflict(error: RejectedError) -> bool:
    """The status of a rejected version is undocumented (409? 422?): look at what it names."""
    if error.status == 409:
        return True
    return any(e.field == "version" or "version" in (e.code or "") for e in error.errors)


def _to_placeholders(value: Any, references: Mapping[str, str]) -> Any:
    """Inverse of resolving: each id in `references` (placeholder -> id) back to its placeholder.

    Ids are ULIDs, so replacing them inside strings (``alert.attributes.<id>``) is unambiguous.
    """
    if isinstance(value, str):
        for placeholder, id_ in references.items():
            value = value.replace(id_, placeholder)
        return value
    if isinstance(value, dict):
        return {k: _to_placeholders(v, references) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_placeholders(v, references) for v in value]
    return value
