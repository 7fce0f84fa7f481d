"""Restore: make incident.io hold a backup again (docs/backup-restore.md has the user's view).

Plan, show, confirm, apply. Identity is the id, else the (unique) name, so a rerun after an
interruption finds what the first run created; sources come first and routes follow them to their
new ids; every update re-reads the object right before writing it (the route version rule) and
refuses an object that changed since the plan was shown. `plan_restore` is pure; `apply_restore`
writes; showing the plan and the report is the view's (`components.report.restore`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from components.backup import load_backup
from components.errors import AlertingError, OperationError
from components.incidentio.bulk import SILENT, Organisation, Reporter, for_each, read_organisation
from components.incidentio.client import IncidentIoClient
from components.incidentio.defaults import BACKUP_DIRECTORY, DEFAULT_WORKERS
from components.incidentio.normalise import (
    canonical_route,
    canonical_source,
    differences,
    route_payload_from_response,
    source_payload_from_response,
)
from components.incidentio.references import ALERT_SOURCE, PLACEHOLDER, ref, substitute

__all__ = ["RestorePlan", "RestoreReport", "RestoreView", "Step", "Verb", "apply_restore", "plan_restore", "restore"]


class Verb(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"
    EXTRA = "not in backup"  # live only, kept (no --prune)
    BLOCKED = "blocked"


SOURCE, ROUTE = "alert source", "alert route"
_WRITES = (Verb.CREATE, Verb.UPDATE, Verb.DELETE)


@dataclass(frozen=True)
class Step:
    """What restore does to one object. `payload` is payload-shaped; in routes, the ids of sources
    in the backup are ``${alert_source:<backup id>}`` placeholders, filled in when applying."""

    kind: str
    verb: Verb
    name: str
    backup_id: str | None = None
    live_id: str | None = None
    payload: dict | None = None
    before: dict | None = None  # canonical live form when planned
    after: dict | None = None  # canonical target form when planned (placeholders for new sources)
    changes: tuple[str, ...] = ()
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r} ({self.live_id or self.backup_id})"


@dataclass(frozen=True)
class RestorePlan:
    steps: tuple[Step, ...]
    source_ids: dict[str, str]  # backup source id -> live id, for sources that exist live

    @property
    def writes(self) -> list[Step]:
        return [s for s in self.steps if s.verb in _WRITES]

    @property
    def blocked(self) -> list[Step]:
        return [s for s in self.steps if s.verb is Verb.BLOCKED]


def _match(backup_items: Iterable[dict], live_items: Iterable[dict]) -> tuple[dict[str, dict | None], list[dict]]:
    """Backup id -> the live object that is "the same" (same id, else same name), and the live
    objects nothing matched. Several objects with one name pair up in id order."""
    backup_items = sorted(backup_items, key=lambda i: i["id"])
    live_items = sorted(live_items, key=lambda i: i["id"])
    by_id = {item["id"]: item for item in live_items}
    matched: dict[str, dict | None] = {b["id"]: by_id.get(b["id"]) for b in backup_items}
    taken = {m["id"] for m in matched.values() if m is not None}
    free: dict[Any, list[dict]] = {}
    for item in live_items:
        if item["id"] not in taken:
            free.setdefault(item.get("name"), []).append(item)
    for b in backup_items:
        if matched[b["id"]] is None and free.get(b["name"]):
            matched[b["id"]] = live = free[b["name"]].pop(0)
            taken.add(live["id"])
    return matched, [item for item in live_items if item["id"] not in taken]


def _compare(kind: str, name: str, backup_id: str, live: dict, payload: dict, known: dict) -> Step:
    canonical = canonical_source if kind == SOURCE else canonical_route
    before, after = canonical(live), canonical(substitute(payload, known))
    changes = tuple(differences(before, after))
    verb = Verb.UPDATE if changes else Verb.UNCHANGED
    return Step(kind, verb, name, backup_id, live["id"], payload, before, after, changes)


def _route_payload(route: dict, backup_sources: set[str]) -> dict:
    payload = route_payload_from_response(route)
    for entry in payload.get("alert_sources") or []:
        if isinstance(entry, dict) and entry.get("alert_source_id") in backup_sources:
            entry["alert_source_id"] = ref(ALERT_SOURCE, entry["alert_source_id"])
    return payload


def plan_restore(backup_org: Organisation, live: Organisation, *, prune: bool = False) -> RestorePlan:
    """What restore would do to make `live` hold the backup (pure: no I/O)."""
    if prune and not (backup_org.sources or backup_org.routes):
        raise OperationError("refusing --prune with an empty backup: it would delete everything; nothing was changed")
    steps: list[Step] = []
    ids: dict[str, str] = {}
    known: dict[tuple[str, str], str] = {}
    unusable: dict[str, str] = {}  # backup source id -> why routes cannot point at it

    matched, extra = _match(backup_org.sources, live.sources)
    for item in sorted(backup_org.sources, key=lambda i: i["id"]):
        bid, current, payload = item["id"], matched[item["id"]], source_payload_from_response(item)
        if current is None:
            steps.append(Step(SOURCE, Verb.CREATE, item["name"], bid, payload=payload))
        elif current.get("source_type") != item.get("source_type"):
            reason = (
                f"incident.io has a {current.get('source_type')!r} source {current.get('name')!r} ({current['id']}),"
                f" the backup a {item.get('source_type')!r} one; source_type cannot change"
            )
            steps.append(Step(SOURCE, Verb.BLOCKED, item["name"], bid, current["id"], reason=reason))
            unusable[bid] = f"its alert source {item['name']!r} cannot be restored"
        else:
            ids[bid] = current["id"]
            known[(ALERT_SOURCE, bid)] = current["id"]
            steps.append(_compare(SOURCE, item["name"], bid, current, payload, {}))
    used = {
        e.get("alert_source_id") for r in backup_org.routes for e in r.get("alert_sources") or [] if isinstance(e, dict)
    }
    source_steps_extra = [  # never prune a source a backed-up route still uses
        Step(SOURCE, Verb.DELETE if prune and s["id"] not in used else Verb.EXTRA, str(s.get("name")), None, s["id"])
        for s in extra
    ]

    backup_sources = {s["id"] for s in backup_org.sources}
    live_sources = {s["id"] for s in live.sources}
    matched, extra = _match(backup_org.routes, live.routes)
    for item in sorted(backup_org.routes, key=lambda i: i["id"]):
        bid, current = item["id"], matched[item["id"]]
        live_id = current["id"] if current else None
        referenced = [e.get("alert_source_id") for e in item.get("alert_sources") or [] if isinstance(e, dict)]
        reasons = [unusable[i] for i in referenced if i in unusable]
        reasons += [
            f"it uses alert source {i}, which is neither in the backup nor in incident.io"
            for i in referenced
            if i not in backup_sources and i not in live_sources
        ]
        if reasons:
            steps.append(Step(ROUTE, Verb.BLOCKED, item["name"], bid, live_id, reason="; ".join(reasons)))
            continue
        payload = _route_payload(item, backup_sources)
        if current is None:
            steps.append(Step(ROUTE, Verb.CREATE, item["name"], bid, payload=payload))
        else:
            steps.append(_compare(ROUTE, item["name"], bid, current, payload, known))
    # Routes go before sources when deleting: a route may point at a source being deleted.
    steps += [Step(ROUTE, Verb.DELETE if prune else Verb.EXTRA, str(r.get("name")), None, r["id"]) for r in extra]
    steps += source_steps_extra
    return RestorePlan(tuple(steps), ids)


# --- applying it --------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    done: Counter[str] = field(default_factory=Counter)  # verb -> count
    already: int = 0  # found as in the backup when about to write (e.g. an earlier, interrupted run)
    recreated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.done[v]} {v}d" for v in ("create", "update", "delete")]
        return f"restore: {', '.join(parts)}, {self.already} already as in the backup, {len(self.missing)} not restored"

    def check(self) -> None:
        if self.missing:
            raise OperationError(
                f"restore incomplete: {len(self.missing)} object(s) not restored; run restore again once fixed",
                self.missing,
            )


def _apply_update(step: Step, fresh: dict, canonical: Callable[[dict], dict], wanted: dict) -> bool:
    """Whether to write: False if `fresh` already is the target; raises if it changed since planned."""
    current = canonical(fresh)
    if current == wanted:
        return False
    if current != step.before:
        fields = ", ".join(differences(step.before or {}, current)) or "?"
        raise OperationError(f"changed in incident.io since the plan was shown ({fields}); run restore again")
    return True


def _restore_source(client: IncidentIoClient, step: Step) -> tuple[str, str]:
    """Apply one source step; returns (what happened, live id)."""
    assert step.payload is not None
    if step.verb is Verb.CREATE:
        return "create", client.create_alert_source(step.payload)["id"]
    assert step.live_id is not None
    if not _apply_update(step, client.get_alert_source(step.live_id), canonical_source, canonical_source(step.payload)):
        return "already", step.live_id
    client.update_alert_source(step.live_id, step.payload)
    return "update", step.live_id


def _restore_route(client: IncidentIoClient, step: Step, ids: dict[tuple[str, str], str]) -> tuple[str, str]:
    assert step.payload is not None
    payload = substitute(step.payload, ids)
    unresolved = sorted({m["name"] for m in PLACEHOLDER.finditer(json.dumps(payload))})
    if unresolved:
        raise OperationError(f"its alert source(s) {', '.join(unresolved)} were not restored")
    if step.verb is Verb.CREATE:
        return "create", client.create_alert_route(payload)["id"]
    assert step.live_id is not None
    fresh = client.get_alert_route(step.live_id)  # right before the PUT: the version rule
    if not _apply_update(step, fresh, canonical_route, canonical_route(payload)):
        return "already", step.live_id
    client.update_alert_route(step.live_id, {**payload, "version": fresh["version"] + 1})
    return "update", step.live_id


def _delete(client: IncidentIoClient, step: Step) -> tuple[str, str]:
    assert step.live_id is not None
    gone = client.delete_alert_route if step.kind == ROUTE else client.delete_alert_source
    return ("delete" if gone(step.live_id) else "already"), step.live_id


def apply_restore(
    client: IncidentIoClient, plan: RestorePlan, *, workers: int = DEFAULT_WORKERS, reporter: Reporter = SILENT
) -> RestoreReport:
    """Sources (one by one), then routes (concurrently, pointing at the sources' live ids), then
    --prune deletions (routes before sources). A failed object is listed, the rest carries on."""
    report = RestoreReport(missing=[f"{s.label}: {s.reason}" for s in plan.blocked])
    ids = {(ALERT_SOURCE, b): live for b, live in plan.source_ids.items()}
    reporter.start("restoring", len(plan.writes))

    def done(step: Step, outcome: tuple[str, str] | None, error: AlertingError | None) -> None:
        reporter.advance()
        if error is not None or outcome is None:
            report.missing.append(f"{step.label}: {error}")
            return
        what, live_id = outcome
        if what == "already":
            report.already += 1
        else:
            report.done[what] += 1
        if what == "create":
            report.recreated.append(f"{step.kind} {step.name!r}: was {step.backup_id}, now {live_id}")
            if step.kind == SOURCE and step.backup_id:
                ids[(ALERT_SOURCE, step.backup_id)] = live_id

    writes = plan.writes
    sources = [s for s in writes if s.kind == SOURCE and s.verb is not Verb.DELETE]
    routes = [s for s in writes if s.kind == ROUTE and s.verb is not Verb.DELETE]
    for_each(sources, lambda s: _restore_source(client, s), 1, done)
    for_each(routes, lambda s: _restore_route(client, s, ids), workers, done)
    deletes = [s for s in writes if s.verb is Verb.DELETE]
    for_each([s for s in deletes if s.kind == ROUTE], lambda s: _delete(client, s), workers, done)
    for_each([s for s in deletes if s.kind == SOURCE], lambda s: _delete(client, s), 1, done)
    return report


# --- the whole command ---------------------------------------------------------------------------


class RestoreView(Protocol):
    """What `restore` shows on the way (the CLI's: `components.report.restore.ConsoleView`)."""

    def progress(self) -> AbstractContextManager[Reporter]: ...

    def plan(self, plan: RestorePlan, directory: Path, base_url: str, *, dry_run: bool) -> None: ...

    def report(self, report: RestoreReport) -> None: ...


def restore(
    client: IncidentIoClient,
    directory: Path = BACKUP_DIRECTORY,
    *,
    prune: bool = False,
    dry_run: bool = False,
    confirm: Callable[[str], bool],
    view: RestoreView,
    workers: int = DEFAULT_WORKERS,
) -> RestoreReport:
    """Plan, show, confirm, apply: the `restore` command."""
    saved = load_backup(directory)
    with view.progress() as reporter:
        live = read_organisation(client, workers=workers, reporter=reporter)
    plan = plan_restore(saved, live, prune=prune)
    view.plan(plan, directory, client.base_url, dry_run=dry_run)
    report = RestoreReport(missing=[f"{s.label}: {s.reason}" for s in plan.blocked])
    if dry_run or not plan.writes:
        return report
    if not confirm(f"Apply these {len(plan.writes)} change(s) to incident.io?"):
        raise OperationError("not confirmed; nothing was changed")
    with view.progress() as reporter:
        report = apply_restore(client, plan, workers=workers, reporter=reporter)
    view.report(report)
    return report
