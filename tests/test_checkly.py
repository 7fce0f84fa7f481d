"""Checkly's side of a checkly source: validation, the compiled alert channel (against the schema of
Checkly's Pulumi provider), its webhook delivering to the incident.io emulator as Checkly would
send it, and the subscriptions provider against a Checkly API stand-in, in process and over gRPC
in ``python -m pulumi.dynamic`` as the engine drives it.

The program side (the channel registered under its explicit provider, URL and token secret) is in
tests/program/test_program.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pulumi.dynamic import Config, ConfigureRequest

from components import validate
from components.checkly.client import ChecklyClient
from components.checkly.subscriptions import (
    CONFIG_API_KEY,
    CONFIG_API_URL,
    AlertChannelSubscriptionsProvider,
    reset_credentials,
)
from components.compile import compile_stack
from components.errors import ChecklyError
from components.incidentio.emulator import Emulator
from components.incidentio.references import ALERT_SOURCE, substitute
from components.schemas import validate_checkly_alert_channel, validate_checkly_subscription
from tests.support.checkly import ChecklyStandIn, render_template
from tests.support.deploy import deploy
from tests.support.engine import DynamicProviderProcess, urn, with_provider

ROOT = Path(__file__).resolve().parent.parent
STAGING = ROOT / "stacks" / "Pulumi.staging.yaml"
API_KEY = "cu_checkly_0123456789abcdefSECRETKEY"
ACCOUNT = "00000000-0000-4000-8000-000000000001"
CHECK = "0bbfc00c-44df-46a7-a4d9-ba38deca8bfd"
OTHER_CHECK = "47ccf418-6224-429c-a096-637364249882"
SUBSCRIPTIONS_URN = urn("dynamic/checkly:AlertChannelSubscriptions", "checkly-checkly-subscriptions")


def problems_after(old: str, new: str) -> list[str]:
    text = STAGING.read_text()
    assert text.count(old) == 1, old
    problems, _ = validate.check_text(text.replace(old, new), STAGING)
    return [str(p) for p in problems]


# -- validate -------------------------------------------------------------------------------------


def test_the_committed_stacks_declare_their_checkly_channels() -> None:
    stack, warnings = validate.load_stack(STAGING)
    assert warnings == []
    channel = stack.source("checkly").checkly
    assert channel is not None and channel.name == "incident.io (Staging)"
    assert (channel.send_recovery, channel.send_failure, channel.send_degraded) == (True, True, False)
    assert stack.checkly_account_id == ACCOUNT


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "      type: checkly\n",
            "      type: http\n",
            "$.sources.checkly.checkly: only a source of type checkly takes checkly",
        ),
        (
            "  alerting:checkly:\n    accountId: 00000000-0000-4000-8000-000000000001   # placeholder: your Checkly"
            " account id\n",
            "",
            "$.sources.checkly.checkly: a Checkly alert channel needs alerting:checkly.accountId",
        ),
        (
            "accountId: 00000000-0000-4000-8000-000000000001",
            "accountId: my-account",
            "16:16: $.checkly.accountId: must be a Checkly account id (a UUID)",
        ),
        (
            "        alertChannel: incident.io (Staging)\n",
            f"        alertChannel: incident.io (Staging)\n        subscribe: {{checks: [{CHECK}, {CHECK}]}}\n",
            f"$.sources.checkly.checkly.subscribe.checks[1]: '{CHECK}' is listed twice",
        ),
        (
            "        alertChannel: incident.io (Staging)\n",
            "        alertChannel: incident.io (Staging)\n        subscribe: {groups: [0]}\n",
            "must be a Checkly check group id (a positive whole number)",
        ),
    ],
)
def test_checkly_mistakes_are_errors_at_their_field(old: str, new: str, expected: str) -> None:
    problems = problems_after(old, new)
    assert any(expected in p and ": warning: " not in p for p in problems), problems


# -- the compiled channel -------------------------------------------------------------------------


def compiled_channel(path: Path = STAGING) -> dict:
    stack, _ = validate.load_stack(path)
    (channel,) = compile_stack(stack)["checkly"]["alert_channels"]
    return channel


@pytest.mark.parametrize("env", ["staging", "production"])
def test_the_compiled_channel_matches_checklys_provider_schema(env: str) -> None:
    channel = compiled_channel(ROOT / "stacks" / f"Pulumi.{env}.yaml")
    assert validate_checkly_alert_channel(channel["inputs"]) == []
    webhook = channel["inputs"]["webhook"]
    assert webhook["webhookType"] == "WEBHOOK_INCIDENTIO"
    assert webhook["url"] == "${alert_source:checkly.alert_events_url}"
    assert webhook["headers"] == {"authorization": "Bearer ${alert_source:checkly.secret_token}"}
    broken = {**channel["inputs"], "webhook": {**webhook, "webhookTyp": "x"}}
    assert validate_checkly_alert_channel(broken) == ["$.webhook.webhookTyp: unknown field"]


@pytest.mark.parametrize(("alert_type", "status"), [("ALERT_FAILURE", "firing"), ("ALERT_RECOVERY", "resolved")])
def test_the_template_renders_one_incident_io_alert_event_per_check(alert_type: str, status: str) -> None:
    body = json.loads(
        render_template(compiled_channel()["inputs"]["webhook"]["template"], checkly_variables(alert_type))
    )
    assert body["status"] == status
    assert body["deduplication_key"] == CHECK, "failure and recovery of one check are one alert"
    assert body["title"] == "Check 'Payments API' has failed"
    assert body["metadata"]["check_name"] == "Payments API"


def checkly_variables(alert_type: str) -> dict[str, str]:
    return {
        "ALERT_TITLE": "Check 'Payments API' has failed",
        "ALERT_TYPE": alert_type,
        "CHECK_ID": CHECK,
        "CHECK_NAME": "Payments API",
        "CHECK_TYPE": "API",
        "GROUP_NAME": "Payments",
        "RUN_LOCATION": "eu-west-1",
        "STARTED_AT": "2026-12-03T10:00:00Z",
        "RESULT_LINK": "https://app.checklyhq.com/checks/x/results/y",
    }


def test_a_check_alert_sent_as_the_channel_sends_it_is_routed_by_the_emulator() -> None:
    """What Checkly does with the channel `pulumi up` made: POST the rendered template to the
    source's URL with the channel's headers; incident.io (the emulator) routes it."""
    stack, _ = validate.load_stack(STAGING)
    with Emulator("checkly-e2e-key") as emulator:
        deployed = deploy(stack, emulator, "checkly-e2e-key")
        source = deployed.sources["checkly"]
        webhook = substitute(
            compiled_channel()["inputs"]["webhook"],
            {
                (ALERT_SOURCE, "checkly.alert_events_url"): source["alert_events_url"],
                (ALERT_SOURCE, "checkly.secret_token"): source["secret_token"],
            },
        )
        for alert_type in ("ALERT_FAILURE", "ALERT_RECOVERY"):
            reply = httpx.request(
                webhook["method"],
                webhook["url"],
                headers={**webhook["headers"], "content-type": "application/json"},
                content=render_template(webhook["template"], checkly_variables(alert_type)),
            )
            assert reply.status_code == 202, reply.text
        (alert,) = emulator.routed_alerts()
        assert alert["alert_source_id"] == source["id"]
        assert [r["name"] for r in alert["routes"]] == ["Staging Notifications"]
        assert alert["slack_channel_ids"] == [stack.slack_channel_ids["#alerts"]]
        stale = httpx.post(webhook["url"], headers={"authorization": "Bearer old-token"}, json={"title": "x"})
        assert stale.status_code == 401, "a channel with a stale token is refused until `pulumi up --refresh`"


# -- the subscriptions provider -------------------------------------------------------------------


@pytest.fixture
def checkly() -> Iterator[ChecklyStandIn]:
    with ChecklyStandIn(API_KEY, ACCOUNT) as stand_in:
        yield stand_in
        assert stand_in.schema_violations == [], "a subscription body broke Checkly's documented shape"


def test_the_subscription_schema_takes_a_check_or_a_group_never_both() -> None:
    assert validate_checkly_subscription({"activated": True, "checkId": CHECK}) == []
    assert validate_checkly_subscription({"activated": False, "groupId": 7}) == []
    assert validate_checkly_subscription({"activated": True, "checkId": CHECK, "groupId": 7}) != []
    assert validate_checkly_subscription({"checkId": CHECK}) != []


def test_the_client_authenticates_and_reports_errors_without_the_key(checkly: ChecklyStandIn) -> None:
    channel = checkly.add_channel("incident.io (Staging)")
    with ChecklyClient(API_KEY, ACCOUNT, checkly.base_url, sleep=lambda _s: None) as client:
        assert client.set_subscription(channel, check_id=CHECK, activated=True)["activated"] is True
        assert client.get_alert_channel(channel)["subscriptions"][0]["checkId"] == CHECK
        checkly.faults = [429, 503]  # retried, then served
        assert client.get_alert_channel(channel)["id"] == channel
        checkly.faults = [503] * 6  # the retry policy's bound: then the error
        with pytest.raises(ChecklyError, match="gave up after 6 attempts") as exhausted:
            client.get_alert_channel(channel)
        assert exhausted.value.status == 503
        with pytest.raises(ChecklyError) as missing:
            client.get_alert_channel(99)
        assert missing.value.status == 404
    with ChecklyClient("cu_wrong_key_0123456789abcdef", ACCOUNT, checkly.base_url) as client:
        with pytest.raises(ChecklyError) as refused:
            client.get_alert_channel(channel)
        assert refused.value.status == 401 and "cu_wrong_key" not in str(refused.value)
    other_key = "another-accounts-key-0123456789abcdefABCDEF"
    checkly.echo = f"{other_key} {API_KEY}"  # a server that echoes credentials, one never seen here
    with ChecklyClient(API_KEY, ACCOUNT, checkly.base_url) as client:
        with pytest.raises(ChecklyError) as echoed:
            client.get_alert_channel(99)
        assert echoed.value.status == 404 and "Not Found" in str(echoed.value)
        assert other_key not in str(echoed.value) and API_KEY not in str(echoed.value)
    with pytest.raises(ChecklyError, match="no Checkly API key"):
        ChecklyClient("", ACCOUNT)


def test_create_update_read_delete_keep_checklys_subscriptions_as_declared(checkly: ChecklyStandIn) -> None:
    channel = checkly.add_channel("incident.io (Staging)")
    provider = AlertChannelSubscriptionsProvider()
    reset_credentials()
    provider.configure(
        ConfigureRequest(Config({CONFIG_API_KEY: API_KEY, CONFIG_API_URL: checkly.base_url}, "alerting"))
    )
    props = {"channel_id": str(channel), "account_id": ACCOUNT, "checks": [CHECK], "groups": [7]}
    created = provider.create(with_provider(provider, props))
    assert created.id == str(channel)
    assert checkly.subscribed(channel) == ([CHECK], [7])

    news = {**props, "checks": [OTHER_CHECK], "groups": []}
    assert provider.diff(created.id, created.outs, news).changes is True
    assert provider.diff(created.id, created.outs, {**props, "channel_id": "9"}).replaces == ["channel_id"]
    assert provider.diff(created.id, created.outs, {**props, "checks": [CHECK], "groups": [7.0]}).changes is False
    updated = provider.update(created.id, created.outs, news)
    assert checkly.subscribed(channel) == ([OTHER_CHECK], [])

    with ChecklyClient(API_KEY, ACCOUNT, checkly.base_url) as client:  # clicked in Checkly's UI
        client.set_subscription(channel, group_id=3, activated=True)
    read = provider.read(created.id, updated.outs)
    assert (read.outs["checks"], read.outs["groups"]) == ([OTHER_CHECK], [3]), "a refresh sees the UI's change"

    provider.delete(created.id, updated.outs)
    assert checkly.subscribed(channel) == ([], [3]), "only what the stack subscribed is unsubscribed"

    del checkly.channels[channel]  # the channel deleted in Checkly: its subscriptions are gone too
    assert provider.read(created.id, updated.outs).id is None
    provider.delete(created.id, updated.outs)  # nothing left to do, no error
    reset_credentials()


def test_the_subscriptions_provider_over_grpc_gets_its_key_only_from_configure(checkly: ChecklyStandIn) -> None:
    channel = checkly.add_channel("incident.io (Production)")
    provider = AlertChannelSubscriptionsProvider()
    props = with_provider(
        provider, {"channel_id": str(channel), "account_id": ACCOUNT, "checks": [CHECK], "groups": []}
    )
    with DynamicProviderProcess() as engine:
        engine.configure({CONFIG_API_KEY: API_KEY, CONFIG_API_URL: checkly.base_url}, secret_keys=(CONFIG_API_KEY,))
        id_, outs = engine.create(SUBSCRIPTIONS_URN, props)
        assert id_ == str(channel) and outs["checks"] == [CHECK]
        assert checkly.subscribed(channel) == ([CHECK], [])
        engine.delete(SUBSCRIPTIONS_URN, id_, props)
        assert checkly.subscribed(channel) == ([], [])
        for raw in engine.wire:
            assert API_KEY.encode() not in raw
    assert API_KEY.encode() not in base64.b64decode(props["__provider"])
