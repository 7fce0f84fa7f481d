"""The command line: `python -m components <command>`. Each command is a few lines over shared
functions; this is the only place where errors become messages and exit codes.

Built on argparse, not typer: `validate` runs in pre-commit hooks, where start-up is most of its
time, and typer (which builds its parameters through pydantic) cost ~0.15 s of a 0.33 s run here;
argparse costs ~0.01 s (bench/figures.py, README "Speed"). For the same reason each command imports
what only it uses: rich (tables, progress bars, prompts), ruamel.yaml (stack editing), the
simulator, the HTTP client.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from components import validate
from components.errors import AlertingError, Problem, StackError, UsageError, install_log_scrubber, scrub
from components.incidentio.defaults import BACKUP_DIRECTORY, DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_WORKERS, MAX_WORKERS

if TYPE_CHECKING:
    from rich.console import Console

    from components.model import Stack

STACKS_DIR = Path("stacks")
# Exit code of an error this project did not anticipate (BSD's EX_SOFTWARE).
INTERNAL_ERROR = 70
DEBUG_ENV = "ALERTING_DEBUG"


# -- output ---------------------------------------------------------------------------------------


def echo(text: str, *, err: bool = False) -> None:
    """One line as it is (no markup, no wrapping): problems stay one grep-able line."""
    (sys.stderr if err else sys.stdout).write(text + "\n")


def console(*, err: bool = False) -> Console:
    """A rich console for the commands that draw tables, progress bars or prompts."""
    from rich.console import Console

    class EdgeConsole(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1 ("invalid", "failed"); run_command says 141
            raise BrokenPipeError

    if err:
        return EdgeConsole(stderr=True, highlight=False, soft_wrap=True)
    # Piped output (golden files, `| less`) gets a wide, stable width instead of rich's 80 columns.
    return EdgeConsole(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def write_json(data: Any) -> None:
    from components import jsontext

    sys.stdout.write(jsontext.pretty(data))


# -- the edge -------------------------------------------------------------------------------------


# `python -m components` leaves through os._exit (__main__.py), which frees nothing; what a command
# built is handed here so that its return does not free it either, object by object (a render of
# 10,000 routes, ~0.03 s). None for in-process callers (tests): their objects are freed as usual.
kept_until_exit: list[object] | None = None


def keep_until_exit(*objects: object) -> None:
    if kept_until_exit is not None:
        kept_until_exit.extend(objects)


BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process the signal ended


def run_command(command: Callable[..., int | None], arguments: dict[str, Any]) -> int:
    """Run one command; turn this project's errors into a message on stderr and an exit code.

    Anything else is a bug: one scrubbed line naming it, exit 70, and the traceback only when
    ALERTING_DEBUG=1 asks for it."""
    install_log_scrubber()
    try:
        return command(**arguments) or 0
    except StackError as exc:
        for problem in exc.problems:
            echo(str(problem), err=True)
        errors = sum(p.severity == "error" for p in exc.problems)
        echo(f"{errors} error(s); nothing was changed.", err=True)
        return exc.exit_code
    except AlertingError as exc:
        echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        return 130
    except BrokenPipeError:  # the reader left early (`| head`): not an error of ours, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the final flush finds no pipe
        return BROKEN_PIPE
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        echo(
            f"internal error: {type(exc).__name__}: {scrub(str(exc))} — a bug in this tool, not in your stack;"
            f" rerun with {DEBUG_ENV}=1 for the traceback",
            err=True,
        )
        return INTERNAL_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = vars(parser.parse_args(argv))
    command = arguments.pop("command", None)
    if command is None:  # no command: the overview, as `--help` gives it
        parser.print_help(sys.stderr)
        return 2
    return run_command(command, arguments)


# -- shared by the commands -----------------------------------------------------------------------


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
    keep_until_exit(models)
    for warning in warnings:
        echo(str(warning), err=True)
    return [models[path] for path in paths]


def problems_document(paths: list[Path], problems: list[Problem]) -> dict[str, Any]:
    """`validate --format json`: the files checked and every problem, as data."""
    return {
        "files": [validate.display_name(p) for p in paths],
        "problems": [dataclasses.asdict(p) for p in problems],
        "errors": sum(p.severity == "error" for p in problems),
        "warnings": sum(p.severity == "warning" for p in problems),
    }


def dump(data: Any, fmt: str) -> bytes:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=100).encode("utf-8")
    from components import jsontext

    # Compiled stacks hold text, whole numbers, booleans and null only (tests/test_compile.py).
    return jsontext.pretty_bytes(data, floats_possible=False)


# By default Linux lets any user raise a pipe to 1 MiB (/proc/sys/fs/pipe-max-size).
WIDE_PIPE = 1 << 20


def widen_pipe(stream: IO[bytes], size: int) -> None:
    """Through a 64 KiB pipe a 40 MB render stops for its reader ~600 times; at 1 MiB the pipe
    costs a quarter less (0.08 s to 0.06 s; `| jq`, the benchmark). A file, a terminal, a stream
    with no descriptor, another OS or a lower limit: nothing to do."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):  # io.UnsupportedOperation is an OSError
        pass


def write_bytes(data: bytes) -> None:
    write_chunks([data])


def write_chunks(chunks: Iterable[bytes]) -> None:
    """UTF-8 output straight to stdout's bytes, as each piece comes (where there is a buffer; a
    test's StringIO has none). Pieces must each be whole UTF-8 (jsontext.pretty_chunks' are)."""
    buffer = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    written = 0
    for data in chunks:
        if buffer is None:
            sys.stdout.write(data.decode("utf-8"))
            continue
        if written <= WIDE_PIPE < written + len(data):
            widen_pipe(buffer, WIDE_PIPE)
        written += len(data)
        view = memoryview(data)
        while view:  # a pipe may take part of it (then the next write says why it stopped)
            view = view[buffer.write(view) :]


# -- the commands ---------------------------------------------------------------------------------


def validate_command(files: list[Path], stacks_dir: Path, details: bool, fmt: str) -> int:
    """Check stack files and report every problem as file:line:col: $.path: message."""
    paths = files or validate.stack_files(stacks_dir)
    if not paths:
        raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {stacks_dir}")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(map(str, missing))}")
    models, problems = validate.check_in_folders(paths, details=details)
    keep_until_exit(models)
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "json":  # for CI and editors: the same problems, the same exit code
        write_json(problems_document(paths, problems))
        return StackError.exit_code if errors else 0
    if errors:
        raise StackError(problems)
    for problem in problems:
        echo(str(problem), err=True)
    echo(f"{len(paths)} stack file(s) valid")
    return 0


def render_command(stack: str, fmt: str, alertmanager_config: bool, stacks_dir: Path) -> None:
    """Print exactly what `pulumi up` of STACK would send: payloads, manifests, Alertmanager config."""
    from components.compile import compile_stack

    loaded = load(stack, stacks_dir)
    if fmt == "json" and not alertmanager_config:
        from components.stackfile import bulk_allocation

        with bulk_allocation():  # each batch dies young, yet collections would cost ~0.05 s
            write_chunks(rendered_json(loaded))
        return
    compiled = compile_stack(loaded)
    keep_until_exit(compiled)
    write_bytes(dump(compiled["alertmanager"]["config"] if alertmanager_config else compiled, fmt))


def rendered_json(stack: Stack) -> Iterator[bytes]:
    """`dump(compile_stack(stack), "json")` in pieces, the routes a batch at a time: a 10,000-route
    render never holds all its payloads (68 MB at its peak, not 170) and takes 0.07 s less (of
    0.3 s over `validate`; bench/figures.py). Only a bug in the compiler could stop it part way,
    with exit 70; a stack with a problem stops before the first byte."""
    from components import jsontext
    from components.compile import ROUTES_AT, compile_frame, compiled_routes

    # Compiled stacks hold text, whole numbers, booleans and null only (tests/test_compile.py).
    return jsontext.pretty_chunks(compile_frame(stack), ROUTES_AT, compiled_routes(stack), floats_possible=False)


def plan_command(stack: str, fmt: str, stacks_dir: Path) -> None:
    """Show STACK as tables: routes (the runbook's table), sources and token delivery."""
    from components.report.plan import plan_document, print_plan

    loaded = load(stack, stacks_dir)
    if fmt == "json":
        write_json(plan_document(loaded))
    else:
        print_plan(loaded, console())


def sandbox_command(port: int, api_key: str) -> None:
    """Serve a local incident.io API emulator on 127.0.0.1 until Ctrl-C (starts empty)."""
    from components.incidentio.emulator import run_sandbox

    run_sandbox(port, api_key)


def route_command(
    stack: str, source: str, label: list[str], title: str | None, payload: Path | None, fmt: str, stacks_dir: Path
) -> None:
    """Which routes an alert matches, whom it pages, which Slack channels get it; says when it is dropped."""
    from components import simulate
    from components.report.routing import print_simulation, simulation_document

    if payload is not None and (label or title is not None):
        raise UsageError("--payload replaces --label and --title: give one or the other")
    loaded = load(stack, stacks_dir)
    if payload is not None:
        simulations = simulate.simulate_payload(loaded, source, simulate.load_payload(payload))
    else:
        simulations = [simulate.simulate(loaded, simulate.Alert(source, simulate.parse_labels(label), title))]
    if fmt == "json":  # one document per alert of the payload, in a list
        write_json([simulation_document(simulation) for simulation in simulations])
        return
    out = console()
    for simulation in simulations:
        print_simulation(simulation, out)


def test_routes_command(stacks: list[str], fmt: str, stacks_dir: Path) -> int:
    """Run the routing tests in stacks/<stack>.routing-tests.yaml; exit 1 if any case fails."""
    from components import simulate
    from components.report.routing import print_results, results_document

    names = stacks or [validate.stack_name(p) for p in validate.stack_files(stacks_dir)]
    results = simulate.run_routing_tests(load_all(names, stacks_dir), required=bool(stacks))
    if fmt == "json":
        document = results_document(results)
        write_json(document)
        return 1 if document["failed"] else 0
    return 1 if print_results(results, console()) else 0


def docs_command(output: Path, check: bool, stacks_dir: Path) -> int:
    """Generate docs/routing.md: per stack the routes table, declared alerts and a Mermaid diagram."""
    from components import docs
    from components.stackedit import write_atomic

    text = docs.render(load_all([validate.stack_name(p) for p in validate.stack_files(stacks_dir)], stacks_dir))
    if check:
        if docs.stale(output, text):
            echo(f"{output} is stale: run `python -m components docs` and commit it", err=True)
            return 1
        return 0
    echo(f"{output} {'written' if write_atomic(output, text) else 'already up to date'}")
    return 0


def promote_command(
    source: str, target: str, write: bool, yes: bool, allow_warnings: bool, fmt: str, stacks_dir: Path
) -> None:
    """Show what TARGET would gain or change to match SOURCE's routing policy; --write applies it."""
    from components import promote
    from components.report.promote import print_promotion, promotion_document
    from components.report.prompt import terminal_confirmation

    if fmt == "json" and write:
        raise UsageError("--format json shows a promotion; --write applies one: give one or the other")
    promotion = promote.prepare(*load_all([source, target], stacks_dir))
    if fmt == "json":
        write_json(promotion_document(promotion))
        return
    print_promotion(promotion, console())
    confirm = terminal_confirmation(console(err=True), yes=yes)
    if write and promote.write(promotion, allow_warnings=allow_warnings, confirm=confirm):
        echo(f"wrote {promotion.target.file}; next: pulumi preview -s {promotion.target.name}")


def backup_command(directory: Path, workers: int, max_rate: int) -> None:
    """Save every incident.io alert route and alert source as one JSON file each (tokens redacted)."""
    from components import backup
    from components.incidentio.bulk import connect
    from components.report.progress import progress

    with connect(max_rate) as client, progress(console(err=True)) as reporter:
        report = backup.backup(client, directory, workers=workers, reporter=reporter)
    echo(report.summary())
    report.check()


def restore_command(directory: Path, yes: bool, prune: bool, dry_run: bool, workers: int, max_rate: int) -> None:
    """Show how incident.io differs from a backup, ask, then make it match (creates; deletes only with --prune)."""
    from components import restore
    from components.incidentio.bulk import connect
    from components.report.prompt import terminal_confirmation
    from components.report.restore import ConsoleView

    err = console(err=True)
    with connect(max_rate) as client:
        confirm = terminal_confirmation(err, yes=yes)
        view = ConsoleView(console(), err)
        report = restore.restore(
            client, directory, prune=prune, dry_run=dry_run, confirm=confirm, view=view, workers=workers
        )
    report.check()


def import_command(
    stack: str, write: bool, output: Path | None, match: str | None, workers: int, max_rate: int, stacks_dir: Path
) -> None:
    """Read the live incident.io organisation as STACK's entries (sources with `adopt` ids, routes)."""
    from components import importer
    from components.incidentio.bulk import connect
    from components.report.importer import print_import
    from components.report.progress import progress
    from components.stackedit import write_atomic

    err = console(err=True)
    with connect(max_rate) as client, progress(err) as reporter:
        live = importer.read_live(client, workers=workers, reporter=reporter)
    imported = importer.prepare(live, importer.read_target(stack_path(stack, stacks_dir)), match=match)
    print_import(imported, err)
    if write:
        done = importer.write(imported, live)
        echo(f"{imported.target.path} {'written' if done else 'already up to date'}")
    if output is not None:
        write_atomic(output, imported.fragment)
    elif not write:
        sys.stdout.write(imported.fragment)
    imported.check()


# -- the parser -----------------------------------------------------------------------------------


def _bounded(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}" if high else f"{value} is below {low}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def _stack(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name (e.g. staging) or path to its stack file")


def _stacks_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stacks-dir", type=Path, default=STACKS_DIR, help="folder holding Pulumi.<stack>.yaml files (default: stacks)"
    )


def _bulk(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        metavar="N",
        type=_bounded(1, MAX_WORKERS),
        default=DEFAULT_WORKERS,
        help=f"requests in flight at once (1-{MAX_WORKERS}, default: {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--max-requests-per-minute",
        dest="max_rate",
        metavar="N",
        type=_bounded(1),
        default=DEFAULT_REQUESTS_PER_MINUTE,
        help=f"ceiling for every request, retries included (default: {DEFAULT_REQUESTS_PER_MINUTE})",
    )


def _report_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        "-f",
        dest="fmt",
        choices=("text", "json"),
        default="text",
        help="text: for people; json: one document on stdout, for CI and editors (default: text)",
    )


def _backup_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        metavar="DIR",
        type=Path,
        nargs="?",
        default=BACKUP_DIRECTORY,
        help=f"backup folder, alert_routes/ and alert_sources/ inside (default: {BACKUP_DIRECTORY})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m components",
        description="Alert routing as code: incident.io sources and routes, their tokens and Alertmanager wiring.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, function: Callable[..., int | None]) -> argparse.ArgumentParser:
        summary = (function.__doc__ or "").strip()
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(command=function)
        return sub

    sub = command("validate", validate_command)
    sub.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="stack files to check (default: every stack in --stacks-dir)",
    )
    _stacks_dir(sub)
    sub.add_argument(
        "--details", action="store_true", help="coverage warnings in full: every overlapping route, every name"
    )
    sub.add_argument(
        "--format",
        "-f",
        dest="fmt",
        choices=("text", "json"),
        default="text",
        help="text: one line per problem on stderr; json: one document on stdout (default: text)",
    )

    sub = command("render", render_command)
    _stack(sub)
    sub.add_argument("--format", "-f", dest="fmt", choices=("json", "yaml"), default="json", help="(default: json)")
    sub.add_argument(
        "--alertmanager-config",
        action="store_true",
        help="only the Alertmanager configuration the stack needs, whole (route, Watchdog sub-routes,"
        " receivers): what `amtool check-config` checks",
    )
    _stacks_dir(sub)

    sub = command("plan", plan_command)
    _stack(sub)
    _report_format(sub)
    _stacks_dir(sub)

    sub = command("sandbox", sandbox_command)
    sub.add_argument(
        "--port", type=_bounded(0, 65535), default=8080, help="port on 127.0.0.1, 0 picks a free one (default: 8080)"
    )
    sub.add_argument(
        "--api-key",
        default=os.environ.get("INCIDENT_IO_TOKEN", "sandbox-key"),
        help="bearer key the sandbox accepts (default: $INCIDENT_IO_TOKEN, else sandbox-key)",
    )

    sub = command("route", route_command)
    _stack(sub)
    sub.add_argument("--source", required=True, help="key of the source the alert comes from")
    sub.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a label (repeat); leave one out to send it missing",
    )
    sub.add_argument("--title", help="the alert title, for routes that look at it")
    sub.add_argument(
        "--payload",
        type=Path,
        metavar="FILE",
        help="a JSON body exactly as the source receives it (Alertmanager: the webhook group, version 1 or 4;"
        " each alert of it is routed); replaces --label and --title",
    )
    _report_format(sub)
    _stacks_dir(sub)

    sub = command("test-routes", test_routes_command)
    sub.add_argument(
        "stacks",
        nargs="*",
        metavar="STACK",
        help="stacks to test (default: every stack; those without tests are listed)",
    )
    _report_format(sub)
    _stacks_dir(sub)

    sub = command("docs", docs_command)
    sub.add_argument(
        "--output",
        type=Path,
        default=Path("docs/routing.md"),
        help="the Markdown file to write (default: docs/routing.md)",
    )
    sub.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is stale")
    _stacks_dir(sub)

    sub = command("promote", promote_command)
    sub.add_argument("source", help="stack whose routing policy is promoted (e.g. staging)")
    sub.add_argument("target", help="stack that receives it (e.g. production)")
    sub.add_argument("--write", action="store_true", help="apply it to TARGET's stack file (asks first)")
    sub.add_argument("--yes", action="store_true", help="with --write: do not ask (required without a terminal)")
    sub.add_argument("--allow-warnings", action="store_true", help="with --write: accept new validation warnings")
    _report_format(sub)
    _stacks_dir(sub)

    sub = command("backup", backup_command)
    _backup_dir(sub)
    _bulk(sub)

    sub = command("restore", restore_command)
    _backup_dir(sub)
    sub.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    sub.add_argument("--prune", action="store_true", help="also delete live objects the backup does not hold")
    sub.add_argument("--dry-run", action="store_true", help="show the differences; change nothing")
    _bulk(sub)

    sub = command("import", import_command)
    _stack(sub)
    sub.add_argument("--write", action="store_true", help="merge into the stack file (comments kept)")
    sub.add_argument("--output", type=Path, help="write the entries to this file, not stdout")
    sub.add_argument("--match", help="only routes whose name matches this regex")
    _bulk(sub)
    _stacks_dir(sub)
    return parser
