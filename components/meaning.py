"""Stage 3a: what one stack file's values mean, beyond their shape (which `components.structure`
checks against the JSON Schema): references, policy, uniqueness, bindings, heartbeats, Checkly
channels. Every problem is a `file:line:col: $.path: message`; the document may be of the wrong
shape (each check tolerates that, the schema reports it). No network, no Pulumi.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from components import model, routing, stackfile
from components.errors import Problem
from components.stackfile import Document, PathKey
from components.suggest import suggest

CFG = "config"


def project_key(name: str) -> PathKey:
    """The document path of the stack setting `name` (`sources` -> config, alerting:sources)."""
    return (CFG, stackfile.config_key(name))


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def listing(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def config(doc: Document) -> dict[str, Any]:
    return mapping(mapping(doc.data).get(CFG))


def setting(doc: Document, name: str) -> Any:
    return config(doc).get(stackfile.config_key(name))


def semantic_problems(doc: Document, known_types: frozenset[str]) -> Iterator[Problem]:
    def get(name: str) -> Any:
        return setting(doc, name)

    environment = get("environment")
    if isinstance(environment, str) and environment not in model.KNOWN_ENVIRONMENTS:
        choices = ", ".join(model.KNOWN_ENVIRONMENTS)
        yield doc.problem(
            project_key("environment"),
            f"unknown environment {environment!r}{suggest(environment, model.KNOWN_ENVIRONMENTS)}; one of {choices}",
        )

    sources = mapping(get("sources"))
    yield from _source_problems(doc, sources, known_types, has_kubernetes=get("kubernetes") is not None)

    incidentio = mapping(get("incidentio"))
    channels = mapping(incidentio.get("slackChannels"))
    for section in ("slackChannels", "escalationPaths", "attributes"):  # names looked up elsewhere
        for name in mapping(incidentio.get(section)):
            yield from _name_problems(doc, (*project_key("incidentio"), section, name), name, key=True)
    paging = mapping(get("policy")).get("paging")
    yield from _route_problems(doc, listing(get("routes")), sources, channels, paging)
    yield from _binding_problems(doc, listing(get("routes")), sources)
    yield from _heartbeat_problems(doc, sources, listing(get("routes")), paging)
    yield from _checkly_problems(doc, sources, has_account=isinstance(mapping(get("checkly")).get("accountId"), str))


def _source_problems(
    doc: Document, sources: dict[str, Any], known_types: frozenset[str], *, has_kubernetes: bool
) -> Iterator[Problem]:
    secrets: dict[tuple[str, str], str] = {}
    names: dict[str, str] = {}
    for key, source in sources.items():
        if not isinstance(source, dict):
            continue
        at = (*project_key("sources"), key)
        name = source.get("name")
        if isinstance(name, str):
            yield from _name_problems(doc, (*at, "name"), name)
            folded = _folded(name)
            if folded in names:
                yield doc.problem(
                    (*at, "name"),
                    f"source name {name!r} is the name of source {names[folded]!r} (ignoring case and spacing);"
                    " incident.io shows them alike",
                )
            names.setdefault(folded, key)
        source_type = source.get("type")
        if isinstance(source_type, str) and source_type not in known_types:
            yield doc.problem(
                (*at, "type"),
                f"unknown source type {source_type!r}{suggest(source_type, known_types)};"
                " accepted as is, since incident.io adds source types",
                severity="warning",
            )
        delivery = source.get("delivery")
        if delivery is None:
            continue
        if isinstance(source_type, str) and source_type in model.TOKENLESS_SOURCE_TYPES:
            yield doc.problem(
                (*at, "delivery"),
                f"source type {source_type!r} has no token to deliver; remove delivery",
                key=True,
            )
        if not has_kubernetes:
            yield doc.problem(
                (*at, "delivery"),
                "delivery needs the alerting:kubernetes section (namespace and secretStore)",
                key=True,
            )
        for field in ("awsSecret", "kubernetesSecret"):
            name = mapping(delivery).get(field)
            if isinstance(name, str):
                if (field, name) in secrets:
                    yield doc.problem(
                        (*at, "delivery", field),
                        f"{name!r} already carries the token of source {secrets[(field, name)]!r}",
                    )
                secrets.setdefault((field, name), key)


def _heartbeat_problems(doc: Document, sources: dict[str, Any], routes: list[Any], paging: Any) -> Iterator[Problem]:
    """A heartbeat is a dead man's switch: it must be fed (delivery), ping in time (repeatInterval
    shorter than interval) and page someone when it stops (a route takes it)."""
    alertnames: dict[str, str] = {}
    for key, source in sources.items():
        if not isinstance(source, dict):
            continue
        at = (*project_key("sources"), key)
        is_heartbeat = source.get("type") == model.HEARTBEAT_TYPE
        spec = source.get("heartbeat")
        if not is_heartbeat:
            if spec is not None:
                yield doc.problem((*at, "heartbeat"), "only a source of type heartbeat takes heartbeat", key=True)
            continue
        if not isinstance(spec, dict):
            yield doc.problem(at, "a heartbeat source needs heartbeat: {interval, repeatInterval}", key=True)
            continue
        if "delivery" not in source:
            yield doc.problem(
                at,
                f"heartbeat {key!r} has no delivery: no Alertmanager of this stack pings it (declare delivery,"
                " or ping its URL from elsewhere)",
                severity="warning",
                key=True,
            )
        elif "repeatInterval" not in spec:
            yield doc.problem(
                (*at, "heartbeat"), "a delivered heartbeat needs repeatInterval: how often Alertmanager pings it"
            )
        for field in ("title", "description"):
            if field in source:
                yield doc.problem(
                    (*at, field), f"incident.io sets a heartbeat alert's {field} itself; remove {field}", key=True
                )
        yield from _heartbeat_timing(doc, (*at, "heartbeat"), spec)
        alertname = spec.get("alertname", model.WATCHDOG)
        if isinstance(alertname, str) and "delivery" in source:  # fed by this stack's Alertmanager
            if alertname in alertnames:
                yield doc.problem(
                    (*at, "heartbeat", "alertname") if "alertname" in spec else (*at, "heartbeat"),
                    f"alert {alertname!r} already feeds the heartbeat {alertnames[alertname]!r};"
                    " give each heartbeat its own alertname",
                )
            alertnames.setdefault(alertname, key)
        takers = [mapping(r) for r in routes if key in mapping(mapping(r).get("sources"))]
        if not takers:
            yield doc.problem(
                at,
                f"no route takes the heartbeat {key!r}: a missed heartbeat reaches nobody",
                severity="warning",
                key=True,
            )
        elif paging is True and not any(r.get("escalate") for r in takers):
            yield doc.problem(
                at,
                f"no route escalates the heartbeat {key!r}: a missed heartbeat pages nobody",
                severity="warning",
                key=True,
            )


def _checkly_problems(doc: Document, sources: dict[str, Any], *, has_account: bool) -> Iterator[Problem]:
    """A Checkly alert channel needs its account and a checkly source; a check or group is listed
    once. Listing none is allowed: checks managed as code may subscribe themselves."""
    channels: dict[str, str] = {}
    for key, source in sources.items():
        spec = mapping(source).get("checkly")
        if spec is None:
            continue
        at = (*project_key("sources"), key, "checkly")
        if mapping(source).get("type") != model.CHECKLY_TYPE:
            yield doc.problem(at, "only a source of type checkly takes checkly (its alert channel)", key=True)
            continue
        if not has_account:
            yield doc.problem(at, "a Checkly alert channel needs alerting:checkly.accountId", key=True)
        spec = mapping(spec)
        name = spec.get("alertChannel", mapping(source).get("name"))
        if isinstance(name, str):
            if name in channels:
                yield doc.problem(
                    (*at, "alertChannel") if "alertChannel" in spec else at,
                    f"Checkly alert channel {name!r} is already the channel of source {channels[name]!r}",
                    key="alertChannel" not in spec,
                )
            channels.setdefault(name, key)
        subscribe = mapping(spec.get("subscribe"))
        for kind in ("checks", "groups"):
            seen: set[Any] = set()
            for index, item in enumerate(listing(subscribe.get(kind))):
                if item in seen:
                    yield doc.problem((*at, "subscribe", kind, index), f"{item!r} is listed twice")
                seen.add(item)


def _heartbeat_timing(doc: Document, at: PathKey, spec: dict[str, Any]) -> Iterator[Problem]:
    interval, grace = seconds_of(spec.get("interval")), seconds_of(spec.get("grace", "0s"))
    if interval is None or grace is None:
        return  # the schema reports the shape
    if not 1 <= interval <= model.HEARTBEAT_MAX_SECONDS:
        yield doc.problem((*at, "interval"), "must be between 1s and 48h (incident.io's limits)")
    elif interval + grace > model.HEARTBEAT_MAX_SECONDS:
        where = (*at, "grace") if "grace" in spec else (*at, "interval")
        yield doc.problem(where, "interval + grace must not exceed 48h (incident.io's limit)")
    repeat = seconds_of(spec.get("repeatInterval"))
    durations = {f: spec.get(f, "") for f in ("interval", "repeatInterval")}
    if repeat is None:  # not declared (a heartbeat pinged from elsewhere), or the schema reports it
        return
    if repeat < 1:
        yield doc.problem((*at, "repeatInterval"), "must be at least 1s")
    elif repeat >= interval:
        yield doc.problem(
            (*at, "repeatInterval"),
            f"{durations['repeatInterval']} must be shorter than the heartbeat's interval ({durations['interval']}):"
            " otherwise a healthy Alertmanager misses pings and pages",
        )


def _route_problems(
    doc: Document,
    routes: list[Any],
    sources: dict[str, Any],
    channels: dict[str, Any],
    paging: Any,
) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    resources: dict[str, int] = {}
    for index, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        at = (*project_key("routes"), index)
        name = route.get("name")
        if isinstance(name, str):
            yield from _name_problems(doc, (*at, "name"), name)
            resource = model.route_resource_name(name)
            if name in seen:
                first_line = doc.where((*project_key("routes"), seen[name], "name"))[0]
                yield doc.problem((*at, "name"), f"duplicate route name {name!r} (first on line {first_line})")
            elif resource in resources:
                first = resources[resource]
                first_line = doc.where((*project_key("routes"), first, "name"))[0]
                yield doc.problem(
                    (*at, "name"),
                    f"route names {routes[first]['name']!r} (line {first_line}) and {name!r} both become the"
                    f" Pulumi resource name {resource!r} (only letters and digits count, in any case);"
                    " make them differ in letters or digits",
                )
            seen.setdefault(name, index)
            resources.setdefault(resource, index)
        route_sources = route.get("sources")
        if route_sources == {}:
            yield doc.problem((*at, "sources"), "a route needs at least one source")
        if isinstance(route_sources, dict) and sources:
            for key in route_sources:
                if key not in sources:
                    yield doc.problem((*at, "sources", key), f"unknown source {key!r}{suggest(key, sources)}", key=True)
        for position, channel in enumerate(listing(route.get("slack"))):
            if isinstance(channel, str) and channel not in channels:
                yield doc.problem(
                    (*at, "slack", position),
                    f"unknown Slack channel {channel!r}{suggest(channel, channels)};"
                    " declare it under incidentio.slackChannels",
                )
        if route.get("escalate") and paging is False:
            yield doc.problem(
                (*at, "escalate"),
                "this stack never pages (policy.paging: false); remove escalate",
                key=True,
            )


def _name_problems(doc: Document, path: PathKey, name: str, *, key: bool = False) -> Iterator[Problem]:
    """A name shown in incident.io must read as what it is: nothing hidden, no edge spaces."""
    for position, char in enumerate(name, 1):
        if unicodedata.category(char) in stackfile.INVISIBLE_CATEGORIES:
            label = unicodedata.name(char, "a control character")
            code = f"U+{ord(char):04X}"
            yield doc.problem(path, f"contains an invisible character {code} ({label}) at position {position}", key=key)
            return
    if name != name.strip():
        yield doc.problem(path, "starts or ends with whitespace", key=key)


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# Paths of an Alertmanager *group* webhook: incident.io evaluates bindings on each alert of it.
_ALERTMANAGER_GROUP_FIELDS = ("commonLabels", "commonAnnotations", "groupLabels", "alerts", "externalURL", "receiver")


def _condition_keys(spec: Any, at: PathKey) -> Iterator[tuple[str, PathKey]]:
    """(attribute, path of its key) for every condition of a `conditions` value (map or list)."""
    groups = spec if isinstance(spec, list) else [spec]
    for position, group in enumerate(groups):
        for attribute in mapping(group):
            yield attribute, ((*at, position, attribute) if isinstance(spec, list) else (*at, attribute))


def _unbound(attribute: str, key: str, source: dict[str, Any]) -> str:
    path = routing.suggested_path(str(source.get("type", "")), attribute)
    return (
        f"source {key!r} does not bind attribute {attribute!r}: incident.io never sets it on that source's"
        f" alerts, so this condition always sees it blank; bind it under sources.{key}:"
        f" `attributes: {{{attribute}: {path if path.isascii() and '[' not in path else json.dumps(path)}}}`"
    )


def _binding_problems(doc: Document, routes: list[Any], sources: dict[str, Any]) -> Iterator[Problem]:
    """A route condition reads an alert attribute, which only the source's bindings fill."""
    for key, source in sources.items():
        at = (*project_key("sources"), key, "attributes")
        references: dict[str, str] = {}
        for name, binding in mapping(mapping(source).get("attributes")).items():
            reference = routing.expression_reference(name)
            if reference in references:
                yield doc.problem(
                    (*at, name),
                    f"attributes {references[reference]!r} and {name!r} are too alike to tell apart",
                    key=True,
                )
            references.setdefault(reference, name)
            steps = routing.path_steps(binding) if isinstance(binding, str) else None
            if mapping(source).get("type") == "alertmanager" and steps and steps[0] in _ALERTMANAGER_GROUP_FIELDS:
                yield doc.problem(
                    (*at, name),
                    f"{binding} reads the Alertmanager group, but incident.io evaluates an Alertmanager source's"
                    " bindings on each alert of the group (its payload is the alert: $.labels.…, $.annotations.…)",
                    severity="warning",
                )
    for index, route in enumerate(routes):
        at = (*project_key("routes"), index)
        route_sources = mapping(mapping(route).get("sources"))

        def bound(key: str) -> set[str]:
            return set(mapping(mapping(sources.get(key)).get("attributes")))

        for key, spec in route_sources.items():
            if key not in sources:
                continue
            for attribute, path in _condition_keys(spec, (*at, "sources", key)):
                if attribute != model.TITLE and attribute not in bound(key):
                    yield doc.problem(path, _unbound(attribute, key, mapping(sources[key])), key=True)
        for attribute, path in _condition_keys(mapping(route).get("when"), (*at, "when")):
            for key in route_sources:
                if key in sources and attribute != model.TITLE and attribute not in bound(key):
                    yield doc.problem(path, _unbound(attribute, key, mapping(sources[key])), key=True)


# -- durations as stack files write them (1h30m) -------------------------------------------------


_DURATION = re.compile(r"(\d+)([hms])")
_DURATION_TEXT = re.compile(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?")


def seconds_of(value: Any) -> int | None:
    """`seconds(value)` of a well-formed duration, else None (the schema reports it)."""
    return seconds(value) if isinstance(value, str) and value and _DURATION_TEXT.fullmatch(value) else None


def seconds(duration: str) -> int:
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[unit] for n, unit in _DURATION.findall(duration))
