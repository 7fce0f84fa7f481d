"""Generated routing docs: docs/routing.md is fresh, complete and deterministic."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components import docs, validate
from components.model import Stack
from tests.support.cli import invoke

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
COMMITTED = ROOT / "docs" / "routing.md"


pytestmark = pytest.mark.usefixtures("offline_from_repo_root")


def committed_stacks() -> list[Stack]:
    return [validate.load_stack(path)[0] for path in validate.stack_files(STACKS)]


def test_committed_routing_docs_are_fresh() -> None:
    assert COMMITTED.read_text() == docs.render(committed_stacks()), (
        "docs/routing.md is stale: run `python -m components docs` and commit it"
    )


def test_docs_check_passes_on_the_committed_tree() -> None:
    result = invoke(["docs", "--check"])
    assert result.exit_code == 0, result.output


def test_docs_check_fails_when_a_stack_changes_and_docs_regenerates(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    shutil.copytree(STACKS, stacks)
    output = tmp_path / "routing.md"
    shutil.copy(COMMITTED, output)
    production = stacks / "Pulumi.production.yaml"
    production.write_text(production.read_text().replace("- name: Informational", "- name: FYI"))
    args = ["--stacks-dir", str(stacks), "--output", str(output)]
    stale = invoke(["docs", "--check", *args])
    assert stale.exit_code == 1
    assert "is stale: run `python -m components docs`" in stale.stderr
    assert output.read_text() == COMMITTED.read_text()  # --check writes nothing
    written = invoke(["docs", *args])
    assert written.exit_code == 0 and "written" in written.stdout
    assert "| FYI | Axiom, Status Page Views | None | None | #alerts |" in output.read_text()
    assert invoke(["docs", "--check", *args]).exit_code == 0
    again = invoke(["docs", *args])
    assert "already up to date" in again.stdout


def test_each_stack_has_the_runbook_table_and_a_diagram() -> None:
    text = COMMITTED.read_text()
    assert text.count("```mermaid\nflowchart LR") == 2
    production = text[text.index("## production") : text.index("## staging")]
    assert (
        "| Production Alerts | Alertmanager (Production), Checkly (Production), sev0@, Grafana Cloud"
        " | severity=critical (Alertmanager (Production) only) | Engineering On-Call | #alerts |"
    ) in production
    assert "| Database Alerts | PlanetScale | branch=main | Engineering On-Call | #alerts |" in production
    assert '    s0["Alertmanager (Production)"]' in production
    assert '  s0 -->|"severity=critical"| r0' in production
    assert "  r0 --> e0" in production and '    e0{{"pages Engineering On-Call"}}' in production
    assert '    c0[/"Slack #alerts"/]' in production
    assert "| Alertmanager (Production) | severity missing | Unrouted Alerts | None | #alerts |" in production
    staging = text[text.index("## staging") :]
    assert "pages on-call: no" in staging
    assert "| Staging Notifications | Alertmanager (Staging), Checkly (Staging) | None | None | #alerts |" in staging
    assert "e0" not in staging  # nothing escalates in staging


def test_render_is_deterministic_and_escapes_markdown_and_mermaid(tmp_path: Path) -> None:
    stacks = committed_stacks()
    assert docs.render(stacks) == docs.render(stacks)
    source = (STACKS / "Pulumi.staging.yaml").read_text()
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(source.replace("- name: Staging Notifications", '- name: Notify "all" | everyone'))
    stack, _ = validate.load_stack(path)
    text = docs.render([stack])
    assert '| Notify "all" \\| everyone |' in text
    assert 'r0["Notify #quot;all#quot; | everyone"]' in text
