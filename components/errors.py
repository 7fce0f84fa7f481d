"""Every error this project raises on purpose, in one place.

Lower-level exceptions (httpx, PyYAML, jsonschema, OS errors) are translated into these where they
occur; code above that layer catches only these, and the CLI edge turns them into a message and an
exit code (never a traceback)::

    AlertingError                      base; `exit_code` says how the CLI leaves
    ├── StackError                     a stack file is unreadable or invalid (exit 1)
    │                                  .problems: every Problem found, not just the first
    ├── IncidentIoError                anything about talking to incident.io (exit 2)
    │   ├── TransportError             no usable HTTP answer after bounded retries
    │   └── ApiError                   incident.io answered with an error envelope
    │       ├── AuthenticationError    401: missing or wrong API key
    │       ├── NotFoundError          404
    │       ├── RateLimitedError       429 still returned after bounded retries
    │       ├── RejectedError          any other 4xx (validation, version conflict: undocumented)
    │       └── ServerError            5xx still returned after bounded retries
    ├── ChecklyError                   Checkly's API did not answer, or answered an error (exit 2)
    ├── ReferenceNotFoundError         an escalation path / attribute name unknown to incident.io
    ├── DriftError                     a live object was changed outside this stack
    ├── LiveSettingsError              a write would discard live settings the stack does not declare
    ├── OwnershipError                 an object is claimed by another stack, or would be adopted twice
    ├── OperationError                 a multi-object command (backup, restore, promote) did not finish
    │                                  or was refused; .missing lists what is left to do
    └── UsageError                     the command names something that does not exist (exit 2)

No message ever contains an API key, an alert source token or a URL's user info: every error
message and every `Problem` passes through `scrub`, the one scrubber, which removes each secret this
process was told about (`register_secret`: the client registers its API key and every source token
it receives) and the credentials of any ``scheme://user:password@`` URL; `install_log_scrubber`
does the same for every log record.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

REDACTED = "[redacted]"
# Shorter strings are not secrets worth a blind replace (and would mangle ordinary words).
_MIN_SECRET_CHARS = 8
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[^\s\"',;]+", re.IGNORECASE)
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another goes whole
_secrets_lock = threading.Lock()


def register_secret(value: Any) -> None:
    """Remember `value` (an API key, a token) so that `scrub` removes it from every message."""
    global _secrets
    if not isinstance(value, str) or len(value) < _MIN_SECRET_CHARS or value in _secrets:
        return
    with _secrets_lock:
        _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))


# What a credential looks like when it was never registered: 32+ characters of base64url/hex
# (incident.io ids are 26-character ULIDs, and names have spaces).
_CREDENTIAL_SHAPED = re.compile(r"(?<![A-Za-z0-9_+/=-])[A-Za-z0-9_+/=-]{32,}(?![A-Za-z0-9_+/=-])")


def scrub_remote(text: str) -> str:
    """`scrub` for text a server wrote (error envelopes): it may echo a credential this process
    never saw — e.g. another source's token — so anything shaped like one goes too."""
    return _CREDENTIAL_SHAPED.sub(REDACTED, scrub(text))


def scrub(text: str) -> str:
    """`text` without any registered secret, URL user info or bearer token."""
    if "://" in text:
        text = _URL_USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)
    text = _BEARER.sub(rf"\g<scheme>{REDACTED}", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _one_line(text: str) -> str:
    return text.translate(_LINE_BREAKS)


class _ScrubbingRecordFactory:
    """A log record factory whose records carry their message already scrubbed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        record.msg, record.args = scrub(record.getMessage()), None
        return record


def install_log_scrubber() -> None:
    """Scrub every log record of this process (idempotent): called by the CLI, the program and
    the providers before they talk to anything."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _ScrubbingRecordFactory):
        logging.setLogRecordFactory(_ScrubbingRecordFactory(factory))


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a stack file, printed as ``file:line:col: $.path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = "error"

    def __post_init__(self) -> None:
        # One grep-able line each, whatever a value held; and never a secret.
        object.__setattr__(self, "message", _one_line(scrub(self.message)))
        object.__setattr__(self, "path", _one_line(self.path))

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {prefix}{self.message}"


class AlertingError(Exception):
    """Base of every deliberate error; carries the CLI exit code. Its message is scrubbed when
    it is made and again when it is read (a secret may be registered in between)."""

    exit_code = 1

    def __init__(self, *args: Any) -> None:
        super().__init__(*(scrub(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        return scrub(super().__str__())

    def gave_up(self, attempts: int, seconds: float) -> AlertingError:
        """This error, saying how long the bounded retries (components/retry.py) tried before it was raised."""
        self.args = (f"{self} (gave up after {attempts} attempts in {seconds:.1f} s)",)
        return self


class StackError(AlertingError):
    """A stack file is unreadable or invalid; holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid stack")


class IncidentIoError(AlertingError):
    """Anything that went wrong talking to incident.io."""

    exit_code = 2


class TransportError(IncidentIoError):
    """No usable HTTP response (connection refused, reset, timeout) after bounded retries."""


@dataclass(frozen=True)
class FieldError:
    """One entry of the API error envelope's ``errors`` list."""

    message: str
    field: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(IncidentIoError):
    """incident.io answered with an error status; the envelope is kept, minus any secret."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        error_type: str | None = None,
        request_id: str | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.errors = errors or []
        detail = "; ".join(str(e) for e in self.errors) or (error_type or "no detail")
        rid = f" (request_id {request_id})" if request_id else ""
        what = "rate limited by incident.io: " if status == 429 else ""
        super().__init__(f"{what}{method} {path} -> {status}: {detail}{rid}")


class AuthenticationError(ApiError):
    """401: the API key is missing, wrong or lacks a scope."""


class NotFoundError(ApiError):
    """404: the object does not exist (any more)."""


class RateLimitedError(ApiError):
    """429 still returned after the bounded retries honouring Retry-After."""


class RejectedError(ApiError):
    """Any other 4xx: a payload validation error or (undocumented status) a version conflict."""


class ServerError(ApiError):
    """5xx still returned after bounded retries."""


class ChecklyError(AlertingError):
    """Checkly's API did not answer usably, or answered with an error status (`status`, 0: none)."""

    exit_code = 2

    def __init__(self, message: str, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class ReferenceNotFoundError(AlertingError):
    """A name (escalation path, alert attribute) that incident.io does not know."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        listing = ", ".join(repr(k) for k in self.known) or "none"
        super().__init__(f"no {kind} named {name!r} in incident.io; known: {listing}")


class DriftError(AlertingError):
    """A live object differs from what this stack last applied, changed by someone else."""

    exit_code = 3

    def __init__(self, kind: str, name: str, fields: list[str], advice: str) -> None:
        self.kind, self.name, self.fields = kind, name, fields
        super().__init__(
            f"{kind} {name!r} was changed outside this stack ({', '.join(fields)}). {advice}"
        )


class LiveSettingsError(AlertingError):
    """Applying the stack would remove or change live settings the stack file does not declare."""

    exit_code = 3

    def __init__(self, kind: str, name: str, losses: list[str], stack: str) -> None:
        self.kind, self.name, self.losses = kind, name, losses
        what = "source" if kind == "alert source" else "route"
        listing = "".join(f"\n  - {loss}" for loss in losses)
        super().__init__(
            f"{kind} {name!r}: nothing was written, because applying stacks/Pulumi.{stack}.yaml would discard"
            f" live settings it does not declare:{listing}\nTake them into the stack file with"
            f" `python -m components import {stack} --write`, or, to let them go, set"
            f" `discardLiveSettings: true` on this {what} in stacks/Pulumi.{stack}.yaml."
        )


class OwnershipError(AlertingError):
    """An object is already claimed by another stack, or two stacks would adopt the same one."""

    exit_code = 3


class OperationError(AlertingError):
    """A multi-object command did not finish or was refused; lists what is left to do."""

    exit_code = 1

    def __init__(self, message: str, missing: list[str] | None = None) -> None:
        self.missing = missing or []
        listing = "".join(f"\n  - {m}" for m in self.missing)
        super().__init__(message + listing)


class UsageError(AlertingError):
    """The command line names something that does not exist (a stack, a directory)."""

    exit_code = 2
