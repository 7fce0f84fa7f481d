"""Stack-file validation, driven by example files that state the exact problems they must produce.

Each file under tests/data/stacks/ ends with `# expect: LINE:COL: $.path: message` comments (trailing,
so they shift no line numbers); an invalid file must yield exactly those problems, in that order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components import validate
from components.errors import Problem, StackError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "stacks"
INVALID = sorted((DATA / "invalid").glob("Pulumi.*.yaml"))
VALID = sorted((DATA / "valid").glob("Pulumi.*.yaml"))


pytestmark = pytest.mark.usefixtures("offline_from_repo_root")


def expected(path: Path) -> list[str]:
    prefix = "# expect: "
    return [line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)]


def shown(problems: list[Problem]) -> list[str]:
    """Each problem as its `# expect:` line: everything after the file name."""
    return [str(p).removeprefix(f"{p.file}:") for p in problems]


def test_there_are_at_least_25_invalid_examples() -> None:
    assert len(INVALID) >= 25


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_reports_exactly_its_problems(path: Path) -> None:
    stacks, problems = validate.check([path])
    want = expected(path)
    assert want, f"{path.name} states no expected problem"
    assert shown(problems) == want
    assert all(p.file == str(path.relative_to(ROOT)) for p in problems)
    assert path not in stacks  # an invalid file never becomes a model


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example_has_no_errors_only_its_warnings(path: Path) -> None:
    stacks, problems = validate.check([path])
    assert path in stacks
    assert shown(problems) == expected(path)
    assert all(p.severity == "warning" for p in problems)


def test_two_stacks_adopting_one_source_both_hear_about_it() -> None:
    files = validate.stack_files(DATA / "invalid" / "cross-stack")
    _, problems = validate.check(files)
    for path in files:
        mine = [p for p in problems if p.file == str(path.relative_to(ROOT))]
        assert shown(mine) == expected(path)


def test_load_stack_raises_with_every_error_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text((DATA / "invalid" / "Pulumi.several-problems.yaml").read_text())
    with pytest.raises(StackError) as caught:
        validate.load_stack(path)
    assert [f"{p.line}:{p.column}" for p in caught.value.problems] == ["3:25", "8:13", "32:9"]
    assert f"{path}:32:9: $.routes[1].sources.planetscal: unknown source 'planetscal'" in str(caught.value)


def test_load_stack_checks_adopt_ids_against_sibling_stacks(tmp_path: Path) -> None:
    for path in validate.stack_files(DATA / "invalid" / "cross-stack"):
        (tmp_path / path.name).write_text(path.read_text())
    with pytest.raises(StackError, match=r"also adopted by .*Pulumi\.staging\.yaml:17"):
        validate.load_stack(tmp_path / "Pulumi.production.yaml")


def test_committed_stacks_are_valid_and_encode_the_runbook() -> None:
    stacks, problems = validate.check(validate.stack_files(ROOT / "stacks"))
    assert [p for p in problems if p.severity == "error"] == []
    by_name = {s.name: s for s in stacks.values()}
    production, staging = by_name["production"], by_name["staging"]

    assert {s.name: s.adopt for s in production.sources} == {
        "Alertmanager (Production)": "01KHSNW67SZJ1KGWEMA9C0GPT7",
        "Checkly (Production)": "01HZ7GE7CASMF15RWV1QFCMKTQ",
        "sev0@": None,
        "Grafana Cloud": None,
        "PlanetScale": None,
        "Axiom": None,
        "Status Page Views": None,
        "Alertmanager heartbeat (Production)": None,  # not in the runbook: the dead man's switch
    }
    assert production.source("sev0").type == "email"
    assert [r.name for r in production.routes] == [
        "Production Alerts",
        "Production Warnings",
        "Unrouted Alerts",
        "Database Alerts",
        "Informational",
        "Production Alertmanager Silent",  # the heartbeat's route, not in the runbook
    ]
    assert {s.name: s.adopt for s in staging.sources} == {
        "Alertmanager (Staging)": "01KH7FNXWPMH6KPCQTYJJY947G",
        "Checkly (Staging)": "01KKZJERF1HQFJRE3XWFZ0NV19",
        "Alertmanager heartbeat (Staging)": None,
    }
    assert [r.name for r in staging.routes] == ["Staging Notifications", "Staging Alertmanager Silent"]
    assert staging.paging is False and all(not r.escalate for r in staging.routes)
    for stack in (production, staging):
        delivery = stack.source("alertmanager").delivery
        assert delivery and (delivery.aws_secret, delivery.kubernetes_secret) == (
            "unkey/alertmanager-incident-io",
            "alertmanager-incidentio",
        )
        assert stack.kubernetes.namespace == "monitoring"
    assert production.aws_account_id != staging.aws_account_id
    assert production.kube_context != staging.kube_context


def test_duplicate_keys_are_rejected_not_silently_overwritten(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text(text.replace("  alerting:policy:\n", "  alerting:policy:\n    paging: true\n", 1))
    _, problems = validate.check([path])
    assert len(problems) == 1
    assert "duplicate key 'paging' (first defined on line" in problems[0].message


GUARD_CASES = sorted(p for p in (DATA / "guards").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", GUARD_CASES, ids=lambda p: p.name)
def test_guard_case_reports_exactly_what_each_stack_states(case: Path) -> None:
    """Stacks of one folder are checked together: each file states what it must hear (or nothing)."""
    files = validate.stack_files(case)
    assert len(files) >= 1
    stacks, problems = validate.check(files)
    for path in files:
        mine = [p for p in problems if p.file == str(path.relative_to(ROOT))]
        assert shown(mine) == expected(path), path.name
        assert (path in stacks) == (not expected(path))


@pytest.mark.parametrize("case", [*GUARD_CASES, DATA / "invalid" / "cross-stack"], ids=lambda p: p.name)
def test_one_stack_checked_beside_its_siblings_hears_what_the_whole_folder_check_tells_it(case: Path) -> None:
    """`validate FILE` and the one-stack commands check siblings only for what stacks must not
    share; what FILE hears is exactly what checking the whole folder tells it."""
    files = validate.stack_files(case)
    _, everything = validate.check(files)
    for path in files:
        stacks, problems = validate.check_in_folders([path])
        assert problems == [p for p in everything if p.file == validate.display_name(path)], path.name
        assert (path in stacks) == (not any(p.severity == "error" for p in problems))


def test_guard_cases_cover_refusals_and_allowed_sharing() -> None:
    stated = {case.name: any(expected(p) for p in validate.stack_files(case)) for case in GUARD_CASES}
    assert stated["deliberate-mismatch"] is False and stated["regions-of-one-environment"] is False
    assert sum(stated.values()) >= 5


def test_check_text_checks_a_would_be_file_and_writes_none(tmp_path: Path) -> None:
    """Promotion and import check the text they would write without writing it anywhere."""
    folder = tmp_path / "stacks"
    folder.mkdir()
    production = (ROOT / "stacks" / "Pulumi.production.yaml").read_text()
    (folder / "Pulumi.production.yaml").write_text(production)
    staging = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    shared = staging.replace('awsAccountId: "222222222222"', 'awsAccountId: "111111111111"')
    assert shared != staging, "the staging stack's account id is spelled as this test expects"
    problems, model = validate.check_text(shared, folder / "Pulumi.staging.yaml")
    assert model is None
    assert any("AWS account 111111111111 is also used by stack 'production'" in p.message for p in problems)
    alone, model = validate.check_text(shared, folder / "Pulumi.staging.yaml", siblings=False)
    assert alone == [] and model is not None and model.file == folder / "Pulumi.staging.yaml"
    assert sorted(p.name for p in folder.iterdir()) == ["Pulumi.production.yaml"]
