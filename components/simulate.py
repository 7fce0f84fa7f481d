"""The routing simulator: which routes an alert matches, whom it pages, which Slack channels get it.

It compiles the stack exactly as `render` does (ids that exist only at deploy time stay
placeholders) and hands those payloads to the one routing evaluator, `components.routing`, which
the emulator also runs over what `pulumi up` created. Users: `route` (one alert from the command
line, by labels or by a real payload), `test-routes` (routing tests as data,
`stacks/<stack>.routing-tests.yaml`), validate's coverage check (`components.coverage`) and
promotion.

An alert given by labels becomes the payload its source type sends (`routing.sample_payload`:
Alertmanager labels under ``labels``, incident.io's HTTP source under ``metadata``); the source's
bindings then decide which attributes it has. A label no binding extracts is not an attribute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from components import compile as compiler
from components import routing, stackfile, structure
from components.describe import NONE
from components.errors import Problem, StackError, UsageError
from components.model import Route, Source, Stack
from components.routing import Unknown
from components.stackfile import Document, PathKey
from components.suggest import suggest

__all__ = ["Alert", "Simulation", "Unknown", "simulate", "simulate_payload"]


# -- alerts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """An alert as its sender describes it: source key, labels and title, or the payload itself.

    A label with value None is missing. With `complete` (the default) every label not listed is
    missing too; without it (coverage of declared `emits`) an unlisted label, and the title when not
    given, is unknown. A `payload` (one alert's payload, as the source receives it) replaces the
    labels and title.
    """

    source: str
    labels: tuple[tuple[str, str | None], ...] = ()
    title: str | None = None
    complete: bool = True
    payload: Any = None

    def body(self, source_type: str) -> Any:
        if self.payload is not None:
            return self.payload
        return routing.sample_payload(source_type, dict(self.labels), self.title, complete=self.complete)


# -- the stack, compiled for routing --------------------------------------------------------------


@dataclass(frozen=True)
class RoutingView:
    """What `render` sends for a stack, indexed for the evaluator (build once per stack)."""

    stack: Stack

    @cached_property
    def source_ids(self) -> dict[str, str]:
        return {s.key: compiler.source_id(self.stack, s.key) for s in self.stack.sources}

    @cached_property
    def source_bodies(self) -> dict[str, dict[str, Any]]:
        return {s.key: compiler.source_payload(s, self.stack) for s in self.stack.sources}

    @cached_property
    def routes_by_source(self) -> dict[str, list[tuple[Route, dict[str, Any]]]]:
        by_source: dict[str, list[tuple[Route, dict[str, Any]]]] = {s.key: [] for s in self.stack.sources}
        for route, compiled in zip(self.stack.routes, compiler.compiled_routes(self.stack), strict=True):
            body = compiled["payload"]
            for source_filter in route.sources:
                by_source.setdefault(source_filter.source, []).append((route, body))
        return by_source

    @cached_property
    def escalation_names(self) -> dict[str, str]:
        names = {name for route in self.stack.routes for name in route.escalate}
        return {compiler.escalation_path_id(self.stack, name): name for name in names}

    @cached_property
    def channel_names(self) -> dict[str, str]:
        return {channel_id: name for name, channel_id in self.stack.slack_channels}


_VIEWS: dict[int, RoutingView] = {}


def routing_view(stack: Stack) -> RoutingView:
    view = _VIEWS.get(id(stack))
    if view is None or view.stack is not stack:
        view = _VIEWS[id(stack)] = RoutingView(stack)
        if len(_VIEWS) > 64:  # bounded: a long-lived process sees many stacks
            _VIEWS.pop(next(iter(_VIEWS)))
    return view


# -- one alert ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Simulation:
    stack: Stack
    alert: Alert
    matched: tuple[Route, ...]  # enabled routes that certainly match, in stack order
    undecided: tuple[tuple[Route, frozenset[str]], ...]  # enabled routes that may match, and why
    disabled: tuple[Route, ...]  # disabled routes that would (or might) match otherwise
    pages: tuple[str, ...] = ()  # escalation path names of the matched routes
    slack: tuple[str, ...] = ()  # Slack channel names that get it
    attributes: tuple[tuple[str, str | None], ...] = ()  # attribute name -> value it got ("?" unknown)

    @property
    def dropped(self) -> bool:
        """Certainly reaches no route: incident.io accepts it and notifies nobody."""
        return not self.matched and not self.undecided


def _check_source(stack: Stack, key: str) -> Source:
    keys = [s.key for s in stack.sources]
    if key not in keys:
        raise UsageError(
            f"stack {stack.name!r} has no source {key!r}{suggest(key, keys)}; its sources: {', '.join(keys)}"
        )
    return stack.source(key)


def simulate(stack: Stack, alert: Alert, view: RoutingView | None = None) -> Simulation:
    """Route one alert through `stack` with the routing evaluator."""
    source = _check_source(stack, alert.source)
    view = view or routing_view(stack)
    candidates = view.routes_by_source.get(source.key, [])
    by_body = {id(body): route for route, body in candidates}
    outcome = routing.route_alert(
        view.source_ids[source.key],
        view.source_bodies[source.key],
        [body for _, body in candidates],
        alert.body(source.type),
    )
    ids = {name: compiler.attribute_id(stack, name) for name in source.bound}
    attributes = tuple(
        (name, "?" if isinstance(v := outcome.alert.attributes.get(ids[name]), Unknown) else v) for name in sorted(ids)
    )
    return Simulation(
        stack,
        alert,
        matched=tuple(by_body[id(body)] for body in outcome.matched),
        undecided=tuple((by_body[id(body)], reasons) for body, reasons in outcome.undecided),
        disabled=tuple(by_body[id(body)] for body in outcome.disabled),
        pages=tuple(view.escalation_names.get(i, i) for i in outcome.escalation_path_ids),
        slack=tuple(view.channel_names.get(i, i) for i in outcome.slack_channel_ids),
        attributes=attributes,
    )


def simulate_payload(stack: Stack, source_key: str, body: Any) -> list[Simulation]:
    """A body exactly as the source receives it (an Alertmanager group: one alert per entry)."""
    source = _check_source(stack, source_key)
    payloads = routing.split_event(source.type, body)
    if not payloads:
        raise UsageError(f"the payload holds no alert for source {source_key!r} (an Alertmanager body needs alerts[])")
    view = routing_view(stack)
    return [simulate(stack, Alert(source_key, payload=payload), view) for payload in payloads]


def load_payload(path: Path) -> Any:
    """A JSON payload file (`route --payload`)."""
    try:
        if path.stat().st_size > stackfile.MAX_FILE_BYTES:
            raise UsageError(f"{path}: larger than {stackfile.MAX_FILE_BYTES // (1024 * 1024)} MiB; not a webhook body")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read payload {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"{path}: not JSON: {error}") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a webhook body") from None


def _union(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for items in lists for item in items))


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
    if alert.payload is not None:
        return _payload_summary(alert.payload)
    parts = [f"{name} missing" if value is None else f"{name}={value}" for name, value in alert.labels]
    if alert.title is not None:
        parts.append(f"title {alert.title!r}")
    return ", ".join(parts) or "no labels"


def _payload_summary(payload: Any) -> str:
    """An Alertmanager alert by its labels; anything else as (shortened) JSON."""
    labels = payload.get("labels") if isinstance(payload, dict) else None
    if isinstance(labels, dict) and labels:
        return "labels " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "payload " + (text if len(text) <= 80 else text[:77] + "...")


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


class _Meaning:
    """What a routing-tests file means for its stack (its shape is the schema's,
    `components/schemas/routing-tests.schema.json`): sources, routes, escalation paths and Slack
    channels that exist, one alert per payload, one name per test. Tolerates a wrong shape, which
    the schema reports."""

    def __init__(self, doc: Document, stack: Stack) -> None:
        self.doc, self.stack = doc, stack
        self.problems: list[Problem] = []

    def fail(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def names(self, value: Any, path: PathKey, known: Iterable[str], kind: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return ()
        known = list(known)
        for position, name in enumerate(value):
            if name not in known:
                self.fail((*path, position), f"stack {self.stack.name} has no {kind} {name!r}{suggest(name, known)}")
        return tuple(value)

    def cases(self, tests: Any) -> list[RoutingCase]:
        cases: list[RoutingCase] = []
        seen: set[str] = set()
        for i, value in enumerate(tests if isinstance(tests, list) else []):
            case = self.case(value, ("tests", i))
            if case and case.name in seen:
                self.fail(("tests", i, "name"), f"duplicate test name {case.name!r}")
            if case:
                seen.add(case.name)
                cases.append(case)
        return cases

    def case(self, value: Any, path: PathKey) -> RoutingCase | None:
        spec = _mapping(value)
        alert, expect = _mapping(spec.get("alert")), _mapping(spec.get("expect"))
        name, source = spec.get("name"), alert.get("source")
        sources = [s.key for s in self.stack.sources]
        if isinstance(source, str) and source not in sources:
            self.fail(
                (*path, "alert", "source"),
                f"stack {self.stack.name} has no source {source!r}{suggest(source, sources)}",
            )
        routes = self.names(
            expect.get("routes"), (*path, "expect", "routes"), (r.name for r in self.stack.routes), "route"
        )
        escalate = slack = None
        if "escalate" in expect:
            escalate = self.names(
                expect["escalate"],
                (*path, "expect", "escalate"),
                _union(r.escalate for r in self.stack.routes),
                "escalation path in a route",
            )
        if "slack" in expect:
            slack = self.names(
                expect["slack"], (*path, "expect", "slack"), self.stack.slack_channel_ids, "Slack channel"
            )
        payload = alert.get("payload")
        if payload is not None and ({"labels", "title"} & set(alert)):
            self.fail((*path, "alert", "payload"), "payload replaces labels and title: give one or the other", key=True)
        elif payload is not None and isinstance(source, str) and source in sources:
            alerts = routing.split_event(self.stack.source(source).type, payload)
            if len(alerts) != 1:
                self.fail((*path, "alert", "payload"), f"the payload holds {len(alerts)} alerts; a test routes one")
            else:
                payload = alerts[0]
        if not isinstance(name, str) or not isinstance(source, str):
            return None
        labels = _mapping(alert.get("labels"))
        title = alert.get("title")
        return RoutingCase(
            name=name,
            alert=Alert(
                source,
                tuple((k, _label_text(v)) for k, v in labels.items()),
                None if title is None else str(title),
                payload=payload,
            ),
            routes=routes,
            escalate=escalate,
            slack=slack,
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def load_routing_tests(path: Path, stack: Stack, display: str | None = None) -> list[RoutingCase]:
    """Parse `path` (a list under `tests:`); raise StackError listing every problem, of shape (the
    schema) and of meaning (names the stack does not have) alike."""
    doc = stackfile.load(path, display or str(path))
    problems = list(doc.problems)
    cases: list[RoutingCase] = []
    if not problems:
        problems += structure.ROUTING_TESTS.problems(doc)
        meaning = _Meaning(doc, stack)
        cases = meaning.cases(_mapping(doc.data).get("tests"))
        problems += meaning.problems
    if problems:
        raise StackError(sorted(problems))
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
