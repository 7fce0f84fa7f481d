"""Vendor the Checkly alert channel schema that `components.schemas.validate_checkly_alert_channel`
checks the compiled channel against.

    python tools/vendor_checkly_schema.py --schema PATH [--out-dir DIR] [--check]

Reads the Pulumi package schema of Checkly's first-party provider (pulumi-checkly's
`provider/cmd/pulumi-resource-checkly/schema.json`) and writes `checkly-alert-channel.schema.json`:
the `checkly:index/alertChannel:AlertChannel` resource's `inputProperties` as a JSON Schema
(draft 2020-12) object, each `#/types/...` reference it reaches copied under `$defs`, unknown
properties refused (the engine's names: `sendRecovery`, `webhookType`, ...). Deterministic; an
`x-provenance` object names the source and its sha256. `--check` writes nothing, exits 1 if stale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parents[1] / "components" / "schemas"
OUT_FILE = "checkly-alert-channel.schema.json"
RESOURCE = "checkly:index/alertChannel:AlertChannel"
TYPE_REF = "#/types/"
ORIGIN = {
    "repository": "https://github.com/checkly/pulumi-checkly",
    "path": "provider/cmd/pulumi-resource-checkly/schema.json",
    "tag": "v2.11.0",
    "commit": "61a853df34a631852612c6ede2006fc0ff735942",
    "note": "pulumi-checkly 2.14.0 (requirements.txt) has the same AlertChannel webhook inputs; it adds slackApp",
}
_KEPT = ("type", "properties", "additionalProperties", "items", "required", "description", "$ref")


def _def_name(token: str) -> str:
    return token.rpartition(":")[2]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(TYPE_REF):
            yield ref.removeprefix(TYPE_REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _convert(node: Any) -> Any:
    """A Pulumi schema property as JSON Schema: `$ref`s to `$defs`, Pulumi-only keys dropped."""
    if isinstance(node, list):
        return [_convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k in _KEPT}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith(TYPE_REF):
        out["$ref"] = "#/$defs/" + _def_name(out["$ref"].removeprefix(TYPE_REF))
    if "properties" in node:
        out["properties"] = {k: _convert(v) for k, v in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


def render(schema_path: Path) -> str:
    data = schema_path.read_bytes()
    package = json.loads(data)
    resource = package["resources"][RESOURCE]
    wanted, seen = list(_refs(resource["inputProperties"])), set()
    defs: dict[str, Any] = {}
    while wanted:
        token = wanted.pop()
        if token in seen:
            continue
        seen.add(token)
        definition = package["types"][token]
        defs[_def_name(token)] = _convert(definition)
        wanted.extend(_refs(definition))
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{RESOURCE} inputs",
        "type": "object",
        "additionalProperties": False,
        "properties": {k: _convert(v) for k, v in resource["inputProperties"].items()},
        "$defs": dict(sorted(defs.items())),
        "x-provenance": {
            **ORIGIN,
            "source_sha256": hashlib.sha256(data).hexdigest(),
            "extracted_by": "tools/vendor_checkly_schema.py",
        },
    }
    return json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schema", type=Path, required=True, help="pulumi-checkly's schema.json")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        text = render(args.schema)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target = args.out_dir / OUT_FILE
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if current == text:
        print("up to date")
        return 0
    if args.check:
        print(f"stale: {target}")
        return 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
