"""Coverage of declared alerts: validate's warnings for the label combinations a source declares
under `emits` that no route takes, that several routes take, or whose routing cannot be told.

Each combination is routed by the simulator (the routing evaluator over the compiled stack), so a
condition on an attribute the source does not bind counts as blank, as in incident.io.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from components import stackfile
from components.errors import Problem
from components.model import Route, Source, Stack
from components.simulate import Alert, Simulation, describe_alert, routing_view, simulate
from components.stackfile import Document, PathKey


def emitted_alerts(source: Source) -> list[Alert]:
    """Every combination of the label values `source` declares under `emits` (None = missing); none
    when it declares nothing."""
    if not source.emits:
        return []
    names = [name for name, _ in source.emits]
    return [
        Alert(source.key, tuple(zip(names, combination, strict=True)), complete=False)
        for combination in itertools.product(*(values for _, values in source.emits))
    ]


def _config(*parts: str | int) -> PathKey:
    return ("config", stackfile.config_key(str(parts[0])), *parts[1:])


def _emits_path(source: Source, alert: Alert) -> PathKey:
    at = _config("sources", source.key, "emits")
    if len(source.emits) == 1:
        (name, values), (_, value) = source.emits[0], alert.labels[0]
        return (*at, name, values.index(value))
    return at


def _disabled(sim: Simulation) -> str:
    names = ", ".join(repr(r.name) for r in sim.disabled)
    return f" (disabled route {names} would take them)" if sim.disabled else ""


# How many routes an overlap warning names, and how many of them get a warning of their own.
LISTED = 5


def _overlap_warnings(
    doc: Document, source: Source, what: str, matched: Sequence[Route], index: dict[int, int], *, details: bool
) -> list[Problem]:
    def at(route: Route) -> PathKey:
        return _config("routes", index[id(route)], "sources", source.key)

    def listing(routes: Sequence[Route]) -> str:
        names = ", ".join(repr(r.name) for r in routes[:LISTED])
        return names + (f" and {len(routes) - LISTED:,} more" if len(routes) > LISTED else "")

    count = len(matched)
    warned = matched[1:] if details else matched[1:LISTED]
    names = [listing(matched)] * len(warned)
    if details:  # every name, once: on the first warning
        names[0] = ", ".join(repr(r.name) for r in matched)
    problems = [
        doc.problem(
            at(route), f"{what} match {count} routes ({listed}): each of them notifies", key=True, severity="warning"
        )
        for route, listed in zip(warned, names, strict=True)
    ]
    if not details and count > LISTED:
        problems.append(
            doc.problem(
                at(matched[LISTED]),
                f"{what} match {count - LISTED:,} more routes, this one and the ones after it"
                " (`validate --details` warns on each and names them all)",
                key=True,
                severity="warning",
            )
        )
    return problems


def coverage_problems(stack: Stack, doc: Document, *, details: bool = False) -> list[Problem]:
    """Warnings for declared alerts (`emits` combinations) that no route takes, that more than one
    route takes, or whose routing cannot be told; positioned on the stack file's nodes.

    An overlap of many routes is summarised (`LISTED` names, a warning on each of the first routes
    and one for the rest), so the text grows with the routes, not with their square; `details`
    warns on every route and lists every name once."""
    problems: list[Problem] = []
    index = {id(route): i for i, route in enumerate(stack.routes)}
    for source in stack.sources:
        if not source.emits:
            continue
        view = routing_view(stack)
        for alert in emitted_alerts(source):
            sim = simulate(stack, alert, view)
            what = f"alerts from {source.key} with {describe_alert(alert)}"
            if len(sim.matched) > 1:
                problems += _overlap_warnings(doc, source, what, sim.matched, index, details=details)
            elif not sim.matched and not sim.undecided:
                problems.append(
                    doc.problem(
                        _emits_path(source, alert),
                        f"{what} match no route: they are dropped and nobody is notified{_disabled(sim)}",
                        severity="warning",
                    )
                )
            elif not sim.matched:
                reasons = sorted(set().union(*(r for _, r in sim.undecided)))
                problems.append(
                    doc.problem(
                        _emits_path(source, alert),
                        f"cannot tell whether {what} reach a route ({'; '.join(reasons)})",
                        severity="warning",
                    )
                )
    return problems
