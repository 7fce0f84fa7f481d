"""The real Pulumi CLI driving this project, in a throw-away project folder on this machine.

`PulumiProject` copies the program (Pulumi.yaml, __main__.py, components/) into a temp folder,
links the test run's virtualenv in as `.venv` (the `virtualenv` runtime option), and runs `pulumi`
with a local file backend, a passphrase secrets provider and its own PULUMI_HOME: no Pulumi Cloud,
no plugin downloads, no update check. Every command runs `--non-interactive` under a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 300.0
PASSPHRASE = "real-engine-tests"


def find_pulumi() -> str | None:
    """The `pulumi` on PATH with the Python language host next to it (or on PATH)."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None
    beside = Path(pulumi).resolve().parent / "pulumi-language-python"
    return pulumi if beside.exists() or shutil.which("pulumi-language-python") else None


class PulumiError(AssertionError):
    pass


class PulumiProject:
    def __init__(self, folder: Path, pulumi: str, stack: str, env: dict[str, str] | None = None) -> None:
        self.folder, self.pulumi, self.stack = folder, pulumi, stack
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(ROOT / name, folder / name)
        shutil.copytree(ROOT / "components", folder / "components", ignore=shutil.ignore_patterns("__pycache__"))
        (folder / "stacks").mkdir()
        (folder / ".venv").symlink_to(Path(sys.prefix))
        (folder / "state").mkdir()
        bin_dir = str(Path(pulumi).resolve().parent)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_IO_", "PULUMI_"))}
        self.env = {
            **environ,
            "PATH": bin_dir + os.pathsep + environ.get("PATH", ""),
            "PULUMI_HOME": str(folder / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{folder / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            **(env or {}),
        }

    @property
    def stack_file(self) -> Path:
        return self.folder / "stacks" / f"Pulumi.{self.stack}.yaml"

    def run(self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        if args[:2] == ("stack", "init"):
            command = [self.pulumi, *args, self.stack, "--non-interactive"]
        else:
            command = [self.pulumi, *args, "--non-interactive", "--stack", self.stack]
        done = subprocess.run(
            command, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise PulumiError(f"`pulumi {' '.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def init(self, stack_text: str, *, api_key: str, api_url: str) -> None:
        self.stack_file.write_text(stack_text)
        self.run("stack", "init")
        self.run("config", "set", "--secret", "alerting:incidentioApiKey", api_key)
        self.run("config", "set", "alerting:incidentioApiUrl", api_url)

    def export(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "export", *(["--show-secrets"] if show_secrets else [])]
        return json.loads(self.run(*args).stdout)

    def resources(self, type_suffix: str, *, show_secrets: bool = False) -> list[dict[str, Any]]:
        deployment = self.export(show_secrets=show_secrets)["deployment"]
        return [r for r in deployment.get("resources", []) if r["type"].endswith(type_suffix)]
