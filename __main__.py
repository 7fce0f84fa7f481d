"""Pulumi entry point: `pulumi up -s <env>` deploys stacks/Pulumi.<env>.yaml (components/alerting_stack.py)."""

from pathlib import Path

import pulumi

from components.alerting_stack import AlertingStack, adopt_aws_secrets_from_env, load_stack, program_errors

with program_errors():
    stack = load_stack(Path("stacks") / f"Pulumi.{pulumi.get_stack()}.yaml")
    alerting = AlertingStack(stack.name, stack, adopt_aws_secrets=adopt_aws_secrets_from_env())

pulumi.export("sourceIds", alerting.source_ids)  # ids and names only: never a token or URL
pulumi.export("routeIds", alerting.route_ids)
pulumi.export("awsSecretArns", alerting.aws_secret_arns)
pulumi.export("externalSecrets", alerting.external_secrets)
pulumi.export("checklyChannelIds", alerting.checkly_channel_ids)
