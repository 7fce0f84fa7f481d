"""`import` for people: what was imported as which stack-file entry, what was skipped or warned about."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from components.importer import Imported


def print_import(imported: Imported, console: Console) -> None:
    """What was imported (as which entry), skipped and warned about; refusals come as the error."""
    table = Table(title=f"incident.io -> {imported.target.path}", title_justify="left")
    for column in ("Kind", "Name", "Id", "Entry"):
        table.add_column(column, overflow="fold")
    for key, entry in imported.sources.items():
        table.add_row("alert source", escape(entry["name"]), imported.source_ids[key], f"sources.{escape(key)}")
    for entry in imported.routes:
        table.add_row("alert route", escape(entry["name"]), imported.route_ids[entry["name"]], "routes")
    if imported.sources or imported.routes:
        console.print(table)
    else:
        console.print(f"nothing to import into {imported.target.path}", markup=False)
    for line in imported.skipped:
        console.print(f"skipped {line}", markup=False)
    for line in imported.warnings:
        console.print(f"warning: {line}", markup=False)
