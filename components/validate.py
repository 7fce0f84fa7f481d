"""Stage 3: check a parsed stack file and build its typed model, collecting every problem.

Structure (keys, types, required keys, formats) is checked against the JSON Schema in
`components/schemas/stack.schema.json` (`components.structure`); meaning (references, policy, uniqueness, adopted
ids) by the functions below. Both report `file:line:col: $.path: message`. No network, no Pulumi.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any

from components import model, routing, stackfile, structure
from components.errors import Problem, StackError
from components.schemas import source_types
from components.stackfile import Document, PathKey
from components.suggest import suggest

STACK_FILE = re.compile(r"^Pulumi\.(?P<name>[A-Za-z0-9_.-]+)\.ya?ml$")
CFG = "config"


def project_key(name: str) -> PathKey:
    return (CFG, stackfile.config_key(name))


def stack_name(path: Path) -> str:
    match = STACK_FILE.match(path.name)
    return match["name"] if match else path.stem


# -- meaning --------------------------------------------------------------------------------------


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _listing(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _config(doc: Document) -> dict[str, Any]:
    return _mapping(_mapping(doc.data).get(CFG))


def _setting(doc: Document, name: str) -> Any:
    return _config(doc).get(stackfile.config_key(name))


def semantic_problems(doc: Document, known_types: frozenset[str]) -> Iterator[Problem]:
    def get(name: str) -> Any:
        return _setting(doc, name)

    environment = get("environment")
    if isinstance(environment, str) and environment not in model.KNOWN_ENVIRONMENTS:
        choices = ", ".join(model.KNOWN_ENVIRONMENTS)
        yield doc.problem(
            project_key("environment"),
            f"unknown environment {environment!r}{suggest(environment, model.KNOWN_ENVIRONMENTS)}; one of {choices}",
        )

    sources = _mapping(get("sources"))
    yield from _source_problems(doc, sources, known_types, has_kubernetes=get("kubernetes") is not None)

    incidentio = _mapping(get("incidentio"))
    channels = _mapping(incidentio.get("slackChannels"))
    for section in ("slackChannels", "escalationPaths", "attributes"):  # names looked up elsewhere
        for name in _mapping(incidentio.get(section)):
            yield from _name_problems(doc, (*project_key("incidentio"), section, name), name, key=True)
    paging = _mapping(get("policy")).get("paging")
    yield from _route_problems(doc, _listing(get("routes")), sources, channels, paging)
    yield from _binding_problems(doc, _listing(get("routes")), sources)
    yield from _heartbeat_problems(doc, sources, _listing(get("routes")), paging)
    yield from _checkly_problems(doc, sources, has_account=isinstance(_mapping(get("checkly")).get("accountId"), str))


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
            name = _mapping(delivery).get(field)
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
        takers = [_mapping(r) for r in routes if key in _mapping(_mapping(r).get("sources"))]
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
        spec = _mapping(source).get("checkly")
        if spec is None:
            continue
        at = (*project_key("sources"), key, "checkly")
        if _mapping(source).get("type") != model.CHECKLY_TYPE:
            yield doc.problem(at, "only a source of type checkly takes checkly (its alert channel)", key=True)
            continue
        if not has_account:
            yield doc.problem(at, "a Checkly alert channel needs alerting:checkly.accountId", key=True)
        spec = _mapping(spec)
        name = spec.get("alertChannel", _mapping(source).get("name"))
        if isinstance(name, str):
            if name in channels:
                yield doc.problem(
                    (*at, "alertChannel") if "alertChannel" in spec else at,
                    f"Checkly alert channel {name!r} is already the channel of source {channels[name]!r}",
                    key="alertChannel" not in spec,
                )
            channels.setdefault(name, key)
        subscribe = _mapping(spec.get("subscribe"))
        for kind in ("checks", "groups"):
            seen: set[Any] = set()
            for index, item in enumerate(_listing(subscribe.get(kind))):
                if item in seen:
                    yield doc.problem((*at, "subscribe", kind, index), f"{item!r} is listed twice")
                seen.add(item)


def _heartbeat_timing(doc: Document, at: PathKey, spec: dict[str, Any]) -> Iterator[Problem]:
    interval, grace = _seconds_of(spec.get("interval")), _seconds_of(spec.get("grace", "0s"))
    repeat = _seconds_of(spec.get("repeatInterval", "1s"))
    if interval is None or repeat is None or grace is None:
        return  # the schema reports the shape
    durations = {f: spec.get(f, "") for f in ("interval", "repeatInterval")}
    if not 1 <= interval <= model.HEARTBEAT_MAX_SECONDS:
        yield doc.problem((*at, "interval"), "must be between 1s and 48h (incident.io's limits)")
    elif interval + grace > model.HEARTBEAT_MAX_SECONDS:
        where = (*at, "grace") if "grace" in spec else (*at, "interval")
        yield doc.problem(where, "interval + grace must not exceed 48h (incident.io's limit)")
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
        for position, channel in enumerate(_listing(route.get("slack"))):
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
        for attribute in _mapping(group):
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
        for name, binding in _mapping(_mapping(source).get("attributes")).items():
            reference = routing.expression_reference(name)
            if reference in references:
                yield doc.problem(
                    (*at, name),
                    f"attributes {references[reference]!r} and {name!r} are too alike to tell apart",
                    key=True,
                )
            references.setdefault(reference, name)
            steps = routing.path_steps(binding) if isinstance(binding, str) else None
            if _mapping(source).get("type") == "alertmanager" and steps and steps[0] in _ALERTMANAGER_GROUP_FIELDS:
                yield doc.problem(
                    (*at, name),
                    f"{binding} reads the Alertmanager group, but incident.io evaluates an Alertmanager source's"
                    " bindings on each alert of the group (its payload is the alert: $.labels.…, $.annotations.…)",
                    severity="warning",
                )
    for index, route in enumerate(routes):
        at = (*project_key("routes"), index)
        route_sources = _mapping(_mapping(route).get("sources"))

        def bound(key: str) -> set[str]:
            return set(_mapping(_mapping(sources.get(key)).get("attributes")))

        for key, spec in route_sources.items():
            if key not in sources:
                continue
            for attribute, path in _condition_keys(spec, (*at, "sources", key)):
                if attribute != model.TITLE and attribute not in bound(key):
                    yield doc.problem(path, _unbound(attribute, key, _mapping(sources[key])), key=True)
        for attribute, path in _condition_keys(_mapping(route).get("when"), (*at, "when")):
            for key in route_sources:
                if key in sources and attribute != model.TITLE and attribute not in bound(key):
                    yield doc.problem(path, _unbound(attribute, key, _mapping(sources[key])), key=True)


def _adoptions(doc: Document) -> Iterator[tuple[str, PathKey, str]]:
    """(adopted id, path of the `adopt` value, readable owner) for every source and route."""
    for key, source in _mapping(_setting(doc, "sources")).items():
        adopt = _mapping(source).get("adopt")
        if isinstance(adopt, str):
            yield adopt, (*project_key("sources"), key, "adopt"), f"source {key!r}"
    for index, route in enumerate(_listing(_setting(doc, "routes"))):
        adopt = _mapping(route).get("adopt")
        if isinstance(adopt, str):
            yield adopt, (*project_key("routes"), index, "adopt"), f"route {_mapping(route).get('name')!r}"


Claim = tuple[Document, PathKey, str]  # the claiming file, where it claims, who claims (readable)


def _conflicts(
    claims: Mapping[Hashable, list[Claim]],
    message: Callable[[Hashable, str, str], str],
    clash: Callable[[Document, Document], bool] = lambda a, b: True,
) -> Iterator[Problem]:
    """Every party of a claim hears about every other party it clashes with:
    `message(claimed, other owner, where the other is)`."""
    for claimed, parties in claims.items():
        for doc, path, _ in parties:
            for other, other_path, other_owner in parties:
                if (other, other_path) == (doc, path) or not clash(doc, other):
                    continue
                line = other.where(other_path)[0]
                where = f"line {line}" if other is doc else f"{other.file}:{line}"
                yield doc.problem(path, message(claimed, other_owner, where))


def adoption_problems(docs: list[Document]) -> Iterator[Problem]:
    """An incident.io object adopted twice, in one stack or across stacks, would be fought over."""
    claims: dict[Hashable, list[Claim]] = {}
    for doc in docs:
        for adopt, path, owner in _adoptions(doc):
            claims.setdefault(adopt, []).append((doc, path, owner))
    yield from _conflicts(
        claims,
        lambda adopt, owner, where: (
            f"id {adopt} is also adopted by {owner} ({where}); an incident.io object belongs to one place"
        ),
    )


def _text_only(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def guard_problems(docs: Mapping[str, Document]) -> Iterator[Problem]:
    """What keeps a stack from reaching another environment (`docs`: stack name -> document).

    A stack named for an environment ("staging", "prod-eu") declares that environment, unless its
    `guards.allowEnvironmentMismatch` says the difference is deliberate. Stacks of different
    environments never share an AWS account or a kube context; no two stacks share an AWS secret
    (account, region, name) or a Kubernetes Secret (context, namespace, name).
    """
    environments: dict[int, Any] = {}
    accounts: dict[Hashable, list[Claim]] = {}
    contexts: dict[Hashable, list[Claim]] = {}
    aws_secrets: dict[Hashable, list[Claim]] = {}
    kube_secrets: dict[Hashable, list[Claim]] = {}
    for name, doc in docs.items():
        environment = _setting(doc, "environment")
        environments[id(doc)] = environment
        guards = _mapping(_setting(doc, "guards"))
        named = model.named_environment(name)
        deliberate = guards.get("allowEnvironmentMismatch") is True
        if named and environment in model.KNOWN_ENVIRONMENTS and environment != named and not deliberate:
            yield doc.problem(
                project_key("environment"),
                f"stack {name!r} is named for {named} but declares environment {environment!r}; correct one of"
                " them, or set guards.allowEnvironmentMismatch: true if the difference is deliberate",
            )
        owner = f"stack {name!r} (environment {environment})"
        account, context = _text_only(guards.get("awsAccountId")), _text_only(guards.get("kubeContext"))
        if account is not None:
            accounts.setdefault(account, []).append((doc, (*project_key("guards"), "awsAccountId"), owner))
        if context is not None:
            contexts.setdefault(context, []).append((doc, (*project_key("guards"), "kubeContext"), owner))
        # Any shape may reach here (a file with other errors is still guarded): only text counts.
        region = _text_only(_config(doc).get("aws:region"))
        namespace = _text_only(_mapping(_setting(doc, "kubernetes")).get("namespace", model.Kubernetes().namespace))
        for key, source in _mapping(_setting(doc, "sources")).items():
            delivery = _mapping(_mapping(source).get("delivery"))
            at = (*project_key("sources"), key, "delivery")
            if isinstance(delivery.get("awsSecret"), str):
                secret = (account, region, delivery["awsSecret"])
                aws_secrets.setdefault(secret, []).append((doc, (*at, "awsSecret"), f"stack {name!r}"))
            if isinstance(delivery.get("kubernetesSecret"), str):
                secret = (context, namespace, delivery["kubernetesSecret"])
                kube_secrets.setdefault(secret, []).append((doc, (*at, "kubernetesSecret"), f"stack {name!r}"))

    def across_environments(a: Document, b: Document) -> bool:
        return environments[id(a)] != environments[id(b)]

    def between_stacks(a: Document, b: Document) -> bool:
        return a is not b

    def shared(what: Callable[[Any], str], rule: str) -> Callable[[Hashable, str, str], str]:
        return lambda claimed, owner, where: f"{what(claimed)} is also used by {owner} ({where}); {rule}"

    yield from _conflicts(
        accounts, shared(lambda a: f"AWS account {a}", "environments never share an account"), across_environments
    )
    yield from _conflicts(
        contexts, shared(lambda c: f"kube context {c!r}", "environments never share a cluster"), across_environments
    )
    overwrite = "two stacks would overwrite each other's token"
    yield from _conflicts(
        aws_secrets, shared(lambda s: f"AWS secret {s[2]!r} in account {s[0]} ({s[1]})", overwrite), between_stacks
    )
    yield from _conflicts(
        kube_secrets, shared(lambda s: f"Kubernetes Secret {s[1]}/{s[2]} on {s[0]!r}", overwrite), between_stacks
    )


# -- model ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _groups(value: Any) -> tuple[model.ConditionGroup, ...]:
    if not value:
        return ()
    return tuple(_group(mapping) for mapping in (value if isinstance(value, list) else [value]))


def _group(mapping: dict[str, Any]) -> model.ConditionGroup:
    conditions = []
    for attribute, spec in mapping.items():
        if isinstance(spec, dict):
            values = tuple(_text(v) for v in spec.get("values", []))
            conditions.append(model.Condition(attribute, spec["operation"], values))
        else:
            values = tuple(_text(v) for v in (spec if isinstance(spec, list) else [spec]))
            conditions.append(model.Condition(attribute, model.ONE_OF, values))
    return tuple(conditions)


def _binding(value: Any) -> model.Binding:
    if isinstance(value, dict):
        return model.Binding(literal=_text(value["literal"]))
    return model.Binding(path=value)


_DURATION = re.compile(r"(\d+)([hms])")
_DURATION_TEXT = re.compile(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?")


def _seconds_of(value: Any) -> int | None:
    """`seconds(value)` of a well-formed duration, else None (the schema reports it)."""
    return seconds(value) if isinstance(value, str) and value and _DURATION_TEXT.fullmatch(value) else None


def seconds(duration: str) -> int:
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[unit] for n, unit in _DURATION.findall(duration))


def _heartbeat(spec: dict[str, Any]) -> model.Heartbeat:
    return model.Heartbeat(
        interval_seconds=seconds(spec["interval"]),
        repeat_seconds=seconds(spec["repeatInterval"]) if "repeatInterval" in spec else None,
        grace_seconds=seconds(spec.get("grace", "0s")),
        alertname=spec.get("alertname", model.WATCHDOG),
    )


def _checkly_channel(spec: dict[str, Any], source_name: str) -> model.ChecklyChannel:
    subscribe = spec.get("subscribe", {})
    return model.ChecklyChannel(
        name=spec.get("alertChannel", source_name),
        send_recovery=spec.get("sendRecovery", True),
        send_failure=spec.get("sendFailure", True),
        send_degraded=spec.get("sendDegraded", False),
        checks=tuple(subscribe.get("checks", ())),
        groups=tuple(subscribe.get("groups", ())),
    )


def build_model(doc: Document, name: str, path: Path) -> model.Stack:
    config = doc.data[CFG]

    def get(key: str, default: Any = None) -> Any:
        return config.get(stackfile.config_key(key), default)

    incidentio = get("incidentio")
    sources = tuple(
        model.Source(
            key=key,
            name=spec["name"],
            type=spec["type"],
            adopt=spec.get("adopt"),
            delivery=model.Delivery(spec["delivery"]["awsSecret"], spec["delivery"]["kubernetesSecret"])
            if "delivery" in spec
            else None,
            attributes=tuple(sorted((n, _binding(b)) for n, b in spec.get("attributes", {}).items())),
            emits=tuple((label, tuple(values)) for label, values in spec.get("emits", {}).items()),
            title=tuple(spec.get("title", {}).items()),
            description=tuple(spec.get("description", {}).items()),
            discard_live=spec.get("discardLiveSettings", False),
            heartbeat=_heartbeat(spec["heartbeat"]) if "heartbeat" in spec else None,
            checkly=_checkly_channel(spec["checkly"], spec["name"]) if "checkly" in spec else None,
        )
        for key, spec in get("sources").items()
    )
    routes = tuple(
        model.Route(
            name=spec["name"],
            adopt=spec.get("adopt"),
            sources=tuple(model.SourceFilter(key, _groups(cond)) for key, cond in spec["sources"].items()),
            escalate=tuple(spec.get("escalate", ())),
            slack=tuple(spec.get("slack", ())),
            enabled=spec.get("enabled", True),
            when=_groups(spec.get("when")),
            grouping=model.Grouping(seconds(spec["grouping"]["window"]), tuple(spec["grouping"].get("by", ())))
            if "grouping" in spec
            else None,
            discard_live=spec.get("discardLiveSettings", False),
            incident=model.Incident(
                enabled=spec.get("incident", {}).get("enabled", False),
                auto_decline=spec.get("incident", {}).get("autoDecline", False),
                defer_seconds=seconds(spec.get("incident", {}).get("defer", "0s")),
            ),
        )
        for spec in get("routes")
    )
    kube = get("kubernetes") or {}
    store = kube.get("secretStore", {})
    roll = kube.get("alertmanager")
    defaults = model.Kubernetes()
    kubernetes = model.Kubernetes(
        namespace=kube.get("namespace", defaults.namespace),
        secret_store_kind=store.get("kind", defaults.secret_store_kind),
        secret_store_name=store.get("name", defaults.secret_store_name),
        refresh_interval=kube.get("refreshInterval", defaults.refresh_interval),
        mode=kube.get("mode", defaults.mode),
        manifests_dir=kube.get("manifestsDir"),
        alertmanager=model.AlertmanagerRoll(roll["name"], roll.get("rollOnTokenChange", False)) if roll else None,
    )
    return model.Stack(
        name=name,
        file=path,
        environment=get("environment"),
        aws_region=config["aws:region"],
        aws_account_id=get("guards")["awsAccountId"],
        kube_context=get("guards")["kubeContext"],
        paging=get("policy")["paging"],
        slack_channels=tuple(sorted(incidentio["slackChannels"].items())),
        escalation_paths=tuple(sorted(incidentio.get("escalationPaths", {}).items())),
        attributes=tuple(sorted(incidentio.get("attributes", {}).items())),
        sources=sources,
        routes=routes,
        kubernetes=kubernetes,
        claim_managed=incidentio.get("claimManaged", False),
        checkly_account_id=(get("checkly") or {}).get("accountId"),
    )


# -- entry points ---------------------------------------------------------------------------------


def display_name(path: Path) -> str:
    """How problems name a file: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def known_source_types() -> frozenset[str]:
    return frozenset(source_types())


def check(paths: list[Path], *, details: bool = False) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Read stack files and check them together (`check_documents`)."""
    return check_documents({path: stackfile.load(path, display_name(path)) for path in paths}, details=details)


def check_documents(
    docs: dict[Path, Document], *, details: bool = False
) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Check parsed stack files together; return the models of the valid ones and every problem.

    Pure: no file is read (a path only names its stack and its model's file). `details`: coverage
    warnings in full (every overlapping route), not summarised."""
    with stackfile.bulk_allocation():
        return _check(docs, details)


def _check(docs: dict[Path, Document], details: bool) -> tuple[dict[Path, model.Stack], list[Problem]]:
    problems: list[Problem] = []
    types = known_source_types()
    for doc in docs.values():
        if not doc.problems:  # a document that did not parse has nothing more to check
            problems += structure.STACK.problems(doc)
            problems += semantic_problems(doc, types)
        problems += doc.problems
    parsed = {path: doc for path, doc in docs.items() if doc.data is not None}
    problems += adoption_problems(list(parsed.values()))
    problems += guard_problems({stack_name(path): doc for path, doc in parsed.items()})
    failed = {p.file for p in problems if p.severity == "error"}
    stacks = {path: build_model(doc, stack_name(path), path) for path, doc in docs.items() if doc.file not in failed}
    # The one arrow from validation to a later stage (coverage runs the simulator, which compiles):
    # imported here, so loading a stack file does not load the simulator. No cycle: it never
    # imports this module.
    from components.coverage import coverage_problems

    for path, stack in stacks.items():  # declared alerts (`emits`) no route or several routes take
        problems += coverage_problems(stack, docs[path], details=details)
    return stacks, sorted(problems)


def check_text(text: str, path: Path, *, siblings: bool = True) -> tuple[list[Problem], model.Stack | None]:
    """Check `text` as the stack file `path` would hold it (with the stacks beside `path`, unless
    `siblings` is False), touching no file: `path`'s problems and, if it is valid, its model."""
    doc = stackfile.parse(text, stackfile.Document(file=display_name(path)))
    others = [p for p in stack_files(path.parent) if p.resolve() != path.resolve()] if siblings else []
    docs = {path: doc, **{p: stackfile.load(p, display_name(p)) for p in others}}
    stacks, problems = check_documents(docs)
    return [p for p in problems if p.file == doc.file], stacks.get(path)


def stack_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("Pulumi.*.y*ml") if STACK_FILE.match(p.name))


def check_in_folders(paths: list[Path], *, details: bool = False) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Check `paths` together with the other stacks of their folders, in one pass (the guards between
    environments need the siblings); return the models of the valid ones among `paths` and their
    problems only. `validate FILE` and every command that loads a stack check alike."""
    wanted = {p.resolve() for p in paths}
    folders = {p.resolve().parent for p in paths}
    siblings = [s for folder in folders for s in stack_files(folder) if s.resolve() not in wanted]
    stacks, problems = check([*paths, *siblings], details=details)
    mine = {display_name(p) for p in paths}
    return {path: stacks[path] for path in paths if path in stacks}, [p for p in problems if p.file in mine]


def load_stacks(paths: list[Path]) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Load several stacks of one folder with one check of the folder (not one per stack);
    raise StackError with every problem of theirs if any has an error. Returns models and warnings."""
    stacks, problems = check_in_folders(paths)
    if any(p.severity == "error" for p in problems) or len(stacks) < len(paths):
        raise StackError(problems)
    return stacks, problems


def load_stack(path: Path) -> tuple[model.Stack, list[Problem]]:
    """Load one stack, checked against its sibling stacks; raise StackError on any error.

    Returns the model and the warnings.
    """
    stacks, warnings = load_stacks([path])
    return stacks[path], warnings
