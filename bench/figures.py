"""Benchmark: the figures users wait on, each as a ratio to the floor it is measured against.

    python bench/figures.py [--repeat 5] [--only NAME,...]

Measured side by side in one run (medians of interleaved pairs, so a noisy machine moves both
sides alike):

  startup     `validate` of the committed stacks, whole process, vs a Python process that imports
              PyYAML and loads the same files with CSafeLoader                        goal <= 4x
              (with the project's bytecode cached, as Python keeps it: the run compiles it first)
  cold-start  the same where nothing is cached and PYTHONDONTWRITEBYTECODE=1 forbids caching, as
              in many CI images: Python compiles the project on every run          (no goal)
  loader      validate + compile of 10,000 routes in-process vs the bare libyaml event loop over
              the same text                                                             goal <= 2x
  render      `render -f json` of 10,000 routes vs `validate` of the same file, whole processes
                                                                                        goal <= 1.3x
              (its output read through a pipe by this process, as `| jq` would)
  render-file the same with its output going to a file, as `render ... > plan.json`  (no goal)
  linear      validate + compile, 10,000 vs 1,000 routes (linear = 10)                  goal <= 12
  warnings    characters `validate` prints for 4,000 vs 1,000 overlapping routes (linear = 4)
                                                                                        goal <= 4.5
  backup      `backup` of 1,000 routes at 20 ms latency, whole process, vs the runbook's serial
              loop (one request at a time)                                              goal >= 6x
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import yaml  # noqa: E402
from compile import stack_text  # noqa: E402

from components import stackfile, validate  # noqa: E402
from components.compile import compile_stack  # noqa: E402
from tests.support.stack_texts import overlapping_routes  # noqa: E402

PYTHON = sys.executable
GOALS = {
    "startup": (4.0, "<="),
    "loader": (2.0, "<="),
    "render": (1.3, "<="),
    "linear": (12.0, "<="),
    "warnings": (4.5, "<="),
    "backup": (6.0, ">="),
}


def interleaved(a: Callable[[], float], b: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Medians of `a` and `b` measured in alternation."""
    times_a, times_b = [], []
    for _ in range(repeat):
        times_a.append(a())
        times_b.append(b())
    return statistics.median(times_a), statistics.median(times_b)


def process(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, output: Path | None = None
) -> Callable[[], float]:
    """A whole process; its stdout read through a pipe, or written to the file `output`."""

    def run() -> float:
        with open(output, "wb") if output else contextlib.nullcontext(subprocess.PIPE) as stdout:
            started = time.perf_counter()
            done = subprocess.run([PYTHON, *args], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
            elapsed = time.perf_counter() - started
        assert done.returncode in (0, 1), done.stderr[-2000:]
        return elapsed

    return run


def _floor_process() -> Callable[[], float]:
    files = [str(p) for p in validate.stack_files(ROOT / "stacks")]
    return process("-c", f"import yaml\nfor f in {files!r}: yaml.load(open(f), Loader=yaml.CSafeLoader)")


def startup(repeat: int, _: Path) -> tuple[float, float]:
    # Where PYTHONDONTWRITEBYTECODE=1 (this project's machines set it), a fresh checkout would
    # compile components/ on every run: cache it once, as a user's first run does.
    compileall.compile_dir(ROOT / "components", quiet=1)
    return interleaved(process("-m", "components", "validate"), _floor_process(), repeat)


def cold_start(repeat: int, folder: Path) -> tuple[float, float]:
    checkout = folder / "checkout"
    for part in ("components", "stacks"):
        shutil.copytree(ROOT / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return interleaved(process("-m", "components", "validate", cwd=checkout, env=env), _floor_process(), repeat)


def _validate_compile(path: Path) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        stacks, _ = validate.check([path])
        compile_stack(stacks[path])
        return time.perf_counter() - started

    return run


def _event_loop(path: Path) -> Callable[[], float]:
    text = path.read_text()

    def run() -> float:
        started = time.perf_counter()
        for _ in yaml.parse(text, Loader=yaml.CSafeLoader):
            pass
        return time.perf_counter() - started

    return run


def loader(repeat: int, folder: Path) -> tuple[float, float]:
    path = folder / "Pulumi.bench10000.yaml"
    return interleaved(_validate_compile(path), _event_loop(path), repeat)


def _render_vs_validate(repeat: int, folder: Path, output: Path | None) -> tuple[float, float]:
    path = str(folder / "Pulumi.bench10000.yaml")
    return interleaved(
        process("-m", "components", "render", path, "-f", "json", output=output),
        process("-m", "components", "validate", path),
        repeat,
    )


def render(repeat: int, folder: Path) -> tuple[float, float]:
    return _render_vs_validate(repeat, folder, output=None)


def render_file(repeat: int, folder: Path) -> tuple[float, float]:
    return _render_vs_validate(repeat, folder, output=folder / "plan.json")


def linear(repeat: int, folder: Path) -> tuple[float, float]:
    big, small = folder / "Pulumi.bench10000.yaml", folder / "Pulumi.bench1000.yaml"
    return interleaved(_validate_compile(big), _validate_compile(small), repeat)


def warnings(_: int, folder: Path) -> tuple[float, float]:
    sizes = []
    for routes in (4000, 1000):
        path = folder / f"Pulumi.staging-{routes}.yaml"
        path.write_text(overlapping_routes(routes))
        done = subprocess.run(
            [PYTHON, "-m", "components", "validate", str(path)], cwd=ROOT, capture_output=True, text=True, check=False
        )
        sizes.append(float(len(done.stdout) + len(done.stderr)))
    return sizes[0], sizes[1]


def backup_figure(repeat: int, folder: Path) -> tuple[float, float]:
    from backup import fill  # bench/backup.py

    from components.incidentio.emulator import Emulator

    emulator = Emulator("bench-key")
    url = emulator.start()
    try:
        fill(emulator, 1000)
        emulator.latency = 0.02
        env = {**os.environ, "INCIDENT_IO_TOKEN": "bench-key", "INCIDENT_IO_API_URL": url, "PYTHONPATH": str(ROOT)}
        count = [0]

        def run(workers: int) -> Callable[[], float]:
            def go() -> float:
                count[0] += 1
                target = folder / f"backup-{workers}-{count[0]}"
                return process("-m", "components", "backup", str(target), "--workers", str(workers), env=env)()

            return go

        concurrent, serial = interleaved(run(8), run(1), max(1, repeat // 2))
        return serial, concurrent
    finally:
        emulator.stop()


FIGURES = {
    "startup": startup,
    "cold-start": cold_start,
    "loader": loader,
    "render": render,
    "render-file": render_file,
    "linear": linear,
    "warnings": warnings,
    "backup": backup_figure,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=",".join(FIGURES))
    args = parser.parse_args()
    builder = "native (native/alerting_yamlbuild.c)" if stackfile._native else "Python (native/ not built here)"
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; stack-file builder: {builder}")
    print(f"{'figure':<11} {'measured':>12} {'floor':>12} {'ratio':>8} {'goal':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in (1000, 10000):
            (folder / f"Pulumi.bench{size}.yaml").write_text(stack_text(size))
        for name in args.only.split(","):
            measured, floor = FIGURES[name](args.repeat, folder)
            unit = "chars" if name == "warnings" else "s"
            ratio = measured / floor
            target = verdict = "-"  # a figure without a goal (cold-start) is there to be read
            if name in GOALS:
                goal, sense = GOALS[name]
                ok = ratio <= goal if sense == "<=" else ratio >= goal
                target, verdict = f"{sense}{goal}", "ok" if ok else "MISSED"
            print(f"{name:<11} {measured:>10.3f}{unit:>2} {floor:>10.3f}{unit:>2} {ratio:>7.2f}x {target:<7} {verdict}")


if __name__ == "__main__":
    main()
