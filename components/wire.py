"""Property values as the Pulumi engine hands them to a dynamic provider: shared by every
provider of the project (incident.io's, Checkly's subscriptions)."""

from __future__ import annotations

from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc


def is_unknown(value: Any) -> bool:
    # The SDK passes preview-time unknowns as `Unknown()` (3.272) or as the sentinel string.
    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)


def has_unknowns(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknowns(v) for v in value)
    return is_unknown(value)


def plain(value: Any) -> Any:
    """Copy without RPC secret wrappers, integral floats back to ints.

    Property values cross the engine as protobuf numbers (doubles): ``300`` arrives as ``300.0``,
    which the official schema (and a Go JSON decoder) refuses where an integer is expected.
    """
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
