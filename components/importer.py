"""Import: the live incident.io organisation as stack-file entries, to take it over on day one.

`read_live` reads sources, routes (details), escalation paths and alert attributes; `prepare`
(pure apart from validating text in a temporary folder) maps them to the stack language:

- sources keyed by a slug of their name (or the key the stack already uses for that id or name),
  with ``adopt: <id>``, so `pulumi up` takes them over instead of creating them;
- routes with ``adopt: <id>`` and ``sources: {key: conditions}``; attribute, escalation-path and Slack-channel ids
  become names (the team's names where a stack file of the folder already pins or declares the id;
  Slack channel names are unknown to the API, so a new channel is declared under its id);
- whatever the language cannot express (expressions, custom incident templates, non-Slack or
  conditional channels, references in conditions, ...) refuses *that route*, with every reason,
  instead of dropping configuration silently. Every imported route is then proven: the entries
  are validated and compiled like a real stack and each payload (placeholders resolved the way
  the providers resolve them) must be canonically equal to the live route; one that is not is
  refused too.
- objects another stack file of the folder adopts or names are left to that stack.

The result is printed as YAML (``config:`` entries to paste) or merged into the stack file with
`--write`, comments and layout kept (ruamel.yaml, as `promote` does), validated, atomically.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from components import routing, stackfile, validate
from components.backup import slug
from components.compile import compile_stack
from components.describe import duration
from components.errors import OperationError, StackError, UsageError
from components.incidentio.bulk import SILENT, Organisation, Reporter, read_organisation
from components.incidentio.client import IncidentIoClient
from components.incidentio.defaults import DEFAULT_WORKERS
from components.incidentio.normalise import (
    canonical_route,
    canonical_source,
    differences,
    route_payload_from_response,
    source_payload_from_response,
)
from components.incidentio.references import ALERT_ATTRIBUTE, ESCALATION_PATH, substitute
from components.model import HEARTBEAT_TYPE, TITLE, Stack
from components.stackedit import dump, round_tripper, write_stack_file

__all__ = ["Imported", "Live", "Target", "prepare", "read_live", "read_target", "write"]

CONFIG = "config"
INCIDENTIO, SOURCES, ROUTES = (stackfile.config_key(k) for k in ("incidentio", "sources", "routes"))
_SLACK_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
_SOURCE_KEYS = ("name", "type", "adopt", "delivery", "attributes", "title", "description", "emits")


class Inexpressible(Exception):
    """Something the stack language cannot say; the message is the reason shown to the user."""


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    org: Organisation
    escalation_paths: tuple[dict, ...] = ()
    attributes: tuple[dict, ...] = ()


def read_live(client: IncidentIoClient, *, workers: int = DEFAULT_WORKERS, reporter: Reporter = SILENT) -> Live:
    org = read_organisation(client, workers=workers, reporter=reporter)
    return Live(org, tuple(client.list_escalation_paths()), tuple(client.list_alert_attributes()))


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _config(data: Any, key: str) -> Any:
    return _mapping(_mapping(data).get(CONFIG)).get(key)


def _route_names(data: Any) -> list[str]:
    routes = _config(data, ROUTES)
    return [r["name"] for r in routes if isinstance(_mapping(r).get("name"), str)] if isinstance(routes, list) else []


@dataclass(frozen=True)
class Target:
    """The stack file imported into and what its sibling stacks already own."""

    path: Path
    text: str
    paging: bool
    slack_names: dict[str, str]  # channel id -> name (this stack's first, then the siblings')
    path_pins: dict[str, str]  # escalation path name -> id (this stack)
    attribute_pins: dict[str, str]  # alert attribute name -> id (this stack)
    sources: dict[str, dict]  # key -> entry (this stack)
    owned_sources: dict[str, str] = field(default_factory=dict)  # id or name -> sibling file + key
    owned_routes: dict[str, str] = field(default_factory=dict)  # route name -> sibling file


def read_target(path: Path) -> Target:
    """What the stack file and its siblings say (read leniently: they need not be valid)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OperationError(f"cannot read {path}: {exc}") from None
    data = stackfile.parse(text, stackfile.Document(file=str(path))).data
    incidentio = _mapping(_config(data, INCIDENTIO))
    slack_names: dict[str, str] = {}
    owned_sources: dict[str, str] = {}
    owned_routes: dict[str, str] = {}
    siblings = [p for p in validate.stack_files(path.parent) if p.resolve() != path.resolve()]
    for name, channel in _mapping(incidentio.get("slackChannels")).items():
        slack_names.setdefault(str(channel), str(name))
    taken = set(slack_names.values())  # a sibling's name for a channel, unless this stack means another
    for sibling in siblings:
        other = stackfile.load(sibling).data
        shown = validate.display_name(sibling)
        for name, channel in _mapping(_mapping(_config(other, INCIDENTIO)).get("slackChannels")).items():
            if str(name) not in taken:
                slack_names.setdefault(str(channel), str(name))
        for key, source in _mapping(_config(other, SOURCES)).items():
            for handle in (_mapping(source).get("adopt"), _mapping(source).get("name")):
                if isinstance(handle, str):
                    owned_sources.setdefault(handle, f"{shown} (sources.{key})")
        for name in _route_names(other):
            owned_routes.setdefault(name, shown)
    sources = {str(k): _mapping(v) for k, v in _mapping(_config(data, SOURCES)).items()}
    for source in sources.values():  # what this stack already declares is its own
        for handle in (source.get("adopt"), source.get("name")):
            if isinstance(handle, str):
                owned_sources.pop(handle, None)
    for name in _route_names(data):
        owned_routes.pop(name, None)
    return Target(
        path=path,
        text=text,
        paging=_mapping(_config(data, stackfile.config_key("policy"))).get("paging") is not False,
        slack_names=slack_names,
        path_pins={str(k): str(v) for k, v in _mapping(incidentio.get("escalationPaths")).items()},
        attribute_pins={str(k): str(v) for k, v in _mapping(incidentio.get("attributes")).items()},
        sources=sources,
        owned_sources=owned_sources,
        owned_routes=owned_routes,
    )


# --- names for ids -----------------------------------------------------------------------------


class _Names:
    """Name <-> id for escalation paths or attributes: the stack's pins first, then unique live names."""

    def __init__(self, kind: str, placeholder: str, pin_key: str, live: tuple[dict, ...], pins: dict[str, str]) -> None:
        self.kind, self.placeholder, self.pin_key, self.pins = kind, placeholder, pin_key, pins
        self.live_ids = {str(item.get("id")) for item in live}
        counts = Counter(item.get("name") for item in live)
        self.by_name = {str(item["name"]): str(item["id"]) for item in live if counts[item.get("name")] == 1}
        self._live_names = {str(item.get("id")): str(item.get("name")) for item in live}
        self._shared = {name for name, n in counts.items() if n > 1}
        self.used_pins: dict[str, str] = {}

    def name(self, object_id: str) -> str:
        for pinned, pinned_id in self.pins.items():
            if pinned_id == object_id:
                self.used_pins[pinned] = object_id
                return pinned
        if object_id not in self.live_ids:
            raise Inexpressible(f"it refers to {self.kind} {object_id}, which does not exist")
        name = self._live_names[object_id]
        if name in self._shared:
            raise Inexpressible(
                f"several {self.kind}s are named {name!r}: pin this one under incidentio.{self.pin_key}"
            )
        if name in self.pins:  # the name is pinned to another id
            raise Inexpressible(f"{self.kind} {name!r} ({object_id}) is pinned to {self.pins[name]} in this stack")
        return name

    def resolved(self) -> dict[tuple[str, str], str]:
        """Placeholders the way the providers resolve them: unique live names (pins are compiled in)."""
        return {(self.placeholder, name): object_id for name, object_id in self.by_name.items()}


# --- the mapping -------------------------------------------------------------------------------


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise Inexpressible(f"duration {seconds!r} is not a whole number of seconds")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def _literals(values: Any, what: str) -> list[Any]:
    if not isinstance(values, list) or not all(isinstance(v, dict) and set(v) == {"literal"} for v in values):
        raise Inexpressible(f"{what} uses references or expressions, not plain values")
    return [v["literal"] for v in values]


class _Mapper:
    def __init__(self, live: Live, target: Target) -> None:
        self.target = target
        self.paths = _Names(
            "escalation path", ESCALATION_PATH, "escalationPaths", live.escalation_paths, target.path_pins
        )
        self.attributes = _Names(
            "alert attribute", ALERT_ATTRIBUTE, "attributes", live.attributes, target.attribute_pins
        )
        self.channels: dict[str, str] = {}  # name -> Slack channel id, the ones used

    def attribute(self, reference: Any, where: str) -> str:
        if reference == "alert.title":
            return TITLE
        if not isinstance(reference, str) or not reference.startswith("alert.attributes."):
            raise Inexpressible(f"{where} looks at {reference!r} (the language knows alert.title and alert attributes)")
        name = self.attributes.name(reference.removeprefix("alert.attributes."))
        if name == TITLE:
            raise Inexpressible(f"{where}: an alert attribute named {TITLE!r} would read as the alert title")
        return name

    def condition(self, condition: dict, where: str) -> tuple[str, Any]:
        extra = set(condition) - {"subject", "operation", "param_bindings"}
        if extra:
            raise Inexpressible(f"{where} has {', '.join(sorted(extra))}")
        attribute = self.attribute(condition.get("subject"), where)
        operation, bindings = condition.get("operation"), condition.get("param_bindings") or []
        what = f"{where} on {attribute!r}"
        if not isinstance(operation, str) or not operation:
            raise Inexpressible(f"{what} has no operation")
        if len(bindings) == 1 and isinstance(bindings[0], dict) and set(bindings[0]) == {"array_value"}:
            values = _literals(bindings[0]["array_value"], what)
        elif all(isinstance(b, dict) and set(b) == {"value"} for b in bindings):
            values = _literals([b["value"] for b in bindings], what)
        else:
            raise Inexpressible(f"{what} has parameters the language cannot express")
        if operation in ("one_of", "contains_one_of") and values:
            return attribute, values[0] if len(values) == 1 else values
        spec: dict[str, Any] = {"operation": operation}
        if values:
            spec["values"] = values
        return attribute, spec

    def conditions(self, groups: Any, where: str) -> dict | list[dict]:
        converted = []
        for group in groups or []:
            mapping: dict[str, Any] = {}
            for condition in _mapping(group).get("conditions") or []:
                attribute, spec = self.condition(_mapping(condition), where)
                if attribute in mapping:
                    raise Inexpressible(f"{where} tests {attribute!r} twice in one group")
                mapping[attribute] = spec
            converted.append(mapping)
        return converted[0] if len(converted) == 1 else converted or {}

    def escalation(self, config: dict) -> list[str]:
        if config.get("auto_cancel_escalations"):
            raise Inexpressible("auto_cancel_escalations is on (the language always sends false)")
        names = []
        for target in config.get("escalation_targets") or []:
            paths = _mapping(_mapping(target).get("escalation_paths")).get("array_value")
            if set(_mapping(target)) != {"escalation_paths"} or not isinstance(paths, list) or len(paths) != 1:
                raise Inexpressible("it escalates to something other than one escalation path per target")
            names.append(self.paths.name(str(_literals(paths, "escalation")[0])))
        return names

    def slack(self, channel_config: Any) -> list[str]:
        entries = channel_config or []
        if not entries:
            return []
        entry = _mapping(entries[0])
        targets = _mapping(entry.get("slack_targets"))
        if len(entries) > 1 or set(entry) - {"condition_groups", "slack_targets"} or not targets:
            raise Inexpressible("its channels are not one unconditional list of Slack channels")
        if entry.get("condition_groups"):
            raise Inexpressible("its Slack channels are conditional")
        if targets.get("channel_visibility") != "public" or set(targets) != {"binding", "channel_visibility"}:
            raise Inexpressible(
                f"Slack channel visibility {targets.get('channel_visibility')!r} (the language: public)"
            )
        binding = _mapping(targets.get("binding"))
        if set(binding) != {"array_value"}:
            raise Inexpressible("its Slack channels are not a plain list")
        names = []
        for channel in _literals(binding["array_value"], "Slack"):
            channel = str(channel)
            if not _SLACK_ID.match(channel):
                raise Inexpressible(f"Slack channel id {channel!r} is not one the language accepts")
            name = self.target.slack_names.get(channel, channel)
            if self.channels.get(name, channel) != channel:  # two ids, one name: say the id
                name = channel
            self.channels[name] = channel
            names.append(name)
        return names

    def incident(self, route: dict, entry: dict) -> None:
        config = _mapping(route.get("incident_config"))
        if config.get("condition_groups"):
            raise Inexpressible("its incident settings have conditions")
        keys = [self.attribute(_mapping(k).get("reference"), "grouping") for k in config.get("grouping_keys") or []]
        window = config.get("grouping_window_seconds") or 0
        if window or keys:
            entry["grouping"] = {"window": _duration(window), **({"by": keys} if keys else {})}
        incident = {
            "enabled": bool(config.get("enabled")),
            "autoDecline": bool(config.get("auto_decline_enabled")),
            "defer": _duration(config.get("defer_time_seconds") or 0),
        }
        defaults = {"enabled": False, "autoDecline": False, "defer": "0s"}
        incident = {k: v for k, v in incident.items() if v != defaults[k]}
        if incident:
            entry["incident"] = incident

    def route(self, route: dict, source_keys: dict[str, str]) -> dict:
        """The stack-language entry of one live route, or Inexpressible with every reason found."""
        payload = route_payload_from_response(route)
        reasons: list[str] = []
        # `adopt` makes the first `pulumi up` take the live route over instead of creating a twin.
        entry: dict[str, Any] = {"name": route.get("name"), "adopt": route.get("id")}
        # A refused route must not leave its Slack channels or pins behind in the stack file.
        kept = (dict(self.channels), dict(self.paths.used_pins), dict(self.attributes.used_pins))

        def attempt(action: Any) -> Any:
            try:
                return action()
            except Inexpressible as exc:
                reasons.append(str(exc))
                return None

        if payload.get("is_private"):
            reasons.append("it is private")
        if payload.get("expressions"):
            reasons.append(f"it uses expressions ({len(payload['expressions'])})")
        template = _mapping(payload.get("incident_template"))
        if set(template) - {"name"} or _mapping(template.get("name")) != {"autogenerated": True}:
            reasons.append(f"custom incident template ({', '.join(sorted(template)) or 'empty'})")
        sources: dict[str, Any] = {}
        for item in payload.get("alert_sources") or []:
            source_id = str(_mapping(item).get("alert_source_id"))
            key = source_keys.get(source_id)
            owner = self.target.owned_sources.get(source_id)
            if key is None:
                reasons.append(
                    f"it uses alert source {source_id}, " + (f"owned by {owner}" if owner else "not imported")
                )
            elif key in sources:
                reasons.append(f"it lists alert source {source_id} twice")
            else:
                sources[key] = attempt(lambda item=item: self.conditions(item.get("condition_groups"), "a condition"))
        entry["sources"] = sources
        when = attempt(lambda: self.conditions(payload.get("condition_groups"), "a route-wide condition"))
        if when:
            entry["when"] = when
        escalate = attempt(lambda: self.escalation(_mapping(payload.get("escalation_config"))))
        if escalate:
            if not self.target.paging:
                reasons.append("it escalates, but this stack never pages (policy.paging: false)")
            entry["escalate"] = escalate
        slack = attempt(lambda: self.slack(payload.get("channel_config")))
        if slack:
            entry["slack"] = slack
        if payload.get("enabled") is False:
            entry["enabled"] = False
        attempt(lambda: self.incident(payload, entry))
        if reasons:
            self.channels, self.paths.used_pins, self.attributes.used_pins = kept
            raise Inexpressible("; ".join(reasons))
        return entry

    def source_template(self, source: dict) -> dict[str, Any] | None:
        """The stack-file keys for a source's template (`attributes`, and `title`/`description`
        when they are not the defaults), or None when the language cannot express it."""
        template = _mapping(_mapping(source_payload_from_response(source)).get("template"))
        expressions = {str(_mapping(e).get("reference")): _mapping(e) for e in template.get("expressions") or []}
        used: set[str] = set()
        bindings: dict[str, Any] = {}
        for item in template.get("attributes") or []:
            binding = _mapping(_mapping(item).get("binding"))
            value = _mapping(binding.get("value"))
            if set(_mapping(item)) != {"alert_attribute_id", "binding"} or set(binding) != {"value"}:
                return None
            try:
                name = self.attributes.name(str(item["alert_attribute_id"]))
            except Inexpressible:
                return None
            reference = routing.bound_expression(value.get("reference")) if set(value) == {"reference"} else None
            path = routing.binding_path(expressions.get(reference, {})) if reference else None
            if set(value) == {"literal"} and isinstance(value["literal"], str):
                bindings[name] = {"literal": value["literal"]}
            elif path is not None and reference is not None:
                bindings[name] = path
                used.add(reference)
            else:
                return None
        if set(expressions) - used:  # expressions no binding of the language's form uses
            return None
        keys: dict[str, Any] = {"attributes": bindings}
        heartbeat = source.get("source_type") == HEARTBEAT_TYPE
        for part in ("title", "description"):
            value = _mapping(template.get(part))
            if heartbeat and not value:  # left empty: incident.io sets a heartbeat's itself
                continue
            if value != {"reference": f"alert.{part}"}:
                if len(value) != 1 or not set(value) <= {"literal", "reference"}:
                    return None
                keys[part] = dict(value)
        return keys


def _heartbeat_entry(name: str, options: dict[str, Any], warnings: list[str]) -> dict[str, str]:
    """A live heartbeat's timing as the stack writes it; what feeds it (delivery, repeatInterval)
    is this stack's to declare, not incident.io's to tell."""
    entry = {"interval": duration(int(options.get("interval_seconds") or 0))}
    if options.get("grace_period_seconds"):
        entry["grace"] = duration(int(options["grace_period_seconds"]))
    if int(options.get("failure_threshold") or 1) != 1:
        warnings.append(
            f"alert source {name!r}: failure_threshold {options['failure_threshold']} is not in the language;"
            " the stack sets 1 (express the leeway as grace)"
        )
    return entry


@dataclass
class Imported:
    """The stack-file entries for the live organisation, and what could not be imported."""

    target: Target
    sources: dict[str, dict] = field(default_factory=dict)  # key -> entry
    routes: list[dict] = field(default_factory=list)
    route_ids: dict[str, str] = field(default_factory=dict)  # route name -> live id
    source_ids: dict[str, str] = field(default_factory=dict)  # key -> live id
    incidentio: dict[str, dict[str, str]] = field(default_factory=dict)  # slackChannels / pins used
    refused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fragment: str = ""  # the YAML printed by default

    def check(self) -> None:
        if self.refused:
            raise OperationError(
                f"{len(self.refused)} alert route(s) not imported (they stay as they are in incident.io,"
                " unmanaged); express them by hand or simplify them in incident.io, then import again",
                self.refused,
            )


def _source_key(name: str, taken: set[str]) -> str:
    base = slug(name)
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    return key


def _map(
    live: Live, target: Target, match: re.Pattern[str] | None, unproven: dict[str, str]
) -> tuple[Imported, _Mapper]:
    imported = Imported(target)
    mapper = _Mapper(live, target)
    routes = [r for r in live.org.routes if match is None or match.search(str(r.get("name")))]
    wanted_sources = None
    if match is not None:  # only what the selected routes use, and what the stack declares
        wanted_sources = {str(_mapping(e).get("alert_source_id")) for r in routes for e in r.get("alert_sources") or []}
    live_ids = {str(s.get("id")) for s in live.org.sources}
    keys_by_id = {str(e["adopt"]): k for k, e in target.sources.items() if isinstance(e.get("adopt"), str)}
    # By name: entries that adopt nothing yet, or an id incident.io does not have (a stale one).
    keys_by_name = {str(e.get("name")): k for k, e in target.sources.items() if e.get("adopt") not in live_ids}
    taken = set(target.sources)
    source_keys: dict[str, str] = {}  # live id -> key
    for source in sorted(live.org.sources, key=lambda s: str(s.get("name"))):
        source_id, name = str(source.get("id")), str(source.get("name"))
        key = keys_by_id.get(source_id) or keys_by_name.get(name)
        stale = target.sources.get(key or "", {}).get("adopt")
        if stale and stale != source_id:
            imported.warnings.append(
                f"sources.{key} adopted {stale}, which incident.io does not have; it now adopts {source_id},"
                f" the source named {name!r}"
            )
        owner = target.owned_sources.get(source_id) or target.owned_sources.get(name)
        if key is None and owner:
            imported.skipped.append(f"alert source {name!r} ({source_id}): owned by {owner}")
            continue
        if key is None and wanted_sources is not None and source_id not in wanted_sources:
            continue
        if key is None:
            key = _source_key(name, taken)
            taken.add(key)
        entry = {"name": name, "type": source.get("source_type"), "adopt": source_id}
        template = mapper.source_template(source)
        if template is None:
            imported.warnings.append(
                f"alert source {name!r}: its template (attribute bindings, expressions, title) cannot be"
                " expressed; `pulumi up` stops rather than replace it (declare it by hand, or set"
                " discardLiveSettings: true on the source to let it go)"
            )
        else:
            entry.update(template)  # attributes: {} too: the stack's own `attributes` are replaced
        if source.get("source_type") == HEARTBEAT_TYPE:
            entry["heartbeat"] = _heartbeat_entry(name, _mapping(source.get("heartbeat_options")), imported.warnings)
        imported.sources[key] = entry
        imported.source_ids[key] = source_id
        source_keys[source_id] = key
    names = Counter(r.get("name") for r in live.org.routes)
    for route in routes:
        name, label = str(route.get("name")), f"alert route {route.get('name')!r} ({route.get('id')})"
        if name in target.owned_routes:
            imported.skipped.append(f"{label}: declared by {target.owned_routes[name]}")
        elif name in unproven:
            imported.refused.append(f"{label}: {unproven[name]}")
        elif names[name] > 1:
            imported.refused.append(
                f"{label}: {names[name]} live routes share this name (the language needs unique names)"
            )
        else:
            try:
                imported.routes.append(mapper.route(route, source_keys))
                imported.route_ids[name] = str(route["id"])
            except Inexpressible as exc:
                imported.refused.append(f"{label}: {exc}")
    return imported, mapper


# --- rendering and proving ---------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    """Strings our YAML 1.1 reader would take for something else (yes, on, 12:30, ...) quoted."""
    if isinstance(value, str):
        try:
            plain = pyyaml.safe_load(value)
        except pyyaml.YAMLError:
            plain = None
        if plain != value or "\n" in value:
            return DoubleQuotedScalarString(value)
    return value


def _node(value: Any, flow_depth: int | None = None, depth: int = 0) -> Any:
    """Plain data as ruamel nodes; containers at `flow_depth` and below are written inline."""
    node: CommentedMap | CommentedSeq
    if isinstance(value, dict):
        node = CommentedMap((_scalar(k), _node(v, flow_depth, depth + 1)) for k, v in value.items())
    elif isinstance(value, list):
        node = CommentedSeq(_node(v, flow_depth, depth + 1) for v in value)
    else:
        return _scalar(value)
    if flow_depth is not None and depth >= flow_depth:
        node.fa.set_flow_style()
    return node


def _route_node(entry: dict) -> CommentedMap:
    node = CommentedMap()
    for key, value in entry.items():
        if key == "sources":
            sources = CommentedMap()
            for source_key, conditions in value.items():
                sources[_scalar(source_key)] = _node(conditions, flow_depth=1 if isinstance(conditions, list) else 0)
            node[key] = sources
        elif key == "when":
            node[key] = _node(value, flow_depth=1 if isinstance(value, list) else 0)
        else:
            node[key] = _node(value, flow_depth=0)
    return node


def _source_node(entry: dict) -> CommentedMap:
    return CommentedMap((k, _node(v, flow_depth=0)) for k, v in entry.items() if v != {})


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _document(imported: Imported, extra: dict[str, Any] | None = None) -> CommentedMap:
    config = CommentedMap(extra or {})
    config[INCIDENTIO] = _node({k: v for k, v in imported.incidentio.items() if v})
    config[SOURCES] = CommentedMap((k, _source_node(e)) for k, e in imported.sources.items())
    config[ROUTES] = CommentedSeq(_route_node(e) for e in imported.routes)
    return CommentedMap({CONFIG: config})


def _skeleton(imported: Imported) -> str:
    """The entries as a complete (throwaway) stack, to validate and compile them."""
    extra = {
        "aws:region": "us-east-1",
        stackfile.config_key("environment"): "development",
        stackfile.config_key("guards"): {"awsAccountId": "000000000000", "kubeContext": "import-check"},
        stackfile.config_key("policy"): {"paging": imported.target.paging},
    }
    document = _document(imported, extra)
    document[CONFIG][INCIDENTIO].setdefault("slackChannels", CommentedMap())
    return dump(_yaml(), document)


def _round_trip(
    stack: Stack, live: Live, imported: Imported, mapper: _Mapper
) -> tuple[dict[str, list[str]], list[str]]:
    """Per imported route, the fields where its compiled payload differs from the live route; and
    the imported sources whose compiled payload `pulumi up` would apply over the live one."""
    resolved = {**mapper.paths.resolved(), **mapper.attributes.resolved()}
    compiled = compile_stack(stack)["incident_io"]
    routes_by_id = {r["id"]: r for r in live.org.routes}
    found: dict[str, list[str]] = {}
    for item in compiled["alert_routes"]:
        live_id = imported.route_ids.get(item["name"])
        if live_id is not None:
            wanted = canonical_route(substitute(item["payload"], resolved))
            found[item["name"]] = differences(canonical_route(routes_by_id[live_id]), wanted)
    sources_by_id = {s["id"]: s for s in live.org.sources}
    warnings = []
    for item in compiled["alert_sources"]:
        live_id = imported.source_ids.get(item["key"])
        if live_id is None:
            continue
        wanted = canonical_source(substitute(item["payload"], resolved))
        fields = differences(canonical_source(sources_by_id[live_id]), wanted)
        if fields:
            warnings.append(f"alert source {item['name']!r}: `pulumi up` would change {', '.join(fields)}")
    return found, warnings


_ROUTE_PATH = re.compile(r"^\$\.routes\[(?P<index>\d+)\]")


def _invalid_routes(errors: list, imported: Imported) -> dict[str, str]:
    """Route name -> the validation errors found inside that route's entry."""
    found: dict[str, list[str]] = {}
    for problem in errors:
        match = _ROUTE_PATH.match(problem.path)
        if match and int(match["index"]) < len(imported.routes):
            found.setdefault(imported.routes[int(match["index"])]["name"], []).append(
                f"{problem.path}: {problem.message}"
            )
    return {name: f"its entry would not validate ({'; '.join(messages)})" for name, messages in found.items()}


def prepare(live: Live, target: Target, *, match: str | None = None) -> Imported:
    """The entries for `target`, every imported route proven to compile back to its live payload."""
    try:
        pattern = re.compile(match) if match else None
    except re.error as exc:
        raise UsageError(f"--match {match!r} is not a regular expression: {exc}") from None
    unproven: dict[str, str] = {}  # route name -> why the proof refused it
    while True:
        imported, mapper = _map(live, target, pattern, unproven)
        imported.incidentio = {
            "slackChannels": dict(sorted(mapper.channels.items())),
            "escalationPaths": dict(sorted(mapper.paths.used_pins.items())),
            "attributes": dict(sorted(mapper.attributes.used_pins.items())),
        }
        if not imported.sources:
            return imported
        # Alone: the entries are checked as a stack of their own, not against the target's siblings.
        problems, stack = validate.check_text(_skeleton(imported), Path("Pulumi.import.yaml"), siblings=False)
        errors = [p for p in problems if p.severity == "error"]
        invalid = _invalid_routes(errors, imported)
        if invalid:  # e.g. a value the schema refuses: refuse that route, with the validator's words
            unproven.update(invalid)
            continue
        if errors or stack is None:
            raise OperationError(
                "internal error: the imported entries do not validate; nothing was written", [str(p) for p in errors]
            )
        found, warnings = _round_trip(stack, live, imported, mapper)
        failing = {name: fields for name, fields in found.items() if fields}
        if not failing:
            imported.warnings += warnings
            shown = validate.display_name(target.path)
            imported.fragment = _HEADER.format(path=shown) + dump(_yaml(), _document(imported))
            return imported
        for name, fields in failing.items():
            unproven[name] = f"would not compile back to the live route (differs in {', '.join(fields)})"


_HEADER = "# incident.io, as entries of {path}: merge them under `config:`, or run `import --write`.\n"


# --- writing into the stack file ---------------------------------------------------------------


def _set(node: CommentedMap, key: str, value: Any, order: tuple[str, ...]) -> None:
    """Set `key` (in place, only when it changes, so the file keeps its styling), else insert it
    after the keys that come before it in `order`."""
    if key in node:
        if node[key] != value:
            node[key] = _node(value, flow_depth=0)
        return
    before = order[: order.index(key)]
    position = max((i for i, k in enumerate(node) if k in before), default=-1) + 1
    node.insert(position, key, _node(value, flow_depth=0))


def _merge_heartbeat(node: CommentedMap, live: dict[str, str]) -> None:
    """incident.io's side of a heartbeat (interval, grace) into the stack's, whose own keys
    (repeatInterval, alertname) and spelling (`300s` for `5m`) stay."""
    for key in ("interval", "grace"):
        if key not in live:
            node.pop(key, None)
        elif not isinstance(node.get(key), str) or validate.seconds(node[key]) != validate.seconds(live[key]):
            node[key] = _scalar(live[key])


def merged_text(imported: Imported) -> str:
    """The stack file with the imported entries merged in, every other byte kept: new Slack
    channels added, sources updated in place (name, type, adopt, attributes; delivery and emits
    kept) or added, routes replaced in place by name or appended."""
    target = imported.target
    yaml = round_tripper(target.text, target.path)
    data = yaml.load(target.text)
    config = data.get(CONFIG) if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise OperationError(f"{target.path} has no `config:` mapping; nothing was written")
    incidentio = config.setdefault(INCIDENTIO, CommentedMap())
    for section, entries in imported.incidentio.items():
        if entries:
            node = incidentio.setdefault(section, CommentedMap())
            for name, value in entries.items():
                if name not in node:
                    node[_scalar(name)] = _scalar(value)
    sources = config.setdefault(SOURCES, CommentedMap())
    for key, entry in imported.sources.items():
        node = sources.get(key)
        if not isinstance(node, CommentedMap):
            sources[key] = _source_node(entry)
            continue
        for name, value in entry.items():
            if name == "heartbeat" and isinstance(node.get(name), CommentedMap):
                _merge_heartbeat(node[name], value)
            elif value == {}:
                node.pop(name, None)
            else:
                _set(node, name, value, _SOURCE_KEYS)
    routes = config.setdefault(ROUTES, CommentedSeq())
    index = {route.get("name"): i for i, route in enumerate(routes) if isinstance(route, dict)}
    for entry in imported.routes:
        position = index.get(entry["name"])
        if position is None:
            routes.append(_route_node(entry))
        elif routes[position] != entry:
            routes[position] = _route_node(entry)
    return dump(yaml, data)


def write(imported: Imported, live: Live) -> bool:
    """Merge into the stack file: validated with its siblings and re-proven first, written
    atomically; False when it already says all this."""
    target = imported.target
    text = merged_text(imported)
    if text == target.text:
        return False
    problems, stack = validate.check_text(text, target.path)
    if any(p.severity == "error" for p in problems) or stack is None:
        raise StackError(problems)
    mapper = _Mapper(live, target)  # names as `prepare` chose them: the same inputs
    failing = {n: f for n, f in _round_trip(stack, live, imported, mapper)[0].items() if f}
    if failing:
        raise OperationError(
            f"internal error: merged into {target.path}, routes would change; nothing was written",
            [f"{name}: {', '.join(fields)}" for name, fields in failing.items()],
        )
    write_stack_file(target.path, target.text, text)
    return True
