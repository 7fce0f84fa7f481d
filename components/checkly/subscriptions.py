"""The checks and check groups subscribed to one Checkly alert channel: a Pulumi dynamic provider.

Resource: `AlertChannelSubscriptions` (``pulumi-python:dynamic/checkly:AlertChannelSubscriptions``).
Its provider runs in the engine's ``python -m pulumi.dynamic`` process, unpickled by reference, so
this module imports without side effects and the provider object holds no state.

- **Credentials**: `configure()` keeps ``alerting:checklyApiKey`` / ``alerting:checklyApiUrl`` at
  module level (never an input, output or instance attribute); without them the environment's
  ``CHECKLY_API_KEY`` / ``CHECKLY_API_URL``. The account id is an input (not a secret).
- **Inputs** (echoed as outputs): ``channel_id``, ``account_id``, ``checks`` (ids), ``groups`` (ids).
- **create**: one ``PUT /v1/alert-channels/{id}/subscriptions`` (``activated: true``) per check and
  group; **update**: the same for the new list and ``activated: false`` for those dropped;
  **delete**: ``activated: false`` for each; **read**: the channel's live ``subscriptions``
  (activated ones), so a refresh shows subscriptions changed in Checkly's UI; a deleted channel
  (404) reads as gone, and deleting its subscriptions is then done.
- **diff** is local: another channel or account replaces; other list changes update.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, DiffResult, ReadResult, UpdateResult
from pulumi.dynamic.dynamic import CreateResult, ResourceProvider

from components.checkly.client import ChecklyClient
from components.errors import ChecklyError, install_log_scrubber
from components.wire import has_unknowns, is_unknown, plain

CONFIG_API_KEY = "alerting:checklyApiKey"
CONFIG_API_URL = "alerting:checklyApiUrl"
ENV_API_KEY = "CHECKLY_API_KEY"
ENV_API_URL = "CHECKLY_API_URL"
INPUTS = ("channel_id", "account_id", "checks", "groups")

_credentials: dict[str, str | None] = {"api_key": None, "api_url": None}
_lock = threading.Lock()


def reset_credentials() -> None:
    """Test hook: forget what `configure` set."""
    with _lock:
        _credentials.update(api_key=None, api_url=None)


def _client(account_id: str) -> ChecklyClient:
    with _lock:
        key = _credentials["api_key"] or os.environ.get(ENV_API_KEY, "")
        url = _credentials["api_url"] or os.environ.get(ENV_API_URL) or None
    return ChecklyClient(key, account_id, url)


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    """Only the declared inputs (props also holds the engine's `__provider`: never sent anywhere)."""
    props = plain(props)
    return {
        "channel_id": int(props["channel_id"]),
        "account_id": str(props["account_id"]),
        "checks": sorted(str(c) for c in props.get("checks") or []),
        "groups": sorted(int(g) for g in props.get("groups") or []),
    }


def _apply(client: ChecklyClient, channel_id: int, checks: list[str], groups: list[int], activated: bool) -> None:
    for check in checks:
        client.set_subscription(channel_id, check_id=check, activated=activated)
    for group in groups:
        client.set_subscription(channel_id, group_id=group, activated=activated)


class AlertChannelSubscriptionsProvider(ResourceProvider):
    def configure(self, req: ConfigureRequest) -> None:
        install_log_scrubber()
        with _lock:
            _credentials.update(api_key=req.config.get(CONFIG_API_KEY), api_url=req.config.get(CONFIG_API_URL))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        for name in ("checks", "groups"):
            value = news.get(name)
            if value is not None and not is_unknown(value) and not isinstance(value, list):
                failures.append(CheckFailure(name, "expected a list of ids"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if has_unknowns([news.get(k) for k in INPUTS]):  # a preview: the channel id is not known yet
            return DiffResult(changes=True)
        old, new = _inputs(olds), _inputs(news)
        replaces = [k for k in ("channel_id", "account_id") if old[k] != new[k]]
        return DiffResult(changes=old != new, replaces=replaces or None, delete_before_replace=bool(replaces) or None)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props)
        with _client(inputs["account_id"]) as client:
            _apply(client, inputs["channel_id"], inputs["checks"], inputs["groups"], True)
        return CreateResult(str(inputs["channel_id"]), inputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = _inputs(olds), _inputs(news)
        with _client(new["account_id"]) as client:
            _apply(client, new["channel_id"], new["checks"], new["groups"], True)
            dropped_checks = sorted(set(old["checks"]) - set(new["checks"]))
            dropped_groups = sorted(set(old["groups"]) - set(new["groups"]))
            _apply(client, new["channel_id"], dropped_checks, dropped_groups, False)
        return UpdateResult(new)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        inputs = _inputs(props)
        with _client(inputs["account_id"]) as client:
            try:
                _apply(client, inputs["channel_id"], inputs["checks"], inputs["groups"], False)
            except ChecklyError as error:
                if error.status != 404:  # the channel is gone, and its subscriptions with it
                    raise

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        with _client(inputs["account_id"]) as client:
            try:
                channel = client.get_alert_channel(inputs["channel_id"])
            except ChecklyError as error:
                if error.status == 404:  # the channel was deleted: so are its subscriptions
                    return ReadResult(None, {})
                raise
        live = [s for s in channel.get("subscriptions") or [] if s.get("activated")]
        outs = {
            **inputs,
            "checks": sorted(str(s["checkId"]) for s in live if s.get("checkId")),
            "groups": sorted(int(s["groupId"]) for s in live if s.get("groupId") not in (None, "null")),
        }
        return ReadResult(id_, outs, outs)


class AlertChannelSubscriptions(pulumi.dynamic.Resource, module="checkly", name="AlertChannelSubscriptions"):
    """The checks and groups whose alerts go out through one Checkly alert channel."""

    checks: pulumi.Output[list[str]]
    groups: pulumi.Output[list[int]]

    def __init__(
        self,
        resource_name: str,
        *,
        channel_id: pulumi.Input[str],
        account_id: str,
        checks: list[str],
        groups: list[int],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"channel_id": channel_id, "account_id": account_id, "checks": checks, "groups": groups}
        super().__init__(AlertChannelSubscriptionsProvider(), resource_name, props, opts)
