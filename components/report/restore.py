"""`restore` for people: the plan as a table with live -> backup values, then what was done."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from components.incidentio.bulk import Reporter
from components.report.progress import progress
from components.restore import SOURCE, RestorePlan, RestoreReport, Verb


def _value_at(canonical: dict | None, path: str) -> str:
    node: Any = canonical
    for part in [] if path == "$" else path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return "(absent)"
    return json.dumps(node, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def print_restore_plan(
    plan: RestorePlan, directory: Path, base_url: str, console: Console, *, dry_run: bool = False
) -> None:
    """The plan as a table, then live -> backup values of every field an update changes."""
    counts = Counter(step.verb for step in plan.steps)
    console.print(
        f"Restore {directory} -> {base_url}: {counts[Verb.UNCHANGED]} object(s) already match the backup.",
        markup=False,
    )
    shown = [s for s in plan.steps if s.verb is not Verb.UNCHANGED]
    if not shown:
        console.print("Nothing to restore.", markup=False)
        return
    table = Table(title="Restore plan", title_justify="left")
    for column in ("Action", "Kind", "Name", "Id", "What differs"):
        table.add_column(column, overflow="fold")
    for step in shown:
        what = ", ".join(step.changes) or step.reason
        if step.verb is Verb.CREATE:
            what = "missing in incident.io: created with a new id"
            what += " and a new secret token" if step.kind == SOURCE else ""
        elif step.verb is Verb.EXTRA:
            what = "not in the backup: kept (--prune would delete it)"
        elif step.verb is Verb.DELETE:
            what = "not in the backup (--prune)"
        ident = step.live_id or step.backup_id or ""
        table.add_row(*(escape(text) for text in (str(step.verb), step.kind, step.name, ident, what)))
    console.print(table)
    for step in plan.steps:
        if step.verb is not Verb.UPDATE:
            continue
        console.print(f"{step.label}:", markup=False)
        for path in step.changes:
            console.print(f"  {path}", markup=False)
            console.print(f"    incident.io: {_value_at(step.before, path)}", markup=False)
            console.print(f"    backup:      {_value_at(step.after, path)}", markup=False)
    if dry_run and plan.writes:
        console.print(f"Dry run: {len(plan.writes)} change(s) shown, none made.", markup=False)


def print_restore_report(report: RestoreReport, console: Console) -> None:
    console.print(report.summary(), markup=False)
    for line in report.recreated:
        console.print(f"  recreated {line}", markup=False)
    if any(line.startswith(SOURCE) for line in report.recreated):
        console.print(
            "  A recreated alert source has a new id and a new secret token: point its stack's `adopt` at"
            " the new id and run `pulumi up` so the token reaches its senders.",
            markup=False,
        )


class ConsoleView:
    """The restore command's view: plan and report on `out`, progress bars on `err`."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out, self.err = out, err

    def progress(self) -> AbstractContextManager[Reporter]:
        return progress(self.err)

    def plan(self, plan: RestorePlan, directory: Path, base_url: str, *, dry_run: bool) -> None:
        print_restore_plan(plan, directory, base_url, self.out, dry_run=dry_run)

    def report(self, report: RestoreReport) -> None:
        print_restore_report(report, self.out)
