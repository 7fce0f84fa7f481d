"""Asking before a destructive step (`promote --write`, `restore`): on the terminal, or not at all."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console
from rich.prompt import Confirm

from components.errors import OperationError


def terminal_confirmation(console: Console, *, yes: bool) -> Callable[[str], bool]:
    """Ask on the terminal; with `yes`, do not ask; with no terminal and no `yes`, refuse."""

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise OperationError("refusing to write without confirmation: no terminal to ask on; pass --yes")
        return Confirm.ask(question, console=console, default=False)

    return confirm
