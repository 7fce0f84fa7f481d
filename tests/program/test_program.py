"""The Pulumi program (__main__.py) for each committed stack, run under Pulumi mocks.

What a reviewer of `pulumi preview` would check by eye: which resources exist and where they
hang, that every AWS/Kubernetes resource names its stack's provider (never a default one), that
the token and URL only travel marked secret, that payloads and manifests are exactly the compiled
ones, and that staging and production never refer to each other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from components import validate
from components.compile import TOKEN_VERSION_ANNOTATION, compile_stack, source_url_output
from components.incidentio.references import ALERT_SOURCE, SECRET_VERSION, substitute
from components.model import Stack
from components.schemas import validate_external_secret
from tests.program.harness import COMMITTED_STACKS, ROOT, ProgramFailed, ProgramRun, Registered, run_program

STACK_COMPONENT = "alerting:index:AlertingStack"
DELIVERY = "alerting:delivery:TokenDelivery"
AWS_PROVIDER = "pulumi:providers:aws"
K8S_PROVIDER = "pulumi:providers:kubernetes"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION_TYPE = "aws:secretsmanager/secretVersion:SecretVersion"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
ALERTMANAGER_PATCH = "kubernetes:monitoring.coreos.com/v1:AlertmanagerPatch"
ALERT_SOURCE_TYPE = "pulumi-python:dynamic/incidentio:AlertSource"
ALERT_ROUTE_TYPE = "pulumi-python:dynamic/incidentio:AlertRoute"
CHECKLY_PROVIDER = "pulumi:providers:checkly"
CHECKLY_COMPONENT = "alerting:checkly:AlertChannel"
CHECKLY_CHANNEL = "checkly:index/alertChannel:AlertChannel"
CHECKLY_SUBSCRIPTIONS = "pulumi-python:dynamic/checkly:AlertChannelSubscriptions"


def model(stack: str, project_dir: Path = ROOT) -> Stack:
    loaded, _ = validate.load_stack(project_dir / "stacks" / f"Pulumi.{stack}.yaml")
    return loaded


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def named(run: ProgramRun, type_: str, name: str) -> Registered:
    (found,) = [r for r in run.of_type(type_) if r.name == name]
    return found


def source_outputs(run: ProgramRun, key: str) -> dict[str, Any]:
    return named(run, ALERT_SOURCE_TYPE, key).outputs


@pytest.fixture(params=COMMITTED_STACKS)
def run(request: pytest.FixtureRequest, committed_runs: dict[str, ProgramRun]) -> ProgramRun:
    return committed_runs[request.param]


# -- inventory ------------------------------------------------------------------------------------


def test_inventory_is_what_the_stack_file_declares(run: ProgramRun) -> None:
    stack = model(run.stack)
    delivered = [s.key for s in stack.sources if s.delivery]
    channels = [s.key for s in stack.sources if s.checkly]
    assert channels == ["checkly"], "each committed stack declares its Checkly alert channel"
    expected = {
        (STACK_COMPONENT, run.stack),
        (AWS_PROVIDER, "aws"),
        (K8S_PROVIDER, "kubernetes"),
        (CHECKLY_PROVIDER, "checkly"),
        *((CHECKLY_COMPONENT, key) for key in channels),
        *((CHECKLY_CHANNEL, f"{key}-checkly-channel") for key in channels),
        *((ALERT_SOURCE_TYPE, s.key) for s in stack.sources),
        *((ALERT_ROUTE_TYPE, slug(r.name)) for r in stack.routes),
        *((DELIVERY, key) for key in delivered),
        *((SECRET, f"{key}-aws-secret") for key in delivered),
        *((SECRET_VERSION_TYPE, f"{key}-aws-secret-version") for key in delivered),
        *((EXTERNAL_SECRET, f"{key}-external-secret") for key in delivered),
    }
    inventory = [(r.type, r.name) for r in run.resources]
    assert sorted(inventory) == sorted(expected), "no resource missing, none extra, none twice"


def test_committed_stacks_deliver_the_alertmanager_token_and_its_heartbeat() -> None:
    for stack in COMMITTED_STACKS:
        delivered = [s.key for s in model(stack).sources if s.delivery]
        assert delivered == ["alertmanager", "alertmanager-heartbeat"], stack


def test_resources_hang_under_their_components(run: ProgramRun) -> None:
    (component,) = run.of_type(STACK_COMPONENT)
    for r in run.resources:
        if r.type in (SECRET, SECRET_VERSION_TYPE, EXTERNAL_SECRET):
            parent = run.by_urn(r.parent)
            assert parent.type == DELIVERY and r.name.startswith(f"{parent.name}-"), r.name
        elif r.type in (CHECKLY_CHANNEL, CHECKLY_SUBSCRIPTIONS):
            parent = run.by_urn(r.parent)
            assert parent.type == CHECKLY_COMPONENT and r.name.startswith(f"{parent.name}-"), r.name
        elif r is not component:
            assert r.parent == component.urn, f"{r.type} {r.name} hangs under {r.parent}"


def test_routes_depend_on_the_sources_they_name(run: ProgramRun) -> None:
    stack = model(run.stack)
    for route in stack.routes:
        registered = named(run, ALERT_ROUTE_TYPE, slug(route.name))
        for source_filter in route.sources:
            source = named(run, ALERT_SOURCE_TYPE, source_filter.source)
            assert source.urn in registered.dependencies, (route.name, source_filter.source)


# -- providers ------------------------------------------------------------------------------------


def test_every_aws_and_kubernetes_resource_uses_the_stacks_explicit_provider(run: ProgramRun) -> None:
    aws_provider, kube_provider = run.one(AWS_PROVIDER), run.one(K8S_PROVIDER)
    checked = 0
    for r in run.resources:
        package = r.type.split(":")[0]
        if package not in ("aws", "kubernetes", "checkly"):
            continue
        expected = {"aws": aws_provider, "kubernetes": kube_provider, "checkly": run.one(CHECKLY_PROVIDER)}[package]
        assert r.provider, f"{r.type} {r.name} would use a default provider"
        assert r.provider_urn == expected.urn, f"{r.type} {r.name} uses {r.provider}"
        checked += 1
    stack = model(run.stack)
    assert checked == 3 * len([s for s in stack.sources if s.delivery]) + len([s for s in stack.sources if s.checkly])


def test_providers_pin_the_stacks_account_region_and_context(run: ProgramRun) -> None:
    stack = model(run.stack)
    aws_inputs = run.one(AWS_PROVIDER).inputs
    assert aws_inputs["region"] == stack.aws_region
    assert json.loads(aws_inputs["allowedAccountIds"]) == [stack.aws_account_id]
    kube_inputs = run.one(K8S_PROVIDER).inputs
    assert kube_inputs["context"] == stack.kube_context
    assert "renderYamlToDirectory" not in kube_inputs


# -- secrets --------------------------------------------------------------------------------------


def test_token_and_url_travel_only_as_secrets(run: ProgramRun) -> None:
    for source in [s for s in model(run.stack).sources if s.delivery]:
        key = source.key
        outputs = source_outputs(run, key)
        # A heartbeat delivers its ping URL where an alert source delivers its alert events URL.
        token, url = outputs["secret_token"], outputs[source_url_output(source)]
        assert url

        version = named(run, SECRET_VERSION_TYPE, f"{key}-aws-secret-version")
        assert version.secret_paths == {"secretString"}
        assert json.loads(version.inputs["secretString"]) == {"alert_source_token": token, "alert_source_url": url}

        # The source declares its token (and ping URL) secret outputs; the URL is made secret by the program.
        assert {"secret_token", "heartbeat_ping_url"} <= set(
            named(run, ALERT_SOURCE_TYPE, key).additional_secret_outputs
        )

        for r in run.resources:
            if r is not version:
                assert token not in r.text() and url not in r.text(), f"{r.type} {r.name} carries the token/URL"
        assert token not in json.dumps(run.exports) and url not in json.dumps(run.exports)

    for r in run.of_type(EXTERNAL_SECRET):
        assert r.secret_paths == set(), "the ExternalSecret only points at AWS; rendered YAML holds no secret"


def test_aws_secret_is_protected_in_production_only(run: ProgramRun) -> None:
    stack = model(run.stack)
    for secret in run.of_type(SECRET):
        assert secret.protect is (stack.environment == "production")
        assert secret.import_id == "", "adoption only on request"
    for r in run.resources:
        if r.type != SECRET:
            assert not r.protect, f"{r.type} {r.name}"


def test_adopted_sources_are_released_not_deleted_on_destroy(run: ProgramRun) -> None:
    stack = model(run.stack)
    adopted = {s.key for s in stack.sources if s.adopt}
    sources = [r for r in run.resources if r.type == "pulumi-python:dynamic/incidentio:AlertSource"]
    assert adopted and {r.name for r in sources} >= adopted
    for source in sources:
        assert source.retain_on_delete is (source.name in adopted), source.name


# -- exactly the compiled output ------------------------------------------------------------------


def test_aws_secret_and_external_secret_are_the_compiled_ones(run: ProgramRun) -> None:
    compiled = compile_stack(model(run.stack))
    manifests = {m["metadata"]["name"]: m for m in compiled["kubernetes"]["manifests"]}
    for section in compiled["aws"]["secrets"]:
        key = section["source"]
        secret = named(run, SECRET, f"{key}-aws-secret")
        assert (secret.inputs["name"], secret.inputs["description"]) == (section["name"], section["description"])

        version = named(run, SECRET_VERSION_TYPE, f"{key}-aws-secret-version")
        assert version.inputs["secretId"] == secret.outputs["arn"]

        external = named(run, EXTERNAL_SECRET, f"{key}-external-secret")
        applied = {k: external.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}
        expected = substitute(
            manifests[applied["metadata"]["name"]], {(SECRET_VERSION, key): version.outputs["versionId"]}
        )
        assert applied == expected
        assert applied["metadata"]["annotations"][TOKEN_VERSION_ANNOTATION] == version.outputs["versionId"]
        assert validate_external_secret(applied) == []
        assert version.urn in external.dependencies


def test_source_and_route_payloads_are_the_compiled_ones(run: ProgramRun) -> None:
    compiled = compile_stack(model(run.stack))["incident_io"]
    for item in compiled["alert_sources"]:
        source = named(run, ALERT_SOURCE_TYPE, item["key"])
        assert source.inputs["payload"] == item["payload"]
        assert source.inputs.get("adopt") == item["adopt"]
    ids = {(ALERT_SOURCE, r.name): r.id for r in run.of_type(ALERT_SOURCE_TYPE)}
    for item in compiled["alert_routes"]:
        route = named(run, ALERT_ROUTE_TYPE, slug(item["name"]))
        assert route.inputs["payload"] == substitute(item["payload"], ids)
    assert set(run.exports["routeIds"]) == {slug(i["name"]) for i in compiled["alert_routes"]}


def test_exports_are_ids_and_names(run: ProgramRun) -> None:
    stack = model(run.stack)
    assert run.exports["sourceIds"] == {r.name: r.id for r in run.of_type(ALERT_SOURCE_TYPE)}
    assert run.exports["routeIds"] == {r.name: r.id for r in run.of_type(ALERT_ROUTE_TYPE)}
    delivered = [s.key for s in stack.sources if s.delivery]
    arns = {key: named(run, SECRET, f"{key}-aws-secret").outputs["arn"] for key in delivered}
    assert run.exports["awsSecretArns"] == arns
    assert run.exports["externalSecrets"] == {s.key: s.delivery.kubernetes_secret for s in stack.sources if s.delivery}


# -- staging and production never meet ------------------------------------------------------------


def identifiers(run: ProgramRun) -> dict[str, str]:
    """Strings that identify `run`'s environment: account, context, secret ARNs, sources, tokens, URLs."""
    stack = model(run.stack)
    found = {"AWS account": stack.aws_account_id, "kube context": stack.kube_context}
    for key, arn in run.exports["awsSecretArns"].items():
        found[f"secret {key}"] = arn
    for source in run.of_type(ALERT_SOURCE_TYPE):
        found[f"source {source.name} id"] = source.id
        found[f"source {source.name} token"] = source.outputs["secret_token"]
        for output in ("alert_events_url", "heartbeat_ping_url"):  # "" where the source has none
            if source.outputs[output]:
                found[f"source {source.name} {output}"] = source.outputs[output]
    return found


@pytest.mark.parametrize(("this", "other"), [("staging", "production"), ("production", "staging")])
def test_no_resource_refers_to_the_other_environment(
    committed_runs: dict[str, ProgramRun], this: str, other: str
) -> None:
    mine, theirs = committed_runs[this], committed_runs[other]
    foreign = identifiers(theirs)
    for r in mine.resources:
        text = r.text()
        leaks = [what for what, value in foreign.items() if value in text]
        assert leaks == [], f"{this} {r.type} {r.name} refers to {other}'s {leaks}"
        for arn in re.findall(r"arn:aws:secretsmanager:[^\"|]+", text):
            assert f":{model(this).aws_account_id}:" in arn, f"{this} {r.type} {r.name} uses {arn}"
    assert json.loads(mine.one(AWS_PROVIDER).inputs["allowedAccountIds"]) == [model(this).aws_account_id]


# -- rotation -------------------------------------------------------------------------------------


def test_a_rotated_token_changes_only_the_version_and_its_annotation(committed_runs: dict[str, ProgramRun]) -> None:
    before = committed_runs["staging"]
    after = run_program("staging", tokens={"alertmanager": "rotated-in-incident-io"})

    assert sorted(r.urn for r in after.resources) == sorted(r.urn for r in before.resources), "the same resources"
    old_version = named(before, SECRET_VERSION_TYPE, "alertmanager-aws-secret-version")
    new_version = named(after, SECRET_VERSION_TYPE, "alertmanager-aws-secret-version")
    assert json.loads(new_version.inputs["secretString"])["alert_source_token"] == "rotated-in-incident-io"
    assert new_version.outputs["versionId"] != old_version.outputs["versionId"]

    old_es = named(before, EXTERNAL_SECRET, "alertmanager-external-secret").inputs
    new_es = named(after, EXTERNAL_SECRET, "alertmanager-external-secret").inputs
    assert new_es["metadata"]["annotations"][TOKEN_VERSION_ANNOTATION] == new_version.outputs["versionId"]
    assert new_es["spec"] == old_es["spec"], "only the annotation changes: ESO fetches at once"

    unchanged = [r for r in after.resources if r.type not in (SECRET_VERSION_TYPE, EXTERNAL_SECRET)]
    for r in unchanged:
        assert r.text() == next(b for b in before.resources if b.urn == r.urn).text(), f"{r.type} {r.name}"


# -- modes and options ----------------------------------------------------------------------------


def test_gitops_mode_renders_manifests_instead_of_applying(stack_variant: Any) -> None:
    project = stack_variant("staging", lambda c: c["alerting:kubernetes"].update(mode="gitops"))
    run = run_program("staging", project_dir=project)
    kube = run.one(K8S_PROVIDER).inputs
    assert kube["renderYamlToDirectory"] == "rendered/staging"
    assert json.loads(kube["alwaysRender"]) is True
    assert "context" not in kube, "the provider refuses a context together with a render directory"
    assert named(run, EXTERNAL_SECRET, "alertmanager-external-secret").provider_urn == run.one(K8S_PROVIDER).urn


def test_gitops_mode_writes_to_the_configured_directory(stack_variant: Any) -> None:
    project = stack_variant(
        "staging", lambda c: c["alerting:kubernetes"].update(mode="gitops", manifestsDir="deploy/alerting")
    )
    run = run_program("staging", project_dir=project)
    assert run.one(K8S_PROVIDER).inputs["renderYamlToDirectory"] == "deploy/alerting"


def test_an_adopted_route_is_taken_over_and_released_on_destroy(stack_variant: Any) -> None:
    route_id = "01KHSNW67SZJ1KGWEMA9C0RTE1"
    project = stack_variant("staging", lambda c: c["alerting:routes"][0].update(adopt=route_id))
    run = run_program("staging", project_dir=project)
    route = named(run, ALERT_ROUTE_TYPE, "staging-notifications")
    assert route.inputs["adopt"] == route_id
    assert route.retain_on_delete is True


def enable_roll(config: dict[str, Any]) -> None:
    config["alerting:kubernetes"]["alertmanager"] = {
        "name": "kube-prometheus-stack-alertmanager",
        "rollOnTokenChange": True,
    }


def test_alertmanager_roll_is_off_by_default(run: ProgramRun) -> None:
    assert run.of_type(ALERTMANAGER_PATCH) == []


def test_alertmanager_roll_annotates_the_pods_with_the_token_version(stack_variant: Any) -> None:
    run = run_program("staging", project_dir=stack_variant("staging", enable_roll))
    patch = run.one(ALERTMANAGER_PATCH)
    version = named(run, SECRET_VERSION_TYPE, "alertmanager-aws-secret-version")
    assert patch.provider_urn == run.one(K8S_PROVIDER).urn
    assert patch.inputs["metadata"] == {"name": "kube-prometheus-stack-alertmanager", "namespace": "monitoring"}
    heartbeat = named(run, SECRET_VERSION_TYPE, "alertmanager-heartbeat-aws-secret-version")
    assert patch.inputs["spec"] == {
        "podMetadata": {
            "annotations": {
                f"{TOKEN_VERSION_ANNOTATION}-alertmanager": version.outputs["versionId"],
                # the heartbeat's secret is mounted too: a rotated heartbeat token rolls the pods
                f"{TOKEN_VERSION_ANNOTATION}-alertmanager-heartbeat": heartbeat.outputs["versionId"],
            }
        }
    }


def test_alertmanager_roll_is_skipped_with_a_warning_in_gitops_mode(stack_variant: Any) -> None:
    def change(config: dict[str, Any]) -> None:
        enable_roll(config)
        config["alerting:kubernetes"]["mode"] = "gitops"

    run = run_program("staging", project_dir=stack_variant("staging", change))
    assert run.of_type(ALERTMANAGER_PATCH) == []
    assert any("rollOnTokenChange is not applied in gitops mode" in w for w in run.warnings())


STAGING_ARN = "arn:aws:secretsmanager:us-east-1:222222222222:secret:unkey/alertmanager-incident-io-Ab12Cd"
PRODUCTION_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:unkey/alertmanager-incident-io-Ef34Gh"


def test_an_existing_aws_secret_is_adopted_on_request() -> None:
    run = run_program("staging", environ={"ALERTING_ADOPT_AWS_SECRETS": json.dumps({"alertmanager": STAGING_ARN})})
    secret = named(run, SECRET, "alertmanager-aws-secret")
    assert secret.import_id == STAGING_ARN
    assert "description" in secret.ignore_changes
    assert run.exports["awsSecretArns"]["alertmanager"] == STAGING_ARN
    assert named(run, SECRET, "alertmanager-heartbeat-aws-secret").import_id == "", "only the one requested"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (json.dumps({"alertmanager": PRODUCTION_ARN}), "wrong account '111111111111' (expected '222222222222')"),
        (json.dumps({"checkly": STAGING_ARN}), "names sources without delivery: checkly"),
        ("alertmanager=arn", "must be a JSON object"),
    ],
)
def test_a_wrong_adoption_request_stops_the_program(value: str, message: str) -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program("staging", environ={"ALERTING_ADOPT_AWS_SECRETS": value})
    assert type(failed.value.error).__name__ == "RunError"
    assert message in str(failed.value.error)
    assert [r.type for r in failed.value.resources if r.type != STACK_COMPONENT] == [], "nothing registered"


def test_an_invalid_stack_file_is_a_clear_pulumi_error(stack_variant: Any) -> None:
    def break_it(config: dict[str, Any]) -> None:
        config["alerting:guards"]["awsAccountId"] = "2222"

    with pytest.raises(ProgramFailed) as failed:
        run_program("staging", project_dir=stack_variant("staging", break_it))
    assert type(failed.value.error).__name__ == "RunError"
    assert "1 error(s) in the stack file; nothing was changed" in str(failed.value.error)
    errors = [message for level, message in failed.value.logs if level == "ERROR"]
    location = re.compile(
        r"^stacks/Pulumi\.staging\.yaml:\d+:\d+: \$\.guards\.awsAccountId: must be a 12-digit AWS account id"
    )
    assert [e for e in errors if location.match(e)], errors
    assert [r.type for r in failed.value.resources] == [], "nothing registered"


# -- every valid example stack --------------------------------------------------------------------

EXAMPLES = sorted((ROOT / "tests/data/stacks/valid").glob("Pulumi.*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_stacks_leave_only_provider_resolved_placeholders(path: Path, tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / path.name).write_bytes(path.read_bytes())
    run = run_program(validate.stack_name(path), project_dir=tmp_path)
    for r in run.resources:
        kinds = set(re.findall(r"\$\{([a-z_]+):", r.text()))
        # Escalation paths and attributes are looked up by name by the AlertRoute/AlertSource
        # provider; source ids and secret versions must be resolved by the program.
        assert kinds <= {"escalation_path", "alert_attribute"}, f"{r.type} {r.name}: {kinds}"
        if r.type.split(":")[0] in ("aws", "kubernetes"):
            assert r.provider, f"{r.type} {r.name} would use a default provider"


def test_a_stack_without_delivery_registers_no_aws_or_kubernetes_resource(tmp_path: Path) -> None:
    """So it runs under the real engine with neither plugin installed (pulumi-aws cannot be built here)."""
    text = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    without = re.sub(r"      delivery:\n(        .*\n)+", "", text)
    assert without != text
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.staging.yaml").write_text(without)
    run = run_program("staging", project_dir=tmp_path)
    packages = {r.type.split(":")[0] for r in run.resources} | {
        r.type.removeprefix("pulumi:providers:") for r in run.resources if r.type.startswith("pulumi:providers:")
    }
    assert not packages & {"aws", "kubernetes"}, sorted(r.type for r in run.resources)
    assert run.of_type("pulumi-python:dynamic/incidentio:AlertSource"), "the incident.io side is all there"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("name: Alertmanager (Staging)", "name: !!int abc"), r"\$\.sources\.alertmanager\.name: '!!int abc'"),
        (("name: Staging Notifications", "name: 2026-01-01"), r"\$\.routes\[0\]\.name: '2026-01-01' reads as"),
        (("kubeContext: staging-eks", "kubeContext: !vault prod/ctx"), r"\$\.guards\.kubeContext: YAML tag !vault"),
        (
            ('awsAccountId: "222222222222"', 'awsAccountId: "111111111111"'),
            r"\$\.guards\.awsAccountId: AWS account 111111111111 is also used by",
        ),
        (
            ("alerting:environment: staging", "alerting:environment: production"),
            r"\$\.environment: stack 'staging' is named for staging",
        ),
    ],
    ids=["core-tag", "unquoted-date", "unknown-tag", "production-account", "production-environment"],
)
def test_a_hostile_or_cross_environment_stack_stops_the_program_before_anything_is_registered(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.production.yaml").write_text((ROOT / "stacks" / "Pulumi.production.yaml").read_text())
    text = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    assert edit[0] in text
    (stacks / "Pulumi.staging.yaml").write_text(text.replace(edit[0], edit[1], 1))

    with pytest.raises(ProgramFailed) as failed:
        run_program("staging", project_dir=tmp_path)

    assert type(failed.value.error).__name__ == "RunError"
    errors = [m for level, m in failed.value.logs if level == "ERROR"]
    located = [e for e in errors if re.match(r"^stacks/Pulumi\.staging\.yaml:\d+:\d+: " + message, e)]
    assert located, errors
    assert [r.type for r in failed.value.resources] == [], "nothing registered"


# -- Checkly's side -------------------------------------------------------------------------------


def test_the_checkly_channel_is_the_compiled_one_with_url_and_token_only_as_secrets(run: ProgramRun) -> None:
    stack = model(run.stack)
    (compiled,) = compile_stack(stack)["checkly"]["alert_channels"]
    outputs = source_outputs(run, "checkly")
    token, url = outputs["secret_token"], outputs["alert_events_url"]
    channel = named(run, CHECKLY_CHANNEL, "checkly-checkly-channel")

    resolved = substitute(
        compiled["inputs"],
        {(ALERT_SOURCE, "checkly.secret_token"): token, (ALERT_SOURCE, "checkly.alert_events_url"): url},
    )
    assert channel.inputs == resolved, "the registered inputs are exactly what `render` prints, placeholders filled"
    assert channel.inputs["webhook"]["headers"] == {"authorization": f"Bearer {token}"}
    assert channel.inputs["webhook"]["webhookType"] == "WEBHOOK_INCIDENTIO"
    assert channel.secret_paths == {"webhook"}, "URL and token reach the state encrypted"
    for r in run.resources:
        if r is not channel:
            assert token not in r.text(), f"{r.type} {r.name} carries the Checkly source's token"
    assert token not in json.dumps(run.exports)
    assert run.exports["checklyChannelIds"] == {"checkly": channel.id}

    provider = run.one(CHECKLY_PROVIDER).inputs
    assert provider["accountId"] == stack.checkly_account_id
    assert "apiKey" not in provider, "no key in the stack file: the provider reads CHECKLY_API_KEY itself"
    assert run.of_type(CHECKLY_SUBSCRIPTIONS) == [], "the committed stacks subscribe no check here"


def test_a_checkly_api_key_from_secret_config_reaches_the_provider_only_as_a_secret() -> None:
    key = "cu_secretconfig_0123456789abcdef"
    run = run_program("staging", secret_config={"alerting:checklyApiKey": key})
    provider = run.one(CHECKLY_PROVIDER)
    assert provider.inputs["apiKey"] == key
    assert "apiKey" in provider.secret_paths, "the key goes into the state encrypted"
    assert all(key not in r.text() for r in run.resources if r is not provider)


def test_a_rotated_checkly_token_reaches_only_the_channel(committed_runs: dict[str, ProgramRun]) -> None:
    before = committed_runs["production"]
    after = run_program("production", tokens={"checkly": "rotated-checkly-token"})
    channel = named(after, CHECKLY_CHANNEL, "checkly-checkly-channel")
    assert channel.inputs["webhook"]["headers"] == {"authorization": "Bearer rotated-checkly-token"}
    changed = [r.urn for r in after.resources if r.text() != next(b for b in before.resources if b.urn == r.urn).text()]
    assert changed == [channel.urn], "`pulumi up --refresh` after a rotation updates the channel, nothing else"


def test_listed_checks_and_groups_subscribe_to_the_channel(stack_variant: Any) -> None:
    check = "0bbfc00c-44df-46a7-a4d9-ba38deca8bfd"
    project = stack_variant(
        "staging",
        lambda c: c["alerting:sources"]["checkly"]["checkly"].update(subscribe={"checks": [check], "groups": [7]}),
    )
    run = run_program("staging", project_dir=project)
    (subscriptions,) = run.of_type(CHECKLY_SUBSCRIPTIONS)
    channel = named(run, CHECKLY_CHANNEL, "checkly-checkly-channel")
    assert json.loads(subscriptions.text()) == {
        "channel_id": channel.id,
        "account_id": model("staging").checkly_account_id,
        "checks": [check],
        "groups": [7],
    }
    assert channel.urn in subscriptions.dependencies
    assert run.by_urn(subscriptions.parent).type == CHECKLY_COMPONENT
