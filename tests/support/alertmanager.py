"""Run a real Prometheus Alertmanager (>= 0.29, with ``incidentio_configs``) in tests.

``.ci/install-alertmanager.sh`` installs it (Debian's ``prometheus-alertmanager`` package, whose
binary is ``/usr/bin/prometheus-alertmanager``; the script links ``alertmanager`` to it).

Typical use::

    with AlertmanagerProcess(config_path, tmp_path / "am") as am:   # start() on enter
        am.post_alerts([{"labels": {"alertname": "Boom", "severity": "critical"}}])
        ...                                # rewrite a secret file referenced by the config
        am.reload()                        # POST /-/reload, raises unless it took effect

Everything listens on 127.0.0.1 only; clustering is disabled; state lives in ``workdir``.
The process is always stopped by ``stop()``/the context manager, and on Linux it also dies
with the Python process that started it (``PR_SET_PDEATHSIG``), so no test leaves one behind.
Caveat: that signal fires when the *thread* that called ``start()`` ends, so start it from the
thread that runs the tests (pytest's, also under xdist), not from a short-lived helper thread.

Timing (Alertmanager 0.33, measured): ready ~50 ms after spawn; with ``group_wait: 0s`` the
first notification leaves ~1 ms after ``post_alerts``; ``reload()`` takes ~15 ms; ``stop()``
~0.4 s. ``GET /api/v2/status`` shows the *normalised* config, not the file's text.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import yaml

from components.compile import SECRETS_MOUNT
from components.delivery import secret_string_json
from components.incidentio.references import ALERT_SOURCE, find, substitute

MIN_VERSION: tuple[int, int, int] = (0, 29, 0)
"""First Alertmanager release with the incident.io receiver (``incidentio_configs``)."""

_BINARY_NAMES = ("alertmanager", "prometheus-alertmanager")
_VERSION_RE = re.compile(r"version (\d+)\.(\d+)\.(\d+)")

T = TypeVar("T")


class AlertmanagerError(RuntimeError):
    """Alertmanager did not start, reload or accept alerts as expected (message has its log)."""


def alertmanager_version(binary: str) -> tuple[int, int, int] | None:
    """The ``(major, minor, patch)`` that ``binary --version`` reports, or None if it cannot run."""
    try:
        out = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION_RE.search(out.stdout + out.stderr)
    if not m:
        return None
    return (int(m[1]), int(m[2]), int(m[3]))


def find_alertmanager() -> str | None:
    """Path of an Alertmanager binary >= 0.29, or None.

    Looks at ``$ALERTMANAGER_BIN``, then ``alertmanager`` and ``prometheus-alertmanager`` (the
    Debian package's name) on PATH. Older binaries are ignored: they reject ``incidentio_configs``.
    """
    candidates: list[str] = []
    env = os.environ.get("ALERTMANAGER_BIN")
    if env:
        candidates.append(env)
    for name in _BINARY_NAMES:
        found = shutil.which(name)
        if found:
            candidates.append(found)
    for candidate in candidates:
        version = alertmanager_version(candidate)
        if version is not None and version >= MIN_VERSION:
            return candidate
    return None


def find_amtool(alertmanager_bin: str | None = None) -> str | None:
    """Path of ``amtool``: next to ``alertmanager_bin`` (after symlinks) if given, else on PATH."""
    env = os.environ.get("AMTOOL_BIN")
    if env:
        return env
    if alertmanager_bin:
        sibling = Path(alertmanager_bin).resolve().parent / "amtool"
        if sibling.is_file() and os.access(sibling, os.X_OK):
            return str(sibling)
    return shutil.which("amtool")


def check_config(
    path: str | os.PathLike[str], amtool: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``amtool check-config PATH``; returns the completed process (text stdout/stderr).

    ``returncode == 0`` means valid. On failure amtool prints ``Checking 'PATH'  FAILED: <upstream
    error>`` (e.g. "at most one of url & url_file must be configured") on stdout and
    ``amtool: error: ...`` on stderr. amtool does NOT open ``url_file`` or
    ``alert_source_token_file``; Alertmanager itself refuses to start (or reload) when the
    token file is missing, and reads ``url_file`` only when sending.
    """
    tool = amtool or find_amtool(find_alertmanager())
    if tool is None:
        raise AlertmanagerError("amtool not found; run .ci/install-alertmanager.sh")
    return subprocess.run(
        [tool, "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call ``probe`` until it returns something truthy; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {message}")
        time.sleep(interval)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # Best effort: the child gets SIGTERM when the thread that started it exits.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class AlertmanagerProcess:
    """One Alertmanager listening on a free 127.0.0.1 port, state and log in ``workdir``.

    ``config_path``: the alertmanager.yml to load (secret files it references, e.g.
    ``url_file``/``alert_source_token_file``, are read by Alertmanager itself; relative paths
    are relative to the config file's directory). ``workdir``: created if missing; gets
    ``data/`` (``--storage.path``) and ``alertmanager.log``.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        workdir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.config_path = Path(config_path).resolve()
        self.workdir = Path(workdir).resolve()
        self.binary = binary
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "alertmanager.log"
        self._log_file: Any = None
        self._client: httpx.Client | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (only after ``start()``)."""
        if self.port is None:
            raise AlertmanagerError("Alertmanager is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start and wait until ``/-/ready`` answers 200; raises AlertmanagerError otherwise."""
        if self.process is not None:
            raise AlertmanagerError("Alertmanager is already started")
        if self.binary is None:
            self.binary = find_alertmanager()
            if self.binary is None:
                raise AlertmanagerError(
                    "Alertmanager >= 0.29 not found; run .ci/install-alertmanager.sh"
                )
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "data").mkdir(exist_ok=True)
        # A free port can be taken between probing and binding: retry a few times.
        last_error: AlertmanagerError | None = None
        for _attempt in range(3):
            try:
                self._spawn(free_port())
                self._wait_ready()
                return self
            except AlertmanagerError as exc:
                last_error = exc
                in_use = "address already in use" in self.logs().lower()
                self.stop()
                if not in_use:
                    raise
        assert last_error is not None
        raise last_error

    def _spawn(self, port: int) -> None:
        self.port = port
        args = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip cluster, no peers, no settling wait
            f"--web.external-url=http://127.0.0.1:{port}/",
            "--log.level=debug",
            *self.extra_args,
        ]
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file.write(f"\n=== {' '.join(args)}\n".encode())
        self._log_file.flush()
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._client = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise AlertmanagerError(
                    f"Alertmanager exited during start-up (code {code}):\n{self.logs()}"
                )
            try:
                if self.client.get("/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AlertmanagerError(
            f"Alertmanager not ready after {self.startup_timeout:.0f}s:\n{self.logs()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (then kill if needed) and wait; safe to call more than once."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; tests should use stop() or `with`
        with contextlib.suppress(Exception):
            self.stop(timeout=2.0)

    # -- HTTP API ----------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        """An httpx client bound to this Alertmanager's base URL (proxies from env ignored)."""
        if self._client is None:
            raise AlertmanagerError("Alertmanager is not started")
        return self._client

    def logs(self) -> str:
        """Everything Alertmanager has logged so far (debug level)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def metric(self, name: str) -> float | None:
        """Value of an unlabelled metric from ``/metrics`` (None if absent)."""
        text = self.client.get("/metrics").text
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return float(parts[1])
        return None

    def status(self) -> dict[str, Any]:
        """``GET /api/v2/status`` (``config.original`` is the loaded configuration text)."""
        resp = self.client.get("/api/v2/status")
        resp.raise_for_status()
        return resp.json()

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager currently holds."""
        resp = self.client.get("/api/v2/alerts")
        resp.raise_for_status()
        return resp.json()

    def reload(self) -> None:
        """``POST /-/reload`` and check it took effect; raises AlertmanagerError if not.

        Alertmanager re-reads the config file and the secrets read at build time (e.g.
        ``alert_source_token_file``). The reload is synchronous: a bad config gives HTTP 500.
        Success is confirmed by ``alertmanager_config_last_reload_successful == 1`` and a
        ``..._success_timestamp_seconds`` not older than the request.
        """
        before = time.time()
        resp = self.client.post("/-/reload")
        if resp.status_code != 200:
            raise AlertmanagerError(
                f"reload failed: HTTP {resp.status_code}: {resp.text.strip()}\n{self.logs()}"
            )
        ok = self.metric("alertmanager_config_last_reload_successful")
        stamp = self.metric("alertmanager_config_last_reload_success_timestamp_seconds")
        # The timestamp has one-second resolution.
        if ok != 1 or stamp is None or stamp < int(before):
            raise AlertmanagerError(
                f"reload not confirmed (last_reload_successful={ok}, "
                f"success_timestamp={stamp}, requested at {before:.0f})\n{self.logs()}"
            )

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts``. Each alert needs ``labels``; ``annotations``, ``startsAt``,
        ``endsAt`` (set it in the past to resolve) and ``generatorURL`` are optional."""
        resp = self.client.post("/api/v2/alerts", json=alerts)
        if resp.status_code != 200:
            raise AlertmanagerError(
                f"POST /api/v2/alerts: HTTP {resp.status_code}: {resp.text.strip()}"
            )


def deliver(compiled: dict[str, Any], key: str, outputs: Mapping[str, str], secrets_root: Path) -> Path:
    """What `pulumi up` and External Secrets do for source `key`, from the compiled sections only.

    The SecretVersion's JSON is the compiled `secret_string` with the AlertSource's `outputs`
    substituted (``${alert_source:<key>.<output>}``); ESO copies each `remoteRef.property` of it
    into the target Secret's `secretKey`; the chart mounts that Secret as files under
    /etc/alertmanager/secrets/<secret>/ (here: secrets_root/<secret>/). Returns that directory.
    """
    (aws_secret,) = [s for s in compiled["aws"]["secrets"] if s["source"] == key]
    placeholders = find(aws_secret["secret_string"])
    assert {kind for kind, _ in placeholders} == {ALERT_SOURCE}
    resolved = {(kind, name): outputs[name.partition(".")[2]] for kind, name in placeholders}
    secret_value = json.loads(secret_string_json(substitute(aws_secret["secret_string"], resolved)))
    (external,) = [
        m
        for m in compiled["kubernetes"]["manifests"]
        if m["kind"] == "ExternalSecret" and {d["remoteRef"]["key"] for d in m["spec"]["data"]} == {aws_secret["name"]}
    ]
    directory = secrets_root / external["spec"]["target"]["name"]
    directory.mkdir(parents=True, exist_ok=True)
    for item in external["spec"]["data"]:
        (directory / item["secretKey"]).write_text(secret_value[item["remoteRef"]["property"]])
    return directory


def remap_secret_paths(config: T, secrets_root: Path) -> T:
    """Compiled receivers (or a whole config) with every ``*_file`` under
    /etc/alertmanager/secrets/ moved to secrets_root.

    The only change made to the compiled config: the pod's mount point becomes a temp directory.
    """
    prefix = f"{SECRETS_MOUNT}/"

    def remap(node: Any) -> Any:
        if isinstance(node, list):
            return [remap(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key.endswith("_file") and isinstance(value, str):
                assert value.startswith(prefix), value
                value = str(secrets_root / value.removeprefix(prefix))
            out[key] = remap(value)
        return out

    return remap(config)  # type: ignore[no-any-return]


def write_alertmanager_config(path: Path, receivers: list[dict[str, Any]]) -> Path:
    """A config routing every alert to the one incident.io receiver, grouped by alert name, sent at
    once (the other receivers, a heartbeat's, listed but unused)."""
    (receiver,) = [r for r in receivers if "incidentio_configs" in r]  # one Alertmanager source per stack
    config = {
        "route": {
            "receiver": receiver["name"],
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": receivers,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
