"""Token delivery: one source's token and URL from incident.io to Alertmanager's mounted secret.

`TokenDelivery` (``alerting:delivery:TokenDelivery``) applies, for one source with `delivery`, the
sections `components/compile.py` produced (never re-deriving them):

- ``aws.secretsmanager.Secret``: the compiled `aws_secret()` name and description; protected when
  the compiler says so (production); optionally adopted (`import_`) when it already exists;
- ``aws.secretsmanager.SecretVersion``: the compiled JSON object ``{"alert_source_token": …,
  "alert_source_url": …}`` with the AlertSource's outputs substituted, marked secret;
- the ExternalSecret (`external_secret()`): ``${secret_version:<key>}`` in its annotation becomes
  the SecretVersion's ``version_id``, so every new token makes External Secrets fetch at once.

`alertmanager_roll_patch` applies the optional `alertmanager_roll()` manifest (a server-side-apply
patch of the operator's ``Alertmanager``). Every resource gets the stack's explicit providers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes

from components.compile import AwsSecret
from components.errors import AlertingError
from components.incidentio.references import ALERT_SOURCE, SECRET_VERSION, find, substitute

TYPE = "alerting:delivery:TokenDelivery"

# While adopting, the existing secret's settings win over the program's for these inputs: an
# import whose inputs differ from the live secret fails. The next `pulumi up` without adoption
# aligns the description (tags and KMS key are not managed here; leaving them unset keeps them).
ADOPT_IGNORE_CHANGES = ["description", "tags", "kms_key_id", "policy"]

_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):secret:(?P<name>.+)-[A-Za-z0-9]{6}$"
)


def check_adopt_arn(arn: str, *, name: str, region: str, account_id: str) -> None:
    """Refuse to adopt a secret from another account, region or name (e.g. production's)."""
    match = _SECRET_ARN.match(arn)
    if match is None:
        raise AlertingError(
            f"cannot adopt AWS secret {name!r}: {arn!r} is not a Secrets Manager secret ARN"
            " (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)"
        )
    expected = {"account": account_id, "region": region, "name": name}
    wrong = [f"{part} {match[part]!r} (expected {want!r})" for part, want in expected.items() if match[part] != want]
    if wrong:
        raise AlertingError(f"cannot adopt AWS secret {name!r} from {arn!r}: wrong {', '.join(wrong)}")


def _resolve(value: Any, resolved: Mapping[tuple[str, str], str], what: str) -> Any:
    """Substitute placeholders; any placeholder left over is a program bug, reported plainly."""
    out = substitute(value, resolved)
    left = sorted(f"${{{kind}:{name}}}" for kind, name in find(out))
    if left:
        raise AlertingError(f"{what}: no value for {', '.join(left)}")
    return out


def source_output_placeholders(value: Any, source: str) -> dict[tuple[str, str], str]:
    """The ``${alert_source:<source>.<output>}`` placeholders in `value`: placeholder -> output name."""
    found: dict[tuple[str, str], str] = {}
    for kind, name in find(value):
        key, _, output = name.partition(".")
        if kind != ALERT_SOURCE or not output:
            continue
        if key != source:
            raise AlertingError(f"the delivery of source {source!r} refers to another source: ${{{kind}:{name}}}")
        found[(kind, name)] = output
    return found


def with_source_outputs(
    value: Any, source: str, outputs: Mapping[str, pulumi.Input[str]], what: str
) -> pulumi.Output[Any]:
    """`value` with its ``${alert_source:<source>.<output>}`` placeholders replaced by those
    AlertSource outputs; only the outputs it names are awaited, so nothing else flows in."""
    wanted = source_output_placeholders(value, source)
    values = {placeholder: outputs[output] for placeholder, output in wanted.items()}
    return pulumi.Output.all(*values.values()).apply(
        lambda resolved: _resolve(value, dict(zip(values.keys(), resolved, strict=True)), what)
    )


def secret_string_json(value: Any) -> str:
    """The Secrets Manager secret string: compact, key-sorted JSON (stable for equal content)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class TokenDeliveryArgs:
    """Everything a TokenDelivery needs; the two sections come straight from the compiler."""

    source: str  # the source key
    aws_secret: AwsSecret  # compile.aws_secret(): name, description, protect, secret_string
    external_secret: Mapping[str, Any]  # compile.external_secret(): the manifest with placeholders
    source_outputs: Mapping[str, pulumi.Input[str]]  # the AlertSource outputs, by name
    aws_provider: aws.Provider
    kubernetes_provider: kubernetes.Provider
    # ARN of a secret that already exists under the compiled name, to adopt instead of create.
    adopt_arn: str | None = None


class TokenDelivery(pulumi.ComponentResource):
    """AWS secret + secret version + ExternalSecret for one delivered source."""

    secret_arn: pulumi.Output[str]
    version_id: pulumi.Output[str]
    external_secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: TokenDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        compiled = args.aws_secret
        aws_opts = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)

        secret_opts = pulumi.ResourceOptions(parent=self, provider=args.aws_provider, protect=bool(compiled["protect"]))
        if args.adopt_arn:
            secret_opts = pulumi.ResourceOptions.merge(
                secret_opts, pulumi.ResourceOptions(import_=args.adopt_arn, ignore_changes=ADOPT_IGNORE_CHANGES)
            )
        self.secret = aws.secretsmanager.Secret(
            f"{name}-aws-secret",
            name=compiled["name"],
            description=compiled["description"],
            opts=secret_opts,
        )

        # Only the outputs the compiled secret string names go in; the result is secret.
        secret_string = with_source_outputs(
            compiled["secret_string"], args.source, args.source_outputs, f"AWS secret {compiled['name']!r}"
        ).apply(secret_string_json)
        self.version = aws.secretsmanager.SecretVersion(
            f"{name}-aws-secret-version",
            secret_id=self.secret.arn,
            # pulumi's Input[T] stubs infer T as Never for an Output[str]; the value is a str.
            secret_string=pulumi.Output.secret(secret_string),  # type: ignore[arg-type]
            opts=aws_opts,
        )

        manifest = resolve_manifest(args.external_secret, {args.source: self.version.version_id})
        self.external_secret = kubernetes.apiextensions.CustomResource(
            f"{name}-external-secret",
            api_version=args.external_secret["apiVersion"],
            kind=args.external_secret["kind"],
            metadata=manifest.apply(lambda m: m["metadata"]),
            spec=manifest.apply(lambda m: m["spec"]),
            opts=pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=[self.version]),
        )

        self.secret_arn = self.secret.arn
        self.version_id = self.version.version_id
        self.external_secret_name = pulumi.Output.from_input(args.external_secret["metadata"]["name"])
        self.register_outputs(
            {
                "secret_arn": self.secret_arn,
                "version_id": self.version_id,
                "external_secret_name": self.external_secret_name,
            }
        )


def resolve_manifest(
    manifest: Mapping[str, Any], versions: Mapping[str, pulumi.Input[str]]
) -> pulumi.Output[dict[str, Any]]:
    """`manifest` with each ``${secret_version:<key>}`` replaced by that source's version id.

    Only the versions the manifest names are awaited, so nothing else (no secret) flows in.
    """
    wanted = sorted(name for kind, name in find(manifest) if kind == SECRET_VERSION)
    what = f"{manifest['kind']} {manifest['metadata']['name']!r}"
    missing = [key for key in wanted if key not in versions]
    if missing:
        raise AlertingError(f"{what}: no secret version for source(s) {', '.join(missing)}")
    return pulumi.Output.all(*(versions[key] for key in wanted)).apply(
        lambda ids: _resolve(
            dict(manifest), {(SECRET_VERSION, key): str(v) for key, v in zip(wanted, ids, strict=True)}, what
        )
    )


def alertmanager_roll_patch(
    name: str,
    manifest: Mapping[str, Any],
    versions: Mapping[str, pulumi.Input[str]],
    *,
    provider: kubernetes.Provider,
    parent: pulumi.Resource,
) -> kubernetes.apiextensions.CustomResourcePatch:
    """Server-side-apply patch of the operator's ``Alertmanager``: one pod annotation per token version.

    The operator rolls the Alertmanager pods when ``spec.podMetadata`` changes. Only the annotation
    keys are owned by this patch (field manager of the Pulumi Kubernetes provider); deleting the
    patch removes them again.
    """
    resolved = resolve_manifest(manifest, versions)
    return kubernetes.apiextensions.CustomResourcePatch(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=resolved.apply(lambda m: m["metadata"]),
        spec=resolved.apply(lambda m: m["spec"]),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
