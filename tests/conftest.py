"""Fixtures shared by every test folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures", "tests.support.incidentio"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def offline_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root (problems name files relative to it) with every outgoing
    connection refused: the offline commands must never touch the network.

    Modules that hold only offline tests use it with
    ``pytestmark = pytest.mark.usefixtures("offline_from_repo_root")``."""
    monkeypatch.chdir(ROOT)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an offline command touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
