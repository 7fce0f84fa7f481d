"""Checkly's side of a `checkly` source: the alert channel that posts to it (Checkly's first-party
Pulumi provider, `pulumi-checkly`) and which checks and groups subscribe to it (a dynamic provider
over Checkly's public API, `subscriptions.py`: the first-party provider manages subscriptions only
on check and group resources, which the stack does not own). docs/checkly.md.
"""
