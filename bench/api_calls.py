"""Benchmark: incident.io API calls made by the AlertSource / AlertRoute providers.

    python bench/api_calls.py [--sources 5] [--routes 100] [--updates 10]

Starts the emulator on 127.0.0.1, drives the providers in-process (the same code the engine runs
in ``python -m pulumi.dynamic``) and counts the HTTP requests the emulator receives per scenario:

    no-change preview   check + diff of every object        goal 0
    refresh             read of every object                goal N
    update k routes     one changed Slack channel each       goal 2k (GET + PUT)

plus, for context, create / update in a fresh provider process (escalation path and attribute
names are listed once per process: +1 call per listing page) and delete. Exit code 1 if a goal
is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workload
from pulumi.dynamic import Config, ConfigureRequest

from components.incidentio import provider
from components.incidentio.emulator import Emulator
from components.incidentio.references import ALERT_SOURCE, substitute

API_KEY = "inc_bench_0123456789abcdef"
STACK = "bench"


def inputs(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"payload": payload, "stack": STACK, "project": "alerting", "claim_managed": False, **extra}


def fresh_process(emulator: Emulator) -> None:
    """The provider process as the engine starts it: empty caches, then Configure."""
    provider.reset_process()
    config = {provider.CONFIG_API_KEY: API_KEY, provider.CONFIG_API_URL: emulator.base_url}
    provider.AlertRouteProvider().configure(ConfigureRequest(Config(config, "alerting")))


class Table:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.rows: list[tuple[str, int, int, str, bool, float]] = []

    def measure(self, scenario: str, objects: int, goal: int | None, run: Callable[[], None]) -> None:
        self.emulator.reset_log()
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        made = len(self.emulator.requests)
        self.rows.append(
            (scenario, objects, made, "-" if goal is None else str(goal), goal is None or made == goal, elapsed)
        )

    def print(self) -> bool:
        header = ("scenario", "objects", "HTTP calls", "goal", "ok", "wall s")
        lines = [header] + [
            (scenario, str(n), str(made), goal, "yes" if ok else "NO", f"{seconds:.2f}")
            for scenario, n, made, goal, ok, seconds in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for index, line in enumerate(lines):
            first, *rest = zip(line, widths, strict=True)
            print("  ".join([first[0].ljust(first[1])] + [cell.rjust(w) for cell, w in rest]))
            if index == 0:
                print("  ".join("-" * w for w in widths))
        return all(ok for *_, ok, _ in self.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=5)
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args()
    n_sources, n_routes, k = args.sources, args.routes, min(args.updates, args.routes)
    n = n_sources + n_routes

    sources, routes = provider.AlertSourceProvider(), provider.AlertRouteProvider()
    source_payloads, route_payloads = workload.payloads(n_sources, n_routes)
    with Emulator(API_KEY) as emulator:
        emulator.add_alert_attribute(workload.ATTRIBUTE)
        emulator.add_escalation_path(workload.ESCALATION_PATH)
        table = Table(emulator)
        state: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {}  # id -> provider, inputs, outputs

        def create_all() -> None:
            source_ids = {}  # the program's part: a created source's id replaces its placeholder
            for key, payload in source_payloads:
                props = inputs(payload, adopt=None)
                made = sources.create(props)
                state[made.id] = (sources, props, made.outs)
                source_ids[(ALERT_SOURCE, key)] = made.id
            for payload in route_payloads:
                props = inputs(substitute(payload, source_ids))
                made = routes.create(props)
                state[made.id] = (routes, props, made.outs)

        def preview() -> None:
            for id_, (p, props, outs) in state.items():
                checked = p.check(outs, props)
                assert not checked.failures, checked.failures
                assert p.diff(id_, outs, checked.inputs).changes is False

        def refresh() -> None:
            for id_, (p, _, outs) in state.items():
                read = p.read(id_, outs)
                assert read.outs == outs, f"refresh of {id_} shows a diff"

        def update_routes() -> None:
            for id_ in [i for i, (p, _, _) in state.items() if p is routes][:k]:
                _, props, outs = state[id_]
                payload = json.loads(json.dumps(props["payload"]))
                binding = payload["channel_config"][0]["slack_targets"]["binding"]["array_value"][0]
                binding["literal"] = "C0BENCH002" if binding["literal"] == "C0BENCH001" else "C0BENCH001"
                news = inputs(payload)
                assert routes.diff(id_, outs, news).changes is True
                state[id_] = (routes, news, routes.update(id_, outs, news).outs)

        def delete_all() -> None:
            for id_, (p, _, outs) in reversed(list(state.items())):
                p.delete(id_, outs)

        fresh_process(emulator)
        table.measure(f"create {n_sources} sources + {n_routes} routes (fresh process)", n, n + 2, create_all)
        table.measure("no-change preview (check + diff)", n, 0, preview)
        table.measure("refresh (read)", n, n, refresh)
        table.measure(f"update {k} routes", k, 2 * k, update_routes)
        fresh_process(emulator)
        table.measure(f"update {k} routes (fresh process: names listed)", k, 2 * k + 2, update_routes)
        table.measure("delete", n, n, delete_all)
        ok = table.print()
        assert emulator.schema_violations == [], emulator.schema_violations
    provider.reset_process()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
