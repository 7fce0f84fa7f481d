"""Stacks and routes as the runbook writes them in words: `severity=critical (Alertmanager only)`.

Pure text, shared by the reporters (`components.report`), the simulator and promotion."""

from __future__ import annotations

from components.model import ONE_OF, Condition, ConditionGroup, Heartbeat, Route, Source, Stack

NONE = "None"

_OPERATION_WORDS = {
    "is_blank": "{attribute} missing",
    "is_not_blank": "{attribute} set",
    "is_set": "{attribute} set",
    "is_not_set": "{attribute} missing",
}


def describe_condition(condition: Condition) -> str:
    if condition.operation == ONE_OF:
        if len(condition.values) == 1:
            return f"{condition.attribute}={condition.values[0]}"
        return f"{condition.attribute} in ({', '.join(condition.values)})"
    template = _OPERATION_WORDS.get(condition.operation)
    if template and not condition.values:
        return template.format(attribute=condition.attribute)
    values = ", ".join(condition.values)
    return f"{condition.attribute} {condition.operation} {values}".rstrip()


def describe_groups(groups: tuple[ConditionGroup, ...]) -> str:
    return " or ".join(" and ".join(describe_condition(c) for c in group) for group in groups)


def route_sources(stack: Stack, route: Route) -> str:
    return ", ".join(stack.source(f.source).name for f in route.sources)


def route_condition(stack: Stack, route: Route) -> str:
    """`severity=critical (Alertmanager (Production) only)`, as the runbook writes it."""
    parts = []
    filtered = [f for f in route.sources if f.groups]
    for f in filtered:
        text = describe_groups(f.groups)
        if len(route.sources) > 1:
            text += f" ({stack.source(f.source).name} only)"
        parts.append(text)
    if route.when:
        parts.append(f"all: {describe_groups(route.when)}")
    return "; ".join(parts) or NONE


def duration(seconds: int) -> str:
    """`1h30m`, `45s`: how stack files write durations."""
    return duration_ms(seconds * 1000)


def duration_ms(milliseconds: int) -> str:
    """`1h30m`, `45s`, `500ms` (`0s` for zero): stack files' and Alertmanager's duration text."""
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def heartbeat_expects(heartbeat: Heartbeat) -> str:
    grace = f" (+{duration(heartbeat.grace_seconds)} grace)" if heartbeat.grace_seconds else ""
    return f"a ping every {duration(heartbeat.interval_seconds)}{grace}"


def heartbeat_feed(heartbeat: Heartbeat) -> str:
    if heartbeat.repeat_seconds is None:
        return "nothing in this stack (no delivery): pinged from elsewhere"
    return f"Alertmanager's {heartbeat.alertname} alert, every {duration(heartbeat.repeat_seconds)}"


def heartbeats(stack: Stack) -> list[Source]:
    return [s for s in stack.sources if s.heartbeat]


def routes_taking(stack: Stack, source: Source) -> list[Route]:
    return [r for r in stack.routes if any(f.source == source.key for f in r.sources)]
