"""Fixtures for the program tests: committed stacks run once, and edited copies of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.program.harness import COMMITTED_STACKS, ROOT, ProgramRun, run_program


@pytest.fixture(scope="session")
def committed_runs() -> dict[str, ProgramRun]:
    """The program run once for every committed stack (stacks/Pulumi.<stack>.yaml)."""
    return {stack: run_program(stack) for stack in COMMITTED_STACKS}


@pytest.fixture
def stack_variant(tmp_path: Path) -> Callable[..., Path]:
    """A project directory whose stacks/ holds a copy of a committed stack, edited by `change`.

    ``stack_variant("staging", lambda config: ...)`` returns the directory to pass as
    `run_program(..., project_dir=...)`; `change` edits the stack's `config` mapping in place.
    """

    def make(stack: str, change: Callable[[dict[str, Any]], None]) -> Path:
        stacks = tmp_path / "stacks"
        stacks.mkdir(exist_ok=True)
        document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        change(document["config"])
        (stacks / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        return tmp_path

    return make
