"""The Alertmanager harness and the real ``incidentio_configs`` receiver, end to end.

Self-contained on purpose (no project modules): a stdlib HTTP server on 127.0.0.1 stands in
for incident.io and records what Alertmanager sends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest

from tests.support.alertmanager import (
    AlertmanagerError,
    AlertmanagerProcess,
    check_config,
    find_amtool,
    wait_until,
)

SOURCE_PATH = "/v2/alert_events/alertmanager/01TESTSOURCE"


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class CaptureServer:
    """Records every request; answers 202 with a small JSON body (like incident.io)."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append(
                        Captured(self.command, self.path, headers, body)
                    )
                payload = (
                    b'{"status":"success","message":"Event accepted for processing"}'
                )
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def snapshot(self) -> list[Captured]:
        with self._lock:
            return list(self.requests)


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def write_config(path: Path, receiver: str) -> Path:
    path.write_text(
        "route:\n"
        "  receiver: incident-io\n"
        "  group_by: [alertname]\n"
        "  group_wait: 0s\n"  # measured: the first notification leaves ~1 ms after the POST
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: incident-io\n"
        "    incidentio_configs:\n"
        f"{receiver}"
    )
    return path


def incidentio_receiver(secrets: Path, *, extra: str = "") -> str:
    return (
        f"      - url_file: {secrets / 'url'}\n"
        f"        alert_source_token_file: {secrets / 'token'}\n"
        f"{extra}"
    )


def sent_for(capture: CaptureServer, alertname: str) -> list[Captured]:
    """The POSTs to the alert source path whose payload carries an alert named ``alertname``."""
    found = []
    for req in capture.snapshot():
        if req.method != "POST" or req.path != SOURCE_PATH:
            continue
        try:
            alerts = req.json().get("alerts", [])
        except ValueError:
            continue
        if any(a.get("labels", {}).get("alertname") == alertname for a in alerts):
            found.append(req)
    return found


def test_check_config_url_file_ok_and_url_plus_url_file_rejected(
    alertmanager_bin: str, tmp_path: Path
) -> None:
    amtool = find_amtool(alertmanager_bin)
    assert amtool, "amtool not found next to alertmanager"
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "url").write_text(f"http://127.0.0.1:9{SOURCE_PATH}\n")
    (secrets / "token").write_text("token\n")

    ok = check_config(
        write_config(tmp_path / "ok.yml", incidentio_receiver(secrets)), amtool
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr

    both = write_config(
        tmp_path / "both.yml",
        incidentio_receiver(
            secrets, extra=f"        url: http://127.0.0.1:9{SOURCE_PATH}\n"
        ),
    )
    bad = check_config(both, amtool)
    assert bad.returncode != 0
    assert "at most one of url & url_file must be configured" in bad.stdout + bad.stderr


def test_incidentio_receiver_end_to_end_with_token_rotation(
    alertmanager_bin: str, tmp_path: Path, capture: CaptureServer
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "url").write_text(f"http://127.0.0.1:{capture.port}{SOURCE_PATH}\n")
    token_file = secrets / "token"
    token_file.write_text("first-token\n")
    config = write_config(tmp_path / "alertmanager.yml", incidentio_receiver(secrets))

    with AlertmanagerProcess(config, tmp_path / "am", binary=alertmanager_bin) as am:
        labels = {"alertname": "HarnessFirst", "severity": "critical", "service": "api"}
        am.post_alerts([{"labels": labels, "annotations": {"summary": "first"}}])

        first = wait_until(
            lambda: sent_for(capture, "HarnessFirst"),
            message="the first alert at the capture server",
        )[0]
        assert first.headers["authorization"] == "Bearer first-token"
        assert first.headers["content-type"].startswith("application/json")
        body = first.json()
        assert body["version"] == "1"
        assert body["status"] == "firing"
        assert body["receiver"] == "incident-io"
        assert body["groupKey"]
        assert body["truncatedAlerts"] == 0
        assert [a["labels"] for a in body["alerts"]] == [labels]
        assert body["alerts"][0]["annotations"] == {"summary": "first"}
        # The token travels only as a header.
        assert "first-token" not in first.body.decode()

        # Rotate the token: Alertmanager reads alert_source_token_file when it (re)builds the
        # receiver, so the new token is used only after a reload.
        token_file.write_text("second-token\n")
        am.reload()
        am.post_alerts(
            [{"labels": {"alertname": "HarnessSecond", "severity": "warning"}}]
        )
        second = wait_until(
            lambda: sent_for(capture, "HarnessSecond"),
            message="the second alert at the capture server",
        )[0]
        assert second.headers["authorization"] == "Bearer second-token"
        assert second.json()["version"] == "1"
        assert second.json()["alerts"][0]["labels"] == {
            "alertname": "HarnessSecond",
            "severity": "warning",
        }

        # reload() reports a reload that Alertmanager rejected (the token file is gone).
        token_file.unlink()
        with pytest.raises(AlertmanagerError, match="alert_source_token_file"):
            am.reload()
        token_file.write_text("third-token\n")
        am.reload()

    assert am.process is None
