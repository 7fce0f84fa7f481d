"""Backup and restore of an incident.io organisation's alert routes and alert sources.

Replaces the runbook's ``contrib/backup-incident-io.sh`` / ``restore-incident-io.sh``
(docs/backup-restore.md has the user's view).

- **Reading** (`read_organisation`, shared with the importer): one list of sources, the paged slim
  list of routes, then the detail of every route (only the detail is complete), fetched by a
  bounded thread pool. Every HTTP request, retries included, first takes a slot from one
  `RateLimiter` (a sliding 60-second window), so a run stays under the API's 1,200 requests/minute
  whatever the concurrency.
- **Backup files**: ``alert_sources/<slug>--<id>.json`` and ``alert_routes/<slug>--<id>.json``, the
  object as the API returns it minus its bookkeeping (``version``, ``created_at``, ``updated_at``),
  ``secret_token`` replaced by ``"[redacted]"``; sorted keys, two-space indent, trailing newline;
  written atomically and only when the bytes change. Files of objects that no longer exist (or were
  renamed) are removed, but only files whose name *and* content say this tool wrote them.
- **Restore** is plan, show, confirm, apply. Identity is the id, else the (unique) name, so a
  rerun after an interruption finds what the first run created; sources come first and routes
  follow them to their new ids; every update re-reads the object right before writing it (the
  route version rule) and refuses an object that changed since the plan was shown.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from components import jsontext
from components.errors import REDACTED, AlertingError, NotFoundError, OperationError, UsageError
from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.defaults import BACKUP_DIRECTORY, DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_WORKERS
from components.incidentio.normalise import (
    canonical_route,
    canonical_source,
    differences,
    route_payload_from_response,
    source_payload_from_response,
)
from components.incidentio.references import ALERT_SOURCE, PLACEHOLDER, ref, substitute
from components.stackedit import write_atomic

__all__ = [
    "BackupReport",
    "Organisation",
    "RateLimiter",
    "RestorePlan",
    "RestoreReport",
    "apply_restore",
    "backup",
    "connect",
    "load_backup",
    "plan_restore",
    "progress",
    "read_organisation",
    "restore",
]

SOURCES_DIR = "alert_sources"
ROUTES_DIR = "alert_routes"
WINDOW_SECONDS = 60.0

# Bookkeeping that changes with every edit without being configuration: keeping it would make a
# backup churn (and `version` is re-read right before every write anyway).
_BOOKKEEPING = ("version", "created_at", "updated_at")
# Credentials, or as good as: the source token, and the addresses that raise alerts by themselves
# (an email source's inbox, a heartbeat's ping URL). All are server-owned, so restore needs none.
_SECRETS = (("secret_token",), ("email_options", "email_address"), ("heartbeat_options", "ping_url"))
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_OUR_FILE = re.compile(r"^(?P<slug>[a-z0-9-]+)--(?P<id>[A-Za-z0-9]{1,64})\.json$")
_TEMPORARY = re.compile(r"^\..+\.tmp$")

T = TypeVar("T")
R = TypeVar("R")


# --- rate limiting -----------------------------------------------------------------------------


class RateLimiter:
    """At most `per_minute` acquisitions in any 60-second window, across threads.

    A sliding log rather than a refilling bucket: a bucket sized to the limit allows twice the
    limit in a minute (a full bucket, then its refill), and one refilling at limit/60 per second
    throttles even a run that would fit in the budget.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise UsageError(f"the request rate must be at least 1 per minute, not {per_minute}")
        self.per_minute = per_minute
        self.waited = 0.0  # seconds spent waiting for a slot, summed over threads
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                delay = self._sent[0] + WINDOW_SECONDS - now
                self.waited += delay
            self._sleep(delay)


def connect(
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> IncidentIoClient:
    """A client (``INCIDENT_IO_TOKEN`` / ``INCIDENT_IO_API_URL`` unless given) whose every request,
    retries included, stays within `requests_per_minute`."""
    limiter = RateLimiter(requests_per_minute, clock=clock, sleep=sleep)
    return IncidentIoClient(api_key, base_url, retry=retry, sleep=sleep, throttle=limiter.acquire)


# --- progress ----------------------------------------------------------------------------------


class Reporter(Protocol):
    def start(self, description: str, total: int) -> None: ...

    def advance(self) -> None: ...


class _Silent:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self) -> None:
        pass


SILENT: Reporter = _Silent()


class _Bar:
    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        self._task = self._bar.add_task(description, total=total)

    def advance(self) -> None:
        if self._task is not None:
            self._bar.advance(self._task)


@contextmanager
def progress(console: Console) -> Iterator[Reporter]:
    """A progress bar on `console` when it is a terminal; silence otherwise (summaries say it all)."""
    if not console.is_terminal:
        yield SILENT
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        yield _Bar(bar)


def _for_each(
    items: Iterable[T],
    work: Callable[[T], R],
    workers: int,
    done: Callable[[T, R | None, AlertingError | None], None],
) -> None:
    """Run `work` on a bounded thread pool; `done` sees each outcome, in this thread, as it comes.

    Only this project's errors are outcomes; anything else (a bug) stops the run. On the way out
    (Ctrl-C included) queued work is cancelled; requests in flight finish or time out.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="incident-io")
    try:
        futures = {pool.submit(work, item): item for item in items}
        for future in as_completed(futures):
            try:
                result = future.result()
            except AlertingError as error:
                done(futures[future], None, error)
            else:
                done(futures[future], result, None)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# --- reading the organisation ------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    """Alert sources and complete alert routes, response-shaped (live) or as backed up."""

    sources: tuple[dict, ...] = ()
    routes: tuple[dict, ...] = ()


def _label(kind: str, item: dict) -> str:
    return f"{kind} {item.get('name')!r} ({item.get('id')})"


def fetch_routes(
    client: IncidentIoClient,
    slim: list[dict],
    *,
    workers: int,
    reporter: Reporter,
    on_route: Callable[[dict], None],
) -> list[tuple[dict, str]]:
    """GET the detail of every listed route concurrently; `on_route` gets each one as it arrives.

    Returns the listed routes that could not be read (or handled), with why. A route deleted
    since it was listed is skipped: it is gone, not missing."""
    failures: list[tuple[dict, str]] = []

    def done(item: dict, route: dict | None, error: AlertingError | None) -> None:
        reporter.advance()
        if isinstance(error, NotFoundError):
            return
        try:
            if error is not None:
                raise error
            on_route(route or {})
        except AlertingError as exc:
            failures.append((item, f"{_label('alert route', item)}: {exc}"))

    _for_each(slim, lambda item: client.get_alert_route(item["id"]), workers, done)
    return sorted(failures, key=lambda failure: failure[1])


def read_organisation(
    client: IncidentIoClient, *, workers: int = DEFAULT_WORKERS, reporter: Reporter = SILENT
) -> Organisation:
    """Every alert source and every alert route's detail; OperationError if any could not be read."""
    sources = client.list_alert_sources()
    slim = client.list_alert_routes()
    reporter.start("reading incident.io", len(slim))
    routes: dict[str, dict] = {}
    failures = fetch_routes(
        client, slim, workers=workers, reporter=reporter, on_route=lambda r: routes.__setitem__(r["id"], r)
    )
    if failures:
        raise OperationError("could not read the whole organisation; nothing was changed", [m for _, m in failures])
    return Organisation(tuple(sources), tuple(routes[s["id"]] for s in slim if s["id"] in routes))


# --- backup files ------------------------------------------------------------------------------


def slug(name: Any) -> str:
    """A readable, file-name-safe form of a name: ASCII lowercase words joined by dashes."""
    text = unicodedata.normalize("NFKD", str(name or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "unnamed"


def backup_record(item: dict) -> dict:
    """What a backup file holds: the object minus bookkeeping, with its secrets redacted."""
    record = copy.deepcopy({k: v for k, v in item.items() if k not in _BOOKKEEPING})
    for *parents, key in _SECRETS:
        node: Any = record
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            node[key] = REDACTED
    return record


def record_text(record: dict) -> str:
    return jsontext.pretty(record)


def file_name(item: dict) -> str:
    object_id = item.get("id")
    if not isinstance(object_id, str) or not _ID.match(object_id):
        raise OperationError(f"unexpected id {object_id!r}: not written")
    return f"{slug(item.get('name'))}--{object_id}.json"


def _written_by_us(path: Path) -> bool:
    """A file whose name and content both say `backup` wrote it (never touch anything else)."""
    match = _OUR_FILE.match(path.name)
    if not match or not path.is_file():
        return False
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and content.get("id") == match["id"]


@dataclass
class BackupReport:
    directory: Path
    sources: int = 0
    routes: int = 0
    written: int = 0
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    requests: int = 0

    def summary(self) -> str:
        return (
            f"backed up {self.routes} alert route(s) and {self.sources} alert source(s) to {self.directory}:"
            f" {self.written} written, {self.unchanged} unchanged, {len(self.removed)} removed"
            f" ({self.requests} API requests)"
        )

    def check(self) -> None:
        if self.missing:
            raise OperationError(
                f"backup incomplete: {len(self.missing)} object(s) not backed up"
                " (everything else was written; a previous copy of these, if any, was kept)",
                self.missing,
            )


def backup(
    client: IncidentIoClient,
    directory: Path = BACKUP_DIRECTORY,
    *,
    workers: int = DEFAULT_WORKERS,
    reporter: Reporter = SILENT,
) -> BackupReport:
    """Write every alert source and alert route under `directory`; see the module docstring.

    Listing failures raise before anything is written; a route whose detail cannot be read (or
    written) is listed in `BackupReport.missing`, and its previous file, if any, is kept."""
    report = BackupReport(directory)
    before = client.request_count
    sources = client.list_alert_sources()
    slim = client.list_alert_routes()
    folders = {SOURCES_DIR: directory / SOURCES_DIR, ROUTES_DIR: directory / ROUTES_DIR}
    try:
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationError(f"cannot create {directory}: {exc.strerror or exc}; nothing was written") from None
    expected: dict[str, set[str]] = {name: set() for name in folders}
    failed: dict[str, set[str]] = {name: set() for name in folders}  # ids whose old file is kept

    def save(folder: str, item: dict) -> None:
        name = file_name(item)
        expected[folder].add(name)
        changed = write_atomic(folders[folder] / name, record_text(backup_record(item)))
        report.written += changed
        report.unchanged += not changed

    reporter.start("backing up", len(sources) + len(slim))
    for source in sources:
        try:
            save(SOURCES_DIR, source)
            report.sources += 1
        except AlertingError as exc:
            failed[SOURCES_DIR].add(str(source.get("id")))
            report.missing.append(f"{_label('alert source', source)}: {exc}")
        reporter.advance()

    def save_route(route: dict) -> None:
        save(ROUTES_DIR, route)
        report.routes += 1

    for item, message in fetch_routes(client, slim, workers=workers, reporter=reporter, on_route=save_route):
        failed[ROUTES_DIR].add(str(item.get("id")))
        report.missing.append(message)
    for folder, path in folders.items():
        for file in sorted(path.iterdir()):
            match = _OUR_FILE.match(file.name)
            if _TEMPORARY.match(file.name) and file.is_file():
                file.unlink(missing_ok=True)  # left behind by an interrupted run
            elif (
                match
                and file.name not in expected[folder]
                and match["id"] not in failed[folder]
                and _written_by_us(file)
            ):
                file.unlink(missing_ok=True)
                report.removed.append(f"{folder}/{file.name}")
    report.requests = client.request_count - before
    return report


# --- restore: reading a backup -----------------------------------------------------------------


def load_backup(directory: Path) -> Organisation:
    """The objects of a backup folder (any ``*.json`` in its two subfolders), checked."""
    folders = [directory / SOURCES_DIR, directory / ROUTES_DIR]
    if not any(folder.is_dir() for folder in folders):
        raise UsageError(f"no backup in {directory}: expected {SOURCES_DIR}/ and {ROUTES_DIR}/ (made by `backup`)")
    problems: list[str] = []
    loaded: list[list[dict]] = []
    for folder in folders:
        items: list[dict] = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if path.name.startswith("."):
                continue
            try:
                item = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: unreadable ({exc})")
                continue
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("id", "name")):
                problems.append(f"{path}: not an incident.io object with an id and a name")
                continue
            items.append(item)
        duplicated = [i for i, n in Counter(item["id"] for item in items).items() if n > 1]
        problems += [f"{folder}: id {i} appears in several files" for i in duplicated]
        loaded.append(sorted(items, key=lambda item: item["id"]))
    if problems:
        raise OperationError(f"the backup in {directory} is damaged; nothing was changed", problems)
    return Organisation(tuple(loaded[0]), tuple(loaded[1]))


# --- restore: the plan -------------------------------------------------------------------------


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


# --- restore: showing the plan -----------------------------------------------------------------


def _value_at(canonical: dict | None, path: str) -> str:
    node: Any = canonical
    for part in [] if path == "$" else path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return "(absent)"
    return json.dumps(node, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def print_restore_plan(plan: RestorePlan, directory: Path, base_url: str, console: Console) -> None:
    """The plan as a table, then live -> backup values of every field an update changes."""
    counts = Counter(step.verb for step in plan.steps)
    console.print(
        f"Restore {directory} -> {base_url}: {counts[Verb.UNCHANGED]} object(s) already match the backup.",
        markup=False,
    )
    shown = [s for s in plan.steps if s.verb is not Verb.UNCHANGED]
    if not shown:
        console.print("Nothing to restore.", markup=False)
        return
    table = Table(title="Restore plan", title_justify="left")
    for column in ("Action", "Kind", "Name", "Id", "What differs"):
        table.add_column(column, overflow="fold")
    for step in shown:
        what = ", ".join(step.changes) or step.reason
        if step.verb is Verb.CREATE:
            what = "missing in incident.io: created with a new id"
            what += " and a new secret token" if step.kind == SOURCE else ""
        elif step.verb is Verb.EXTRA:
            what = "not in the backup: kept (--prune would delete it)"
        elif step.verb is Verb.DELETE:
            what = "not in the backup (--prune)"
        ident = step.live_id or step.backup_id or ""
        table.add_row(*(escape(text) for text in (str(step.verb), step.kind, step.name, ident, what)))
    console.print(table)
    for step in plan.steps:
        if step.verb is not Verb.UPDATE:
            continue
        console.print(f"{step.label}:", markup=False)
        for path in step.changes:
            console.print(f"  {path}", markup=False)
            console.print(f"    incident.io: {_value_at(step.before, path)}", markup=False)
            console.print(f"    backup:      {_value_at(step.after, path)}", markup=False)


# --- restore: applying it ----------------------------------------------------------------------


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
    _for_each(sources, lambda s: _restore_source(client, s), 1, done)
    _for_each(routes, lambda s: _restore_route(client, s, ids), workers, done)
    deletes = [s for s in writes if s.verb is Verb.DELETE]
    _for_each([s for s in deletes if s.kind == ROUTE], lambda s: _delete(client, s), workers, done)
    _for_each([s for s in deletes if s.kind == SOURCE], lambda s: _delete(client, s), 1, done)
    return report


def print_restore_report(report: RestoreReport, console: Console) -> None:
    console.print(report.summary(), markup=False)
    for line in report.recreated:
        console.print(f"  recreated {line}", markup=False)
    if any(line.startswith(SOURCE) for line in report.recreated):
        console.print(
            "  A recreated alert source has a new id and a new secret token: point its stack's `adopt` at"
            " the new id and run `pulumi up` so the token reaches its senders.",
            markup=False,
        )


def restore(
    client: IncidentIoClient,
    directory: Path = BACKUP_DIRECTORY,
    *,
    prune: bool = False,
    dry_run: bool = False,
    confirm: Callable[[str], bool],
    out: Console,
    err: Console,
    workers: int = DEFAULT_WORKERS,
) -> RestoreReport:
    """Plan, show, confirm, apply: the `restore` command."""
    saved = load_backup(directory)
    with progress(err) as reporter:
        live = read_organisation(client, workers=workers, reporter=reporter)
    plan = plan_restore(saved, live, prune=prune)
    print_restore_plan(plan, directory, client.base_url, out)
    report = RestoreReport(missing=[f"{s.label}: {s.reason}" for s in plan.blocked])
    if dry_run or not plan.writes:
        if dry_run and plan.writes:
            out.print(f"Dry run: {len(plan.writes)} change(s) shown, none made.", markup=False)
        return report
    if not confirm(f"Apply these {len(plan.writes)} change(s) to incident.io?"):
        raise OperationError("not confirmed; nothing was changed")
    with progress(err) as reporter:
        report = apply_restore(client, plan, workers=workers, reporter=reporter)
    print_restore_report(report, out)
    return report
