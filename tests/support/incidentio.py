"""incident.io emulator fixtures for tests outside tests/incidentio (backup, restore, import).

The basic fixtures are tests/incidentio/conftest.py's, re-exported (this module is listed in
tests/conftest.py's ``pytest_plugins``). `seed_stack` fills an emulator, through the API, with what
a stack file describes, as if someone had clicked it together in the dashboard before day one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import validate
from components.compile import compile_stack, template_bindings
from components.incidentio.client import IncidentIoClient
from components.incidentio.emulator import Emulator
from components.incidentio.references import ALERT_ATTRIBUTE, ALERT_SOURCE, ESCALATION_PATH, find, substitute
from components.model import Binding, Stack
from tests.incidentio import conftest as _base
from tests.incidentio.conftest import API_KEY, FAST_RETRY, SUMMARY_DOC, FakeSleep, Seeded
from tests.support.payloads import route_body

__all__ = [
    "API_KEY",
    "FAST_RETRY",
    "ROOT",
    "SUMMARY_DOC",
    "FakeSleep",
    "Seeded",
    "SeededStack",
    "bind_paths",
    "load",
    "minimal_route",
    "seed_stack",
]

# The fixtures, re-exported (pytest finds them as attributes of a plugin module).
api_key, emulator, sleeps, client = _base.api_key, _base.emulator, _base.sleeps, _base.client
source_payload, seeded, route_payload = _base.source_payload, _base.seeded, _base.route_payload

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SeededStack:
    """Live ids of what `seed_stack` created, by stack key / name."""

    sources: dict[str, str]  # source key -> id
    routes: dict[str, str]  # route name -> id
    references: dict[tuple[str, str], str]  # (kind, name) placeholder -> id


def load(name: str) -> Stack:
    stack, _ = validate.load_stack(ROOT / "stacks" / f"Pulumi.{name}.yaml")
    return stack


def seed_stack(client: IncidentIoClient, emulator: Emulator, stack: Stack) -> SeededStack:
    """Create the stack's escalation paths, attributes, sources and routes in the emulator."""
    compiled = compile_stack(stack)["incident_io"]
    references: dict[tuple[str, str], str] = {}
    for item in [*compiled["alert_sources"], *compiled["alert_routes"]]:
        for kind, name in sorted(find(item["payload"])):
            if (kind, name) in references:
                continue
            if kind == ESCALATION_PATH:
                references[(kind, name)] = emulator.add_escalation_path(name)
            elif kind == ALERT_ATTRIBUTE:
                references[(kind, name)] = emulator.add_alert_attribute(name)
    sources: dict[str, str] = {}
    for item in compiled["alert_sources"]:
        created = client.create_alert_source(substitute(item["payload"], references))
        sources[item["key"]] = created["id"]
        references[(ALERT_SOURCE, item["key"])] = created["id"]
    adopted = {s.adopt: sources[s.key] for s in stack.sources if s.adopt}
    routes: dict[str, str] = {}
    for item in compiled["alert_routes"]:
        payload: dict[str, Any] = substitute(item["payload"], references)
        for entry in payload["alert_sources"]:
            entry["alert_source_id"] = adopted.get(entry["alert_source_id"], entry["alert_source_id"])
        routes[item["name"]] = client.create_alert_route(payload)["id"]
    return SeededStack(sources, routes, references)


def bind_paths(template: dict[str, Any], paths: dict[str, tuple[str, str]]) -> None:
    """Bind attributes in a source template as the stack language does: attribute id ->
    (attribute name, payload path), each a parse of the alert's payload."""
    expressions, attributes = template_bindings((i, name, Binding(path=path)) for i, (name, path) in paths.items())
    template["expressions"], template["attributes"] = expressions, attributes


def minimal_route(name: str, source_id: str, **changes: Any) -> dict:
    """The smallest valid route payload: every alert of one source, nothing else (`changes`
    replace top-level keys)."""
    return {**route_body(name, source_id), **changes}
