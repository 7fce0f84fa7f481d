"""Changing files a person also edits: stack files with comments and layout kept, checked before
they are replaced; every write atomic (the confirmation before a write is the CLI's:
`components.report.prompt`).

Shared by `promote --write`, `import --write`, `backup` and `docs`.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from components import validate
from components.errors import OperationError, StackError

# (mapping, sequence, offset) indentations tried, in order; the first that reproduces the file wins.
_LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 6, 4), (4, 4, 0), (4, 4, 2), (3, 5, 3))


def loader() -> YAML:
    yaml = YAML()  # round trip: comments, key order, flow style
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    return yaml


def round_tripper(text: str, path: Path) -> YAML:
    """A ruamel.yaml round-tripper that writes `text` back byte for byte, or OperationError."""
    for mapping, sequence, offset in _LAYOUTS:
        yaml = loader()
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        try:
            if dump(yaml, yaml.load(text)) == text:
                return yaml
        except YAMLError as exc:
            raise OperationError(f"cannot read {path}: {exc}") from None
    raise OperationError(f"cannot edit {path} without changing its layout (unusual indentation); nothing was written")


def dump(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OperationError(f"cannot read {path}: {exc}") from None


def write_atomic(path: Path, text: str) -> bool:
    """Replace `path` with `text` (temporary file, fsync, rename, permissions kept); False if it
    already holds exactly that. A failure leaves `path` as it was."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o644
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OperationError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OperationError(f"cannot write {path}: {exc.strerror or exc}; it is unchanged") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def write_stack_file(path: Path, expected: str, text: str) -> None:
    """Replace `path` with `text` atomically, if `text` is a valid stack file and `path` still holds
    `expected`; otherwise raise and leave it untouched."""
    problems, _ = validate.check_text(text, path)
    if any(p.severity == "error" for p in problems):
        raise StackError(problems)
    if read(path) != expected:
        raise OperationError(f"{path} changed since it was read; nothing was written, run the command again")
    write_atomic(path, text)
