"""Stage 2: the typed model of one stack, built only from a validated document.

Everything downstream (compiler, plan, simulator, promotion, Pulumi program) reads these frozen
dataclasses, never raw YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

KNOWN_ENVIRONMENTS = ("development", "staging", "production")
# Words of a stack name that say which environment it is ("prod-eu" is production's).
ENVIRONMENT_WORDS = {
    "development": ("development", "dev"),
    "staging": ("staging", "stage", "stg"),
    "production": ("production", "prod", "prd"),
}


def named_environment(stack_name: str) -> str | None:
    """The environment a stack's name names (one of its -/_/. separated words), if exactly one."""
    words = set(re.split(r"[-_.]", stack_name.lower()))
    named = [env for env, aliases in ENVIRONMENT_WORDS.items() if words & set(aliases)]
    return named[0] if len(named) == 1 else None


def route_resource_name(name: str) -> str:
    """The Pulumi resource name of a route ("Production Alerts" -> production-alerts): stable, so
    renaming a route in case or punctuation only keeps its resource; `validate` refuses two routes
    of one stack that share one."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "route"


# Source types that receive alerts without an HTTP token (mailbox, dashboard integrations, OAuth
# apps): a `delivery` block on them has nothing to deliver.
TOKENLESS_SOURCE_TYPES = frozenset(
    {"email", "status_page_views", "incoming_calls", "jira", "github_issue", "jsm", "zendesk"}
)
ONE_OF = "one_of"
TITLE = "title"


@dataclass(frozen=True)
class Condition:
    """`attribute` (or `title`) compared by `operation` against `values`."""

    attribute: str
    operation: str
    values: tuple[str, ...] = ()


# All conditions of a group must hold; any one group is enough. No groups = every alert.
ConditionGroup = tuple[Condition, ...]


@dataclass(frozen=True)
class SourceFilter:
    source: str  # source key
    groups: tuple[ConditionGroup, ...] = ()


@dataclass(frozen=True)
class Delivery:
    aws_secret: str
    kubernetes_secret: str


@dataclass(frozen=True)
class Binding:
    """How a source fills one alert attribute: a path parsed out of each alert's payload
    (`$.labels.severity`) or a fixed value."""

    path: str | None = None
    literal: str | None = None


# The always-firing alert kube-prometheus-stack ships (`vector(1)`), and incident.io's limit on a
# heartbeat's interval (+ grace): docs.incident.io/alerts/heartbeat-monitoring.
WATCHDOG = "Watchdog"
HEARTBEAT_TYPE = "heartbeat"
CHECKLY_TYPE = "checkly"
HEARTBEAT_MAX_SECONDS = 48 * 3600


@dataclass(frozen=True)
class Heartbeat:
    """A dead man's switch: incident.io expects a ping every `interval_seconds` (late by at most
    `grace_seconds`); with delivery, the Alertmanager re-sends its always-firing `alertname` alert
    to the ping URL every `repeat_seconds`, so a silent Alertmanager pages."""

    interval_seconds: int
    repeat_seconds: int | None = None  # None: not fed by an Alertmanager of this stack (no delivery)
    grace_seconds: int = 0
    alertname: str = WATCHDOG


@dataclass(frozen=True)
class ChecklyChannel:
    """The Checkly alert channel (an incident.io webhook) posting to a `checkly` source, and the
    checks and check groups subscribed to it. Defaults are Checkly's."""

    name: str
    send_recovery: bool = True
    send_failure: bool = True
    send_degraded: bool = False
    checks: tuple[str, ...] = ()  # check ids (UUIDs)
    groups: tuple[int, ...] = ()  # check group ids


@dataclass(frozen=True)
class Source:
    key: str
    name: str
    type: str
    adopt: str | None = None
    delivery: Delivery | None = None
    attributes: tuple[tuple[str, Binding], ...] = ()  # attribute name -> binding, sorted by name
    emits: tuple[tuple[str, tuple[str | None, ...]], ...] = ()  # label -> values (None = missing)
    title: tuple[tuple[str, str], ...] = ()  # template title binding ({literal}|{reference}); () = default
    description: tuple[tuple[str, str], ...] = ()
    discard_live: bool = False  # may a write drop live settings the stack does not declare?
    heartbeat: Heartbeat | None = None  # only on `type: heartbeat`
    checkly: ChecklyChannel | None = None  # only on `type: checkly`

    @cached_property
    def bound(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.attributes)


@dataclass(frozen=True)
class Grouping:
    window_seconds: int
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incident:
    enabled: bool = False
    auto_decline: bool = False
    defer_seconds: int = 0


@dataclass(frozen=True)
class Route:
    name: str
    sources: tuple[SourceFilter, ...]
    adopt: str | None = None  # take over this existing route (by id) instead of creating one
    escalate: tuple[str, ...] = ()
    slack: tuple[str, ...] = ()
    enabled: bool = True
    when: tuple[ConditionGroup, ...] = ()
    grouping: Grouping | None = None
    incident: Incident = field(default_factory=Incident)
    discard_live: bool = False  # may a write drop live settings the stack does not declare?


@dataclass(frozen=True)
class AlertmanagerRoll:
    name: str
    roll_on_token_change: bool = False


@dataclass(frozen=True)
class Kubernetes:
    namespace: str = "monitoring"
    secret_store_kind: str = "ClusterSecretStore"
    secret_store_name: str = "aws-secrets-manager"
    refresh_interval: str = "1h"
    mode: str = "apply"  # or "gitops": write manifests to manifests_dir instead of applying
    manifests_dir: str | None = None
    alertmanager: AlertmanagerRoll | None = None


@dataclass(frozen=True)
class Stack:
    name: str  # the Pulumi stack name, from Pulumi.<name>.yaml
    file: Path
    environment: str
    aws_region: str
    aws_account_id: str
    kube_context: str
    paging: bool
    slack_channels: tuple[tuple[str, str], ...]
    escalation_paths: tuple[tuple[str, str], ...]
    attributes: tuple[tuple[str, str], ...]
    sources: tuple[Source, ...]
    routes: tuple[Route, ...]
    kubernetes: Kubernetes
    claim_managed: bool = False
    checkly_account_id: str | None = None  # alerting:checkly.accountId

    def source(self, key: str) -> Source:
        return self._sources_by_key[key]

    # Lookups built once per stack (cached_property writes past the frozen __setattr__).
    @cached_property
    def _sources_by_key(self) -> dict[str, Source]:
        return {s.key: s for s in self.sources}

    @cached_property
    def slack_channel_ids(self) -> dict[str, str]:
        return dict(self.slack_channels)

    @cached_property
    def escalation_path_ids(self) -> dict[str, str]:
        return dict(self.escalation_paths)

    @cached_property
    def attribute_ids(self) -> dict[str, str]:
        return dict(self.attributes)
