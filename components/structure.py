"""Structure: a document against one of the project's JSON Schemas (components/schemas/), every
mismatch a `file:line:col: $.path: message` problem. Used for stack files (`STACK`) and routing-test
files (`ROUTING_TESTS`); what the values mean is checked elsewhere (validate, simulate).

The Rust validator answers "valid?" ~100x faster; only an invalid document pays for the detailed,
position-aware walk of the Python one, which keeps JSON Schema's (ECMA-262) meaning of `$`. If
the two ever disagree, the document is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from components.errors import Problem
from components.stackfile import Document, PathKey
from components.suggest import suggest

if TYPE_CHECKING:  # the detailed validator is imported only for a document that is invalid
    import jsonschema

SCHEMAS = Path(__file__).parent / "schemas"
CFG = "config"  # a stack file's settings; keys marked `x-secret` under it are never echoed


def ecma_pattern(pattern: str) -> str:
    """`pattern` with JSON Schema's (ECMA-262) meaning of ``$`` under Python's `re`.

    In ECMA-262 ``$`` is the end of the text; in Python it also matches before a final newline,
    so ``"111111111111\\n"`` would pass ``^[0-9]{12}$``. Every ``$`` outside a character class
    becomes ``\\Z``.
    """
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(char)
    return "".join(out)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern))


def _ecma_pattern_keyword(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    import jsonschema

    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


class Schema:
    """One JSON Schema file as position-aware problems; `what` names it in the last-resort message."""

    def __init__(self, file: str, what: str) -> None:
        self.path, self.what = SCHEMAS / file, what

    @cached_property
    def schema(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))

    @cached_property
    def _fast(self) -> Any:
        return jsonschema_rs.validator_for(self.schema)

    @cached_property
    def _detailed(self) -> jsonschema.protocols.Validator:
        import jsonschema  # ~0.1 s to import: only an invalid document pays for the detailed walk

        # The detailed walk must agree with the fast (Rust, ECMA-262 regex) validator on every pattern.
        cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern_keyword})
        return cls(self.schema)

    @cached_property
    def secret_keys(self) -> frozenset[str]:
        """Settings whose values are credentials (``x-secret``): never echoed in a message."""
        properties = self.schema.get("properties", {}).get(CFG, {}).get("properties", {})
        return frozenset(key for key, spec in properties.items() if spec.get("x-secret"))

    def problems(self, doc: Document) -> Iterator[Problem]:
        if self._fast.is_valid(doc.data):
            return
        found = False
        for error in self._detailed.iter_errors(doc.data):
            found = True
            yield from _schema_problem(doc, error, self.secret_keys)
        if not found:  # the two validators disagree: never let that pass as valid
            detail = next(iter(self._fast.iter_errors(doc.data)), None)
            where: PathKey = tuple(detail.instance_path) if detail is not None else ()
            yield doc.problem(where, f"does not match {self.what}")


STACK = Schema("stack.schema.json", "the stack file schema")
ROUTING_TESTS = Schema("routing-tests.schema.json", "the routing tests schema")


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "null": "empty",
}


def _describe_kind(value: Any) -> str:
    """`_describe` without the value itself."""
    if isinstance(value, str):
        return "a plain string"
    return _describe(value) if isinstance(value, (dict, list)) or value is None else f"a {type(value).__name__}"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str) and len(value) > 80:
        return f"str {value[:80]!r}… ({len(value):,} characters)"
    return f"{type(value).__name__} {value!r}"


def _type_mismatch(error: jsonschema.ValidationError, depth: int) -> bool:
    """An alternative that failed only because the value is of another type altogether."""
    if len(error.absolute_path) != depth:
        return False
    if error.validator == "type":
        return True
    return error.validator in ("anyOf", "oneOf") and all(_type_mismatch(e, depth) for e in error.context or ())


def _schema_problem(doc: Document, error: jsonschema.ValidationError, secret_keys: frozenset[str]) -> Iterator[Problem]:
    path: PathKey = tuple(error.absolute_path)
    schema, instance, kind = error.schema, error.instance, error.validator
    custom = schema.get("x-message") if isinstance(schema, dict) else None
    if len(path) >= 2 and path[0] == CFG and path[1] in secret_keys:
        # A secret written in plain text: say what is wrong, never what it is.
        yield doc.problem(path[:2], f"{custom or 'has the wrong shape'} (got {_describe_kind(instance)}, not shown)")
        return
    if "propertyNames" in error.relative_schema_path:  # the key itself is wrong, not its value
        yield doc.problem((*path, instance), f"{custom or 'invalid key'} (got {instance!r})", key=True)
    elif kind in ("anyOf", "oneOf"):
        # Explain through the alternatives that got past the type check, if any did.
        informative = [e for e in error.context or () if not _type_mismatch(e, len(error.absolute_path))]
        if informative:
            seen: set[Problem] = set()
            for sub in informative:
                for problem in _schema_problem(doc, sub, secret_keys):
                    if problem not in seen:
                        seen.add(problem)
                        yield problem
        else:
            yield doc.problem(path, f"{custom or 'has the wrong shape'} (got {_describe(instance)})")
    elif kind == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        for key in instance:
            if key not in allowed and not any(p.search(key) for p in patterns):
                yield doc.problem((*path, key), f"unknown key {key!r}{suggest(key, allowed)}", key=True)
    elif kind == "required":
        for key in error.validator_value:
            if key not in instance:
                yield doc.problem(path, f"missing required key {key!r}")
    elif custom:
        yield doc.problem(path, f"{custom} (got {_describe(instance)})")
    elif kind == "type":
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS[t] for t in ([expected] if isinstance(expected, str) else expected))
        yield doc.problem(path, f"expected {words}, got {_describe(instance)}")
    elif kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        hint = suggest(str(instance), map(str, error.validator_value))
        yield doc.problem(path, f"must be one of {options}, got {instance!r}{hint}")
    elif kind in ("minLength", "minItems", "minProperties"):
        yield doc.problem(path, "must not be empty")
    elif kind == "maxLength":
        yield doc.problem(path, f"must be at most {error.validator_value} characters (got {len(instance):,})")
    else:  # pragma: no cover - every keyword the schema uses is handled above
        yield doc.problem(path, error.message)
