"""Stage 3c: the typed model (components/model.py) of a stack file that passed every check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components import model, stackfile
from components.meaning import CFG, seconds
from components.stackfile import Document


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _groups(value: Any) -> tuple[model.ConditionGroup, ...]:
    if not value:
        return ()
    return tuple(_group(mapping) for mapping in (value if isinstance(value, list) else [value]))


def _group(mapping: dict[str, Any]) -> model.ConditionGroup:
    conditions = []
    for attribute, spec in mapping.items():
        if isinstance(spec, dict):
            values = tuple(_text(v) for v in spec.get("values", []))
            conditions.append(model.Condition(attribute, spec["operation"], values))
        else:
            values = tuple(_text(v) for v in (spec if isinstance(spec, list) else [spec]))
            conditions.append(model.Condition(attribute, model.ONE_OF, values))
    return tuple(conditions)


def _binding(value: Any) -> model.Binding:
    if isinstance(value, dict):
        return model.Binding(literal=_text(value["literal"]))
    return model.Binding(path=value)


def _heartbeat(spec: dict[str, Any]) -> model.Heartbeat:
    return model.Heartbeat(
        interval_seconds=seconds(spec["interval"]),
        repeat_seconds=seconds(spec["repeatInterval"]) if "repeatInterval" in spec else None,
        grace_seconds=seconds(spec.get("grace", "0s")),
        alertname=spec.get("alertname", model.WATCHDOG),
    )


def _checkly_channel(spec: dict[str, Any], source_name: str) -> model.ChecklyChannel:
    subscribe = spec.get("subscribe", {})
    return model.ChecklyChannel(
        name=spec.get("alertChannel", source_name),
        send_recovery=spec.get("sendRecovery", True),
        send_failure=spec.get("sendFailure", True),
        send_degraded=spec.get("sendDegraded", False),
        checks=tuple(subscribe.get("checks", ())),
        groups=tuple(subscribe.get("groups", ())),
    )


def build_model(doc: Document, name: str, path: Path) -> model.Stack:
    config = doc.data[CFG]

    def get(key: str, default: Any = None) -> Any:
        return config.get(stackfile.config_key(key), default)

    incidentio = get("incidentio")
    sources = tuple(
        model.Source(
            key=key,
            name=spec["name"],
            type=spec["type"],
            adopt=spec.get("adopt"),
            delivery=model.Delivery(spec["delivery"]["awsSecret"], spec["delivery"]["kubernetesSecret"])
            if "delivery" in spec
            else None,
            attributes=tuple(sorted((n, _binding(b)) for n, b in spec.get("attributes", {}).items())),
            emits=tuple((label, tuple(values)) for label, values in spec.get("emits", {}).items()),
            title=tuple(spec.get("title", {}).items()),
            description=tuple(spec.get("description", {}).items()),
            discard_live=spec.get("discardLiveSettings", False),
            heartbeat=_heartbeat(spec["heartbeat"]) if "heartbeat" in spec else None,
            checkly=_checkly_channel(spec["checkly"], spec["name"]) if "checkly" in spec else None,
        )
        for key, spec in get("sources").items()
    )
    routes = tuple(
        model.Route(
            name=spec["name"],
            adopt=spec.get("adopt"),
            sources=tuple(model.SourceFilter(key, _groups(cond)) for key, cond in spec["sources"].items()),
            escalate=tuple(spec.get("escalate", ())),
            slack=tuple(spec.get("slack", ())),
            enabled=spec.get("enabled", True),
            when=_groups(spec.get("when")),
            grouping=model.Grouping(seconds(spec["grouping"]["window"]), tuple(spec["grouping"].get("by", ())))
            if "grouping" in spec
            else None,
            discard_live=spec.get("discardLiveSettings", False),
            incident=model.Incident(
                enabled=spec.get("incident", {}).get("enabled", False),
                auto_decline=spec.get("incident", {}).get("autoDecline", False),
                defer_seconds=seconds(spec.get("incident", {}).get("defer", "0s")),
            ),
        )
        for spec in get("routes")
    )
    kube = get("kubernetes") or {}
    store = kube.get("secretStore", {})
    roll = kube.get("alertmanager")
    defaults = model.Kubernetes()
    kubernetes = model.Kubernetes(
        namespace=kube.get("namespace", defaults.namespace),
        secret_store_kind=store.get("kind", defaults.secret_store_kind),
        secret_store_name=store.get("name", defaults.secret_store_name),
        refresh_interval=kube.get("refreshInterval", defaults.refresh_interval),
        mode=kube.get("mode", defaults.mode),
        manifests_dir=kube.get("manifestsDir"),
        alertmanager=model.AlertmanagerRoll(roll["name"], roll.get("rollOnTokenChange", False)) if roll else None,
    )
    return model.Stack(
        name=name,
        file=path,
        environment=get("environment"),
        aws_region=config["aws:region"],
        aws_account_id=get("guards")["awsAccountId"],
        kube_context=get("guards")["kubeContext"],
        paging=get("policy")["paging"],
        slack_channels=tuple(sorted(incidentio["slackChannels"].items())),
        escalation_paths=tuple(sorted(incidentio.get("escalationPaths", {}).items())),
        attributes=tuple(sorted(incidentio.get("attributes", {}).items())),
        sources=sources,
        routes=routes,
        kubernetes=kubernetes,
        claim_managed=incidentio.get("claimManaged", False),
        checkly_account_id=(get("checkly") or {}).get("accountId"),
    )
