"""A stand-in for the part of Checkly's public API the subscriptions provider uses, over real HTTP
on 127.0.0.1, and the part of Checkly's webhook templating the incident.io channel uses.

Modelled on Checkly's API reference (checklyhq.com/docs/api-reference/alert-channels): requests
carry ``Authorization: Bearer <API key>`` and ``X-Checkly-Account: <account id>`` (401 otherwise);
``GET /v1/alert-channels/{id}`` answers the channel with its ``subscriptions``; ``PUT
/v1/alert-channels/{id}/subscriptions`` takes one ``{activated, checkId | groupId}`` ("you can
either pass a checkId or a groupId, but not both": 400 otherwise) and answers the subscription.
Whether a repeated PUT updates or duplicates a subscription is not documented: the stand-in updates
(the provider never relies on either). Unknown channel: 404. PUT bodies are checked against the
transcribed reference schema (components/schemas/checkly-subscription.schema.json).

`render_template` implements the Handlebars the compiled template uses: ``{{VAR}}`` and
``{{#contains VAR "TEXT"}}…{{else}}…{{/contains}}`` (Checkly's documented helper).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from components.schemas import validate_checkly_subscription

_CONTAINS = re.compile(r'\{\{#contains (\w+) "([^"]*)"\}\}(.*?)\{\{else\}\}(.*?)\{\{/contains\}\}', re.S)
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render_template(template: str, variables: dict[str, str]) -> str:
    text = _CONTAINS.sub(lambda m: m[3] if m[2] in variables.get(m[1], "") else m[4], template)
    return _VARIABLE.sub(lambda m: variables.get(m[1], ""), text)


class ChecklyStandIn:
    def __init__(self, api_key: str, account_id: str) -> None:
        self.api_key, self.account_id = api_key, account_id
        self.channels: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.faults: list[int] = []  # statuses to answer next, in order (then normal service)
        self.schema_violations: list[str] = []  # request bodies that broke Checkly's documented shape
        self.echo = ""  # text every error answer repeats (a server echoing a credential)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    def __enter__(self) -> ChecklyStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_channel(self, name: str) -> int:
        with self._lock:
            channel_id = len(self.channels) + 1
            self.channels[channel_id] = {"id": channel_id, "type": "WEBHOOK", "name": name, "subscriptions": []}
            return channel_id

    def subscribed(self, channel_id: int) -> tuple[list[str], list[int]]:
        live = [s for s in self.channels[channel_id]["subscriptions"] if s["activated"]]
        return sorted(s["checkId"] for s in live if s["checkId"]), sorted(s["groupId"] for s in live if s["groupId"])

    def serve(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, body))
            if self.faults:
                return self.faults.pop(0), {"message": "injected"}
            if (
                headers.get("Authorization") != f"Bearer {self.api_key}"
                or headers.get("X-Checkly-Account") != self.account_id
            ):
                return 401, {"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}
            match = re.fullmatch(r"/v1/alert-channels/(\d+)(/subscriptions)?", path)
            channel = self.channels.get(int(match[1])) if match else None
            if channel is None:
                return 404, {"statusCode": 404, "error": "Not Found", "message": f"Not Found {self.echo}".strip()}
            if method == "GET" and not match[2]:
                return 200, json.loads(json.dumps(channel))
            if method == "PUT" and match[2]:
                violations = validate_checkly_subscription(body if isinstance(body, dict) else {})
                if violations:
                    self.schema_violations += violations
                    return 400, {"statusCode": 400, "error": "Bad Request", "message": "; ".join(violations)}
                check, group = body.get("checkId"), body.get("groupId")
                if (check is None) == (group is None) or not isinstance(body.get("activated"), bool):
                    return 400, {"statusCode": 400, "error": "Bad Request", "message": "checkId or groupId"}
                subscriptions = channel["subscriptions"]
                found = next((s for s in subscriptions if (s["checkId"], s["groupId"]) == (check, group)), None)
                if found is None:
                    found = {"id": len(subscriptions) + 1, "checkId": check, "groupId": group}
                    subscriptions.append(found)
                found["activated"] = body["activated"]
                return 200, dict(found)
            return 405, {"statusCode": 405, "error": "Method Not Allowed"}


def _handler(stand_in: ChecklyStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, reply = stand_in.serve(self.command, self.path, self.headers, json.loads(raw) if raw else None)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
