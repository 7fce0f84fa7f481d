"""The command line: `python -m components <command>`. Each command is a few lines over shared
functions; this is the only place where errors become messages and exit codes."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console

from components import validate
from components.compile import compile_stack
from components.errors import AlertingError, Problem, StackError, UsageError, install_log_scrubber, scrub
from components.model import Stack

# Each command imports what only it uses (the plan tables, stack editing with ruamel.yaml, the JSON
# writer): `validate` runs in pre-commit hooks, where start-up is most of its time.

app = typer.Typer(
    help="Alert routing as code: incident.io sources and routes, their tokens and Alertmanager wiring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (golden files, `| less`) gets a wide, stable width instead of rich's 80 columns.
stdout = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # problems stay one grep-able line

F = TypeVar("F", bound=Callable[..., Any])
STACKS_DIR = Path("stacks")
StacksDir = Annotated[Path, typer.Option("--stacks-dir", help="Folder holding Pulumi.<stack>.yaml files.")]
StackArg = Annotated[str, typer.Argument(help="Stack name (e.g. staging) or path to its stack file.")]


# Exit code of an error this project did not anticipate (BSD's EX_SOFTWARE).
INTERNAL_ERROR = 70
DEBUG_ENV = "ALERTING_DEBUG"


def edge(command: F) -> F:
    """Turn this project's errors into a message on stderr and an exit code, never a traceback.

    Anything else is a bug: one scrubbed line naming it, exit 70, and the traceback only when
    ALERTING_DEBUG=1 asks for it."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        install_log_scrubber()
        try:
            return command(*args, **kwargs)
        except StackError as exc:
            for problem in exc.problems:
                stderr.print(str(problem), markup=False)
            errors = sum(p.severity == "error" for p in exc.problems)
            stderr.print(f"{errors} error(s); nothing was changed.", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except AlertingError as exc:
            stderr.print(f"error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            stderr.print("interrupted", markup=False)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            stderr.print(
                f"internal error: {type(exc).__name__}: {scrub(str(exc))} — a bug in this tool, not in your stack;"
                f" rerun with {DEBUG_ENV}=1 for the traceback",
                markup=False,
            )
            raise typer.Exit(INTERNAL_ERROR) from None

    return wrapper  # type: ignore[return-value]


def stack_path(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise UsageError(f"no stack file at {candidate}")
        return candidate
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(validate.stack_name(p) for p in validate.stack_files(stacks_dir)) or "none"
        raise UsageError(f"no stack {stack!r}: {path} does not exist (stacks in {stacks_dir}: {known})")
    return path


def load(stack: str, stacks_dir: Path = STACKS_DIR) -> Stack:
    """Load and validate one stack (against its siblings); print warnings, raise on errors."""
    [model] = load_all([stack], stacks_dir)
    return model


def load_all(stacks: list[str], stacks_dir: Path = STACKS_DIR) -> list[Stack]:
    """Load several stacks with one check of their folder; print warnings, raise on errors."""
    paths = [stack_path(stack, stacks_dir) for stack in stacks]
    models, warnings = validate.load_stacks(paths)
    for warning in warnings:
        stderr.print(str(warning), markup=False)
    return [models[path] for path in paths]


class Format(StrEnum):
    json = "json"
    yaml = "yaml"


class Report(StrEnum):
    text = "text"
    json = "json"


def problems_document(paths: list[Path], problems: list[Problem]) -> dict[str, Any]:
    """`validate --format json`: the files checked and every problem, as data."""
    return {
        "files": [validate.display_name(p) for p in paths],
        "problems": [dataclasses.asdict(p) for p in problems],
        "errors": sum(p.severity == "error" for p in problems),
        "warnings": sum(p.severity == "warning" for p in problems),
    }


def dump(data: Any, fmt: Format) -> str:
    if fmt is Format.yaml:
        return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=100)
    from components import jsontext

    # Compiled stacks hold text, whole numbers, booleans and null only (tests/test_compile.py).
    return jsontext.pretty(data, floats_possible=False)


@app.command("validate")
@edge
def validate_command(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Stack files to check (default: every stack in --stacks-dir).")
    ] = None,
    stacks_dir: StacksDir = STACKS_DIR,
    details: Annotated[
        bool, typer.Option("--details", help="Coverage warnings in full: every overlapping route, every name.")
    ] = False,
    fmt: Annotated[
        Report,
        typer.Option("--format", "-f", help="text: one line per problem on stderr; json: one document on stdout."),
    ] = Report.text,
) -> None:
    """Check stack files and report every problem as file:line:col: $.path: message."""
    paths = files or validate.stack_files(stacks_dir)
    if not paths:
        raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {stacks_dir}")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(map(str, missing))}")
    _, problems = validate.check(paths, details=details)
    errors = [p for p in problems if p.severity == "error"]
    if fmt is Report.json:  # for CI and editors: the same problems, the same exit code
        from components import jsontext

        sys.stdout.write(jsontext.pretty(problems_document(paths, problems)))
        if errors:
            raise typer.Exit(StackError.exit_code)
        return
    if errors:
        raise StackError(problems)
    for problem in problems:
        stderr.print(str(problem), markup=False)
    stdout.print(f"{len(paths)} stack file(s) valid", markup=False)


@app.command()
@edge
def render(
    stack: StackArg,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.json,
    stacks_dir: StacksDir = STACKS_DIR,
) -> None:
    """Print exactly what `pulumi up` of STACK would send: payloads, manifests, Alertmanager config."""
    sys.stdout.write(dump(compile_stack(load(stack, stacks_dir)), fmt))


@app.command()
@edge
def plan(stack: StackArg, stacks_dir: StacksDir = STACKS_DIR) -> None:
    """Show STACK as tables: routes (the runbook's table), sources and token delivery."""
    from components.plan import print_plan

    print_plan(load(stack, stacks_dir), stdout)


@app.command()
@edge
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8080,
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="INCIDENT_IO_TOKEN", help="Bearer key the sandbox accepts.")
    ] = "sandbox-key",
) -> None:
    """Serve a local incident.io API emulator on 127.0.0.1 until Ctrl-C (starts empty)."""
    from components.incidentio.emulator import run_sandbox

    run_sandbox(port, api_key)


@app.command("route")
@edge
def route_command(
    stack: StackArg,
    source: Annotated[str, typer.Option("--source", help="Key of the source the alert comes from.")],
    label: Annotated[
        list[str] | None, typer.Option("--label", help="A label NAME=VALUE (repeat); leave one out to send it missing.")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="The alert title, for routes that look at it.")] = None,
    payload: Annotated[
        Path | None,
        typer.Option(
            "--payload",
            help="A JSON body exactly as the source receives it (Alertmanager: the webhook group, version 1 or 4;"
            " each alert of it is routed). Replaces --label and --title.",
        ),
    ] = None,
    stacks_dir: StacksDir = STACKS_DIR,
) -> None:
    """Which routes an alert matches, whom it pages, which Slack channels get it; says when it is dropped."""
    from components import simulate

    if payload is not None and (label or title is not None):
        raise UsageError("--payload replaces --label and --title: give one or the other")
    loaded = load(stack, stacks_dir)
    if payload is not None:
        simulations = simulate.simulate_payload(loaded, source, simulate.load_payload(payload))
    else:
        simulations = [simulate.simulate(loaded, simulate.Alert(source, simulate.parse_labels(label or []), title))]
    for simulation in simulations:
        simulate.print_simulation(simulation, stdout)


@app.command("test-routes")
@edge
def test_routes_command(
    stacks: Annotated[
        list[str] | None, typer.Argument(help="Stacks to test (default: every stack; those without tests are listed).")
    ] = None,
    stacks_dir: StacksDir = STACKS_DIR,
) -> None:
    """Run the routing tests in stacks/<stack>.routing-tests.yaml; exit 1 if any case fails."""
    from components import simulate

    names = stacks or [validate.stack_name(p) for p in validate.stack_files(stacks_dir)]
    results = simulate.run_routing_tests(load_all(names, stacks_dir), required=bool(stacks))
    if simulate.print_results(results, stdout):
        raise typer.Exit(1)


@app.command("docs")
@edge
def docs_command(
    output: Annotated[Path, typer.Option("--output", help="The Markdown file to write.")] = Path("docs/routing.md"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the file is stale.")] = False,
    stacks_dir: StacksDir = STACKS_DIR,
) -> None:
    """Generate docs/routing.md: per stack the routes table, declared alerts and a Mermaid diagram."""
    from components import docs
    from components.stackedit import write_atomic

    text = docs.render(load_all([validate.stack_name(p) for p in validate.stack_files(stacks_dir)], stacks_dir))
    if check and docs.stale(output, text):
        stderr.print(f"{output} is stale: run `python -m components docs` and commit it", markup=False)
        raise typer.Exit(1)
    if not check:
        stdout.print(f"{output} {'written' if write_atomic(output, text) else 'already up to date'}", markup=False)


@app.command("promote")
@edge
def promote_command(
    source: Annotated[str, typer.Argument(help="Stack whose routing policy is promoted (e.g. staging).")],
    target: Annotated[str, typer.Argument(help="Stack that receives it (e.g. production).")],
    write: Annotated[bool, typer.Option("--write", help="Apply it to TARGET's stack file (asks first).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --write: do not ask (required without a terminal).")] = False,
    allow_warnings: Annotated[
        bool, typer.Option("--allow-warnings", help="With --write: accept new validation warnings.")
    ] = False,
    stacks_dir: StacksDir = STACKS_DIR,
) -> None:
    """Show what TARGET would gain or change to match SOURCE's routing policy; --write applies it."""
    from components import promote
    from components.stackedit import terminal_confirmation

    promotion = promote.prepare(*load_all([source, target], stacks_dir))
    promote.print_promotion(promotion, stdout)
    confirm = terminal_confirmation(stderr, yes=yes)
    if write and promote.write(promotion, allow_warnings=allow_warnings, confirm=confirm):
        stdout.print(f"wrote {promotion.target.file}; next: pulumi preview -s {promotion.target.name}", markup=False)


BackupDir = Annotated[
    Path, typer.Argument(metavar="DIR", help="Backup folder (alert_routes/ and alert_sources/ inside).")
]
Workers = Annotated[int, typer.Option("--workers", min=1, max=32, help="Requests in flight at once.")]
MaxRate = Annotated[
    int, typer.Option("--max-requests-per-minute", min=1, help="Ceiling for every request, retries included.")
]


@app.command("backup")
@edge
def backup_command(
    directory: BackupDir = Path("backups/incident.io"),
    workers: Workers = 8,
    max_rate: MaxRate = 1100,
) -> None:
    """Save every incident.io alert route and alert source as one JSON file each (tokens redacted)."""
    from components import backup

    with backup.connect(max_rate) as client, backup.progress(stderr) as reporter:
        report = backup.backup(client, directory, workers=workers, reporter=reporter)
    stdout.print(report.summary(), markup=False)
    report.check()


@app.command("restore")
@edge
def restore_command(
    directory: BackupDir = Path("backups/incident.io"),
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (required without a terminal).")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Also delete live objects the backup does not hold.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the differences; change nothing.")] = False,
    workers: Workers = 8,
    max_rate: MaxRate = 1100,
) -> None:
    """Show how incident.io differs from a backup, ask, then make it match (creates; deletes only with --prune)."""
    from components import backup
    from components.stackedit import terminal_confirmation

    with backup.connect(max_rate) as client:
        confirm = terminal_confirmation(stderr, yes=yes)
        report = backup.restore(
            client, directory, prune=prune, dry_run=dry_run, confirm=confirm, out=stdout, err=stderr, workers=workers
        )
    report.check()


@app.command("import")
@edge
def import_command(
    stack: StackArg,
    write: Annotated[bool, typer.Option("--write", help="Merge into the stack file (comments kept).")] = False,
    output: Annotated[Path | None, typer.Option("--output", help="Write the entries to this file, not stdout.")] = None,
    match: Annotated[str | None, typer.Option("--match", help="Only routes whose name matches this regex.")] = None,
    workers: Workers = 8,
    max_rate: MaxRate = 1100,
    stacks_dir: StacksDir = STACKS_DIR,
) -> None:
    """Read the live incident.io organisation as STACK's entries (sources with `adopt` ids, routes)."""
    from components import backup, importer
    from components.stackedit import write_atomic

    with backup.connect(max_rate) as client, backup.progress(stderr) as reporter:
        live = importer.read_live(client, workers=workers, reporter=reporter)
    imported = importer.prepare(live, importer.read_target(stack_path(stack, stacks_dir)), match=match)
    importer.print_import(imported, stderr)
    if write:
        done = importer.write(imported, live)
        stdout.print(f"{imported.target.path} {'written' if done else 'already up to date'}", markup=False)
    if output is not None:
        write_atomic(output, imported.fragment)
    elif not write:
        sys.stdout.write(imported.fragment)
    imported.check()
