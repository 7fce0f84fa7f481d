"""The house rules docs/architecture.md states, checked: imports run one way (no cycle, lazy
imports included), rich (tables, progress bars, prompts) lives only in the reporters, and
`validate` loads neither rich nor the HTTP client nor ruamel.yaml (it runs in pre-commit hooks)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "components"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in PACKAGE.rglob("*.py")}


def imports(module: str) -> set[str]:
    """Every module of this project `module` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "components":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "components"}
    return found - {module}


def third_party(module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
    return names


def test_imports_form_no_cycle() -> None:
    graph = {module: imports(module) & MODULES.keys() for module in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_only_the_reporters_and_the_command_line_use_rich() -> None:
    users = sorted(m for m in MODULES if "rich" in third_party(m))
    assert users and all(m.startswith("components.report.") or m == "components.cli" for m in users), users


def test_validate_loads_no_reporter_client_or_editor() -> None:
    code = (
        "import sys\nfrom components.cli import main\nmain(['validate'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'httpx', 'ruamel', 'pydantic')"
        " or m.startswith('components.report')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
