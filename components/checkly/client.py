"""A small client for Checkly's public API: read an alert channel, set one subscription.

Auth is the documented pair: ``Authorization: Bearer <API key>`` and ``X-Checkly-Account:
<account id>`` (checklyhq.com/docs/api-reference). The base URL and transport are injected (tests:
a local stand-in on 127.0.0.1). Transport errors, 429 and 5xx are retried by the project's one
retry loop (`components.retry`, bounded by a `RetryPolicy`); whatever is left becomes a
`ChecklyError`, scrubbed of the API key and of any credential the server echoes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from components.errors import ChecklyError, register_secret, scrub_remote
from components.retry import Retryable, RetryPolicy, retry_after, with_retries

DEFAULT_API_URL = "https://api.checklyhq.com"


class ChecklyClient:
    def __init__(
        self,
        api_key: str,
        account_id: str,
        base_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ChecklyError(
                "no Checkly API key: set CHECKLY_API_KEY or `pulumi config set --secret alerting:checklyApiKey`"
            )
        register_secret(api_key)
        self._retry, self._sleep, self._rng = retry or RetryPolicy(), sleep, random.Random()
        self._http = httpx.Client(
            base_url=(base_url or DEFAULT_API_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "X-Checkly-Account": account_id},
            transport=transport,
            timeout=timeout,
        )

    def __enter__(self) -> ChecklyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get_alert_channel(self, channel_id: int) -> dict[str, Any]:
        """`GET /v1/alert-channels/{id}`: the channel, with its `subscriptions`."""
        return dict(self._request("GET", f"/v1/alert-channels/{channel_id}"))

    def set_subscription(
        self, channel_id: int, *, activated: bool, check_id: str | None = None, group_id: int | None = None
    ) -> dict[str, Any]:
        """`PUT /v1/alert-channels/{id}/subscriptions`: one check or one group (never both)."""
        if (check_id is None) == (group_id is None):
            raise ValueError("give exactly one of check_id and group_id")
        body: dict[str, Any] = {"activated": activated}
        body.update({"checkId": check_id} if check_id is not None else {"groupId": group_id})
        return dict(self._request("PUT", f"/v1/alert-channels/{channel_id}/subscriptions", json=body))

    def _request(self, method: str, path: str, json: Any = None) -> Any:
        # GET and the subscription PUT are idempotent: an ambiguous failure is simply resent.
        return with_retries(
            lambda: self._attempt(method, path, json),
            self._retry,
            sleep=self._sleep,
            rng=self._rng,
            what=f"{method} {path}",
        )

    def _attempt(self, method: str, path: str, json: Any) -> Any:
        """One exchange: the decoded body, a `ChecklyError`, or `Retryable`."""
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TransportError as exc:
            raise Retryable(ChecklyError(f"Checkly {method} {path}: no answer ({type(exc).__name__})")) from None
        if response.is_success:
            return response.json() if response.content else {}
        # Server text may echo a credential this process never saw: scrubbed as such.
        detail = scrub_remote(response.text.strip()[:300]) or response.reason_phrase
        error = ChecklyError(f"Checkly {method} {path} -> {response.status_code}: {detail}", response.status_code)
        if response.status_code == 429 or response.status_code >= 500:
            raise Retryable(error, retry_after(response.headers.get("Retry-After")))
        raise error
