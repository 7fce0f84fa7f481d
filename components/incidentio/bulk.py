"""Bulk work against incident.io, shared by `backup`, `restore` and `import`: a client whose every
request, retries included, first takes a slot from one `RateLimiter` (a sliding 60-second window,
so a run stays under the API's 1,200 requests/minute whatever the concurrency); a bounded thread
pool (`for_each`); and reading the whole organisation (`read_organisation`: one list of sources,
the paged slim list of routes, then the detail of every route, since only the detail is complete).

Progress goes to a `Reporter`; the CLI's is a progress bar (`components.report.progress`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Protocol, TypeVar

from components.errors import AlertingError, NotFoundError, OperationError, UsageError
from components.incidentio.client import IncidentIoClient, RetryPolicy
from components.incidentio.defaults import DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_WORKERS

__all__ = [
    "SILENT",
    "Organisation",
    "RateLimiter",
    "Reporter",
    "connect",
    "fetch_routes",
    "for_each",
    "label",
    "read_organisation",
]

WINDOW_SECONDS = 60.0

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


# --- a bounded pool ----------------------------------------------------------------------------


def for_each(
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


def label(kind: str, item: dict) -> str:
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
            failures.append((item, f"{label('alert route', item)}: {exc}"))

    for_each(slim, lambda item: client.get_alert_route(item["id"]), workers, done)
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
