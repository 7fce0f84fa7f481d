"""`promote` for people: the route correspondence, the changes to the target file, what changes
for the declared alerts, and whether the result can be written."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table

from components.model import Stack
from components.promote import ABSENT, Action, Promotion, RoutePlan


def _action_text(plan: RoutePlan, target: Stack) -> str:
    if plan.action is Action.KEEP:
        return f"{target.name} only, kept"
    if plan.action is Action.BLOCKED:
        return "BLOCKED"
    return {Action.ADD: "add", Action.CHANGE: "change", Action.UNCHANGED: "unchanged"}[plan.action]


def print_promotion(promotion: Promotion, console: Console) -> None:
    source, target = promotion.source, promotion.target
    console.print(
        f"Promotion {source.name} -> {target.name}: routing policy only. {target.name} keeps its sources"
        " (ids, adopt ids, delivery), account, kube context, Slack channel ids, escalation and paging policy.",
        markup=False,
    )
    table = Table(title="Route correspondence", title_justify="left")
    for column in (
        f"{source.name} route",
        f"{target.name} route",
        "Matched by",
        "Action",
        f"Escalation in {target.name}",
    ):
        table.add_column(column, overflow="fold")
    for plan in promotion.routes:
        new = plan.action is Action.ADD
        table.add_row(
            plan.source_route or ABSENT,
            (f"{plan.target_route} (new)" if new else plan.target_route) or ABSENT,
            plan.matched_by or (f"no counterpart in {target.name}" if new else ABSENT),
            _action_text(plan, target),
            plan.escalation,
            end_section=False,
        )
    console.print(table)
    for plan in promotion.routes:
        if plan.action is Action.BLOCKED:
            console.print(f"BLOCKED, not promoted: {plan.source_route!r}: {'; '.join(plan.reasons)}.", markup=False)
        for note in plan.notes:
            console.print(f"Paging: {note}", markup=False)
    changes = [(p, c) for p in promotion.routes if p.action in (Action.ADD, Action.CHANGE) for c in p.changes]
    if changes:
        table = Table(title=f"Changes to {target.file}", title_justify="left")
        for column in (f"{target.name} route", "Field", "Now", "After promotion"):
            table.add_column(column, overflow="fold")
        for plan, change in changes:
            table.add_row(plan.target_route, change.field, change.before, change.after)
        console.print(table)
    if promotion.outcomes:
        table = Table(title=f"Declared alerts (emits) whose routing changes in {target.name}", title_justify="left")
        for column in ("Alert", "Now", "After promotion"):
            table.add_column(column, overflow="fold")
        for outcome in promotion.outcomes:
            table.add_row(outcome.alert, outcome.before, outcome.after)
        console.print(table)
    if promotion.new_warnings:
        console.print(f"New warnings in the promoted {target.file} (its line numbers):", markup=False)
        for problem in promotion.new_warnings:
            console.print(f"  {problem}", markup=False)
    if promotion.errors:
        console.print(f"Errors in the promoted {target.file} (its line numbers):", markup=False)
        for problem in promotion.errors:
            console.print(f"  {problem}", markup=False)
    counts = {action: sum(p.action is action for p in promotion.routes) for action in Action}
    console.print(
        f"{counts[Action.ADD]} to add, {counts[Action.CHANGE]} to change, {counts[Action.UNCHANGED]} unchanged,"
        f" {counts[Action.BLOCKED]} blocked, {counts[Action.KEEP]} {target.name} only (kept)",
        markup=False,
    )
    if not promotion.changed:
        console.print(f"Nothing to promote: {target.file} already has {source.name}'s routing policy.", markup=False)
    elif promotion.errors:
        console.print(f"The promoted {target.file} would be invalid: it cannot be written.", markup=False)
    else:
        console.print(
            f"The promoted {target.file} is valid. Once it is written (--write), `pulumi preview -s {target.name}`"
            " shows exactly the routes above as changed.",
            markup=False,
        )


def promotion_document(promotion: Promotion) -> dict[str, Any]:
    """`promote --format json` (without --write): the correspondence, the changes, the outcome."""
    source, target = promotion.source, promotion.target
    return {
        "source": source.name,
        "target": target.name,
        "target_file": str(target.file),
        "routes": [
            {
                "source_route": plan.source_route,
                "target_route": plan.target_route,
                "matched_by": plan.matched_by,
                "action": str(plan.action),
                "escalation": plan.escalation,
                "changes": [
                    {"field": change.field, "now": change.before, "after": change.after} for change in plan.changes
                ],
                "blocked_because": list(plan.reasons),
                "notes": list(plan.notes),
            }
            for plan in promotion.routes
        ],
        "declared_alerts": [
            {"alert": outcome.alert, "now": outcome.before, "after": outcome.after} for outcome in promotion.outcomes
        ],
        # Problems as `validate --format json` gives them (the promoted file's line numbers).
        "new_warnings": [dataclasses.asdict(problem) for problem in promotion.new_warnings],
        "errors": [dataclasses.asdict(problem) for problem in promotion.errors],
        "changed": promotion.changed,
        "writable": promotion.changed and not promotion.errors,
    }
