"""The one routing evaluator: what incident.io does with an alert, over API-shaped objects.

    sender's body ──split_event──▶ one payload per alert
    payload ──source template (expressions, attribute bindings, title)──▶ Extracted
    Extracted ──each route's per-source and route-wide condition groups──▶ matched routes
    matched routes ──escalation targets, channel configs (with their conditions)──▶ who hears

It reads the shapes the API takes and stores (``AlertSourcesCreatePayloadV2`` /
``AlertRoutesCreatePayloadV2``, ids or placeholders alike), so the simulator evaluates exactly what
`render` sends and the emulator what `pulumi up` created. Pure: no I/O, nothing imported from a
higher stage. The facts behind it, with sources and unknowns, are in docs/routing.md ("How
incident.io routes an alert").

The logic is three-valued: a value that cannot be known offline (a JavaScript parse that is not a
plain path, an expression with other operations, a label the coverage check does not know) or an
operation this module does not implement gives `Unknown` with its reasons, never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Extracted",
    "OpenMapping",
    "Outcome",
    "Unknown",
    "binding_path",
    "bound_expression",
    "evaluate_path",
    "expression_binding",
    "expression_reference",
    "extract",
    "route_alert",
    "sample_payload",
    "split_event",
    "suggested_path",
]

TITLE_SUBJECT = "alert.title"
DESCRIPTION_SUBJECT = "alert.description"
ATTRIBUTE_SUBJECT = "alert.attributes."
PAYLOAD_ROOT = "payload"
_EXPRESSION_REFERENCE = re.compile(r'^expressions\["(?P<ref>[^"]+)"\]$')


# -- three-valued logic ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """Neither true nor false (or no value): it cannot be told offline, for these reasons."""

    reasons: frozenset[str]

    @classmethod
    def because(cls, reason: str) -> Unknown:
        return cls(frozenset({reason}))


Truth = bool | Unknown
Value = str | None | Unknown  # None: not set


def all_of(truths: Iterable[Truth]) -> Truth:
    reasons: set[str] = set()
    for truth in truths:
        if truth is False:
            return False
        if isinstance(truth, Unknown):
            reasons |= truth.reasons
    return Unknown(frozenset(reasons)) if reasons else True


def any_of(truths: Iterable[Truth]) -> Truth:
    reasons: set[str] = set()
    for truth in truths:
        if truth is True:
            return True
        if isinstance(truth, Unknown):
            reasons |= truth.reasons
    return Unknown(frozenset(reasons)) if reasons else False


class OpenMapping(dict[str, Any]):
    """A payload mapping whose absent keys are unknown rather than missing (coverage of `emits`:
    a label the source does not declare may or may not be there)."""

    def __init__(
        self, *args: Any, unknown: str = "{!r} is not known", absent: Iterable[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.unknown = unknown  # the reason, formatted with the absent key
        self.absent = frozenset(absent)  # keys known to be missing

    def knows(self, key: str | int) -> bool:
        return key in self or key in self.absent


# -- payloads as sources receive them -------------------------------------------------------------


def split_event(source_type: str, body: Any) -> list[Any]:
    """The alerts one posted body becomes. Alertmanager posts a group (``alerts[]``, webhook
    version "1" from `incidentio_configs`, "4" from `webhook_configs`): each alert of it is an
    incident.io alert of its own, its payload the alert object. Any other source: one alert."""
    if source_type == "alertmanager" and isinstance(body, dict) and isinstance(body.get("alerts"), list):
        return [alert for alert in body["alerts"] if isinstance(alert, dict)]
    return [body]


def sample_payload(
    source_type: str, labels: Mapping[str, str | None], title: str | None = None, *, complete: bool = True
) -> dict[str, Any]:
    """The payload a sender of `source_type` posts for an alert with these labels (None: left out).

    Alertmanager: an alert object with ``labels`` and ``annotations.summary``; incident.io's HTTP
    source: its documented body with the labels under ``metadata``; other types: ``labels`` and
    ``metadata`` both (their payloads are their vendors'; bind what they really send).
    Not `complete`: labels not given, and the title when not given, are unknown.
    """
    present = {k: v for k, v in labels.items() if v is not None}
    missing = [k for k, v in labels.items() if v is None]
    fields: dict[str, Any] = OpenMapping(present, unknown=_UNDECLARED, absent=missing) if not complete else present
    text: dict[str, Any] = {} if title is None else {"summary": title}
    annotations = OpenMapping(text, unknown=_NO_TITLE) if not complete and title is None else text
    if source_type == "alertmanager":
        return {"status": "firing", "labels": fields, "annotations": annotations}
    body: dict[str, Any] = OpenMapping(unknown=_NO_TITLE) if not complete and title is None else {}
    body.update({"status": "firing", "metadata": fields, "labels": fields})
    if title is not None:
        body["title"] = title
    return body


_UNDECLARED = "label {!r} is not declared under emits"
_NO_TITLE = "the alert title is not known"


def suggested_path(source_type: str, label: str) -> str:
    """Where `label` sits in a payload of `source_type` (for "bind it like this" hints)."""
    name = label if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label) else None
    step = f".{label}" if name else f"[{json.dumps(label)}]"
    if source_type == "alertmanager":
        return f"$.labels{step}"
    if source_type in ("http", "http_custom"):
        return f"$.metadata{step}"
    return f"${step}"


def _standard_title(source_type: str, payload: Any) -> Value:
    """The title incident.io's integration gives an alert before any template (an assumption for
    Alertmanager: the summary annotation, else the alert name; see docs/routing.md)."""
    if source_type == "alertmanager":
        for path in ("$.annotations.summary", "$.labels.alertname"):
            value = evaluate_path(path, payload)
            if value is not None:
                return value
        return None
    return evaluate_path("$.title", payload)


# -- JSON paths -----------------------------------------------------------------------------------

_STEP = re.compile(r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\[(?:(?P<index>\d+)|"(?P<dq>[^"\\]*)"|'(?P<sq>[^'\\]*)')\]""")


def path_steps(path: str) -> list[str | int] | None:
    """``$.labels.severity`` / ``$["labels"]['a-b'][0]`` -> steps; None: not a plain path."""
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return None
        if match["index"] is not None:
            steps.append(int(match["index"]))
        else:
            steps.append(next(g for g in (match["name"], match["dq"], match["sq"]) if g is not None))
        position = match.end()
    return steps


def evaluate_path(path: str, payload: Any) -> Value:
    """A parse source evaluated on a payload, as a String attribute: text, None when absent."""
    steps = path_steps(path)
    if steps is None:
        return Unknown.because(f"the parse expression {path!r} is not a plain path and cannot be evaluated offline")
    node = payload
    for step in steps:
        if isinstance(node, OpenMapping) and not node.knows(step):
            return Unknown.because(node.unknown.format(step))
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int):
            node = node[step] if step < len(node) else None
        else:
            return None
        if node is None:
            return None
    if isinstance(node, bool):
        return str(node).lower()
    if isinstance(node, str | int | float):
        return str(node)
    return Unknown.because(f"{path!r} is not a single value")


# -- the source template --------------------------------------------------------------------------


def expression_reference(name: str) -> str:
    """The expression reference the compiler gives the parse of attribute `name`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "attribute"


def expression_binding(reference: str) -> str:
    """How a binding names the expression `reference`: ``expressions["<reference>"]``."""
    return f'expressions["{reference}"]'


def bound_expression(binding_reference: Any) -> str | None:
    """The expression a binding reference names (the inverse of `expression_binding`), or None."""
    match = _EXPRESSION_REFERENCE.match(str(binding_reference))
    return match["ref"] if match else None


def binding_path(expression: Mapping[str, Any]) -> str | None:
    """The path of an expression that is one parse of the payload (what the stack language writes)."""
    operations = expression.get("operations") or []
    if expression.get("root_reference") != PAYLOAD_ROOT or len(operations) != 1:
        return None
    operation = operations[0]
    parse = operation.get("parse") if isinstance(operation, dict) else None
    if operation.get("operation_type") != "parse" or not isinstance(parse, dict):
        return None
    returns = parse.get("returns") or {}
    if returns.get("array") or not isinstance(parse.get("source"), str):
        return None
    return parse["source"]


@dataclass(frozen=True)
class Extracted:
    """An alert as routes see it: title, description and attributes by attribute id."""

    title: Value
    description: Value
    attributes: Mapping[str, Value]


def extract(source: Mapping[str, Any], payload: Any) -> Extracted:
    """Apply a source's template to one alert payload."""
    source_type = str(source.get("source_type", ""))
    template = source.get("template") or {}
    expressions = {e.get("reference"): e for e in template.get("expressions") or [] if isinstance(e, dict)}

    def expression_value(reference: str) -> Value:
        expression = expressions.get(reference)
        if expression is None:
            return None
        path = binding_path(expression)
        if path is None:
            return Unknown.because(f"expression {reference!r} is more than a parse of the payload")
        return evaluate_path(path, payload)

    def binding_value(value: Any, what: str) -> Value:
        if not isinstance(value, dict):
            return None
        if not value:  # left empty: the source sets it itself (a heartbeat: docs/heartbeat.md)
            return _standard_title(source_type, payload) if what == "the title" else None
        if "literal" in value:
            return _literal_value(value["literal"], source_type, payload)
        reference = value.get("reference")
        if reference == TITLE_SUBJECT:
            return _standard_title(source_type, payload)
        if reference == DESCRIPTION_SUBJECT:
            return evaluate_path(
                "$.annotations.description" if source_type == "alertmanager" else "$.description", payload
            )
        expression = bound_expression(reference)
        if expression is not None:
            return expression_value(expression)
        return Unknown.because(f"{what} is bound to {reference!r}, which cannot be evaluated offline")

    attributes: dict[str, Value] = {}
    for entry in template.get("attributes") or []:
        binding = entry.get("binding") or {}
        attribute_id = str(entry.get("alert_attribute_id"))
        if binding.get("array_value"):
            attributes[attribute_id] = Unknown.because(f"attribute {attribute_id} is bound to several values")
        else:
            attributes[attribute_id] = binding_value(binding.get("value"), f"attribute {attribute_id}")
    return Extracted(
        title=binding_value(template.get("title"), "the title") if "title" in template else None,
        description=binding_value(template.get("description"), "the description")
        if "description" in template
        else None,
        attributes=attributes,
    )


def _literal_value(literal: Any, source_type: str, payload: Any) -> Value:
    """A plain literal, or a rich-text template document (the dashboard's form): one whose only
    content is the payload's title variable is that title; other documents cannot be rendered here."""
    text = str(literal)
    if text[:1] != "{":
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return text
    variables = [node for node in _nodes(document) if node.get("type") == "varSpec"]
    texts = [node for node in _nodes(document) if node.get("type") == "text"]
    if len(variables) == 1 and not texts and (variables[0].get("attrs") or {}).get("name") == "title":
        return _standard_title(source_type, payload)
    return Unknown.because("a rich-text template cannot be rendered offline")


def _nodes(document: Any) -> Iterable[dict[str, Any]]:
    if isinstance(document, dict):
        yield document
        for child in document.get("content") or []:
            yield from _nodes(child)


# -- conditions -----------------------------------------------------------------------------------


def _params(condition: Mapping[str, Any]) -> tuple[str, ...]:
    values: list[str] = []
    for binding in condition.get("param_bindings") or []:
        for item in [binding.get("value"), *(binding.get("array_value") or [])]:
            if isinstance(item, dict) and "literal" in item:
                values.append(str(item["literal"]))
    return tuple(values)


def _contains(value: str, values: tuple[str, ...], test: str) -> Truth:
    """Substring-like tests: incident.io does not document their case rule, so only a result that
    holds either way is told."""

    def hit(v: str, p: str) -> bool:
        return v.startswith(p) if test == "starts_with" else p in v

    if any(hit(value, p) for p in values):
        return True
    if any(hit(value.casefold(), p.casefold()) for p in values):
        return Unknown.because(f"whether {test!r} ignores case is not documented")
    return False


def _operate(operation: str, value: str | None, values: tuple[str, ...]) -> Truth:
    if operation in ("one_of", "contains_one_of"):
        return value is not None and value in values
    if operation in ("not_one_of", "none_of", "does_not_contain_one_of"):
        return value not in values
    if operation in ("is_set", "is_not_blank"):
        return bool(value)
    if operation in ("is_blank", "is_not_set"):
        return not value
    if operation in ("contains", "starts_with") and values:
        return False if value is None else _contains(value, values, operation)
    return Unknown.because(f"operation {operation!r} cannot be evaluated offline")


def condition_truth(condition: Mapping[str, Any], alert: Extracted) -> Truth:
    subject = str(condition.get("subject", ""))
    value: Value
    if subject == TITLE_SUBJECT:
        value = alert.title
    elif subject == DESCRIPTION_SUBJECT:
        value = alert.description
    elif subject.startswith(ATTRIBUTE_SUBJECT):
        value = alert.attributes.get(subject.removeprefix(ATTRIBUTE_SUBJECT))  # unbound: never set
    else:
        return Unknown.because(f"subject {subject!r} cannot be evaluated offline")
    operation = _operate(
        str(condition.get("operation", "")), None if isinstance(value, Unknown) else value, _params(condition)
    )
    if isinstance(value, Unknown):
        return Unknown(value.reasons | (operation.reasons if isinstance(operation, Unknown) else frozenset()))
    return operation


def groups_truth(groups: Iterable[Mapping[str, Any]] | None, alert: Extracted) -> Truth:
    """Any one group holds (no groups: always); within a group, every condition holds."""
    groups = list(groups or [])
    if not groups:
        return True
    return any_of(all_of(condition_truth(c, alert) for c in g.get("conditions") or []) for g in groups)


# -- routes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Where one alert goes. Routes are the route bodies given (in their order)."""

    alert: Extracted
    matched: tuple[Mapping[str, Any], ...]  # enabled routes that certainly take it
    undecided: tuple[tuple[Mapping[str, Any], frozenset[str]], ...]  # enabled routes that may
    disabled: tuple[Mapping[str, Any], ...]  # disabled routes that would (or might) take it
    escalation_path_ids: tuple[str, ...]  # of the matched routes
    slack_channel_ids: tuple[str, ...]  # of the matched routes' channel configs that hold
    undecided_channels: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def dropped(self) -> bool:
        """Certainly reaches no route: incident.io accepts it and notifies nobody."""
        return not self.matched and not self.undecided


def _literals(binding: Any) -> list[str]:
    if not isinstance(binding, dict):
        return []
    items = [binding.get("value"), *(binding.get("array_value") or [])]
    return [str(i["literal"]) for i in items if isinstance(i, dict) and "literal" in i]


def _union(lists: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for items in lists for item in items))


def route_truth(route: Mapping[str, Any], source_id: str, alert: Extracted) -> Truth:
    for entry in route.get("alert_sources") or []:
        if entry.get("alert_source_id") == source_id:
            return all_of(
                (groups_truth(entry.get("condition_groups"), alert), groups_truth(route.get("condition_groups"), alert))
            )
    return False


def route_alert(
    source_id: str, source: Mapping[str, Any], routes: Iterable[Mapping[str, Any]], payload: Any
) -> Outcome:
    """Route one alert payload of source `source_id` (body `source`) through `routes`."""
    alert = extract(source, payload)
    matched: list[Mapping[str, Any]] = []
    undecided: list[tuple[Mapping[str, Any], frozenset[str]]] = []
    disabled: list[Mapping[str, Any]] = []
    for route in routes:
        truth = route_truth(route, source_id, alert)
        if truth is False:
            continue
        if route.get("enabled") is False:
            disabled.append(route)
        elif truth is True:
            matched.append(route)
        else:
            undecided.append((route, truth.reasons))
    escalation = _union(
        _literals(target.get("escalation_paths"))
        for route in matched
        for target in (route.get("escalation_config") or {}).get("escalation_targets") or []
    )
    channels: list[list[str]] = []
    channels_undecided: list[tuple[str, frozenset[str]]] = []
    for route in matched:
        for config in route.get("channel_config") or []:
            targets = _literals((config.get("slack_targets") or {}).get("binding"))
            truth = groups_truth(config.get("condition_groups"), alert)
            if truth is True:
                channels.append(targets)
            elif isinstance(truth, Unknown):
                channels_undecided += [(t, truth.reasons) for t in targets]
    return Outcome(
        alert,
        tuple(matched),
        tuple(undecided),
        tuple(disabled),
        escalation,
        _union(channels),
        tuple(channels_undecided),
    )
