"""Benchmark: validate + compile generated stacks of 10 to 10,000 routes.

    python bench/compile.py [--sizes 10,100,1000,10000] [--repeat 3]

Prints the best wall time of each size, time per route, and the growth ratio against the previous
size (10x routes should cost ~10x: linear). Goal: 10,000 routes under 1 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import validate
from components.compile import compile_stack

HEADER = """config:
  aws:region: us-east-1
  alerting:environment: production
  alerting:guards: {awsAccountId: "111111111111", kubeContext: bench}
  alerting:policy: {paging: true}
  alerting:incidentio:
    slackChannels: {"#alerts": C0PLACEHOLDERPRD, "#db": C0PLACEHOLDERDB}
  alerting:sources:
"""


def stack_text(routes: int, sources: int = 20) -> str:
    lines = [HEADER]
    for s in range(sources):
        lines.append(
            f"    source-{s}: {{name: Source {s}, type: http,"
            " attributes: {severity: $.metadata.severity, team: $.metadata.team}}\n"
        )
    lines.append("  alerting:routes:\n")
    for r in range(routes):
        lines.append(
            f"    - name: Route {r}\n"
            f"      sources:\n"
            f"        source-{r % sources}: {{severity: [critical, warning], team: team-{r}}}\n"
            f"        source-{(r + 1) % sources}:\n"
            f"          - {{severity: critical}}\n"
            f"          - {{title: {{operation: contains, values: [db]}}}}\n"
            f"      escalate: [Path {r % 7}]\n"
            f"      slack: [\"#alerts\", \"#db\"]\n"
        )
    return "".join(lines)


def measure(path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        stacks, problems = validate.check([path])
        assert not [p for p in problems if p.severity == "error"], problems[:3]
        compile_stack(stacks[path])
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'routes':>8} {'seconds':>9} {'us/route':>9} {'growth':>7}")
    previous: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"Pulumi.bench{size}.yaml"
            path.write_text(stack_text(size))
            seconds = measure(path, args.repeat)
            growth = f"{seconds / previous[1]:.1f}x/{size // previous[0]}x" if previous else "-"
            print(f"{size:>8} {seconds:>9.3f} {seconds / size * 1e6:>9.1f} {growth:>7}")
            previous = (size, seconds)


if __name__ == "__main__":
    main()
