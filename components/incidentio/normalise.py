"""Pure functions over incident.io alert route / alert source bodies.

Two jobs, shared by the providers, backup/restore and the emulator:

- *response -> payload*: a GET body cannot be PUT back as is (subject ``{label, reference}``,
  operation ``{label, value}``, ``label`` on binding values, ``returns``/``reference_label`` on
  expressions, server-owned fields). `route_payload_from_response` / `source_payload_from_response`
  turn an ``AlertRouteV2`` / ``AlertSourceV2`` into its ``…CreatePayloadV2`` shape.
- *canonical form*: the server normalises what it is sent (operation aliases, set-like lists in
  any order, JSON rich text re-serialised, optional fields filled in), so "did anything change?"
  must compare `canonical_route` / `canonical_source` values, and `differences` names what did.

Both accept either shape and never mutate their argument. Unknown fields are kept: incident.io
adds properties without notice.
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = [
    "canonical_route",
    "canonical_source",
    "differences",
    "fill_route_defaults",
    "fill_source_defaults",
    "route_payload_from_response",
    "source_payload_from_response",
]

# Server-owned fields: present in responses, meaningless (or refused) in a payload.
_ROUTE_SERVER_FIELDS = ("id", "version", "created_at", "updated_at")
_SOURCE_SERVER_FIELDS = ("id", "secret_token", "alert_events_url", "created_at", "updated_at")

# The server picks between these by subject type ("one_of" on a string subject is read back as
# "contains_one_of", "contains" on a catalog subject as "name_contains"). The subject's type is not
# known offline, and no subject accepts both spellings with different meanings, so compare aliases.
_OPERATION_ALIASES = {"one_of": "contains_one_of", "contains": "name_contains"}

# Lists whose order carries no meaning (the server reorders some of them, e.g. expressions).
# `condition_groups` and `conditions` are deliberately absent: they stay ordered.
_ROUTE_SET_KEYS = frozenset(
    {"alert_sources", "expressions", "escalation_targets", "channel_config", "custom_fields", "array_value"}
)
_SOURCE_SET_KEYS = frozenset({"attributes", "expressions", "array_value"})

# Keys whose dict value is a binding value ({literal?, reference?}, plus `label` in responses).
# `description`/`title` are binding values only inside a source template.
_BINDING_VALUE_KEYS = frozenset({"value", "title", "description"})


# --- response -> payload ---------------------------------------------------------------------


def route_payload_from_response(alert_route: dict) -> dict:
    """``AlertRouteV2`` (response) -> ``AlertRoutesCreatePayloadV2`` shape; payloads pass through."""
    body = {k: v for k, v in alert_route.items() if k not in _ROUTE_SERVER_FIELDS}
    body = _strip_response_only(body, parent=None)
    escalation = body.get("escalation_config")
    if isinstance(escalation, dict) and isinstance(escalation.get("escalation_targets"), list):
        escalation["escalation_targets"] = [_drop_legacy_users_echo(t) for t in escalation["escalation_targets"]]
    return body


def source_payload_from_response(alert_source: dict) -> dict:
    """``AlertSourceV2`` (response) -> ``AlertSourcesCreatePayloadV2`` shape; payloads pass through."""
    body = {k: v for k, v in alert_source.items() if k not in _SOURCE_SERVER_FIELDS}
    body = _strip_response_only(body, parent=None)
    for options, field in (("email_options", "email_address"), ("heartbeat_options", "ping_url")):
        if isinstance(body.get(options), dict):
            body[options].pop(field, None)
    return body


def _strip_response_only(node: Any, parent: str | None) -> Any:
    """Copy of `node` without response-only decorations; `parent` is the key it hangs under."""
    if isinstance(node, list):
        # Items of `array_value` are binding values; items of `expressions`/`operations` keep
        # their parent name so their response-only `returns` is dropped below.
        return [_strip_response_only(item, parent) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("subject", "operation") and isinstance(value, dict):
            # ConditionSubjectV2 {label, reference} / ConditionOperationV2 {label, value}
            value = value.get("reference" if key == "subject" else "value")
        elif key == "label" and parent in ("value", "array_value", "title", "description"):
            continue
        elif key == "returns" and parent in ("expressions", "operations"):
            continue  # branches/parse/cast keep their `returns`: it is part of their payload
        elif key == "reference_label" and parent == "navigate":
            continue
        out[key] = _strip_response_only(value, key)
    return out


def _drop_legacy_users_echo(target: Any) -> Any:
    """The server echoes escalation-path targets under `users` too ("legacy compatibility")."""
    if (
        isinstance(target, dict)
        and "users" in target
        and "escalation_paths" in target
        and _canonical(target["users"], _ROUTE_SET_KEYS) == _canonical(target["escalation_paths"], _ROUTE_SET_KEYS)
    ):
        return {k: v for k, v in target.items() if k != "users"}
    return target


# --- defaults the server fills in ------------------------------------------------------------


def fill_route_defaults(payload: dict) -> dict:
    """Copy of a route payload with the optional fields the server always reads back set.

    The emulator stores what this returns; `canonical_route` applies it so a payload that leaves
    these out compares equal to the server's answer.
    """
    body = copy.deepcopy(payload)
    incident = body.get("incident_config")
    if isinstance(incident, dict):
        incident.setdefault("auto_relate_grouped_alerts", False)
    template = body.get("incident_template")
    if isinstance(template, dict):
        for field in ("name", "summary"):
            if isinstance(template.get(field), dict):
                template[field].setdefault("autogenerated", False)
    return body


def fill_source_defaults(payload: dict) -> dict:
    """Copy of a source payload with the optional fields the server always reads back set."""
    body = copy.deepcopy(payload)
    template = body.get("template")
    if isinstance(template, dict):
        template.setdefault("is_private", False)
    return body


# --- canonical form --------------------------------------------------------------------------


def canonical_route(payload: dict) -> dict:
    """Comparable form of an alert route (payload or response shape); equal means "no change"."""
    body = fill_route_defaults(route_payload_from_response(payload))
    return _canonical(body, _ROUTE_SET_KEYS) or {}


def canonical_source(payload: dict) -> dict:
    """Comparable form of an alert source (payload or response shape); equal means "no change"."""
    body = fill_source_defaults(source_payload_from_response(payload))
    return _canonical(body, _SOURCE_SET_KEYS) or {}


def _canonical(node: Any, set_keys: frozenset[str], key: str | None = None) -> Any:
    """Bottom-up: canonicalise children, then sort set-like lists by their canonical JSON.

    Empty lists/dicts and None become "absent" (the API treats a missing optional collection and
    an empty one alike); callers drop absent values.
    """
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "operation" and isinstance(v, str) and "subject" in node:
                v = _OPERATION_ALIASES.get(v, v)
            elif k == "literal" and isinstance(v, str):
                v = _json_literal(v)
            cv = _canonical(v, set_keys, k)
            if cv is not None:
                out[k] = cv
        return out or None
    if isinstance(node, list):
        items = [c for c in (_canonical(i, set_keys, key) for i in node) if c is not None]
        if key in set_keys:
            items.sort(key=_sort_key)
        return items or None
    return node


def _json_literal(text: str) -> str:
    """A literal holding a JSON document (rich-text templates) in a key-order/space-free form."""
    if text[:1] not in ("{", "["):
        return text
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def _sort_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


# --- differences -----------------------------------------------------------------------------


def differences(a_canonical: dict, b_canonical: dict) -> list[str]:
    """Sorted dotted paths where two canonical forms differ.

    Dicts are descended into; lists and scalars are compared whole, so a changed Slack channel
    reports ``channel_config`` and a changed escalation path ``escalation_config.escalation_targets``.
    """
    found: list[str] = []
    _diff(a_canonical, b_canonical, "", found)
    return sorted(found)


def _diff(a: Any, b: Any, path: str, found: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            _diff(a.get(key), b.get(key), f"{path}.{key}" if path else key, found)
    elif a != b:
        found.append(path or "$")
