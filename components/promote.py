"""Promotion: make the target stack's routing policy match the source stack's (staging -> production).

Design (docs/promotion.md):

- Only routing policy moves: per route its sources and their conditions, `when`, Slack channels (by
  name), grouping, incident settings and `enabled`. What differs by environment on purpose is never
  copied: the target keeps its sources (names, types, adopt ids, delivery), accounts, contexts,
  Slack channel ids, escalation path ids, attribute ids and its paging policy. Names are resolved
  through the target's declarations when it is compiled.
- Correspondence, one to one, printed for every route: (1) by name, the source environment's word
  in the name read as the target's ("Staging Alerts" in staging is "Production Alerts" in
  production); else (2) by sources and conditions: the same condition groups for every source key
  both stacks declare, and the same `when`. A source route with no counterpart is new.
- Escalation is never copied: a matched route keeps the target's `escalate`, a new route arrives
  without any. Every decision is shown.
- A target route without a counterpart is kept as it is ("production only, kept"); promotion never
  removes a route. A target route's sources that the source stack does not declare are kept too.
- A source route that uses a source key or a Slack channel the target does not declare, or whose
  correspondence is ambiguous, is blocked: shown, never written.
- Writing keeps the file's comments and layout (ruamel.yaml round trip), validates the result with
  components.validate first and replaces the file atomically; an invalid result is never written.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import Comment, CommentedMap, CommentedSeq

from components import stackedit, stackfile, validate
from components.compile import compile_stack
from components.coverage import emitted_alerts
from components.describe import NONE, describe_groups
from components.errors import OperationError, Problem, StackError
from components.model import TITLE, ConditionGroup, Grouping, Incident, Route, Stack
from components.simulate import describe_alert, describe_outcome, simulate

ROUTES = stackfile.config_key("routes")
ABSENT = "-"


class Action(StrEnum):
    ADD = "add"
    CHANGE = "change"
    UNCHANGED = "unchanged"
    BLOCKED = "blocked"
    KEEP = "kept"  # a target route with no counterpart


@dataclass(frozen=True)
class Change:
    key: tuple[str, ...]  # the route's YAML key: ("slack",) or ("sources", "alertmanager")
    before: str
    after: str

    @property
    def field(self) -> str:
        return ".".join(self.key)


@dataclass(frozen=True)
class RoutePlan:
    action: Action
    source_route: str | None
    target_route: str | None  # for ADD, the name the route gets in the target
    matched_by: str = ""
    changes: tuple[Change, ...] = ()
    escalation: str = ""  # what the target route pages after promotion
    reasons: tuple[str, ...] = ()  # why it is blocked
    notes: tuple[str, ...] = ()  # paging decisions, in words
    source_index: int | None = None
    target_index: int | None = None


# -- correspondence -------------------------------------------------------------------------------


def map_name(name: str, source_environment: str, target_environment: str) -> str:
    """The source environment's word in a route name, read as the target's, keeping its case."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        if word.isupper():
            return target_environment.upper()
        return target_environment.capitalize() if word[0].isupper() else target_environment.lower()

    return re.sub(rf"\b{re.escape(source_environment)}\b", swap, name, flags=re.IGNORECASE)


def _canonical(groups: tuple[ConditionGroup, ...]) -> tuple[Any, ...]:
    """Condition groups without meaningless order (of groups, of conditions, of values)."""
    return tuple(
        sorted({tuple(sorted((c.attribute, c.operation, tuple(sorted(c.values))) for c in g)) for g in groups})
    )


def _anchor(route: Route, keys: set[str]) -> tuple[frozenset[Any], tuple[Any, ...]]:
    filters = frozenset((f.source, _canonical(f.groups)) for f in route.sources if f.source in keys)
    return filters, _canonical(route.when)


@dataclass(frozen=True)
class _Pair:
    source: int | None
    target: int | None
    matched_by: str = ""
    blocked: str = ""


def correspond(source: Stack, target: Stack) -> list[_Pair]:
    """Pair source routes with target routes (indexes), source order first, then target-only routes."""
    target_names = {r.name: i for i, r in enumerate(target.routes)}
    paired: dict[int, _Pair] = {}
    taken: set[int] = set()
    swapped = f"name, {source.environment} read as {target.environment}"
    for how, rename in (("name", lambda n: n), (swapped, lambda n: _mapped(n, source, target))):
        for i, route in enumerate(source.routes):  # 1. by name: exact names first, then swapped words
            j = target_names.get(rename(route.name))
            if i not in paired and j is not None and j not in taken:
                paired[i] = _Pair(i, j, how)
                taken.add(j)
    shared = {s.key for s in source.sources} & {s.key for s in target.sources}
    anchors = {j: _anchor(r, shared) for j, r in enumerate(target.routes) if j not in taken}
    candidates: dict[int, list[int]] = {}
    for i, route in enumerate(source.routes):  # 2. by the sources and conditions both stacks know
        anchor = _anchor(route, shared)
        if i not in paired and anchor[0]:
            candidates[i] = [j for j, other in anchors.items() if other == anchor]
    for i, js in candidates.items():
        rivals = [k for k, others in candidates.items() if k != i and set(others) & set(js)]
        if len(js) == 1 and not rivals:
            paired[i] = _Pair(i, js[0], "sources and conditions")
            taken.add(js[0])
        elif js:
            names = ", ".join(repr(target.routes[j].name) for j in js)
            others = ", ".join(repr(source.routes[k].name) for k in rivals)
            paired[i] = _Pair(
                i,
                None,
                blocked=f"ambiguous: its sources and conditions match {target.name} routes {names}"
                + (f", as do {source.name} routes {others}" if others else "")
                + f"; name it after its {target.name} counterpart to choose",
            )
    pairs = [paired.get(i, _Pair(i, None)) for i in range(len(source.routes))]
    pairs += [_Pair(None, j) for j in range(len(target.routes)) if j not in taken]
    return pairs


def _mapped(name: str, source: Stack, target: Stack) -> str:
    return map_name(name, source.environment, target.environment)


# -- what a route becomes -------------------------------------------------------------------------


def _seconds_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


def _grouping_text(grouping: Grouping | None) -> str:
    if grouping is None:
        return NONE
    by = f" by {', '.join(grouping.by)}" if grouping.by else ""
    return f"window {_seconds_text(grouping.window_seconds)}{by}"


def _incident_text(incident: Incident) -> str:
    if not incident.enabled:
        return "no incident" + (" (auto-decline)" if incident.auto_decline else "")
    extras = [f"defer {_seconds_text(incident.defer_seconds)}"] if incident.defer_seconds else []
    extras += ["auto-decline"] if incident.auto_decline else []
    return "incident" + (f" ({', '.join(extras)})" if extras else "")


def _filter_text(groups: tuple[ConditionGroup, ...]) -> str:
    return describe_groups(groups) or "every alert"


def promoted_route(route: Route, counterpart: Route | None, name: str, source: Stack) -> Route:
    """`route`'s policy with the target's name, escalation, adopted id and target-only sources."""
    declared = {s.key for s in source.sources}
    kept = tuple(f for f in counterpart.sources if f.source not in declared) if counterpart else ()
    return dataclasses.replace(
        route,
        name=name,
        sources=route.sources + kept,
        escalate=counterpart.escalate if counterpart else (),
        adopt=counterpart.adopt if counterpart else None,  # an incident.io id is per environment
    )


_DEFAULT = Route(name="", sources=())


def route_changes(before: Route | None, after: Route) -> list[Change]:
    """The policy fields that differ (order that means nothing ignored); every field of a new route."""
    changes: list[Change] = []
    old = {f.source: f.groups for f in before.sources} if before else {}
    new = {f.source: f.groups for f in after.sources}
    for key in [*new, *(k for k in old if k not in new)]:
        if key not in old or key not in new or _canonical(old[key]) != _canonical(new[key]):
            changes.append(
                Change(
                    ("sources", key),
                    _filter_text(old[key]) if key in old else ABSENT,
                    _filter_text(new[key]) if key in new else ABSENT,
                )
            )
    fields: list[tuple[str, Callable[[Route], Any], Callable[[Route], str]]] = [
        ("when", lambda r: _canonical(r.when), lambda r: describe_groups(r.when) or NONE),
        ("slack", lambda r: sorted(r.slack), lambda r: ", ".join(r.slack) or NONE),
        ("grouping", lambda r: r.grouping, lambda r: _grouping_text(r.grouping)),
        ("incident", lambda r: r.incident, lambda r: _incident_text(r.incident)),
        ("enabled", lambda r: r.enabled, lambda r: "yes" if r.enabled else "no"),
    ]
    for key, value, text in fields:
        if before is None and key != "slack" and value(after) == value(_DEFAULT):
            continue  # a new route: only what it sets
        if before is None or value(before) != value(after):
            changes.append(Change((key,), text(before) if before else ABSENT, text(after)))
    return changes


def _blockers(route: Route, target: Stack) -> list[str]:
    declared = {s.key for s in target.sources}
    reasons = [
        f"source {f.source!r} is not declared in {target.name} (declare it there first: its identity differs"
        " per environment)"
        for f in route.sources
        if f.source not in declared
    ]
    reasons += [
        f"Slack channel {c!r} is not declared in {target.name} (incidentio.slackChannels)"
        for c in route.slack
        if c not in target.slack_channel_ids
    ]
    # A condition reads an attribute only the target source's own bindings fill.
    for source_filter in route.sources:
        if source_filter.source not in declared:
            continue
        bound = target.source(source_filter.source).bound
        used = {c.attribute for group in (*source_filter.groups, *route.when) for c in group} - {TITLE}
        reasons += [
            f"attribute {a!r} is not bound by {target.name}'s source {source_filter.source!r}"
            " (bind it there first under `attributes:`)"
            for a in sorted(used - bound)
        ]
    return reasons


def _escalation(action: Action, route: Route | None) -> str:
    """The Escalation column: what the target route pages after promotion."""
    if action is Action.ADD:
        return "none (new route)"
    if route is None:
        return ABSENT
    paths = ", ".join(route.escalate) or "none"
    return paths if action is Action.KEEP else f"{paths} (kept)"


def _notes(
    action: Action, route: Route | None, name: str, source: Stack, target: Stack, changes: Iterable[Change]
) -> tuple[str, ...]:
    """The paging decisions, in words."""
    if action is Action.ADD:
        why = f"{source.name} never pages" if not source.paging else "escalation is never copied"
        return (
            f"{name!r} is new in {target.name} and arrives without escalation ({why});"
            f" add `escalate:` to it in {target.name} if it should page.",
        )
    if route and route.escalate and any(c.key[0] in ("sources", "when", "enabled") for c in changes):
        return (
            f"{name!r} keeps paging {', '.join(route.escalate)} ({target.name}'s decision) and its conditions"
            " change: what pages changes, see the alert outcomes.",
        )
    return ()


def plan_routes(source: Stack, target: Stack) -> list[RoutePlan]:
    plans: list[RoutePlan] = []
    names = {r.name for r in target.routes}
    for pair in correspond(source, target):
        counterpart = target.routes[pair.target] if pair.target is not None else None
        if pair.source is None:
            assert counterpart is not None
            plans.append(
                RoutePlan(
                    Action.KEEP,
                    None,
                    counterpart.name,
                    escalation=_escalation(Action.KEEP, counterpart),
                    target_index=pair.target,
                )
            )
            continue
        route = source.routes[pair.source]
        name = counterpart.name if counterpart else _mapped(route.name, source, target)
        reasons = _blockers(route, target) + ([pair.blocked] if pair.blocked else [])
        if counterpart is None and name in names and not pair.blocked:
            reasons.append(f"{target.name} already has a route named {name!r} that corresponds to another route")
        if reasons:
            plans.append(
                RoutePlan(
                    Action.BLOCKED,
                    route.name,
                    counterpart.name if counterpart else None,
                    pair.matched_by,
                    escalation=_escalation(Action.BLOCKED, counterpart),
                    reasons=tuple(reasons),
                    source_index=pair.source,
                    target_index=pair.target,
                )
            )
            continue
        changes = tuple(route_changes(counterpart, promoted_route(route, counterpart, name, source)))
        action = Action.ADD if counterpart is None else Action.CHANGE if changes else Action.UNCHANGED
        plans.append(
            RoutePlan(
                action,
                route.name,
                name,
                pair.matched_by,
                changes,
                _escalation(action, counterpart),
                notes=_notes(action, counterpart, name, source, target, changes),
                source_index=pair.source,
                target_index=pair.target,
            )
        )
    return plans


# -- the stack file, comments and layout kept -----------------------------------------------------

def _uncommented(node: Any) -> Any:
    """A deep copy of a node from the other stack's file, without that file's comments."""
    node = copy.deepcopy(node)
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, CommentedMap | CommentedSeq):
            setattr(item, Comment.attrib, Comment())
            todo += item.values() if isinstance(item, CommentedMap) else list(item)
    return node


def _put(mapping: CommentedMap, key: str, value: Any, order: list[str]) -> None:
    """Set `key`, in place when present, else after the keys that precede it in `order`."""
    if key in mapping:
        mapping[key] = value
        return
    before = order[: order.index(key)] if key in order else order
    positions = [i for i, k in enumerate(mapping) if k in before]
    mapping.insert(max(positions) + 1 if positions else 0, key, value)


def _copy_field(target: CommentedMap, source: CommentedMap, key: str) -> None:
    if key in source:
        _put(target, key, _uncommented(source[key]), list(source))
    elif key in target:
        del target[key]


def edit(target_text: str, source_text: str, plans: list[RoutePlan], target_path: Path) -> str:
    """The target file's text with the plans' ADD and CHANGE applied, every other byte kept."""
    yaml = stackedit.round_tripper(target_text, target_path)
    data = yaml.load(target_text)
    staged = stackedit.loader().load(source_text)
    routes: CommentedSeq = data["config"][ROUTES]
    staged_routes: CommentedSeq = staged["config"][ROUTES]
    nodes = list(routes)  # by the target's original indexes
    placed: dict[int, Any] = {}  # source route index -> its node in the target
    for plan in plans:
        if plan.source_index is None:
            continue
        node = staged_routes[plan.source_index]
        if plan.target_index is not None:
            placed[plan.source_index] = nodes[plan.target_index]
        if plan.action is Action.CHANGE:
            target = nodes[plan.target_index]  # type: ignore[index]
            for change in plan.changes:
                if change.key[0] == "sources":
                    _copy_field(target["sources"], node["sources"], change.key[1])
                else:
                    _copy_field(target, node, change.key[0])
        elif plan.action is Action.ADD:
            new = _uncommented(node)
            new["name"] = plan.target_route
            new.pop("escalate", None)
            new.pop("adopt", None)  # the staging route's id: production's route is another object
            anchors = [placed[i] for i in sorted(placed) if i < plan.source_index]
            position = next((i + 1 for i, n in enumerate(routes) if anchors and n is anchors[-1]), len(routes))
            routes.insert(position, new)
            placed[plan.source_index] = new
    return stackedit.dump(yaml, data)


# -- validation and writing -----------------------------------------------------------------------





# -- the whole promotion --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    alert: str
    before: str
    after: str


@dataclass(frozen=True)
class Promotion:
    source: Stack
    target: Stack
    routes: tuple[RoutePlan, ...]
    original: str  # the target file as read
    candidate: str  # the target file after promotion (== original: nothing to promote)
    problems: tuple[Problem, ...] = ()  # the candidate's, errors and warnings
    new_warnings: tuple[Problem, ...] = ()  # warnings the candidate has and the target has not
    outcomes: tuple[Outcome, ...] = ()  # declared alerts (`emits`) whose routing changes

    @property
    def changed(self) -> bool:
        return self.candidate != self.original

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def outcome_changes(before: Stack, after: Stack) -> list[Outcome]:
    rows = []
    for source in after.sources:
        for alert in emitted_alerts(source):
            was, now = describe_outcome(simulate(before, alert)), describe_outcome(simulate(after, alert))
            if was != now:
                rows.append(Outcome(f"{source.key}: {describe_alert(alert)}", was, now))
    return rows


def _changed_route_payloads(before: Stack, after: Stack) -> set[str]:
    """Names of the routes whose incident.io payload differs; OperationError if anything else does."""
    old, new = compile_stack(before), compile_stack(after)
    routes = [{r["name"]: r["payload"] for r in c["incident_io"]["alert_routes"]} for c in (old, new)]
    old["incident_io"]["alert_routes"] = new["incident_io"]["alert_routes"] = []  # compared above, by name
    if old != new:
        raise OperationError("internal error: the promoted stack differs outside its routes; nothing was written")
    return {name for name in routes[0].keys() | routes[1].keys() if routes[0].get(name) != routes[1].get(name)}


def prepare(source: Stack, target: Stack) -> Promotion:
    """Everything `promote` shows and `--write` writes; touches no file."""
    plans = plan_routes(source, target)
    original = stackedit.read(target.file)
    if not any(p.action in (Action.ADD, Action.CHANGE) for p in plans):
        return Promotion(source, target, tuple(plans), original, original)
    candidate = edit(original, stackedit.read(source.file), plans, target.file)
    before_problems, _ = validate.check_text(original, target.file)
    problems, after = validate.check_text(candidate, target.file)
    known = {p.message for p in before_problems}
    new_warnings = tuple(p for p in problems if p.severity == "warning" and p.message not in known)
    outcomes: list[Outcome] = []
    if after is not None:
        expected = {p.target_route for p in plans if p.action in (Action.ADD, Action.CHANGE)}
        changed = _changed_route_payloads(target, after)
        if changed != expected:
            raise OperationError(
                f"internal error: the edited file changes routes {sorted(changed)},"
                f" the plan {sorted(expected, key=str)}; nothing was written"
            )
        outcomes = outcome_changes(target, after)
    return Promotion(source, target, tuple(plans), original, candidate, tuple(problems), new_warnings, tuple(outcomes))


def write(promotion: Promotion, *, allow_warnings: bool, confirm: Callable[[str], bool]) -> bool:
    """Write the promoted target file (after `confirm`); False when there is nothing to write."""
    path = promotion.target.file
    if not promotion.changed:
        return False
    if promotion.errors:
        raise StackError(list(promotion.problems))
    if promotion.new_warnings and not allow_warnings:
        raise OperationError(
            f"not written: the promotion adds {len(promotion.new_warnings)} warning(s) to {path};"
            " review them, change the stacks, or pass --allow-warnings to accept them",
            [f"{p.path}: {p.message}" for p in promotion.new_warnings],
        )
    if not confirm(f"Write these changes to {path}?"):
        raise OperationError(f"not confirmed; {path} is unchanged")
    stackedit.write_stack_file(path, promotion.original, promotion.candidate)
    return True
