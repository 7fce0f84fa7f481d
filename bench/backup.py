"""Benchmark: `backup` of 10, 100 and 1,000 routes with 20 ms of emulator latency per request.

    python bench/backup.py [--sizes 10,100,1000] [--latency 0.02] [--workers 8]

Starts the emulator itself (127.0.0.1), fills it through the API (without latency), then backs it
up twice: concurrently (`--workers`, under the default 1,100 requests/minute ceiling) and one
request at a time (the baseline: 1 worker). Prints the API calls used against the goal
⌈N/50⌉ + N + 1 (route list pages, route details, the source list) and the wall times as ratios.
Both backups must be byte-identical, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import filecmp
import math
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workload

from components import backup
from components.incidentio import bulk
from components.incidentio.client import IncidentIoClient
from components.incidentio.defaults import DEFAULT_WORKERS
from components.incidentio.emulator import Emulator
from components.incidentio.references import ALERT_ATTRIBUTE, ALERT_SOURCE, ESCALATION_PATH, substitute

API_KEY = "bench-key"


def fill(emulator: Emulator, routes: int) -> None:
    [(key, source)], route_payloads = workload.payloads(1, routes)
    ids = {
        (ESCALATION_PATH, workload.ESCALATION_PATH): emulator.add_escalation_path(workload.ESCALATION_PATH),
        (ALERT_ATTRIBUTE, workload.ATTRIBUTE): emulator.add_alert_attribute(workload.ATTRIBUTE),
    }
    with IncidentIoClient(API_KEY, emulator.base_url) as client:
        ids[(ALERT_SOURCE, key)] = client.create_alert_source(substitute(source, ids))["id"]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda payload: client.create_alert_route(substitute(payload, ids)), route_payloads))


def timed_backup(emulator: Emulator, directory: Path, workers: int) -> tuple[float, int]:
    with bulk.connect(api_key=API_KEY, base_url=emulator.base_url) as client:
        started = time.perf_counter()
        report = backup.backup(client, directory, workers=workers)
        elapsed = time.perf_counter() - started
    report.check()
    return elapsed, report.requests


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.rglob("*.json"))
    if names != sorted(p.relative_to(b) for p in b.rglob("*.json")):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="route counts, comma-separated")
    parser.add_argument("--latency", type=float, default=0.02, help="emulator latency per request, seconds")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    args = parser.parse_args()

    header = (
        f"{'routes':>7} {'calls':>6} {'goal':>6} {'calls/goal':>10} {'wall s':>8} {'baseline s':>10} {'speedup':>8}"
    )
    print(f"backup, {args.latency * 1000:.0f} ms emulator latency, {args.workers} workers vs 1 (baseline)")
    print(header)
    for size in (int(s) for s in args.sizes.split(",")):
        with Emulator(API_KEY) as emulator, tempfile.TemporaryDirectory() as folder:
            fill(emulator, size)
            emulator.latency = args.latency
            wall, calls = timed_backup(emulator, Path(folder) / "concurrent", args.workers)
            baseline, baseline_calls = timed_backup(emulator, Path(folder) / "baseline", 1)
            if calls != baseline_calls or not same_files(Path(folder) / "concurrent", Path(folder) / "baseline"):
                print(f"{size}: the concurrent and baseline backups differ", file=sys.stderr)
                return 1
        goal = math.ceil(size / 50) + size + 1
        print(
            f"{size:>7} {calls:>6} {goal:>6} {calls / goal:>10.2f} {wall:>8.2f} {baseline:>10.2f}"
            f" {baseline / wall:>7.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
