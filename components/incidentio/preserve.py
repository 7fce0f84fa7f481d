"""What a write would take away from a live object that the stack file does not declare.

The providers ask this before any PUT on an adopted or existing object: a live source's attribute
bindings, title, description, expressions and options, or a live route's settings the stack
language cannot express (expressions, custom incident templates, conditional Slack channels,
private routes, …), are someone's configuration. Discarding it silently could stop alerts from
paging (a dropped `severity` binding sends every alert to the safety net), so the provider stops
with this list unless the stack file opts in per object (`discardLiveSettings: true`).

Pure functions over payload-shaped bodies (responses are normalised first); every item is one
human-readable line.
"""

from __future__ import annotations

from typing import Any

from components.incidentio.normalise import canonical_route, canonical_source
from components.routing import bound_expression

__all__ = ["route_losses", "source_losses"]

_DEFAULT_TEXT = {"title": {"reference": "alert.title"}, "description": {"reference": "alert.description"}}
# Route settings the stack language writes itself; everything else in a route it cannot express.
_ROUTE_DECLARED = frozenset(
    {"name", "enabled", "alert_sources", "condition_groups", "channel_config", "escalation_config", "incident_config"}
)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bindings(template: dict[str, Any]) -> dict[str, Any]:
    return {str(a.get("alert_attribute_id")): a for a in template.get("attributes") or [] if isinstance(a, dict)}


def source_losses(live: dict, new: dict, declared: dict | None = None) -> list[str]:
    """Live source settings `new` would remove or change and the stack does not declare.

    `declared`: the payload the stack last applied (its bindings count as the stack's own, so
    removing one from the stack file is a declared change).
    """
    live_c, new_c = canonical_source(live), canonical_source(new)
    live_t, new_t = _mapping(live_c.get("template")), _mapping(new_c.get("template"))
    before = _bindings(_mapping(canonical_source(declared).get("template"))) if declared else {}
    losses: list[str] = []
    new_bindings = _bindings(new_t)
    for attr_id, binding in sorted(_bindings(live_t).items()):
        if attr_id not in new_bindings and attr_id not in before:
            losses.append(f"the binding of alert attribute {attr_id} ({_describe(binding.get('binding'))})")
    used = {
        bound_expression(_mapping(_mapping(b.get("binding")).get("value")).get("reference"))
        for b in new_bindings.values()
    }
    new_expressions = {_mapping(e).get("reference") for e in new_t.get("expressions") or []}
    for expression in live_t.get("expressions") or []:
        reference = _mapping(expression).get("reference")
        if reference not in new_expressions and reference not in used:
            losses.append(f"template expression {reference!r} ({expression.get('label', 'no label')})")
    for part in ("title", "description"):
        live_v, new_v = live_t.get(part), new_t.get(part)
        # Not declared = the stack sends the default; a declared title is the stack's to change.
        if live_v != new_v and new_v == _canonical_text(part):
            losses.append(f"the template {part} ({_describe(live_v)})")
    for key in sorted(set(live_c) - set(new_c) - {"template"}):
        losses.append(f"{key} ({_describe(live_c[key])})")
    for key in sorted(set(live_t) - set(new_t) - {"attributes", "expressions", "title", "description"}):
        losses.append(f"template.{key} ({_describe(live_t[key])})")
    return losses


def _canonical_text(part: str) -> Any:
    template = canonical_source({"template": dict(_DEFAULT_TEXT)})["template"]
    return template[part]


def route_losses(live: dict, new: dict) -> list[str]:
    """Live route settings the stack language cannot express that `new` would remove or change."""
    live_c, new_c = canonical_route(live), canonical_route(new)
    losses = [
        f"{key} ({_describe(live_c[key])})"
        for key in sorted(set(live_c) - _ROUTE_DECLARED)
        if live_c[key] != new_c.get(key)
    ]
    for config in live_c.get("channel_config") or []:
        if config.get("condition_groups"):
            losses.append(f"a conditional Slack channel ({_describe(config)})")
    escalation_live, escalation_new = (_mapping(c.get("escalation_config")) for c in (live_c, new_c))
    if escalation_live.get("auto_cancel_escalations") and not escalation_new.get("auto_cancel_escalations"):
        losses.append("escalation_config.auto_cancel_escalations (on)")
    incident_live = _mapping(live_c.get("incident_config"))
    if incident_live.get("condition_groups") and incident_live.get("condition_groups") != _mapping(
        new_c.get("incident_config")
    ).get("condition_groups"):
        losses.append(f"incident_config.condition_groups ({_describe(incident_live['condition_groups'])})")
    return losses


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."
