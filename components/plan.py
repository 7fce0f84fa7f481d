"""Human-readable views of a stack: the runbook's routes table, generated, plus token wiring."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from components.compile import aws_secret, delivered, receiver_name
from components.model import ONE_OF, Condition, ConditionGroup, Route, Stack

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


def routes_table(stack: Stack) -> Table:
    table = Table(title=f"Alert routes - stack {stack.name} ({stack.environment})", title_justify="left")
    for column in ("Route", "Sources", "Condition", "Escalation", "Slack"):
        table.add_column(column, overflow="fold")
    for route in stack.routes:
        table.add_row(
            route.name + ("" if route.enabled else " (disabled)"),
            route_sources(stack, route),
            route_condition(stack, route),
            ", ".join(route.escalate) or NONE,
            ", ".join(route.slack) or NONE,
        )
    return table


def sources_table(stack: Stack) -> Table:
    table = Table(title="Alert sources", title_justify="left")
    for column in ("Source", "Key", "Type", "incident.io id"):
        table.add_column(column, overflow="fold")
    for source in stack.sources:
        table.add_row(source.name, source.key, source.type, source.adopt or "(created by this stack)")
    return table


def delivery_table(stack: Stack) -> Table:
    kube = stack.kubernetes
    table = Table(
        title=f"Token delivery - AWS account {stack.aws_account_id} ({stack.aws_region}),"
        f" kube context {stack.kube_context}",
        title_justify="left",
    )
    for column in ("Source", "AWS secret", "ExternalSecret", "Alertmanager receiver"):
        table.add_column(column, overflow="fold")
    for source in delivered(stack):
        assert source.delivery
        secret = aws_secret(source, stack)
        table.add_row(
            source.name,
            f"{secret['name']}{' (protected)' if secret['protect'] else ''}",
            f"{kube.namespace}/{source.delivery.kubernetes_secret} via {kube.secret_store_kind}"
            f"/{kube.secret_store_name}, every {kube.refresh_interval}",
            receiver_name(source) if source.type == "alertmanager" else NONE,
        )
    return table


def print_plan(stack: Stack, console: Console) -> None:
    console.print(routes_table(stack))
    console.print(sources_table(stack))
    if delivered(stack):
        console.print(delivery_table(stack))
