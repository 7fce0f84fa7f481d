"""A progress bar for long bulk work (`backup`, `restore`, `import`), on a terminal only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from components.incidentio.bulk import SILENT, Reporter


class _Bar:
    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        self._task = self._bar.add_task(description, total=total)

    def advance(self) -> None:
        if self._task is not None:
            self._bar.advance(self._task)


@contextmanager
def progress(console: Console) -> Iterator[Reporter]:
    """A progress bar on `console` when it is a terminal; silence otherwise (summaries say it all)."""
    if not console.is_terminal:
        yield SILENT
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        yield _Bar(bar)
