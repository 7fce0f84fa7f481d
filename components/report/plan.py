"""`plan`: a stack as tables: the runbook's routes table, generated, plus token wiring."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from components.compile import aws_secret, delivered, mounted_sources, receiver_name
from components.describe import (
    NONE,
    heartbeat_expects,
    heartbeat_feed,
    heartbeats,
    route_condition,
    route_sources,
    routes_taking,
)
from components.model import ChecklyChannel, Stack


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
    mounted = mounted_sources(stack)
    for source in delivered(stack):
        assert source.delivery
        secret = aws_secret(source, stack)
        table.add_row(
            source.name,
            f"{secret['name']}{' (protected)' if secret['protect'] else ''}",
            f"{kube.namespace}/{source.delivery.kubernetes_secret} via {kube.secret_store_kind}"
            f"/{kube.secret_store_name}, every {kube.refresh_interval}",
            receiver_name(source) if source in mounted else NONE,
        )
    return table


def heartbeats_table(stack: Stack) -> Table:
    table = Table(title="Heartbeats (dead man's switches)", title_justify="left")
    for column in ("Heartbeat", "incident.io expects", "Fed by", "When missed: routes"):
        table.add_column(column, overflow="fold")
    for source in heartbeats(stack):
        assert source.heartbeat
        routes = routes_taking(stack, source)
        table.add_row(
            source.name,
            heartbeat_expects(source.heartbeat),
            heartbeat_feed(source.heartbeat) + (f" (receiver {receiver_name(source)})" if source.delivery else ""),
            ", ".join(r.name for r in routes) or "nobody: no route takes it",
        )
    return table


def _subscribed(channel: ChecklyChannel) -> str:
    parts = [f"check {c}" for c in channel.checks] + [f"group {g}" for g in channel.groups]
    return ", ".join(parts) or "none listed here (checks may subscribe themselves)"


def _sends(channel: ChecklyChannel) -> str:
    flags = (
        ("failure", channel.send_failure),
        ("recovery", channel.send_recovery),
        ("degraded", channel.send_degraded),
    )
    return ", ".join(name for name, on in flags if on) or NONE


def checkly_table(stack: Stack) -> Table:
    table = Table(title=f"Checkly alert channels - account {stack.checkly_account_id}", title_justify="left")
    for column in ("Source", "Checkly channel", "Sends", "Subscribed"):
        table.add_column(column, overflow="fold")
    for source in stack.sources:
        if source.checkly:
            channel = source.checkly
            table.add_row(source.name, f"{channel.name} (incident.io webhook)", _sends(channel), _subscribed(channel))
    return table


def print_plan(stack: Stack, console: Console) -> None:
    console.print(routes_table(stack))
    console.print(sources_table(stack))
    if delivered(stack):
        console.print(delivery_table(stack))
    if heartbeats(stack):
        console.print(heartbeats_table(stack))
    if any(s.checkly for s in stack.sources):
        console.print(checkly_table(stack))


def plan_document(stack: Stack) -> dict[str, Any]:
    """`plan --format json`: the same three tables as data (names as the stack writes them)."""
    kube = stack.kubernetes
    delivery = []
    mounted = mounted_sources(stack)
    for source in delivered(stack):
        assert source.delivery
        secret = aws_secret(source, stack)
        delivery.append(
            {
                "source": source.key,
                "aws_secret": secret["name"],
                "protected": secret["protect"],
                "kubernetes_secret": f"{kube.namespace}/{source.delivery.kubernetes_secret}",
                "secret_store": f"{kube.secret_store_kind}/{kube.secret_store_name}",
                "refresh_interval": kube.refresh_interval,
                "alertmanager_receiver": receiver_name(source) if source in mounted else None,
            }
        )
    return {
        "stack": stack.name,
        "environment": stack.environment,
        "aws_account_id": stack.aws_account_id,
        "aws_region": stack.aws_region,
        "kube_context": stack.kube_context,
        "routes": [
            {
                "name": route.name,
                "enabled": route.enabled,
                "sources": [f.source for f in route.sources],
                "condition": None if (text := route_condition(stack, route)) == NONE else text,
                "escalate": list(route.escalate),
                "slack": list(route.slack),
            }
            for route in stack.routes
        ],
        "sources": [
            {"key": source.key, "name": source.name, "type": source.type, "adopt": source.adopt}
            for source in stack.sources
        ],
        "delivery": delivery,
        "heartbeats": [
            {
                "source": source.key,
                "interval_seconds": source.heartbeat.interval_seconds,
                "grace_seconds": source.heartbeat.grace_seconds,
                "alertname": source.heartbeat.alertname,
                "repeat_seconds": source.heartbeat.repeat_seconds,
                "routes": [r.name for r in routes_taking(stack, source)],
            }
            for source in heartbeats(stack)
            if source.heartbeat
        ],
        "checkly_alert_channels": [
            {
                "source": source.key,
                "name": source.checkly.name,
                "account_id": stack.checkly_account_id,
                "send_failure": source.checkly.send_failure,
                "send_recovery": source.checkly.send_recovery,
                "send_degraded": source.checkly.send_degraded,
                "checks": list(source.checkly.checks),
                "groups": list(source.checkly.groups),
            }
            for source in stack.sources
            if source.checkly
        ],
    }
