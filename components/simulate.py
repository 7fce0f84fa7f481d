"""The routing simulator: which routes an alert matches, whom it pages, which Slack channels get it.

One evaluator serves four users: `route` (one alert from the command line), `test-routes` (routing
tests as data, `stacks/<stack>.routing-tests.yaml`), validate's coverage check (every combination of
the label values a source declares under `emits`) and promotion (what changes for those alerts).

Semantics (docs/routing.md, "How an alert is routed"): an alert from source S matches a route when S
is among the route's sources, one of that source's condition groups holds (no groups = every alert)
and one of the route-wide `when` groups holds (none = always). All conditions of a group must hold.
A condition reads the alert label of the same name (`title` is the alert title). Every matching,
enabled route acts on the alert: several matches page and post several times, no match drops it.

The logic is three-valued: an operation the simulator does not know, or a label whose value is not
known (coverage: a label the source does not declare), gives "cannot tell" with the reason, never a
guess.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from components import stackfile
from components.errors import Problem, StackError, UsageError
from components.model import TITLE, Condition, ConditionGroup, Route, Source, Stack
from components.plan import NONE, describe_groups
from components.stackfile import Document, PathKey
from components.validate import suggest

# -- three-valued logic ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """Neither true nor false: the simulator cannot tell, for these reasons."""

    reasons: frozenset[str]


Truth = bool | Unknown


def _all(truths: Iterable[Truth]) -> Truth:
    reasons: set[str] = set()
    for truth in truths:
        if truth is False:
            return False
        if isinstance(truth, Unknown):
            reasons |= truth.reasons
    return Unknown(frozenset(reasons)) if reasons else True


def _any(truths: Iterable[Truth]) -> Truth:
    reasons: set[str] = set()
    for truth in truths:
        if truth is True:
            return True
        if isinstance(truth, Unknown):
            reasons |= truth.reasons
    return Unknown(frozenset(reasons)) if reasons else False


# -- alerts and conditions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """An alert as routing sees it: its source key, its labels and its title.

    A label with value None is missing. With `complete` (the default) every label not listed is
    missing too; without it (coverage of declared `emits`) an unlisted label, and the title when not
    given, is unknown.
    """

    source: str
    labels: tuple[tuple[str, str | None], ...] = ()
    title: str | None = None
    complete: bool = True

    def value(self, attribute: str) -> str | Unknown | None:
        if attribute == TITLE:
            if self.title is not None or self.complete:
                return self.title
            return Unknown(frozenset({"the alert title is not known"}))
        labels = dict(self.labels)
        if attribute in labels or self.complete:
            return labels.get(attribute)
        return Unknown(frozenset({f"label {attribute!r} is not declared under emits"}))


def _blank(value: str | None, _values: tuple[str, ...]) -> bool:
    return not value


def _set(value: str | None, _values: tuple[str, ...]) -> bool:
    return bool(value)


# The operations the simulator knows; any other one "cannot be simulated".
OPERATIONS: dict[str, Callable[[str | None, tuple[str, ...]], bool]] = {
    "one_of": lambda value, values: value is not None and value in values,
    "none_of": lambda value, values: value not in values,  # a missing label is none of them
    "is_blank": _blank,
    "is_not_set": _blank,
    "is_set": _set,
    "is_not_blank": _set,
}


def condition_truth(condition: Condition, alert: Alert) -> Truth:
    value = alert.value(condition.attribute)
    operation = OPERATIONS.get(condition.operation)
    reasons = set(value.reasons) if isinstance(value, Unknown) else set()
    if operation is None:
        reasons.add(f"operation {condition.operation!r} (on {condition.attribute!r}) cannot be simulated")
    if reasons:
        return Unknown(frozenset(reasons))
    assert operation is not None and not isinstance(value, Unknown)
    return operation(value, condition.values)


def groups_truth(groups: tuple[ConditionGroup, ...], alert: Alert) -> Truth:
    """Any one group holds (no groups: always); within a group, every condition holds."""
    if not groups:
        return True
    return _any(_all(condition_truth(c, alert) for c in group) for group in groups)


def route_truth(route: Route, alert: Alert) -> Truth:
    for source_filter in route.sources:
        if source_filter.source == alert.source:
            return _all((groups_truth(source_filter.groups, alert), groups_truth(route.when, alert)))
    return False


# -- one alert ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Simulation:
    stack: Stack
    alert: Alert
    matched: tuple[Route, ...]  # enabled routes that certainly match, in stack order
    undecided: tuple[tuple[Route, frozenset[str]], ...]  # enabled routes that may match, and why
    disabled: tuple[Route, ...]  # disabled routes that would (or might) match otherwise

    @property
    def dropped(self) -> bool:
        """Certainly reaches no route: incident.io accepts it and notifies nobody."""
        return not self.matched and not self.undecided

    @property
    def pages(self) -> tuple[str, ...]:
        return _union(route.escalate for route in self.matched)

    @property
    def slack(self) -> tuple[str, ...]:
        return _union(route.slack for route in self.matched)


def _union(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for items in lists for item in items))


def _routes_of(stack: Stack, source: str) -> list[Route]:
    return [r for r in stack.routes if any(f.source == source for f in r.sources)]


def simulate(stack: Stack, alert: Alert, routes: list[Route] | None = None) -> Simulation:
    """Route `alert` through `stack` (`routes`: the stack's routes taking its source, if known)."""
    if alert.source not in {s.key for s in stack.sources}:
        known = ", ".join(s.key for s in stack.sources)
        raise UsageError(
            f"stack {stack.name!r} has no source {alert.source!r}"
            f"{suggest(alert.source, [s.key for s in stack.sources])}; its sources: {known}"
        )
    matched: list[Route] = []
    undecided: list[tuple[Route, frozenset[str]]] = []
    disabled: list[Route] = []
    for route in _routes_of(stack, alert.source) if routes is None else routes:
        truth = route_truth(route, alert)
        if truth is False:
            continue
        if not route.enabled:
            disabled.append(route)
        elif truth is True:
            matched.append(route)
        else:
            undecided.append((route, truth.reasons))
    return Simulation(stack, alert, tuple(matched), tuple(undecided), tuple(disabled))


def parse_labels(pairs: Iterable[str]) -> tuple[tuple[str, str | None], ...]:
    """`severity=critical` -> ("severity", "critical"); `severity=` is an empty value."""
    labels: dict[str, str | None] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--label wants NAME=VALUE, got {pair!r} (leave a label out to send it missing)")
        labels[name] = value
    return tuple(labels.items())


def describe_alert(alert: Alert) -> str:
    """`severity=critical`, `severity missing`, `title "disk full"`; `no labels`."""
    parts = [f"{name} missing" if value is None else f"{name}={value}" for name, value in alert.labels]
    if alert.title is not None:
        parts.append(f"title {alert.title!r}")
    return ", ".join(parts) or "no labels"


def describe_outcome(sim: Simulation) -> str:
    """One line: `Production Alerts (pages Engineering On-Call; Slack #alerts)`, `dropped: ...`."""
    if sim.dropped:
        return "dropped: no route matches"
    parts = []
    if sim.matched:
        names = ", ".join(r.name for r in sim.matched)
        parts.append(f"{names} (pages {', '.join(sim.pages) or 'nobody'}; Slack {', '.join(sim.slack) or NONE})")
    if sim.undecided:
        names = ", ".join(r.name for r, _ in sim.undecided)
        parts.append(f"{'may also reach' if sim.matched else 'may reach'} {names} (cannot tell)")
    return "; ".join(parts)


def _matched_on(route: Route, source: str) -> str:
    groups = next(f.groups for f in route.sources if f.source == source)
    parts = [f"{source}: {describe_groups(groups)}" if groups else f"every alert from {source}"]
    if route.when:
        parts.append(f"all: {describe_groups(route.when)}")
    return "; ".join(parts)


def _declared_note(stack: Stack, alert: Alert) -> Iterator[str]:
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
    console.print(
        f"Alert from {source.name} ({alert.source}) with {describe_alert(alert)}"
        f" - stack {stack.name} ({stack.environment})",
        markup=False,
    )
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
    for note in _declared_note(stack, alert):
        console.print(f"note: {note}", markup=False)


# -- coverage of declared label values ------------------------------------------------------------


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
    return ("config", f"{stackfile.PROJECT}:{parts[0]}", *parts[1:])


def _emits_path(source: Source, alert: Alert) -> PathKey:
    at = _config("sources", source.key, "emits")
    if len(source.emits) == 1:
        (name, values), (_, value) = source.emits[0], alert.labels[0]
        return (*at, name, values.index(value))
    return at


def _disabled(sim: Simulation) -> str:
    names = ", ".join(repr(r.name) for r in sim.disabled)
    return f" (disabled route {names} would take them)" if sim.disabled else ""


def coverage_problems(stack: Stack, doc: Document) -> list[Problem]:
    """Warnings for declared alerts (`emits` combinations) that no route takes, that more than one
    route takes, or whose routing cannot be told; positioned on the stack file's nodes."""
    problems: list[Problem] = []
    index = {id(route): i for i, route in enumerate(stack.routes)}
    for source in stack.sources:
        if not source.emits:
            continue
        routes = _routes_of(stack, source.key)
        for alert in emitted_alerts(source):
            sim = simulate(stack, alert, routes)
            what = f"alerts from {source.key} with {describe_alert(alert)}"
            if len(sim.matched) > 1:
                names = ", ".join(repr(r.name) for r in sim.matched)
                for route in sim.matched[1:]:
                    problems.append(
                        doc.problem(
                            _config("routes", index[id(route)], "sources", source.key),
                            f"{what} match {len(sim.matched)} routes ({names}): each of them notifies",
                            key=True,
                            severity="warning",
                        )
                    )
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


# -- routing tests as data ------------------------------------------------------------------------

TESTS_SUFFIX = ".routing-tests.yaml"


@dataclass(frozen=True)
class RoutingCase:
    name: str
    alert: Alert
    routes: tuple[str, ...]  # every route that must match; () = the alert is dropped
    escalate: tuple[str, ...] | None = None  # exactly who is paged, when given
    slack: tuple[str, ...] | None = None  # exactly which channels get it, when given


@dataclass(frozen=True)
class CaseResult:
    case: RoutingCase
    simulation: Simulation
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def routing_tests_path(stack: Stack) -> Path:
    return stack.file.parent / f"{stack.name}{TESTS_SUFFIX}"


def _label_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Checker:
    """Reads one routing-tests file, reporting every problem at its line and column."""

    def __init__(self, doc: Document, stack: Stack) -> None:
        self.doc, self.stack = doc, stack
        self.problems: list[Problem] = []

    def fail(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def mapping(self, value: Any, path: PathKey, allowed: set[str], required: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, "expected a mapping")
            return {}
        for key in value:
            if key not in allowed:
                self.fail((*path, key), f"unknown key {key!r}{suggest(key, allowed)}", key=True)
        for key in sorted(required - set(value)):
            self.fail(path, f"missing required key {key!r}")
        return value

    def names(self, value: Any, path: PathKey, known: Iterable[str], kind: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(path, f"expected a list of {kind} names ([] for none)")
            return ()
        known = list(known)
        for position, name in enumerate(value):
            if name not in known:
                self.fail((*path, position), f"stack {self.stack.name} has no {kind} {name!r}{suggest(name, known)}")
        return tuple(value)

    def case(self, value: Any, path: PathKey) -> RoutingCase | None:
        spec = self.mapping(value, path, {"name", "alert", "expect"}, {"name", "alert", "expect"})
        alert = self.mapping(spec.get("alert", {}), (*path, "alert"), {"source", "labels", "title"}, {"source"})
        expect = self.mapping(spec.get("expect", {}), (*path, "expect"), {"routes", "escalate", "slack"}, {"routes"})
        name, source = spec.get("name"), alert.get("source")
        if not isinstance(name, str):
            self.fail((*path, "name"), "expected a test name")
        sources = [s.key for s in self.stack.sources]
        if isinstance(source, str) and source not in sources:
            self.fail(
                (*path, "alert", "source"),
                f"stack {self.stack.name} has no source {source!r}{suggest(source, sources)}",
            )
        labels = alert.get("labels") or {}
        if not isinstance(labels, dict) or any(isinstance(v, dict | list) for v in labels.values()):
            self.fail((*path, "alert", "labels"), "expected a mapping of label: value (null = missing)")
            labels = {}
        routes = self.names(
            expect.get("routes", []), (*path, "expect", "routes"), (r.name for r in self.stack.routes), "route"
        )
        escalate = expect.get("escalate")
        slack = expect.get("slack")
        if escalate is not None:
            escalate = self.names(
                escalate,
                (*path, "expect", "escalate"),
                _union(r.escalate for r in self.stack.routes),
                "escalation path in a route",
            )
        if slack is not None:
            slack = self.names(slack, (*path, "expect", "slack"), self.stack.slack_channel_ids, "Slack channel")
        if not isinstance(name, str) or not isinstance(source, str):
            return None
        title = alert.get("title")
        return RoutingCase(
            name=name,
            alert=Alert(
                source, tuple((k, _label_text(v)) for k, v in labels.items()), None if title is None else str(title)
            ),
            routes=routes,
            escalate=escalate,
            slack=slack,
        )


def load_routing_tests(path: Path, stack: Stack, display: str | None = None) -> list[RoutingCase]:
    """Parse `path` (a list under `tests:`); raise StackError listing every problem."""
    doc = stackfile.load(path, display or str(path))
    checker = _Checker(doc, stack)
    cases: list[RoutingCase] = []
    if not doc.problems:
        top = checker.mapping(doc.data, (), {"tests"}, {"tests"})
        tests = top.get("tests")
        if "tests" in top and (not isinstance(tests, list) or not tests):
            checker.fail(("tests",), "expected a non-empty list of tests")
        elif isinstance(tests, list):
            seen: set[str] = set()
            for i, value in enumerate(tests):
                case = checker.case(value, ("tests", i))
                if case and case.name in seen:
                    checker.fail(("tests", i, "name"), f"duplicate test name {case.name!r}")
                if case:
                    seen.add(case.name)
                    cases.append(case)
    problems = doc.problems + checker.problems
    if problems:
        raise StackError(problems)
    return cases


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


def run_case(stack: Stack, case: RoutingCase) -> CaseResult:
    sim = simulate(stack, case.alert)
    failures: list[str] = []
    for route, reasons in sim.undecided:
        failures.append(f"cannot tell whether route {route.name!r} matches: {'; '.join(sorted(reasons))}")
    got_routes = [r.name for r in sim.matched]
    checks = [
        ("routes", case.routes, got_routes),
        ("escalate", case.escalate, sim.pages),
        ("slack", case.slack, sim.slack),
    ]
    for what, want, got in checks:
        if want is not None and sorted(want) != sorted(got):
            if what == "routes" and not want:
                failures.append(f"expected the alert to be dropped, but it reaches {_listing(got)}")
            elif what == "routes" and not got:
                failures.append(f"expected routes {_listing(want)}, but the alert is dropped (no route matches)")
            else:
                failures.append(f"expected {what} {_listing(want)}, got {_listing(got)}")
    return CaseResult(case, sim, tuple(failures))


def run_routing_tests(stacks: Iterable[Stack], *, required: bool) -> dict[str, list[CaseResult] | None]:
    """Run each stack's routing tests, keyed by the tests file; None: the stack has none (an error when
    `required`, i.e. the stack was named on the command line)."""
    results: dict[str, list[CaseResult] | None] = {}
    for stack in stacks:
        path = routing_tests_path(stack)
        if not path.is_file():
            if required:
                raise UsageError(f"stack {stack.name!r} has no routing tests: {path} does not exist")
            results[f"{stack.name} ({path})"] = None
            continue
        results[str(path)] = [run_case(stack, case) for case in load_routing_tests(path, stack)]
    return results


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
