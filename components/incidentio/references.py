"""Readable placeholders for values known only at deploy time, and their substitution.

A compiled payload stays a pure function of the stack file: wherever it needs an id that only
incident.io or AWS can give, it holds a placeholder such as ``${escalation_path:Engineering On-Call}``.
The Pulumi program and the providers substitute them; `render` shows them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ALERT_SOURCE = "alert_source"  # ${alert_source:<key>} is the id; ${alert_source:<key>.<output>} an output
ESCALATION_PATH = "escalation_path"
ALERT_ATTRIBUTE = "alert_attribute"
SECRET_VERSION = "secret_version"  # ${secret_version:<source key>}: the AWS secret's version id

PLACEHOLDER = re.compile(r"\$\{(?P<kind>[a-z_]+):(?P<name>[^}]+)\}")


def ref(kind: str, name: str) -> str:
    return f"${{{kind}:{name}}}"


def find(value: Any) -> set[tuple[str, str]]:
    """Every (kind, name) placeholder anywhere inside a JSON-like value."""
    found: set[tuple[str, str]] = set()

    def collect(text: str) -> str:
        found.update((m["kind"], m["name"]) for m in PLACEHOLDER.finditer(text))
        return text

    _walk(value, collect)
    return found


def substitute(value: Any, resolved: Mapping[tuple[str, str], str]) -> Any:
    """Replace the placeholders that `resolved` knows; leave the others for a later stage."""

    def replace(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: resolved.get((m["kind"], m["name"]), m[0]), text)

    return _walk(value, replace)


def _walk(value: Any, on_text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return on_text(value)
    if isinstance(value, dict):
        return {k: _walk(v, on_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, on_text) for v in value]
    return value
