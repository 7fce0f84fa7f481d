"""Changing files a person also edits (components/stackedit.py): atomic writes that keep the file's
mode, stack files rewritten byte for byte, and refusals that leave the file untouched."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from components import stackedit
from components.errors import OperationError, StackError

ROOT = Path(__file__).resolve().parent.parent
STAGING = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()


def test_write_atomic_writes_only_a_change_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    assert stackedit.write_atomic(path, "one\n") is True
    path.chmod(0o600)
    assert stackedit.write_atomic(path, "one\n") is False  # the same bytes: not rewritten
    assert stackedit.write_atomic(path, "two\n") is True
    assert path.read_text() == "two\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]  # no temporary left behind


def test_write_atomic_leaves_the_file_as_it_was_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notes.md"
    path.write_text("kept\n")

    def full_disk(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stackedit.os, "replace", full_disk)
    with pytest.raises(OperationError, match=r"cannot write .*No space left on device; it is unchanged"):
        stackedit.write_atomic(path, "lost\n")
    assert path.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_the_round_tripper_writes_a_stack_file_back_byte_for_byte() -> None:
    yaml = stackedit.round_tripper(STAGING, Path("Pulumi.staging.yaml"))
    assert stackedit.dump(yaml, yaml.load(STAGING)) == STAGING


def test_write_stack_file_refuses_invalid_text_and_a_file_changed_since_read(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(STAGING)
    with pytest.raises(StackError) as refused:
        stackedit.write_stack_file(path, STAGING, STAGING.replace("environment: staging", "environment: prod"))
    assert any(p.path == "$.environment" for p in refused.value.problems)
    path.write_text(STAGING + "# edited meanwhile\n")
    with pytest.raises(OperationError, match="changed since it was read"):
        stackedit.write_stack_file(path, STAGING, STAGING + "# mine\n")
    assert path.read_text() == STAGING + "# edited meanwhile\n"
    stackedit.write_stack_file(path, STAGING + "# edited meanwhile\n", STAGING + "# mine\n")
    assert path.read_text() == STAGING + "# mine\n"
