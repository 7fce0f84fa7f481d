"""Benchmark: the real Pulumi engine (CLI + language host + dynamic providers) against the emulator.

For N routes (default 10, 100, 1000) over one Alertmanager source: wall time and incident.io API
calls of `preview` (everything new), `up`, a no-change `preview` and `refresh --skip-preview`. Run on
demand (needs `pulumi` from .ci/install-pulumi.sh on PATH):

    python bench/engine.py                 # 10, 100 and 1000 routes
    python bench/engine.py --routes 10 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.incidentio.emulator import Emulator
from tests.support.pulumi_cli import PulumiProject, find_pulumi

API_KEY = "bench-engine-key"


def stack_text(routes: int) -> str:
    config = {
        "aws:region": "us-east-1",
        "alerting:environment": "development",
        "alerting:guards": {"awsAccountId": "333333333333", "kubeContext": "bench"},
        "alerting:policy": {"paging": True},
        "alerting:incidentio": {"slackChannels": {"#alerts": "C0BENCHALERTS"}},
        "alerting:sources": {
            "alertmanager": {
                "name": "Alertmanager (Bench)",
                "type": "alertmanager",
                "attributes": {"severity": "$.labels.severity"},
            }
        },
        "alerting:routes": [
            {
                "name": f"Bench Route {i}",
                "sources": {"alertmanager": {"severity": ["critical", f"team-{i}"]}},
                "escalate": ["Engineering On-Call"],
                "slack": ["#alerts"],
            }
            for i in range(routes)
        ],
    }
    return yaml.safe_dump({"config": config}, sort_keys=False)


def measure(pulumi: str, routes: int, env: dict[str, str]) -> list[tuple[str, int, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as folder, Emulator(API_KEY) as emulator:
        emulator.add_alert_attribute("severity")
        emulator.add_escalation_path("Engineering On-Call")
        (Path(folder) / "project").mkdir()
        project = PulumiProject(Path(folder) / "project", pulumi, "bench", env)
        project.init(stack_text(routes), api_key=API_KEY, api_url=emulator.base_url)
        for label, args in (
            ("preview (all new)", ("preview",)),
            ("up", ("up", "--yes")),
            ("preview, no change", ("preview", "--expect-no-changes")),
            ("refresh --skip-preview", ("refresh", "--yes", "--skip-preview")),
        ):
            emulator.reset_log()
            start = time.perf_counter()
            project.run(*args, timeout=3600)
            rows.append((label, len(emulator.requests), time.perf_counter() - start))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument(
        "--skip-checkpoints",
        action="store_true",
        help="PULUMI_SKIP_CHECKPOINTS=true: the state is written once at the end, not after every resource",
    )
    args = parser.parse_args()
    pulumi = find_pulumi()
    if pulumi is None:
        print("pulumi is not on PATH: run .ci/install-pulumi.sh first", file=sys.stderr)
        return 2
    print(f"{'routes':>6}  {'operation':<24} {'API calls':>9}  {'wall s':>7}")
    for routes in args.routes:
        env = {"PULUMI_SKIP_CHECKPOINTS": "true"} if args.skip_checkpoints else {}
        for label, count, seconds in measure(pulumi, routes, env):
            print(f"{routes:>6}  {label:<24} {count:>9}  {seconds:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
