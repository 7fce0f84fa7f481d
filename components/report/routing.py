"""`route` and `test-routes` for people: a simulation as a table, routing tests like pytest."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from components.describe import NONE, describe_groups
from components.model import Route, Stack
from components.simulate import Alert, CaseResult, Simulation, describe_alert, describe_outcome


def _matched_on(route: Route, source: str) -> str:
    groups = next(f.groups for f in route.sources if f.source == source)
    parts = [f"{source}: {describe_groups(groups)}" if groups else f"every alert from {source}"]
    if route.when:
        parts.append(f"all: {describe_groups(route.when)}")
    return "; ".join(parts)


def declared_notes(stack: Stack, alert: Alert) -> Iterator[str]:
    """Labels the alert carries with a value its source does not declare under `emits`."""
    source = stack.source(alert.source)
    declared = dict(source.emits)
    for name, value in alert.labels:
        if name in declared and value not in declared[name]:
            values = ", ".join("missing" if v is None else v for v in declared[name])
            shown = "missing" if value is None else repr(value)
            yield f"{source.name} declares {name} values {values}; {shown} is not one of them"


def print_simulation(sim: Simulation, console: Console) -> None:
    stack, alert = sim.stack, sim.alert
    source = stack.source(alert.source)
    what = f"with {describe_alert(alert)}"
    if source.heartbeat:
        what = f"({describe_alert(alert)}): its heartbeat was missed, no {source.heartbeat.alertname} ping in time"
    console.print(
        f"Alert from {source.name} ({alert.source}) {what} - stack {stack.name} ({stack.environment})",
        markup=False,
    )
    if sim.attributes:
        shown = ", ".join(f"{name} not set" if v is None else f"{name}={v}" for name, v in sim.attributes)
        console.print(f"Attributes (the source's bindings): {shown}", markup=False)
    if sim.matched or sim.undecided:
        table = Table(title="Matching routes", title_justify="left")
        for column in ("Route", "Matched on", "Escalation", "Slack"):
            table.add_column(column, overflow="fold")
        for route in sim.matched:
            table.add_row(
                route.name,
                _matched_on(route, alert.source),
                ", ".join(route.escalate) or NONE,
                ", ".join(route.slack) or NONE,
            )
        for route, reasons in sim.undecided:
            table.add_row(
                f"{route.name} (CANNOT TELL)",
                "; ".join(sorted(reasons)),
                ", ".join(route.escalate) or NONE,
                ", ".join(route.slack) or NONE,
            )
        console.print(table)
    if sim.dropped:
        console.print(
            "DROPPED: no route matches this alert. incident.io accepts it and notifies nobody:"
            " no page, no Slack message.",
            markup=False,
        )
    else:
        paging = ", ".join(sim.pages) or "nobody"
        if not stack.paging:
            paging += f" (stack {stack.name} never pages: policy.paging is false)"
        console.print(f"Pages: {paging}", markup=False)
        console.print(f"Slack: {', '.join(sim.slack) or NONE}", markup=False)
    if sim.undecided:
        console.print(
            "CANNOT TELL: the result above is incomplete; the routes marked CANNOT TELL may also match.",
            markup=False,
        )
    for route in sim.disabled:
        console.print(f"note: route {route.name!r} is disabled; enabled, it would (or might) match", markup=False)
    for note in declared_notes(stack, alert):
        console.print(f"note: {note}", markup=False)


def print_results(results: Mapping[str, list[CaseResult] | None], console: Console) -> int:
    """Print each case like pytest, then `N passed, M failed`; return the number failed."""
    passed = failed = 0
    for label, cases in results.items():
        if cases is None:
            console.print(f"{label}: no routing tests", markup=False)
            continue
        console.print(label, markup=False)
        for result in cases:
            verdict = "PASSED" if result.passed else "FAILED"
            console.print(f"  {verdict} {result.case.name} -> {describe_outcome(result.simulation)}", markup=False)
            for failure in result.failures:
                console.print(f"         {failure}", markup=False)
            passed += result.passed
            failed += not result.passed
    console.print(f"{passed} passed, {failed} failed", markup=False)
    return failed


def simulation_document(sim: Simulation) -> dict[str, Any]:
    """One alert's routing as data (`route --format json`): the same facts the table shows."""
    stack, alert = sim.stack, sim.alert
    return {
        "stack": stack.name,
        "source": alert.source,
        "alert": describe_alert(alert),
        "attributes": dict(sim.attributes),
        "routes": [
            {
                "name": route.name,
                "matched_on": _matched_on(route, alert.source),
                "escalate": list(route.escalate),
                "slack": list(route.slack),
            }
            for route in sim.matched
        ],
        "cannot_tell": [{"name": route.name, "reasons": sorted(reasons)} for route, reasons in sim.undecided],
        "dropped": sim.dropped,
        "pages": list(sim.pages),  # escalation paths of the matched routes
        "paging": stack.paging,  # false: the stack never pages (policy.paging)
        "slack": list(sim.slack),
        "disabled_routes_that_would_match": [route.name for route in sim.disabled],
        "notes": list(declared_notes(stack, alert)),
    }


def results_document(results: Mapping[str, list[CaseResult] | None]) -> dict[str, Any]:
    """`test-routes --format json`: each file's cases (null: the stack has no routing tests)."""
    files: dict[str, list[dict[str, Any]] | None] = {}
    for label, cases in results.items():
        files[label] = (
            None
            if cases is None
            else [
                {
                    "name": result.case.name,
                    "passed": result.passed,
                    "outcome": describe_outcome(result.simulation),
                    "failures": list(result.failures),
                }
                for result in cases
            ]
        )
    every = [case for cases in files.values() for case in cases or []]
    passed = sum(case["passed"] for case in every)
    return {"files": files, "passed": passed, "failed": len(every) - passed}
