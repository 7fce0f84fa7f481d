"""Backup of an incident.io organisation's alert routes and alert sources, and the backup format.

Replaces the runbook's ``contrib/backup-incident-io.sh`` (docs/backup-restore.md has the user's
view; restoring is `components.restore`, reading the organisation `components.incidentio.bulk`).

**Backup files**: ``alert_sources/<slug>--<id>.json`` and ``alert_routes/<slug>--<id>.json``, the
object as the API returns it minus its bookkeeping (``version``, ``created_at``, ``updated_at``),
``secret_token`` replaced by ``"[redacted]"``; sorted keys, two-space indent, trailing newline;
written atomically and only when the bytes change. Files of objects that no longer exist (or were
renamed) are removed, but only files whose name *and* content say this tool wrote them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components import jsontext
from components.errors import REDACTED, AlertingError, OperationError, UsageError
from components.incidentio.bulk import SILENT, Organisation, Reporter, fetch_routes, label
from components.incidentio.client import IncidentIoClient
from components.incidentio.defaults import BACKUP_DIRECTORY, DEFAULT_WORKERS
from components.stackedit import write_atomic

__all__ = ["BackupReport", "backup", "load_backup", "slug"]

SOURCES_DIR = "alert_sources"
ROUTES_DIR = "alert_routes"

# Bookkeeping that changes with every edit without being configuration: keeping it would make a
# backup churn (and `version` is re-read right before every write anyway).
_BOOKKEEPING = ("version", "created_at", "updated_at")
# Credentials, or as good as: the source token, and the addresses that raise alerts by themselves
# (an email source's inbox, a heartbeat's ping URL). All are server-owned, so restore needs none.
_SECRETS = (("secret_token",), ("email_options", "email_address"), ("heartbeat_options", "ping_url"))
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_OUR_FILE = re.compile(r"^(?P<slug>[a-z0-9-]+)--(?P<id>[A-Za-z0-9]{1,64})\.json$")
_TEMPORARY = re.compile(r"^\..+\.tmp$")


# --- backup files ------------------------------------------------------------------------------


def slug(name: Any) -> str:
    """A readable, file-name-safe form of a name: ASCII lowercase words joined by dashes."""
    text = unicodedata.normalize("NFKD", str(name or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "unnamed"


def backup_record(item: dict) -> dict:
    """What a backup file holds: the object minus bookkeeping, with its secrets redacted.

    `item` is left as it was: only the dicts on the way to a secret are copied (a deep copy of
    every route was a fifth of a 1,000-route backup's CPU, which bounds it on 2 cores)."""
    record = {k: v for k, v in item.items() if k not in _BOOKKEEPING}
    for *parents, key in _SECRETS:
        node = record
        for parent in parents:
            child = node.get(parent)
            if not isinstance(child, dict):
                break
            copied = dict(child)
            node[parent] = copied
            node = copied
        else:
            if key in node:
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
        for created in folders.values():
            created.mkdir(parents=True, exist_ok=True)
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
            report.missing.append(f"{label('alert source', source)}: {exc}")
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


# --- reading a backup ----------------------------------------------------------------------------


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
