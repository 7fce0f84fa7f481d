"""`ChecklyAlertChannel` (``alerting:checkly:AlertChannel``): Checkly's side of one `checkly` source.

Applies the section `compile.checkly_alert_channel()` produced (never re-deriving it):

- ``checkly.AlertChannel`` (Checkly's first-party provider, explicit `provider`): the compiled
  inputs, with the source's ``alert_events_url`` and ``secret_token`` substituted into the webhook,
  which goes in marked secret (URL and token never in state in plain text);
- `AlertChannelSubscriptions` (components/checkly/subscriptions.py), when the stack lists checks
  or groups: they subscribe to the channel by its id.

A rotated source token reaches the channel with ``pulumi up --refresh``: the refresh reads the new
token, so the webhook input changes and the channel is updated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_checkly as checkly

from components.checkly.subscriptions import AlertChannelSubscriptions
from components.compile import ChecklyChannel
from components.delivery import with_source_outputs

TYPE = "alerting:checkly:AlertChannel"
# The engine's names of the webhook inputs -> the SDK's keyword arguments.
_WEBHOOK_ARGS = {
    "webhookType": "webhook_type",
    "queryParameters": "query_parameters",
    "webhookSecret": "webhook_secret",
}


@dataclass(frozen=True)
class ChecklyAlertChannelArgs:
    compiled: ChecklyChannel  # compile.checkly_alert_channel()
    account_id: str
    source_outputs: Mapping[str, pulumi.Input[str]]  # the AlertSource outputs, by name
    provider: checkly.Provider


def webhook_args(webhook: Mapping[str, Any]) -> checkly.AlertChannelWebhookArgs:
    return checkly.AlertChannelWebhookArgs(**{_WEBHOOK_ARGS.get(k, k): v for k, v in webhook.items()})


class ChecklyAlertChannel(pulumi.ComponentResource):
    channel_id: pulumi.Output[str]

    def __init__(self, name: str, args: ChecklyAlertChannelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        compiled, source = args.compiled, args.compiled["source"]
        inputs = compiled["inputs"]
        webhook = with_source_outputs(
            inputs["webhook"], source, args.source_outputs, f"Checkly alert channel {compiled['name']!r}"
        ).apply(webhook_args)
        self.channel = checkly.AlertChannel(
            f"{name}-checkly-channel",
            send_recovery=inputs["sendRecovery"],
            send_failure=inputs["sendFailure"],
            send_degraded=inputs["sendDegraded"],
            webhook=pulumi.Output.secret(webhook),  # type: ignore[arg-type]  # Input[T] stubs infer Never
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        subscriptions = compiled["subscriptions"]
        self.subscriptions: AlertChannelSubscriptions | None = None
        if subscriptions["checks"] or subscriptions["groups"]:
            self.subscriptions = AlertChannelSubscriptions(
                f"{name}-checkly-subscriptions",
                channel_id=self.channel.id,
                account_id=args.account_id,
                checks=list(subscriptions["checks"]),
                groups=list(subscriptions["groups"]),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.channel_id = self.channel.id
        self.register_outputs({"channel_id": self.channel_id})
