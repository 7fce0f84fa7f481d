"""Run the real Pulumi program (__main__.py) for one stack under Pulumi mocks and record everything.

`run_program("staging")` executes __main__.py exactly as `pulumi up -s staging` would (same file,
same stack file, same working-directory layout) against a recording mock monitor, and returns a
`ProgramRun`: every registered resource with its type, name, plain inputs, which inputs were
marked secret, explicit provider, parent and options (protect, import id, ignore_changes,
additional secret outputs), plus the stack exports and the warnings/errors the program logged.

The mocks answer like the clouds would, deterministically: a secret's ARN carries the account
and region of the AWS provider it was created with, a secret version's id changes with its
content, an alert source's URL and token are derived from the stack and source (override a
token with ``tokens=`` to simulate a rotation in incident.io).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import runpy
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "__main__.py"
PROJECT = "alerting"
COMMITTED_STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
)

# Pulumi's wire marker for a secret value.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


@dataclass(frozen=True)
class Registered:
    """One RegisterResource call, as the engine would have received it."""

    urn: str
    type: str
    name: str
    id: str
    custom: bool
    inputs: dict[str, Any]  # plain values (secrets unwrapped), keyed by the engine's property names
    secret_paths: frozenset[str]  # paths into `inputs` whose value was sent marked secret
    provider: str  # "<provider urn>::<provider id>", "" when none was set explicitly
    parent: str  # parent URN
    protect: bool
    retain_on_delete: bool
    import_id: str
    ignore_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    dependencies: tuple[str, ...]
    outputs: dict[str, Any]  # what the mock answered

    @property
    def provider_urn(self) -> str:
        return self.provider.rpartition("::")[0]

    def text(self) -> str:
        """Every input as JSON text, minus Pulumi-internal keys (e.g. a dynamic ``__provider``)."""
        return json.dumps({k: v for k, v in self.inputs.items() if not k.startswith("__")}, sort_keys=True)


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registered]
    exports: dict[str, Any]
    logs: list[tuple[str, str]] = field(default_factory=list)  # (level name, message), INFO and up

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registered:
        (found,) = self.of_type(type_)
        return found

    def by_urn(self, urn: str) -> Registered:
        (found,) = [r for r in self.resources if r.urn == urn]
        return found

    def children(self, parent: Registered) -> list[Registered]:
        return [r for r in self.resources if r.parent == parent.urn]

    def warnings(self) -> list[str]:
        return [message for level, message in self.logs if level == "WARNING"]


def secret_paths(value: Any, path: str = "") -> set[str]:
    """Paths of the values Pulumi would send as secrets inside a serialized property struct."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return {path}
        found: set[str] = set()
        for key, item in value.items():
            found |= secret_paths(item, f"{path}.{key}" if path else key)
        return found
    if isinstance(value, list):
        found = set()
        for i, item in enumerate(value):
            found |= secret_paths(item, f"{path}[{i}]")
        return found
    return set()


def unwrap_secrets(value: Any) -> Any:
    """The plain value, with Pulumi's secret wrappers (as the mock monitor keeps them) removed."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _short(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _account_ids(value: Any) -> list[str]:
    # Provider configuration travels with non-string values JSON-encoded.
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


class AlertingMocks(pulumi.runtime.Mocks):
    """Deterministic, cloud-like answers for every resource type the program registers."""

    def __init__(self, stack: str, tokens: Mapping[str, str] | None = None) -> None:
        self.stack = stack
        self.tokens = dict(tokens or {})
        self.aws_providers: dict[str, tuple[str, str]] = {}  # provider id -> (region, account)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = unwrap_secrets(dict(args.inputs))
        typ, name = args.typ, args.name
        if typ == "pulumi:providers:aws":
            provider_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack}/{typ}/{name}"))
            (account,) = _account_ids(inputs.get("allowedAccountIds"))
            self.aws_providers[provider_id] = (inputs["region"], account)
            return provider_id, inputs
        if typ.startswith("pulumi:providers:"):
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack}/{typ}/{name}")), inputs
        if typ == "aws:secretsmanager/secret:Secret":
            region, account = self.aws_providers[(args.provider or "").rpartition("::")[2]]
            arn = args.resource_id or (
                f"arn:aws:secretsmanager:{region}:{account}:secret:{inputs['name']}-{_short(account + inputs['name'])}"
            )
            return arn, {**inputs, "arn": arn}
        if typ == "aws:secretsmanager/secretVersion:SecretVersion":
            version = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{inputs['secretId']}\n{inputs['secretString']}"))
            return f"{inputs['secretId']}|{version}", {**inputs, "arn": inputs["secretId"], "versionId": version}
        if typ.endswith(":AlertSource"):
            source_id = inputs.get("adopt") or f"01MOCK{_short(self.stack + name, 20).upper()}"
            source_type = inputs["payload"]["source_type"]
            heartbeat = source_type == "heartbeat"  # pinged, not sent alert events (AlertSourceV2)
            return source_id, {
                **inputs,
                "alert_events_url": ""
                if heartbeat
                else f"https://api.incident.io/v2/alert_events/{source_type}/{source_id}",
                "heartbeat_ping_url": f"https://api.incident.io/v2/heartbeat/{source_id}/ping" if heartbeat else "",
                "secret_token": self.tokens.get(name, f"token({self.stack}/{name})"),  # no token a prefix of another
            }
        if typ.endswith(":AlertRoute"):
            return f"01ROUTE{_short(self.stack + name, 19).upper()}", {**inputs, "version": 1}
        if typ.startswith("kubernetes:"):
            metadata = inputs.get("metadata") or {}
            return f"{metadata.get('namespace', 'default')}/{metadata.get('name', name)}", inputs
        return f"{name}-id", inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"the program must not call provider functions (called {args.token})")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The standard mock monitor, keeping each RegisterResource request with its options."""

    def __init__(self, mocks: AlertingMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = json_format.MessageToDict(request.object)
        urn = response.urn
        self.registered.append(
            Registered(
                urn=urn,
                type=request.type,
                name=request.name,
                id=response.id,
                custom=request.custom,
                inputs=unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(request.object)),
                secret_paths=frozenset(secret_paths(raw)),
                provider=request.provider,
                parent=request.parent,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                import_id=request.importId,
                ignore_changes=tuple(request.ignoreChanges),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
                dependencies=tuple(request.dependencies),
                outputs=self.resources[urn].state,
            )
        )
        return response


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


def _resolve(value: Any) -> pulumi.Output[Any]:
    return pulumi.Output.from_input(value)


def run_program(
    stack: str,
    *,
    project_dir: Path = ROOT,
    tokens: Mapping[str, str] | None = None,
    preview: bool = False,
    environ: Mapping[str, str] | None = None,
    secret_config: Mapping[str, str] | None = None,
) -> ProgramRun:
    """Run __main__.py for `stack` (project_dir/stacks/Pulumi.<stack>.yaml) under mocks, with
    `secret_config` as `pulumi config set --secret` would give it to the program."""
    mocks = AlertingMocks(stack, tokens)
    monitor = RecordingMonitor(mocks)
    logger = logging.getLogger(f"pulumi-mocks-{stack}")
    logger.propagate = False
    capture = _LogCapture()
    logger.handlers[:] = [capture]
    logger.setLevel(logging.INFO)
    pulumi_settings.ROOT.set(None)  # a fresh root Stack resource named after this stack
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, logger=logger, monitor=monitor)
    pulumi.runtime.set_all_config(dict(secret_config or {}), list(secret_config or {}))
    exports: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        with contextlib.chdir(project_dir), _environment(environ or {}):
            runpy.run_path(str(MAIN), run_name="__main__")
        root = pulumi_settings.get_root_resource()
        assert root is not None
        outputs = dict(root.outputs)  # type: ignore[attr-defined]
        names = list(outputs)
        return pulumi.Output.all(*(_resolve(v) for v in outputs.values())).apply(
            lambda values: exports.update(zip(names, values, strict=True))
        )

    try:
        program()
    except Exception as exc:
        raise ProgramFailed(exc, capture.records, list(monitor.registered)) from exc
    return ProgramRun(stack=stack, resources=list(monitor.registered), exports=exports, logs=capture.records)


class ProgramFailed(Exception):
    """The program raised: the original error, with what was logged and registered before it."""

    def __init__(self, error: Exception, logs: list[tuple[str, str]], resources: list[Registered]) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error, self.logs, self.resources = error, logs, resources


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        yield
