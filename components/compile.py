"""Stage 4: pure, deterministic functions from a validated Stack to everything a deploy sends.

No I/O, no clock, no randomness: the same model gives byte-identical `render` output. Ids that only
exist at deploy time are placeholders (components/incidentio/references.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypedDict

from components.describe import duration_ms
from components.incidentio.references import (
    ALERT_ATTRIBUTE,
    ALERT_SOURCE,
    ESCALATION_PATH,
    SECRET_VERSION,
    ref,
)
from components.model import HEARTBEAT_TYPE, TITLE, WATCHDOG, Binding, ConditionGroup, Route, Source, Stack
from components.routing import PAYLOAD_ROOT, expression_binding, expression_reference
from components.stackfile import bulk_allocation

# Operations whose parameter is a set of values (one binding with an array); any other operation
# gets one binding per value. The API's vocabulary is open, so unknown operations pass verbatim.
_ARRAY_OPERATIONS = frozenset(("one_of", "contains_one_of", "none_of", "all_of", "contains_all_of", "contains_none_of"))

TOKEN_PROPERTY = "alert_source_token"
URL_PROPERTY = "alert_source_url"
TOKEN_KEY = "token"
URL_KEY = "url"
SECRETS_MOUNT = "/etc/alertmanager/secrets"
TOKEN_VERSION_ANNOTATION = "alerting/token-version"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "alerting"}
# ESO writes these defaults back into the spec; spelling them out keeps a live diff empty.
_REMOTE_REF_DEFAULTS = {"conversionStrategy": "Default", "decodingStrategy": "None", "metadataPolicy": "None"}


# -- the compiled shape (what `render` prints; the program reads it by these keys) ---------------

Json = dict[str, Any]  # an API payload or a manifest: checked against its official schema, not here


class CompiledSource(TypedDict):
    key: str
    name: str
    source_type: str
    adopt: str | None
    discard_live_settings: bool
    payload: Json  # AlertSourcesCreatePayloadV2


class CompiledRoute(TypedDict):
    name: str
    adopt: str | None
    discard_live_settings: bool
    payload: Json  # AlertRoutesCreatePayloadV2


class CompiledIncidentIo(TypedDict):
    alert_sources: list[CompiledSource]
    alert_routes: list[CompiledRoute]
    claim_managed: bool


class AwsSecret(TypedDict):
    source: str  # the source key
    name: str
    description: str
    protect: bool
    secret_string: dict[str, str]  # property -> ${alert_source:<key>.<output>}


class CompiledAws(TypedDict):
    region: str
    account_id: str
    secrets: list[AwsSecret]


class CompiledKubernetes(TypedDict):
    context: str
    namespace: str
    mode: str
    manifests: list[Json]


class ChecklySubscriptions(TypedDict):
    checks: list[str]
    groups: list[int]


class ChecklyChannel(TypedDict):
    source: str  # the source key
    name: str
    inputs: Json  # checkly:index/alertChannel:AlertChannel inputs, engine names
    subscriptions: ChecklySubscriptions


class CompiledCheckly(TypedDict):
    account_id: str | None
    alert_channels: list[ChecklyChannel]


class CompiledAlertmanager(TypedDict):
    receivers: list[Json]
    config: Json
    helm_values: Json


class CompiledStack(TypedDict):
    stack: str
    environment: str
    incident_io: CompiledIncidentIo
    aws: CompiledAws
    kubernetes: CompiledKubernetes
    checkly: CompiledCheckly
    alertmanager: CompiledAlertmanager


# -- incident.io ----------------------------------------------------------------------------------


def source_id(stack: Stack, key: str) -> str:
    source = stack.source(key)
    return source.adopt or ref(ALERT_SOURCE, key)


def attribute_id(stack: Stack, name: str) -> str:
    return stack.attribute_ids.get(name) or ref(ALERT_ATTRIBUTE, name)


def escalation_path_id(stack: Stack, name: str) -> str:
    return stack.escalation_path_ids.get(name) or ref(ESCALATION_PATH, name)


def subject(stack: Stack, attribute: str) -> str:
    return "alert.title" if attribute == TITLE else f"alert.attributes.{attribute_id(stack, attribute)}"


class _Lookup(dict[str, str]):
    """A stack's ids by name, each worked out on first use (`lookup[name]` on a hit is a plain dict
    lookup: a 10,000-route stack names the same few sources, attributes and paths 60,000 times)."""

    def __init__(self, work_out: Callable[[str], str]) -> None:
        super().__init__()
        self._work_out = work_out

    def __missing__(self, name: str) -> str:
        value = self[name] = self._work_out(name)
        return value


class StackIds:
    """The ids one stack's route payloads name. Only these strings are shared between payloads;
    every dict and list is built fresh, so a caller may change one payload without touching another."""

    def __init__(self, stack: Stack) -> None:
        self.sources = _Lookup(lambda key: source_id(stack, key))
        self.subjects = _Lookup(lambda attribute: subject(stack, attribute))
        self.escalation_paths = _Lookup(lambda name: escalation_path_id(stack, name))


def condition_groups(groups: tuple[ConditionGroup, ...], subjects: Mapping[str, str]) -> list[dict[str, Any]]:
    # Loops, not nested comprehensions: on Python 3.11 each comprehension is a call, and a
    # 10,000-route stack has 70,000 of these lists of one or two items.
    compiled = []
    for group in groups:
        conditions = []
        for condition in group:
            bindings: list[dict[str, Any]] = []
            if condition.operation in _ARRAY_OPERATIONS:
                literals = []
                for value in condition.values:
                    literals.append({"literal": value})
                bindings.append({"array_value": literals})
            else:
                for value in condition.values:
                    bindings.append({"value": {"literal": value}})
            conditions.append(
                {"subject": subjects[condition.attribute], "operation": condition.operation, "param_bindings": bindings}
            )
        compiled.append({"conditions": conditions})
    return compiled


def template_bindings(
    bindings: Iterable[tuple[str, str, Binding]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(expressions, attribute bindings) of a source template, from (attribute id, attribute name,
    binding) triples: each path binding is a parse of the alert's payload, the form incident.io
    evaluates (a plain `payload.…` reference resolves to nothing)."""
    expressions: list[dict[str, Any]] = []
    attributes: list[dict[str, Any]] = []
    for attr_id, name, binding in bindings:
        if binding.path is not None:
            reference = expression_reference(name)
            expressions.append(
                {
                    "label": name,
                    "reference": reference,
                    "root_reference": PAYLOAD_ROOT,
                    "operations": [
                        {
                            "operation_type": "parse",
                            "parse": {"source": binding.path, "returns": {"type": "String", "array": False}},
                        }
                    ],
                }
            )
            value: dict[str, Any] = {"reference": expression_binding(reference)}
        else:
            value = {"literal": binding.literal}
        attributes.append({"alert_attribute_id": attr_id, "binding": {"value": value}})
    return expressions, attributes


def source_payload(source: Source, stack: Stack) -> dict[str, Any]:
    """`AlertSourcesCreatePayloadV2`: name, type, and a template binding the declared attributes.

    A heartbeat adds its `heartbeat_options` and leaves title and description empty: incident.io
    sets them on a missed-heartbeat alert itself (docs.incident.io/alerts/heartbeat-monitoring).
    """
    expressions, attributes = template_bindings((attribute_id(stack, n), n, b) for n, b in source.attributes)
    heartbeat = source.heartbeat
    payload: dict[str, Any] = {
        "name": source.name,
        "source_type": source.type,
        "template": {
            "title": {} if heartbeat else dict(source.title) or {"reference": "alert.title"},
            "description": {} if heartbeat else dict(source.description) or {"reference": "alert.description"},
            "expressions": expressions,
            "attributes": attributes,
        },
    }
    if heartbeat:
        payload["heartbeat_options"] = {
            "interval_seconds": heartbeat.interval_seconds,
            "grace_period_seconds": heartbeat.grace_seconds,
            "failure_threshold": 1,  # the grace period, not a count of misses, is the leeway
        }
    return payload


def route_payload(route: Route, stack: Stack, ids: StackIds) -> dict[str, Any]:
    """`AlertRoutesCreatePayloadV2`, every required key present (a PUT replaces the whole route)."""
    subjects = ids.subjects
    grouping = route.grouping
    alert_sources = []
    for source_filter in route.sources:
        alert_sources.append(
            {
                "alert_source_id": ids.sources[source_filter.source],
                "condition_groups": condition_groups(source_filter.groups, subjects),
            }
        )
    escalation_targets = []
    for name in route.escalate:
        escalation_targets.append({"escalation_paths": {"array_value": [{"literal": ids.escalation_paths[name]}]}})
    grouping_keys = []
    for key in grouping.by if grouping else ():
        grouping_keys.append({"reference": subjects[key]})
    slack_targets = []
    for channel in route.slack:
        slack_targets.append({"literal": stack.slack_channel_ids[channel]})
    incident = route.incident
    return {
        "name": route.name,
        "enabled": route.enabled,
        "is_private": False,
        "alert_sources": alert_sources,
        "condition_groups": condition_groups(route.when, subjects),
        "expressions": [],
        "channel_config": [
            {
                "condition_groups": [],
                "slack_targets": {
                    "binding": {"array_value": slack_targets},
                    "channel_visibility": "public",
                },
            }
        ]
        if route.slack
        else [],
        "escalation_config": {"auto_cancel_escalations": False, "escalation_targets": escalation_targets},
        "incident_config": {
            "enabled": incident.enabled,
            "auto_decline_enabled": incident.auto_decline,
            "condition_groups": [],
            "defer_time_seconds": incident.defer_seconds,
            "grouping_keys": grouping_keys,
            "grouping_window_seconds": grouping.window_seconds if grouping else 0,
        },
        "incident_template": {"name": {"autogenerated": True}},
    }


# -- token delivery -------------------------------------------------------------------------------


def delivered(stack: Stack) -> list[Source]:
    return [s for s in stack.sources if s.delivery]


def source_url_output(source: Source) -> str:
    """The AlertSource output a delivery carries as its URL: where alert events go, or for a
    heartbeat the ping URL (both take the source token as a Bearer token)."""
    return "heartbeat_ping_url" if source.heartbeat else "alert_events_url"


def aws_secret(source: Source, stack: Stack) -> AwsSecret:
    """The Secrets Manager secret carrying one source's token and URL (a JSON object)."""
    assert source.delivery
    what = "heartbeat token and ping URL" if source.heartbeat else "alert source token and URL"
    return {
        "source": source.key,
        "name": source.delivery.aws_secret,
        "description": f"incident.io {what} for {source.name!r} (managed by the alerting stack {stack.name!r})",
        "protect": stack.environment == "production",
        "secret_string": {
            TOKEN_PROPERTY: ref(ALERT_SOURCE, f"{source.key}.secret_token"),
            URL_PROPERTY: ref(ALERT_SOURCE, f"{source.key}.{source_url_output(source)}"),
        },
    }


def external_secret(source: Source, stack: Stack) -> dict[str, Any]:
    """ExternalSecret (external-secrets.io/v1) bringing `token` and `url` into the cluster.

    The token-version annotation changes whenever the AWS secret gets a new version, and any
    annotation change makes ESO fetch at once: the runbook's force-sync, done declaratively.
    """
    assert source.delivery
    kube = stack.kubernetes
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": source.delivery.kubernetes_secret,
            "namespace": kube.namespace,
            "labels": dict(MANAGED_BY),
            "annotations": {TOKEN_VERSION_ANNOTATION: ref(SECRET_VERSION, source.key)},
        },
        "spec": {
            "refreshInterval": kube.refresh_interval,
            "secretStoreRef": {"kind": kube.secret_store_kind, "name": kube.secret_store_name},
            "target": {"name": source.delivery.kubernetes_secret, "creationPolicy": "Owner"},
            "data": [
                {
                    "secretKey": key,
                    "remoteRef": {"key": source.delivery.aws_secret, "property": prop, **_REMOTE_REF_DEFAULTS},
                }
                for key, prop in ((TOKEN_KEY, TOKEN_PROPERTY), (URL_KEY, URL_PROPERTY))
            ],
        },
    }


def alertmanager_roll(stack: Stack) -> dict[str, Any] | None:
    """Optional patch of the operator's Alertmanager: new pod annotation per token version."""
    roll = stack.kubernetes.alertmanager
    if not roll or not roll.roll_on_token_change:
        return None
    annotations = {f"{TOKEN_VERSION_ANNOTATION}-{s.key}": ref(SECRET_VERSION, s.key) for s in mounted_sources(stack)}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Alertmanager",
        "metadata": {"name": roll.name, "namespace": stack.kubernetes.namespace},
        "spec": {"podMetadata": {"annotations": annotations}},
    }


def _alertmanager_sources(stack: Stack) -> list[Source]:
    return [s for s in delivered(stack) if s.type == "alertmanager"]


def _heartbeats(stack: Stack) -> list[Source]:
    """Heartbeats an Alertmanager of this stack pings: delivered ones (validate: with repeatInterval)."""
    return [s for s in delivered(stack) if s.type == HEARTBEAT_TYPE and s.heartbeat and s.heartbeat.repeat_seconds]


def mounted_sources(stack: Stack) -> list[Source]:
    """Sources whose secret the Alertmanager pod mounts: its receivers' and its heartbeats'."""
    return _alertmanager_sources(stack) + _heartbeats(stack)


def receiver_name(source: Source) -> str:
    return f"{'heartbeat' if source.heartbeat else 'incident-io'}-{source.key}"


def _secret_files(source: Source) -> tuple[str, str]:
    """(url file, token file) of a delivered source inside the Alertmanager pod."""
    assert source.delivery
    directory = f"{SECRETS_MOUNT}/{source.delivery.kubernetes_secret}"
    return f"{directory}/{URL_KEY}", f"{directory}/{TOKEN_KEY}"


def alertmanager_receivers(stack: Stack) -> list[dict[str, Any]]:
    """`incidentio_configs` reading URL and token from the mounted secret: the same in every env;
    then, per heartbeat, the `webhook_configs` that pings it (token as a Bearer header)."""
    receivers = []
    for source in _alertmanager_sources(stack):
        url_file, token_file = _secret_files(source)
        receivers.append(
            {
                "name": receiver_name(source),
                "incidentio_configs": [
                    {"url_file": url_file, "alert_source_token_file": token_file, "send_resolved": True}
                ],
            }
        )
    for source in _heartbeats(stack):
        url_file, token_file = _secret_files(source)
        receivers.append(
            {
                "name": receiver_name(source),
                "webhook_configs": [
                    {
                        "url_file": url_file,
                        "http_config": {"authorization": {"type": "Bearer", "credentials_file": token_file}},
                        "send_resolved": False,  # the Watchdog never resolves; only its repeats matter
                    }
                ],
            }
        )
    return receivers


def watchdog_routes(stack: Stack) -> list[dict[str, Any]]:
    """Per heartbeat, the sub-route sending its always-firing alert to the ping receiver.

    Alertmanager re-sends a group at the first group_interval tick after repeat_interval has
    passed: with both at R it notifies every 2R (measured with Alertmanager 0.33, docs/heartbeat.md).
    Both at half the declared repeatInterval give one ping per repeatInterval.
    """
    routes = []
    for source in _heartbeats(stack):
        assert source.heartbeat and source.heartbeat.repeat_seconds
        half = duration_ms(source.heartbeat.repeat_seconds * 1000 // 2)
        routes.append(
            {
                "receiver": receiver_name(source),
                "matchers": [f'alertname="{source.heartbeat.alertname}"'],
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": half,
                "repeat_interval": half,
                "continue": False,
            }
        )
    return routes


# kube-prometheus-stack's receiver that sends nothing; its chart routes the Watchdog there.
NULL_RECEIVER = "null"


def alertmanager_config(stack: Stack) -> dict[str, Any]:
    """The Alertmanager configuration the stack needs, whole (`amtool check-config` accepts it).

    Every alert goes to the stack's Alertmanager source (the first, if several are delivered; none:
    the null receiver), except each heartbeat's always-firing alert, which pings the heartbeat.
    Without a heartbeat on it, the Watchdog goes to the null receiver, as kube-prometheus-stack's
    default does: Helm replaces the chart's `routes` and `receivers` lists with these, never merges.
    """
    sources = _alertmanager_sources(stack)
    routes = watchdog_routes(stack)
    if not any(r["matchers"] == [f'alertname="{WATCHDOG}"'] for r in routes):
        routes.append({"receiver": NULL_RECEIVER, "matchers": [f'alertname="{WATCHDOG}"']})
    return {
        "route": {"receiver": receiver_name(sources[0]) if sources else NULL_RECEIVER, "routes": routes},
        "receivers": [{"name": NULL_RECEIVER}, *alertmanager_receivers(stack)],
    }


def helm_values(stack: Stack) -> dict[str, Any]:
    """kube-prometheus-stack values: mount the secrets and carry the whole configuration."""
    return {
        "alertmanager": {
            "alertmanagerSpec": {
                "secrets": sorted(s.delivery.kubernetes_secret for s in mounted_sources(stack) if s.delivery)
            },
            "config": alertmanager_config(stack),
        }
    }


# -- Checkly --------------------------------------------------------------------------------------

# The body Checkly posts for a check alert, in incident.io's alert-event fields (title, status,
# deduplication_key, description, source_url, metadata). Checkly renders it with Handlebars first:
# the `contains` block picks the status, one alert per check (docs/checkly.md).
CHECKLY_TEMPLATE = """{
  "title": "{{ALERT_TITLE}}",
  "description": "{{CHECK_NAME}}: {{ALERT_TYPE}} in {{RUN_LOCATION}} at {{STARTED_AT}}",
  "deduplication_key": "{{CHECK_ID}}",
  "source_url": "{{RESULT_LINK}}",
  "metadata": {
    "check_id": "{{CHECK_ID}}",
    "check_name": "{{CHECK_NAME}}",
    "check_type": "{{CHECK_TYPE}}",
    "group_name": "{{GROUP_NAME}}",
    "alert_type": "{{ALERT_TYPE}}"
  },
  {{#contains ALERT_TYPE "RECOVERY"}}"status": "resolved"{{else}}"status": "firing"{{/contains}}
}
"""
CHECKLY_WEBHOOK_TYPE = "WEBHOOK_INCIDENTIO"


def checkly_alert_channel(source: Source) -> ChecklyChannel:
    """One Checkly alert channel: the `AlertChannel` inputs under the engine's names (checked
    against Checkly's provider schema), the webhook posting to the source with its token as a
    Bearer header, and the checks and groups to subscribe."""
    channel = source.checkly
    assert channel
    return {
        "source": source.key,
        "name": channel.name,
        "inputs": {
            "sendRecovery": channel.send_recovery,
            "sendFailure": channel.send_failure,
            "sendDegraded": channel.send_degraded,
            "webhook": {
                "name": channel.name,
                "webhookType": CHECKLY_WEBHOOK_TYPE,
                "method": "POST",
                "url": ref(ALERT_SOURCE, f"{source.key}.alert_events_url"),
                "headers": {"authorization": "Bearer " + ref(ALERT_SOURCE, f"{source.key}.secret_token")},
                "template": CHECKLY_TEMPLATE,
            },
        },
        "subscriptions": {"checks": list(channel.checks), "groups": list(channel.groups)},
    }


# -- the whole stack ------------------------------------------------------------------------------


def compile_stack(stack: Stack) -> CompiledStack:
    """Everything `pulumi up` of this stack sends, in `render`'s shape."""
    with bulk_allocation():
        return _compile_stack(stack, list(compiled_routes(stack)))


# Where a compiled stack holds its routes: all but a few bytes of a large stack's `render`.
ROUTES_AT = ("incident_io", "alert_routes")


def compile_frame(stack: Stack) -> CompiledStack:
    """`compile_stack` but for the routes (`alert_routes` is empty): for a writer that draws them
    from `compiled_routes` a batch at a time (`render`)."""
    return _compile_stack(stack, [])


def compiled_routes(stack: Stack) -> Iterator[CompiledRoute]:
    """The stack's compiled routes in order, each built when it is asked for."""
    ids = StackIds(stack)
    for route in stack.routes:
        yield {
            "name": route.name,
            "adopt": route.adopt,
            "discard_live_settings": route.discard_live,
            "payload": route_payload(route, stack, ids),
        }


def _compile_stack(stack: Stack, routes: list[CompiledRoute]) -> CompiledStack:
    manifests = [external_secret(s, stack) for s in delivered(stack)]
    roll = alertmanager_roll(stack)
    return {
        "stack": stack.name,
        "environment": stack.environment,
        "incident_io": {
            "alert_sources": [
                {
                    "key": s.key,
                    "name": s.name,
                    "source_type": s.type,
                    "adopt": s.adopt,
                    "discard_live_settings": s.discard_live,
                    "payload": source_payload(s, stack),
                }
                for s in stack.sources
            ],
            "alert_routes": routes,
            "claim_managed": stack.claim_managed,
        },
        "aws": {
            "region": stack.aws_region,
            "account_id": stack.aws_account_id,
            "secrets": [aws_secret(s, stack) for s in delivered(stack)],
        },
        "kubernetes": {
            "context": stack.kube_context,
            "namespace": stack.kubernetes.namespace,
            "mode": stack.kubernetes.mode,
            "manifests": manifests + ([roll] if roll else []),
        },
        "checkly": {
            "account_id": stack.checkly_account_id,
            "alert_channels": [checkly_alert_channel(s) for s in stack.sources if s.checkly],
        },
        "alertmanager": {
            "receivers": alertmanager_receivers(stack),
            "config": alertmanager_config(stack),
            "helm_values": helm_values(stack),
        },
    }
