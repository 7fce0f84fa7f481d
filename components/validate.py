"""Stage 3: check parsed stack files and build their typed models, collecting every problem.

The checks, one module each: structure against the JSON Schema (`components.structure`), what the
values mean within one stack (`components.meaning`), what the stacks of one folder must never share
(`components.guards`), and the declared alerts no route takes (`components.coverage`); then the
models (`components.build`). Every problem is `file:line:col: $.path: message`. This module holds
the entry points: from paths, from documents (pure), from would-be text. No network, no Pulumi.
"""

from __future__ import annotations

import re
from pathlib import Path

from components import model, stackfile, structure
from components.build import build_model
from components.errors import Problem, StackError
from components.guards import adoption_problems, guard_problems
from components.meaning import seconds, semantic_problems
from components.schemas import source_types
from components.stackfile import Document

__all__ = [
    "check",
    "check_documents",
    "check_in_folders",
    "check_text",
    "display_name",
    "known_source_types",
    "load_stack",
    "load_stacks",
    "seconds",
    "stack_files",
    "stack_name",
]

STACK_FILE = re.compile(r"^Pulumi\.(?P<name>[A-Za-z0-9_.-]+)\.ya?ml$")


def stack_name(path: Path) -> str:
    match = STACK_FILE.match(path.name)
    return match["name"] if match else path.stem


# -- entry points ---------------------------------------------------------------------------------


def display_name(path: Path) -> str:
    """How problems name a file: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def known_source_types() -> frozenset[str]:
    return frozenset(source_types())


def check(
    paths: list[Path], *, details: bool = False, siblings: tuple[Path, ...] = ()
) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Read stack files and check them together (`check_documents`)."""
    docs = {path: stackfile.load(path, display_name(path)) for path in [*paths, *siblings]}
    return check_documents(docs, details=details, siblings=frozenset(siblings))


def check_documents(
    docs: dict[Path, Document], *, details: bool = False, siblings: frozenset[Path] = frozenset()
) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Check parsed stack files together; return the models of the valid ones and every problem.

    Pure: no file is read (a path only names its stack and its model's file). `details`: coverage
    warnings in full (every overlapping route), not summarised. `siblings`: documents there only
    for what stacks must never share (adoption, guards); their own problems are not wanted, so
    their own checks, models and coverage are not run (a one-stack command beside a large
    production stack would otherwise check all of it to print none of it)."""
    with stackfile.bulk_allocation():
        return _check(docs, details, siblings)


def _check(
    docs: dict[Path, Document], details: bool, siblings: frozenset[Path]
) -> tuple[dict[Path, model.Stack], list[Problem]]:
    problems: list[Problem] = []
    types = known_source_types()
    for path, doc in docs.items():
        # A document that did not parse has nothing more to check; a sibling, only what is shared.
        if not doc.problems and path not in siblings:
            problems += structure.STACK.problems(doc)
            problems += semantic_problems(doc, types)
        problems += doc.problems
    parsed = {path: doc for path, doc in docs.items() if doc.data is not None}
    problems += adoption_problems(list(parsed.values()))
    problems += guard_problems({stack_name(path): doc for path, doc in parsed.items()})
    failed = {p.file for p in problems if p.severity == "error"}
    stacks = {
        path: build_model(doc, stack_name(path), path)
        for path, doc in docs.items()
        if doc.file not in failed and path not in siblings
    }
    # The one arrow from validation to a later stage (coverage runs the simulator, which compiles):
    # imported here, so loading a stack file does not load the simulator. No cycle: it never
    # imports this module.
    from components.coverage import coverage_problems

    for path, stack in stacks.items():  # declared alerts (`emits`) no route or several routes take
        problems += coverage_problems(stack, docs[path], details=details)
    return stacks, sorted(problems)


def check_text(text: str, path: Path, *, siblings: bool = True) -> tuple[list[Problem], model.Stack | None]:
    """Check `text` as the stack file `path` would hold it (with the stacks beside `path`, unless
    `siblings` is False), touching no file: `path`'s problems and, if it is valid, its model."""
    doc = stackfile.parse(text, stackfile.Document(file=display_name(path)))
    others = [p for p in stack_files(path.parent) if p.resolve() != path.resolve()] if siblings else []
    docs = {path: doc, **{p: stackfile.load(p, display_name(p)) for p in others}}
    stacks, problems = check_documents(docs, siblings=frozenset(others))
    return [p for p in problems if p.file == doc.file], stacks.get(path)


def stack_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("Pulumi.*.y*ml") if STACK_FILE.match(p.name))


def check_in_folders(paths: list[Path], *, details: bool = False) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Check `paths` together with the other stacks of their folders, in one pass (the guards between
    environments need the siblings); return the models of the valid ones among `paths` and their
    problems only. `validate FILE` and every command that loads a stack check alike."""
    wanted = {p.resolve() for p in paths}
    folders = {p.resolve().parent for p in paths}
    siblings = tuple(s for folder in folders for s in stack_files(folder) if s.resolve() not in wanted)
    stacks, problems = check(paths, details=details, siblings=siblings)
    mine = {display_name(p) for p in paths}
    return {path: stacks[path] for path in paths if path in stacks}, [p for p in problems if p.file in mine]


def load_stacks(paths: list[Path]) -> tuple[dict[Path, model.Stack], list[Problem]]:
    """Load several stacks of one folder with one check of the folder (not one per stack);
    raise StackError with every problem of theirs if any has an error. Returns models and warnings."""
    stacks, problems = check_in_folders(paths)
    if any(p.severity == "error" for p in problems) or len(stacks) < len(paths):
        raise StackError(problems)
    return stacks, problems


def load_stack(path: Path) -> tuple[model.Stack, list[Problem]]:
    """Load one stack, checked against its sibling stacks; raise StackError on any error.

    Returns the model and the warnings.
    """
    stacks, warnings = load_stacks([path])
    return stacks[path], warnings
