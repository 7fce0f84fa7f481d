"""The Pulumi program: one `AlertingStack` (``alerting:index:AlertingStack``) per stack file.

It applies `compile_stack(stack)` and nothing else: payloads and manifests are taken from the
compiled sections and only their deploy-time placeholders are replaced by resource outputs, so
`python -m components render <stack>` prints exactly what `pulumi up` sends.

Inside, per stack: an explicit ``aws.Provider`` (the stack's region, ``allowed_account_ids`` = its
``guards.awsAccountId``) and ``kubernetes.Provider`` (its ``guards.kubeContext``, or in GitOps mode
a render directory), passed to every AWS and Kubernetes resource, so nothing falls back to a
default provider; an `AlertSource` per source; an `AlertRoute` per route; a `TokenDelivery`
(components/delivery.py) per source with ``delivery``; optionally the Alertmanager roll patch; a
`ChecklyAlertChannel` (components/checkly/channel.py) per `checkly` source with ``checkly``, under
an explicit ``checkly.Provider`` for ``alerting:checkly.accountId``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_checkly as checkly
import pulumi_kubernetes as kubernetes

from components import validate
from components.checkly.channel import ChecklyAlertChannel, ChecklyAlertChannelArgs
from components.compile import CompiledAws, CompiledCheckly, CompiledRoute, compile_stack
from components.delivery import TokenDelivery, TokenDeliveryArgs, alertmanager_roll_patch, check_adopt_arn
from components.errors import AlertingError, StackError, install_log_scrubber
from components.incidentio.provider import AlertRoute, AlertSource
from components.incidentio.references import ALERT_SOURCE, SECRET_VERSION, find, substitute
from components.model import Stack, route_resource_name

TYPE = "alerting:index:AlertingStack"
GITOPS = "gitops"
RENDERED_DIR = Path("rendered")
# One-off adoption of AWS secrets that already exist (docs/token-delivery.md, "Adopting an
# existing AWS secret"): a JSON object {"<source key>": "<secret ARN>"}.
ADOPT_ENV = "ALERTING_ADOPT_AWS_SECRETS"
# The AlertSource outputs a TokenDelivery may read (its compiled secret string names them).
SOURCE_OUTPUTS = ("secret_token", "alert_events_url", "heartbeat_ping_url")


def render_directory(stack: Stack) -> str:
    """Where GitOps mode writes the Kubernetes manifests (relative to the project directory)."""
    return stack.kubernetes.manifests_dir or str(RENDERED_DIR / stack.name)


class AlertingStack(pulumi.ComponentResource):
    """Everything one stack owns: incident.io sources and routes, and each delivered token's path."""

    source_ids: pulumi.Output[dict[str, str]]
    route_ids: pulumi.Output[dict[str, str]]
    aws_secret_arns: pulumi.Output[dict[str, str]]
    external_secrets: pulumi.Output[dict[str, str]]
    checkly_channel_ids: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        stack: Stack,
        *,
        adopt_aws_secrets: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.stack = stack
        self.compiled = compiled = compile_stack(stack)
        # Everything that can refuse the stack is checked before the first resource is registered.
        external_secrets, rolls = self._manifests(compiled["kubernetes"]["manifests"])
        adopt_arns = self._adoptions(compiled["aws"], dict(adopt_aws_secrets or {}))
        route_keys = self._route_keys(compiled["incident_io"]["alert_routes"])
        checkly_account = self._checkly_account(compiled["checkly"])

        # A provider only where something uses it: a stack with no `delivery` registers no AWS or
        # Kubernetes resource at all, so it runs where neither plugin is installed.
        self.aws_provider: aws.Provider | None = None
        self.kubernetes_provider: kubernetes.Provider | None = None
        if compiled["aws"]["secrets"]:
            self.aws_provider = aws.Provider(
                "aws",
                region=compiled["aws"]["region"],
                allowed_account_ids=[compiled["aws"]["account_id"]],
                opts=pulumi.ResourceOptions(parent=self),
            )
        if compiled["kubernetes"]["manifests"]:
            self.kubernetes_provider = self._kubernetes_provider(stack)

        # -- incident.io --------------------------------------------------------------------
        incident_io = compiled["incident_io"]
        self.sources: dict[str, AlertSource] = {}
        by_adopted_id: dict[str, AlertSource] = {}
        for item in incident_io["alert_sources"]:
            source = AlertSource(
                item["key"],
                payload=item["payload"],
                stack=stack.name,
                adopt=item["adopt"],
                claim_managed=incident_io["claim_managed"],
                discard_live=item["discard_live_settings"],
                # An adopted source predates this stack (and Alertmanager pages through it):
                # `pulumi destroy` or dropping it from the file releases it, never deletes it.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=bool(item["adopt"])),
            )
            self.sources[item["key"]] = source
            if item["adopt"]:
                by_adopted_id[item["adopt"]] = source

        self.routes: dict[str, AlertRoute] = {}
        for key, route in zip(route_keys, incident_io["alert_routes"], strict=True):
            payload, referenced = self._route_payload(route["payload"], by_adopted_id)
            self.routes[key] = AlertRoute(
                key,
                payload=payload,
                stack=stack.name,
                adopt=route["adopt"],
                claim_managed=incident_io["claim_managed"],
                discard_live=route["discard_live_settings"],
                # Like adopted sources: an adopted route is released, never deleted, by the stack.
                opts=pulumi.ResourceOptions(parent=self, depends_on=referenced, retain_on_delete=bool(route["adopt"])),
            )

        # -- token delivery -----------------------------------------------------------------
        self.deliveries: dict[str, TokenDelivery] = {}
        for secret in compiled["aws"]["secrets"]:
            key = secret["source"]
            self.deliveries[key] = TokenDelivery(
                key,
                TokenDeliveryArgs(
                    source=key,
                    aws_secret=secret,
                    external_secret=external_secrets[key],
                    source_outputs=_secret_outputs(self.sources[key]),
                    aws_provider=_present(self.aws_provider),
                    kubernetes_provider=_present(self.kubernetes_provider),
                    adopt_arn=adopt_arns.get(key),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.alertmanager_roll: kubernetes.apiextensions.CustomResourcePatch | None = None
        for manifest in rolls:
            if stack.kubernetes.mode == GITOPS:
                pulumi.log.warn(
                    "kubernetes.alertmanager.rollOnTokenChange is not applied in gitops mode: a partial "
                    "Alertmanager manifest cannot be rendered for Argo CD. The config reloader picks up a "
                    "rotated token without a roll (docs/token-delivery.md).",
                    resource=self,
                )
                continue
            self.alertmanager_roll = alertmanager_roll_patch(
                "alertmanager-roll",
                manifest,
                {key: delivery.version_id for key, delivery in self.deliveries.items()},
                provider=_present(self.kubernetes_provider),
                parent=self,
            )

        # -- Checkly: the alert channels posting to checkly sources -------------------------
        self.checkly_provider: checkly.Provider | None = None
        self.checkly_channels: dict[str, ChecklyAlertChannel] = {}
        if checkly_account is not None:
            self.checkly_provider = self._checkly_provider(checkly_account)
        for channel in compiled["checkly"]["alert_channels"]:
            key = channel["source"]
            self.checkly_channels[key] = ChecklyAlertChannel(
                key,
                ChecklyAlertChannelArgs(
                    compiled=channel,
                    account_id=_present(checkly_account),
                    source_outputs=_secret_outputs(self.sources[key]),
                    provider=_present(self.checkly_provider),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        # -- outputs (ids and names only, never a token or URL) ------------------------------
        self.source_ids = _collect({key: s.id for key, s in self.sources.items()})
        self.route_ids = _collect({key: r.id for key, r in self.routes.items()})
        self.aws_secret_arns = _collect({key: d.secret_arn for key, d in self.deliveries.items()})
        self.external_secrets = _collect({key: d.external_secret_name for key, d in self.deliveries.items()})
        self.checkly_channel_ids = _collect({key: c.channel_id for key, c in self.checkly_channels.items()})
        self.register_outputs(
            {
                "source_ids": self.source_ids,
                "route_ids": self.route_ids,
                "aws_secret_arns": self.aws_secret_arns,
                "external_secrets": self.external_secrets,
                "checkly_channel_ids": self.checkly_channel_ids,
            }
        )

    def _checkly_provider(self, account_id: str) -> checkly.Provider:
        """Checkly's provider for the stack's account; its API key from the secret config
        ``alerting:checklyApiKey``, else the provider's own (``CHECKLY_API_KEY``): never plain."""
        config = pulumi.Config("alerting")
        return checkly.Provider(
            "checkly",
            account_id=account_id,
            api_key=config.get_secret("checklyApiKey"),
            api_url=config.get("checklyApiUrl"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _kubernetes_provider(self, stack: Stack) -> kubernetes.Provider:
        opts = pulumi.ResourceOptions(parent=self)
        if stack.kubernetes.mode == GITOPS:
            # `context` is refused together with renderYamlToDirectory; nothing touches a cluster.
            # always_render rewrites every manifest on each `pulumi up`, changed or not.
            return kubernetes.Provider(
                "kubernetes",
                render_yaml_to_directory=render_directory(stack),
                always_render=True,
                opts=opts,
            )
        return kubernetes.Provider("kubernetes", context=self.compiled["kubernetes"]["context"], opts=opts)

    def _route_payload(
        self, payload: dict[str, Any], by_adopted_id: Mapping[str, AlertSource]
    ) -> tuple[pulumi.Input[dict[str, Any]], list[pulumi.Resource]]:
        """The compiled route payload with ``${alert_source:<key>}`` -> that AlertSource's id.

        Also returns the AlertSources the route names (placeholders and adopted ids alike), so
        that sources are created or adopted before routes point at them.
        """
        keys = sorted(name for kind, name in find(payload) if kind == ALERT_SOURCE and "." not in name)
        referenced: list[pulumi.Resource] = [self.sources[k] for k in keys]
        referenced += [
            by_adopted_id[entry["alert_source_id"]]
            for entry in payload["alert_sources"]
            if entry["alert_source_id"] in by_adopted_id
        ]
        if not keys:
            return payload, referenced
        ids = pulumi.Output.all(*(self.sources[k].id for k in keys))
        resolved = ids.apply(
            lambda values: substitute(payload, {(ALERT_SOURCE, k): v for k, v in zip(keys, values, strict=True)})
        )
        return resolved, referenced

    @staticmethod
    def _checkly_account(section: CompiledCheckly) -> str | None:
        """The Checkly account, when the stack has alert channels (`validate` requires one then)."""
        if not section["alert_channels"]:
            return None
        if section["account_id"] is None:
            raise AlertingError("Checkly alert channels need alerting:checkly.accountId")
        return section["account_id"]

    @staticmethod
    def _route_keys(routes: list[CompiledRoute]) -> list[str]:
        """Each route's resource name; `validate` refuses two alike, this only guards the program."""
        keys = [route_resource_name(item["name"]) for item in routes]
        if len(set(keys)) < len(keys):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise AlertingError(f"two routes map to the same resource name {twice[0]!r}; rename one of them")
        return keys

    @staticmethod
    def _adoptions(compiled_aws: CompiledAws, requested: dict[str, str]) -> dict[str, str]:
        """The requested adoptions (source key -> secret ARN), each checked against the stack."""
        secrets = {s["source"]: s for s in compiled_aws["secrets"]}
        unknown = sorted(set(requested) - set(secrets))
        if unknown:
            raise AlertingError(f"{ADOPT_ENV} names sources without delivery: {', '.join(unknown)}")
        for key, arn in requested.items():
            check_adopt_arn(
                arn, name=secrets[key]["name"], region=compiled_aws["region"], account_id=compiled_aws["account_id"]
            )
        return requested

    @staticmethod
    def _manifests(manifests: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """Sort the compiled manifests: ExternalSecrets by source key, and Alertmanager rolls.

        A manifest of any other kind is refused rather than silently not applied.
        """
        external_secrets: dict[str, dict[str, Any]] = {}
        rolls: list[dict[str, Any]] = []
        for manifest in manifests:
            if manifest["kind"] == "ExternalSecret":
                (key,) = [name for kind, name in find(manifest) if kind == SECRET_VERSION]
                external_secrets[key] = manifest
            elif manifest["kind"] == "Alertmanager":
                rolls.append(manifest)
            else:
                raise AlertingError(f"the program does not apply {manifest['kind']} manifests yet")
        return external_secrets, rolls


def _secret_outputs(source: AlertSource) -> dict[str, pulumi.Output[str]]:
    """The outputs a delivery or a Checkly channel may carry: secret wherever they flow, whatever
    the provider declares."""
    return {output: pulumi.Output.secret(getattr(source, output)) for output in SOURCE_OUTPUTS}


def _collect(outputs: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    keys = list(outputs)
    return pulumi.Output.all(*outputs.values()).apply(lambda values: dict(zip(keys, values, strict=True)))


# -- the program's edge (__main__.py) -------------------------------------------------------------


@contextlib.contextmanager
def program_errors() -> Iterator[None]:
    """This project's errors become Pulumi errors: a message, never a traceback wall.

    A stack file's problems are logged one per line as ``file:line:col: $.path: message``; then the
    program stops with a one-line `pulumi.RunError`, before any resource is registered.
    """
    install_log_scrubber()
    try:
        yield
    except StackError as exc:
        for problem in exc.problems:
            (pulumi.log.error if problem.severity == "error" else pulumi.log.warn)(str(problem))
        errors = sum(p.severity == "error" for p in exc.problems)
        raise pulumi.RunError(f"{errors} error(s) in the stack file; nothing was changed") from None
    except AlertingError as exc:
        raise pulumi.RunError(str(exc)) from None


def load_stack(path: Path) -> Stack:
    """Validate the stack file (against its siblings) exactly like `python -m components validate`."""
    stack, warnings = validate.load_stack(path)
    for warning in warnings:
        pulumi.log.warn(str(warning))
    return stack


def adopt_aws_secrets_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``ALERTING_ADOPT_AWS_SECRETS='{"<source key>": "<secret ARN>"}'``, or nothing."""
    raw = environ.get(ADOPT_ENV, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise AlertingError(f'{ADOPT_ENV} must be a JSON object {{"<source key>": "<secret ARN>"}}')
    return value


_P = TypeVar("_P")


def _present(provider: _P | None) -> _P:
    """A provider that exists whenever something is delivered (see `AlertingStack.__init__`)."""
    assert provider is not None, "a delivered source always has its providers"
    return provider
