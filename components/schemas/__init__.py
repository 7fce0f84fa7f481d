"""Vendored JSON Schemas and the validators built on them.

Files (provenance and regeneration: README.md beside this module):

- `incident-io-openapi-subset.json`: incident.io OpenAPI `components/schemas` needed for alert
  routes, alert sources, managed resources, escalation paths and alert attributes;
- `externalsecret-v1.schema.json`: External Secrets Operator's ExternalSecret `v1` schema;
- `checkly-alert-channel.schema.json`: the inputs of Checkly's Pulumi `AlertChannel` resource;
- `checkly-subscription.schema.json`: the body of Checkly's subscription call (transcribed);
- `stack.schema.json`, `routing-tests.schema.json`: the project's own file schemas (used by
  components/structure.py, not here).

Importing this module reads nothing; files are loaded and validators built on first use, once.

OpenAPI 3.0 schema objects are validated as JSON Schema draft 4 (their closest relative: `$ref`
siblings ignored, boolean `exclusiveMinimum`), with `nullable: true` rewritten to allow `null`.
`format` (int64, date-time, …) is an annotation only. Unknown properties are allowed in API bodies
(incident.io adds fields without notice). Kubernetes `x-kubernetes-*` keywords are ignored, but an
ExternalSecret is checked like a strict (`fieldValidation=Strict`) API server would: an unknown
field in an object that lists its `properties` is reported instead of being silently pruned.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema costs ~0.1 s to import; `source_types` (validate) does not need it
    from jsonschema import Draft4Validator, ValidationError
    from referencing import Registry

__all__ = [
    "api_schema_names",
    "source_types",
    "validate_api_body",
    "validate_checkly_alert_channel",
    "validate_checkly_subscription",
    "validate_external_secret",
]

_DIR = Path(__file__).resolve().parent
_OPENAPI_FILE = "incident-io-openapi-subset.json"
_ESO_FILE = "externalsecret-v1.schema.json"
_CHECKLY_FILE = "checkly-alert-channel.schema.json"
_CHECKLY_SUBSCRIPTION_FILE = "checkly-subscription.schema.json"
_OPENAPI_URI = "urn:alerting:schemas:incident-io-openapi-subset"
_ESO_API_VERSION = "external-secrets.io/v1"
_ESO_KIND = "ExternalSecret"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_ENUM_SHOWN = 8
_MAX_VALUE_CHARS = 60
_MAX_MESSAGE_CHARS = 300

PathPart = str | int


def api_schema_names() -> tuple[str, ...]:
    """Names accepted by `validate_api_body`, sorted."""
    return tuple(sorted(_openapi_document()["components"]["schemas"]))


@functools.cache
def source_types() -> tuple[str, ...]:
    """The `source_type` values the vendored spec knows (incident.io adds more over time)."""
    schema = _openapi_document()["components"]["schemas"]["AlertSourcesCreatePayloadV2"]
    return tuple(schema["properties"]["source_type"]["enum"])


def validate_api_body(schema_name: str, body: dict) -> list[str]:
    """Validate an incident.io request/response body against `#/components/schemas/<schema_name>`.

    Returns sorted ``"$.path.to.field: message"`` strings; an empty list means valid.
    Raises ValueError for a schema name that is not vendored (see `api_schema_names`).
    """
    return _messages(_api_validator(schema_name).iter_errors(body))


def validate_external_secret(manifest: dict) -> list[str]:
    """Validate an ExternalSecret manifest against ESO's `external-secrets.io/v1` schema.

    Also requires ``apiVersion: external-secrets.io/v1`` and ``kind: ExternalSecret``.
    Returns sorted ``"$.path.to.field: message"`` strings; an empty list means valid.
    """
    extra: list[tuple[list[PathPart], str]] = []
    if isinstance(manifest, dict):
        for field, expected in (("apiVersion", _ESO_API_VERSION), ("kind", _ESO_KIND)):
            value = manifest.get(field)
            if value != expected:
                got = "nothing" if value is None else _show(value)
                extra.append(([field], f"expected {_show(expected)}, got {got}"))
    return _messages(_eso_validator().iter_errors(manifest), extra)


def validate_checkly_subscription(body: dict) -> list[str]:
    """Validate a `PUT /v1/alert-channels/{id}/subscriptions` body against Checkly's API reference
    (transcribed: one of checkId / groupId, `activated`)."""
    return _messages(_checkly_subscription_validator().iter_errors(body), [])


def validate_checkly_alert_channel(inputs: dict) -> list[str]:
    """Validate a Checkly alert channel's inputs (the engine's names: `sendRecovery`, `webhook`
    with `webhookType`, ...) against the schema of Checkly's Pulumi provider. Returns sorted
    ``"$.path: message"`` strings; an empty list means valid."""
    return _messages(_checkly_validator().iter_errors(inputs), [])


# --- loading ---------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    return json.loads((_DIR / name).read_text(encoding="utf-8"))


@functools.cache
def _openapi_document() -> dict[str, Any]:
    return _allow_nullable(_load(_OPENAPI_FILE))


@functools.cache
def _registry() -> Registry:
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    return Registry().with_resource(_OPENAPI_URI, DRAFT4.create_resource(_openapi_document()))


@functools.cache
def _api_validator(schema_name: str) -> Draft4Validator:
    from jsonschema import Draft4Validator

    if schema_name not in _openapi_document()["components"]["schemas"]:
        raise ValueError(f"no vendored incident.io schema {schema_name!r}; available: {', '.join(api_schema_names())}")
    ref = f"{_OPENAPI_URI}#/components/schemas/{schema_name}"
    return Draft4Validator({"$ref": ref}, registry=_registry())


@functools.cache
def _eso_validator() -> Draft4Validator:
    from jsonschema import Draft4Validator

    schema = _close_objects(_allow_nullable(_load(_ESO_FILE)))
    schema.pop("x-provenance", None)
    return Draft4Validator(schema)


@functools.cache
def _checkly_subscription_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_load(_CHECKLY_SUBSCRIPTION_FILE))


@functools.cache
def _checkly_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_load(_CHECKLY_FILE))


def _allow_nullable(node: Any) -> Any:
    """Rewrite OpenAPI's `nullable: true` into plain JSON Schema, everywhere in `node`."""
    if isinstance(node, list):
        return [_allow_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _allow_nullable(value) for key, value in node.items()}
    if out.get("nullable") is not True:
        return out
    del out["nullable"]
    if "$ref" in out:  # OpenAPI 3.0 ignores siblings of $ref; keep its meaning and allow null
        return {"anyOf": [out, {"type": "null"}]}
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _close_objects(schema: Any) -> Any:
    """Forbid unknown fields where a Kubernetes structural schema would prune them."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _close_objects(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = _close_objects(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [_close_objects(sub) for sub in out[key]]
    return out


# --- messages --------------------------------------------------------------------------------


def _messages(errors: Iterable[ValidationError], extra: Iterable[tuple[list[PathPart], str]] = ()) -> list[str]:
    """Format, de-duplicate and sort (array indices numerically) every finding."""
    found: set[tuple[tuple[tuple[int, int, str], ...], str, str]] = set()
    for path, message in [*(pair for error in errors for pair in _explain(error)), *extra]:
        key = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)
        found.add((key, _format_path(path), message))
    return [f"{path}: {message}" for _, path, message in sorted(found)]


def _explain(error: ValidationError) -> Iterator[tuple[list[PathPart], str]]:
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield [*path, name], "required field is missing"
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        for name in instance:
            if name not in known:
                yield [*path, name], "unknown field"
    elif error.validator == "type":
        expected = error.validator_value
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        yield path, f"expected {wanted}, got {_json_type(instance)} {_show(instance)}"
    elif error.validator == "enum":
        allowed = list(error.validator_value)
        shown = ", ".join(_show(v) for v in allowed[:_MAX_ENUM_SHOWN])
        more = f", … ({len(allowed)} allowed)" if len(allowed) > _MAX_ENUM_SHOWN else ""
        yield path, f"{_show(instance)} is not one of {shown}{more}"
    else:
        message = error.message
        if len(message) > _MAX_MESSAGE_CHARS:
            message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
        yield path, message


def _format_path(path: list[PathPart]) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"
