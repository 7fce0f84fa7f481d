"""`pulumi up` of a stack's incident.io part against the emulator, through the real providers.

What the Pulumi program and engine do, in order: the escalation paths and alert attributes exist
in the organisation already (the stack refers to them by name); adopted sources exist under their
ids (seeded as the stack declares them: a first-day organisation); every source is then created
or adopted by `AlertSourceProvider`, its id substituted into the routes' ``${alert_source:…}``
placeholders (as `AlertingStack` does with the resource's output), and every route created or
adopted by `AlertRouteProvider`, which resolves names to ids through the API. Properties cross
`roundtrip`, the engine's serialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulumi.dynamic import Config, ConfigureRequest

from components.compile import compile_stack
from components.incidentio.emulator import Emulator
from components.incidentio.provider import (
    CONFIG_API_KEY,
    CONFIG_API_URL,
    AlertRouteProvider,
    AlertSourceProvider,
    reset_process,
)
from components.incidentio.references import ALERT_ATTRIBUTE, ALERT_SOURCE, ESCALATION_PATH, find, substitute
from components.model import Stack
from tests.support.engine import roundtrip


@dataclass(frozen=True)
class Deployed:
    sources: dict[str, dict[str, Any]]  # source key -> provider outputs (id under "id")
    routes: dict[str, str]  # route name -> id
    escalation_paths: dict[str, str]  # id -> name


def deploy(stack: Stack, emulator: Emulator, api_key: str) -> Deployed:
    """Deploy with a fresh provider process configured like the engine does (key and URL)."""
    reset_process()
    config = {CONFIG_API_KEY: api_key, CONFIG_API_URL: emulator.base_url}
    AlertSourceProvider().configure(ConfigureRequest(Config(config, "alerting")))
    try:
        return _deploy(stack, emulator)
    finally:
        reset_process()


def _deploy(stack: Stack, emulator: Emulator) -> Deployed:
    compiled = compile_stack(stack)["incident_io"]
    paths: dict[str, str] = {}
    for item in [*compiled["alert_sources"], *compiled["alert_routes"]]:
        for kind, name in sorted(find(item["payload"])):
            if kind == ESCALATION_PATH and name not in paths.values():
                paths[emulator.add_escalation_path(name)] = name
            elif kind == ALERT_ATTRIBUTE and emulator.attribute_id(name) is None:
                emulator.add_alert_attribute(name)
    inputs = {"stack": stack.name, "project": "alerting", "claim_managed": False, "discard_live": False}
    sources: dict[str, dict[str, Any]] = {}
    references: dict[tuple[str, str], str] = {}
    for item in compiled["alert_sources"]:
        if item["adopt"]:
            names = {name for kind, name in find(item["payload"]) if kind == ALERT_ATTRIBUTE}
            live = substitute(item["payload"], {(ALERT_ATTRIBUTE, n): emulator.attribute_id(n) or "" for n in names})
            emulator.seed_source(live, item["adopt"])
        props = {**inputs, "payload": item["payload"], "adopt": item["adopt"]}
        result = AlertSourceProvider().create(roundtrip(props))
        sources[item["key"]] = {**roundtrip(result.outs), "id": result.id}
        references[(ALERT_SOURCE, item["key"])] = result.id
    routes: dict[str, str] = {}
    for item in compiled["alert_routes"]:
        props = {**inputs, "payload": substitute(item["payload"], references), "adopt": None}
        routes[item["name"]] = AlertRouteProvider().create(roundtrip(props)).id
    return Deployed(sources, routes, paths)
