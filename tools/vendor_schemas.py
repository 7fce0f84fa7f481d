"""Vendor the JSON Schemas that `components.schemas` validates against.

    python tools/vendor_schemas.py --openapi PATH --crd PATH [--out-dir DIR] [--check]

Reads incident.io's public OpenAPI 3.0.3 spec and External Secrets Operator's ExternalSecret CRD,
and writes two small, deterministic JSON files (plus nothing else) into `components/schemas/`:

- `incident-io-openapi-subset.json`: the transitive closure of the `components/schemas` entries
  named in ROOTS, with `example` keywords dropped;
- `externalsecret-v1.schema.json`: the CRD's `v1` `openAPIV3Schema`, unchanged.

Each file carries an `x-provenance` object. Its `extracted_on` date is the only part that depends
on the clock: when everything else is unchanged the existing file (and its date) is left alone, so
re-running is a no-op. `--check` writes nothing and exits 1 when a file is missing or stale.

The sources are not part of the project; see components/schemas/README.md for where they come from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

OUT_DIR = Path(__file__).resolve().parents[1] / "components" / "schemas"
OPENAPI_FILE = "incident-io-openapi-subset.json"
ESO_FILE = "externalsecret-v1.schema.json"

ROOTS = (
    "AlertRoutesCreatePayloadV2",
    "AlertRoutesUpdatePayloadV2",
    "AlertSourcesCreatePayloadV2",
    "AlertSourcesUpdatePayloadV2",
    "ManagedResourcesCreateManagedResourcePayloadV2",
    "AlertRouteV2",
    "AlertSourceV2",
    "EscalationPathV2",
    "AlertAttributeV2",
    "AlertsListResultV2",
    "AlertEventsCreateHTTPPayloadV2",
)
DROPPED_KEYWORDS = ("example", "examples")
REF_PREFIX = "#/components/schemas/"

OPENAPI_ORIGIN = {
    "repository": "https://github.com/incident-io/terraform-provider-incident",
    "path": "internal/apischema/public-schema-v3-including-secret-endpoints.json",
    "commit": "a438c9e",
}
ESO_ORIGIN = {
    "project": "External Secrets Operator",
    "repository": "https://github.com/external-secrets/external-secrets",
    "version": "v2.9.0",
    "crd": "externalsecrets.external-secrets.io",
    "crd_version": "v1",
    "extracted": "spec.versions[name=v1].schema.openAPIV3Schema",
}


class VendorError(Exception):
    """A source file does not have the expected shape."""


def _strip(schema: Any) -> Any:
    """Copy a schema object without DROPPED_KEYWORDS, recursing only where schemas sit.

    Schema-aware on purpose: `properties` maps *names* to schemas, and a property may well be
    called `example` or `description`.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED_KEYWORDS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _strip(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _strip(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_strip(sub) for sub in value]
        else:
            out[key] = value
    return out


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def openapi_subset(spec: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Return (roots found, {name: stripped schema}) for the closure of ROOTS."""
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    roots = [name for name in ROOTS if name in schemas]
    if not roots:
        raise VendorError("none of the root schemas exist in components/schemas")
    picked: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in picked:
            continue
        if name not in schemas:
            raise VendorError(f"dangling $ref to {REF_PREFIX}{name}")
        picked[name] = _strip(schemas[name])
        for ref in _refs(picked[name]):
            if not ref.startswith(REF_PREFIX):
                raise VendorError(f"unsupported $ref {ref!r} in {name}")
            todo.append(ref[len(REF_PREFIX) :])
    return roots, picked


def externalsecret_v1(crd: dict[str, Any]) -> dict[str, Any]:
    if (
        crd.get("kind") != "CustomResourceDefinition"
        or crd.get("spec", {}).get("names", {}).get("kind") != "ExternalSecret"
    ):
        raise VendorError("not the ExternalSecret CustomResourceDefinition")
    for version in crd["spec"].get("versions", []):
        if version.get("name") == "v1":
            return version["schema"]["openAPIV3Schema"]
    raise VendorError("the CRD has no v1 version")


def render(openapi_path: Path, crd_path: Path, extracted_on: dict[str, str]) -> dict[str, str]:
    """Return {file name: exact file text}; `extracted_on` maps file name to its date."""
    openapi_bytes = openapi_path.read_bytes()
    crd_bytes = crd_path.read_bytes()
    spec = json.loads(openapi_bytes)
    roots, picked = openapi_subset(spec)
    crd = yaml.safe_load(crd_bytes)
    eso_schema = externalsecret_v1(crd)

    def provenance(origin: dict[str, Any], data: bytes, name: str, **extra: Any) -> dict[str, Any]:
        return {
            **origin,
            "source_sha256": hashlib.sha256(data).hexdigest(),
            "extracted_by": "tools/vendor_schemas.py",
            "extracted_on": extracted_on[name],
            **extra,
        }

    openapi_doc = {
        "x-provenance": provenance(
            OPENAPI_ORIGIN,
            openapi_bytes,
            OPENAPI_FILE,
            openapi=spec.get("openapi"),
            roots=roots,
            missing_roots=[name for name in ROOTS if name not in roots],
            dropped_keywords=list(DROPPED_KEYWORDS),
        ),
        "components": {"schemas": picked},
    }
    eso_doc = {
        **eso_schema,
        "x-provenance": provenance(
            ESO_ORIGIN,
            crd_bytes,
            ESO_FILE,
            controller_gen=crd.get("metadata", {})
            .get("annotations", {})
            .get("controller-gen.kubebuilder.io/version"),
        ),
    }
    return {OPENAPI_FILE: _dump(openapi_doc), ESO_FILE: _dump(eso_doc)}


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _existing_date(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc["x-provenance"]["extracted_on"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def plan(openapi_path: Path, crd_path: Path, out_dir: Path = OUT_DIR) -> dict[str, str]:
    """Return {file name: new text} for the files that are missing or stale in `out_dir`.

    A file whose content differs only by its `extracted_on` date is not stale.
    """
    names = (OPENAPI_FILE, ESO_FILE)
    old_dates = {name: _existing_date(out_dir / name) or "" for name in names}
    with_old_dates = render(openapi_path, crd_path, old_dates)
    stale = [
        name
        for name in names
        if not (out_dir / name).is_file()
        or (out_dir / name).read_text(encoding="utf-8") != with_old_dates[name]
    ]
    if not stale:
        return {}
    today = dt.date.today().isoformat()
    fresh = render(openapi_path, crd_path, {name: today for name in names})
    return {name: fresh[name] for name in stale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openapi", type=Path, required=True, help="incident.io OpenAPI JSON")
    parser.add_argument("--crd", type=Path, required=True, help="ExternalSecret CRD YAML")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        changes = plan(args.openapi, args.crd, args.out_dir)
    except (OSError, ValueError, KeyError, VendorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if changes and not args.check:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(changes.items()):
        if args.check:
            print(f"stale: {args.out_dir / name}")
        else:
            (args.out_dir / name).write_text(text, encoding="utf-8")
            print(f"wrote {args.out_dir / name} ({len(text.encode())} bytes)")
    if not changes:
        print("up to date")
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
