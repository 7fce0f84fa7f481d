"""pytest fixtures for tests that need a real Alertmanager or the real Pulumi CLI.

Load with ``pytest_plugins = ["tests.support.fixtures"]`` (in the root conftest.py or in a test
module); the repository root must be importable (``python -m pytest`` from it, or
``pythonpath = ["."]`` in the pytest configuration).
"""

from __future__ import annotations

import os

import pytest

from tests.support.alertmanager import find_alertmanager
from tests.support.pulumi_cli import find_pulumi


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    """Path of an Alertmanager >= 0.29 binary.

    Missing: fails in CI (``CI`` set), where .ci/install-alertmanager.sh must have installed it;
    skips elsewhere.
    """
    binary = find_alertmanager()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Alertmanager missing in CI: .ci/install-alertmanager.sh must install it")
        pytest.skip(
            "Alertmanager is not installed here; run .ci/install-alertmanager.sh (needs root + Debian package registry)"
        )
    return binary


@pytest.fixture(scope="session")
def pulumi_bin() -> str:
    """Path of the Pulumi CLI (with the Python language host beside it).

    Missing: fails in CI (``CI`` set), where .ci/install-pulumi.sh must have built it; skips
    elsewhere, saying how to get it.
    """
    binary = find_pulumi()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("the Pulumi CLI is missing in CI: .ci/install-pulumi.sh must build it")
        pytest.skip("the Pulumi CLI is not installed here; run .ci/install-pulumi.sh (builds it with Go)")
    return binary


@pytest.fixture(scope="session")
def native_builder() -> object:
    """The loader's native builder (native/, built by `pip install -r requirements.txt`).

    Missing: fails in CI (``CI`` set), where the requirements install must have built it; skips
    elsewhere, saying what the build needs.
    """
    from components import stackfile

    if stackfile._native is None:
        if os.environ.get("CI"):
            pytest.fail("the native stack-file builder is missing in CI: `pip install ./native` must build it")
        pytest.skip(
            "the native stack-file builder is not built here (needs gcc, Python's headers and yaml.h;"
            " then `.venv/bin/pip install ./native`)"
        )
    return stackfile._native
