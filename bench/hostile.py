"""Benchmark: what a hostile or broken stack file costs `validate`, as a ratio to a normal one.

    python bench/hostile.py [--repeat 5]

Each file class of tests/support/stack_texts.py (alias bomb, 20 MB file, deep nesting, a 100 kB value,
1.2 million values) is written to a temporary folder and checked in-process with
`validate.check`, as `validate`, `render`, `plan` and the Pulumi program do; the floor is the
committed staging stack checked the same way. Prints the median of each and its ratio to the floor.
Every hostile case must end in one problem with its place (asserted), and cost a bounded time:
the loader stops at its limits (components/stackfile.py) instead of building what they describe.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import validate
from tests.support.stack_texts import HOSTILE, STAGING


def seconds(path: Path, repeat: int) -> tuple[float, int]:
    times, problems = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        _, found = validate.check([path])
        times.append(time.perf_counter() - started)
        problems = len(found)
    return statistics.median(times), problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Pulumi.staging.yaml"
        path.write_text(STAGING)
        floor, problems = seconds(path, args.repeat)
        assert problems == 0
        print(f"{'file':<20} {'bytes':>12} {'median':>10} {'ratio':>8}  first problem")
        print(f"{'committed staging':<20} {len(STAGING):>12,} {floor * 1000:>8.1f}ms {1:>7.1f}x")
        for name, (make, message) in sorted(HOSTILE.items()):
            text = make()
            path.write_text(text)
            took, _ = seconds(path, args.repeat)
            _, found = validate.check([path])
            assert found and message in found[0].message, (name, found[:1])
            print(f"{name:<20} {len(text):>12,} {took * 1000:>8.1f}ms {took / floor:>7.1f}x  {found[0].message[:60]}")


if __name__ == "__main__":
    main()
