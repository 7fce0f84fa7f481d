"""The stack the API benchmarks deploy: N routes over S sources, compiled by the real compiler.

Payloads come from `components.compile`, exactly as `pulumi up` would send them; the benchmarks
only substitute the placeholders with the ids the emulator hands out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.compile import compile_stack
from components.model import Binding, Condition, Kubernetes, Route, Source, SourceFilter, Stack

ESCALATION_PATH = "Engineering On-Call"
ATTRIBUTE = "severity"
CHANNELS = (("#alerts", "C0BENCH001"), ("#other", "C0BENCH002"))


def stack(sources: int, routes: int) -> Stack:
    keys = [f"source-{i}" for i in range(sources)]
    critical_or_warning = ((Condition(ATTRIBUTE, "one_of", ("critical", "warning")),),)
    return Stack(
        name="bench",
        file=Path("bench"),
        environment="production",
        aws_region="us-east-1",
        aws_account_id="111111111111",
        kube_context="bench",
        paging=True,
        slack_channels=CHANNELS,
        escalation_paths=(),
        attributes=(),
        sources=tuple(
            Source(
                key=key,
                name=f"Bench Source {i}",
                type="alertmanager",
                attributes=((ATTRIBUTE, Binding(path="$.labels.severity")),),
            )
            for i, key in enumerate(keys)
        ),
        routes=tuple(
            Route(
                name=f"Bench Route {r}",
                sources=(SourceFilter(keys[r % sources], critical_or_warning),),
                escalate=(ESCALATION_PATH,),
                slack=("#alerts",),
            )
            for r in range(routes)
        ),
        kubernetes=Kubernetes(),
    )


def payloads(sources: int, routes: int) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """(source key, source payload) pairs and route payloads, placeholders still in them."""
    compiled = compile_stack(stack(sources, routes))["incident_io"]
    return [(s["key"], s["payload"]) for s in compiled["alert_sources"]], [
        r["payload"] for r in compiled["alert_routes"]
    ]
