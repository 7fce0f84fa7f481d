"""Bounded retries for the project's HTTP clients (incident.io's and Checkly's): one loop.

An attempt that fails in a way worth retrying raises `Retryable` with the error to raise if we
give up; `with_retries` backs off exponentially with jitter, honours a server's ``Retry-After``
but never waits less than its own backoff (``0`` or a past date would spend every attempt at
once), and stops at whichever `RetryPolicy` bound comes first: attempts or total time. After an
*ambiguous* failure (the request may have been applied) an optional `recover` looks the result up
instead of resending.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TypeVar

from components.errors import AlertingError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying 429, 5xx and connection failures: whichever limit is hit first wins."""

    max_attempts: int = 6
    max_total_seconds: float = 90.0
    base_delay: float = 0.5
    max_delay: float = 15.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before attempt ``attempt + 1``: exponential, capped, with "equal jitter"."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


class Retryable(Exception):
    """One attempt failed in a way worth retrying; `error` is raised if we give up. `delay`: what
    the server asked for (Retry-After), if anything; `ambiguous`: the request may have taken effect."""

    def __init__(self, error: AlertingError, delay: float | None = None, *, ambiguous: bool = False) -> None:
        self.error, self.delay, self.ambiguous = error, delay, ambiguous


def with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    rng: random.Random,
    what: str,
    recover: Callable[[], T | None] | None = None,
) -> T:
    """`attempt()` until it returns, a non-retryable error, or the policy's bounds; `what` names
    the request in log lines."""
    started, slept = time.monotonic(), 0.0
    count = 0
    while True:
        count += 1
        try:
            return attempt()
        except Retryable as failure:
            if failure.ambiguous and recover is not None:
                found = recover()
                if found is not None:
                    log.info("%s took effect before the failure; not resending", what)
                    return found
            delay = max(failure.delay or 0.0, policy.backoff(count, rng))
            # With an injected sleep, wall time stays ~0: count what was slept as well.
            used = max(time.monotonic() - started, slept)
            if count >= policy.max_attempts or used + delay > policy.max_total_seconds:
                raise failure.error.gave_up(count, used) from None
            log.warning("%s; retry %d/%d in %.1fs", failure.error, count, policy.max_attempts - 1, delay)
            sleep(delay)
            slept += delay


def retry_after(value: object) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())
