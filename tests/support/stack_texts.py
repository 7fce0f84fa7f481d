"""Generated stack files, shared by the tests and the benchmarks: the hostile classes the loader
bounds (`HOSTILE`, also bench/hostile.py) and stacks of many overlapping routes (bench/figures.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

STAGING = (Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.staging.yaml").read_text()


def alias_bomb() -> str:
    """Ten levels of ten aliases each: 10^10 values once expanded, a few hundred bytes as text."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return STAGING.replace("config:\n", "bomb:\n" + "".join(f"  {line}\n" for line in lines) + "config:\n", 1)


def huge_file() -> str:
    """A 20 MB source name: the kind of file a bad paste or generator makes."""
    return STAGING.replace("name: Alertmanager (Staging)", "name: " + "A" * 20_000_000, 1)


def deep_nesting() -> str:
    return STAGING.replace("      emits:\n", "      nested: " + "[" * 200 + "]" * 200 + "\n      emits:\n", 1)


def long_value() -> str:
    return STAGING.replace("name: Alertmanager (Staging)", "name: " + "B" * 100_000, 1)


def many_values() -> str:
    """Under the size limit, over the value limit: a list of 1.2 million tiny items."""
    return STAGING.replace("      emits:\n", "      many: [" + "1," * 1_200_000 + "1]\n      emits:\n", 1)


HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "alias-bomb": (alias_bomb, "aliases counted as what they repeat"),
    "20-MB-file": (huge_file, "file is larger than 8 MiB"),
    "deep-nesting": (deep_nesting, "nested deeper than 32 levels"),
    "100-kB-value": (long_value, "a value longer than 65,536 characters"),
    "1.2-million-values": (many_values, "more than 1,000,000 values"),
}


def overlapping_routes(routes: int) -> str:
    """The staging stack with `routes` routes ("Overlap 0", …) that all take its declared
    severity=critical alerts."""
    header, _, rest = STAGING.partition("  alerting:routes:\n")
    route = "    - name: Overlap {}\n      sources: {{alertmanager: {{severity: critical}}}}\n"
    body = "".join(route.format(i) for i in range(routes))
    return header + "  alerting:routes:\n" + body + rest[rest.index("  alerting:kubernetes:") :]
