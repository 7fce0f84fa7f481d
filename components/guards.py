"""Stage 3b: the stack files of one folder, checked together: an incident.io id adopted twice, and
the guards between environments (accounts, kube contexts, secrets they must never share).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

from components import model
from components.errors import Problem
from components.meaning import config, listing, mapping, project_key, setting
from components.stackfile import Document, PathKey


def _adoptions(doc: Document) -> Iterator[tuple[str, PathKey, str]]:
    """(adopted id, path of the `adopt` value, readable owner) for every source and route."""
    for key, source in mapping(setting(doc, "sources")).items():
        adopt = mapping(source).get("adopt")
        if isinstance(adopt, str):
            yield adopt, (*project_key("sources"), key, "adopt"), f"source {key!r}"
    for index, route in enumerate(listing(setting(doc, "routes"))):
        adopt = mapping(route).get("adopt")
        if isinstance(adopt, str):
            yield adopt, (*project_key("routes"), index, "adopt"), f"route {mapping(route).get('name')!r}"


Claim = tuple[Document, PathKey, str]  # the claiming file, where it claims, who claims (readable)


def _conflicts(
    claims: Mapping[Hashable, list[Claim]],
    message: Callable[[Hashable, str, str], str],
    clash: Callable[[Document, Document], bool] = lambda a, b: True,
) -> Iterator[Problem]:
    """Every party of a claim hears about every other party it clashes with:
    `message(claimed, other owner, where the other is)`."""
    for claimed, parties in claims.items():
        for doc, path, _ in parties:
            for other, other_path, other_owner in parties:
                if (other, other_path) == (doc, path) or not clash(doc, other):
                    continue
                line = other.where(other_path)[0]
                where = f"line {line}" if other is doc else f"{other.file}:{line}"
                yield doc.problem(path, message(claimed, other_owner, where))


def adoption_problems(docs: list[Document]) -> Iterator[Problem]:
    """An incident.io object adopted twice, in one stack or across stacks, would be fought over."""
    claims: dict[Hashable, list[Claim]] = {}
    for doc in docs:
        for adopt, path, owner in _adoptions(doc):
            claims.setdefault(adopt, []).append((doc, path, owner))
    yield from _conflicts(
        claims,
        lambda adopt, owner, where: (
            f"id {adopt} is also adopted by {owner} ({where}); an incident.io object belongs to one place"
        ),
    )


def _text_only(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def guard_problems(docs: Mapping[str, Document]) -> Iterator[Problem]:
    """What keeps a stack from reaching another environment (`docs`: stack name -> document).

    A stack named for an environment ("staging", "prod-eu") declares that environment, unless its
    `guards.allowEnvironmentMismatch` says the difference is deliberate. Stacks of different
    environments never share an AWS account or a kube context; no two stacks share an AWS secret
    (account, region, name) or a Kubernetes Secret (context, namespace, name).
    """
    environments: dict[int, Any] = {}
    accounts: dict[Hashable, list[Claim]] = {}
    contexts: dict[Hashable, list[Claim]] = {}
    aws_secrets: dict[Hashable, list[Claim]] = {}
    kube_secrets: dict[Hashable, list[Claim]] = {}
    for name, doc in docs.items():
        environment = setting(doc, "environment")
        environments[id(doc)] = environment
        guards = mapping(setting(doc, "guards"))
        named = model.named_environment(name)
        deliberate = guards.get("allowEnvironmentMismatch") is True
        if named and environment in model.KNOWN_ENVIRONMENTS and environment != named and not deliberate:
            yield doc.problem(
                project_key("environment"),
                f"stack {name!r} is named for {named} but declares environment {environment!r}; correct one of"
                " them, or set guards.allowEnvironmentMismatch: true if the difference is deliberate",
            )
        owner = f"stack {name!r} (environment {environment})"
        account, context = _text_only(guards.get("awsAccountId")), _text_only(guards.get("kubeContext"))
        if account is not None:
            accounts.setdefault(account, []).append((doc, (*project_key("guards"), "awsAccountId"), owner))
        if context is not None:
            contexts.setdefault(context, []).append((doc, (*project_key("guards"), "kubeContext"), owner))
        # Any shape may reach here (a file with other errors is still guarded): only text counts.
        region = _text_only(config(doc).get("aws:region"))
        namespace = _text_only(mapping(setting(doc, "kubernetes")).get("namespace", model.Kubernetes().namespace))
        for key, source in mapping(setting(doc, "sources")).items():
            delivery = mapping(mapping(source).get("delivery"))
            at = (*project_key("sources"), key, "delivery")
            if isinstance(delivery.get("awsSecret"), str):
                secret = (account, region, delivery["awsSecret"])
                aws_secrets.setdefault(secret, []).append((doc, (*at, "awsSecret"), f"stack {name!r}"))
            if isinstance(delivery.get("kubernetesSecret"), str):
                secret = (context, namespace, delivery["kubernetesSecret"])
                kube_secrets.setdefault(secret, []).append((doc, (*at, "kubernetesSecret"), f"stack {name!r}"))

    def across_environments(a: Document, b: Document) -> bool:
        return environments[id(a)] != environments[id(b)]

    def between_stacks(a: Document, b: Document) -> bool:
        return a is not b

    def shared(what: Callable[[Any], str], rule: str) -> Callable[[Hashable, str, str], str]:
        return lambda claimed, owner, where: f"{what(claimed)} is also used by {owner} ({where}); {rule}"

    yield from _conflicts(
        accounts, shared(lambda a: f"AWS account {a}", "environments never share an account"), across_environments
    )
    yield from _conflicts(
        contexts, shared(lambda c: f"kube context {c!r}", "environments never share a cluster"), across_environments
    )
    overwrite = "two stacks would overwrite each other's token"
    yield from _conflicts(
        aws_secrets, shared(lambda s: f"AWS secret {s[2]!r} in account {s[0]} ({s[1]})", overwrite), between_stacks
    )
    yield from _conflicts(
        kube_secrets, shared(lambda s: f"Kubernetes Secret {s[1]}/{s[2]} on {s[0]!r}", overwrite), between_stacks
    )
