"""The routing evaluator's rules, one at a time (the end-to-end agreement is in test_routing_e2e.py
and test_routing_property.py)."""

from __future__ import annotations

import pytest

from components import routing
from components.routing import Extracted, OpenMapping, Unknown

SEVERITY = "01SEVERITY0000000000000000"


def alert(value: str | Unknown | None, title: str | None = None) -> Extracted:
    return Extracted(title=title, description=None, attributes={SEVERITY: value} if value is not None else {})


def condition(operation: str, *values: str, subject: str = f"alert.attributes.{SEVERITY}") -> dict:
    return {
        "subject": subject,
        "operation": operation,
        "param_bindings": [{"array_value": [{"literal": v} for v in values]}],
    }


@pytest.mark.parametrize(
    ("operation", "values", "value", "expected"),
    [
        ("one_of", ("critical", "page"), "page", True),
        ("contains_one_of", ("critical",), "critical", True),  # how incident.io stores one_of
        ("one_of", ("critical",), None, False),
        ("none_of", ("critical",), "warning", True),
        ("none_of", ("critical",), "critical", False),
        ("none_of", ("critical",), None, True),
        ("is_blank", (), None, True),
        ("is_blank", (), "", True),
        ("is_blank", (), "x", False),
        ("is_set", (), "x", True),
        ("is_not_blank", (), "", False),
    ],
)
def test_condition_operations(operation: str, values: tuple[str, ...], value: str | None, expected: bool) -> None:
    assert routing.condition_truth(condition(operation, *values), alert(value)) is expected


def test_an_unbound_attribute_is_never_set() -> None:
    assert routing.condition_truth(condition("one_of", "critical"), alert(None)) is False
    assert routing.condition_truth(condition("is_blank"), alert(None)) is True


def test_what_cannot_be_told_is_never_guessed() -> None:
    unknown_op = routing.condition_truth(condition("matches_regex", "disk.*"), alert("x"))
    assert isinstance(unknown_op, Unknown) and unknown_op.reasons == {
        "operation 'matches_regex' cannot be evaluated offline"
    }
    case = routing.condition_truth(condition("contains", "disk", subject="alert.title"), alert(None, title="Disk full"))
    assert isinstance(case, Unknown)  # incident.io does not document whether contains ignores case
    exact = routing.condition_truth(
        condition("contains", "disk", subject="alert.title"), alert(None, title="disk full")
    )
    assert exact is True


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.labels.severity", "critical"),
        ('$["labels"]["team-name"]', "db"),
        ("$.alerts[0].labels.severity", "warning"),
        ("$.labels.missing", None),
        ("$.count", "3"),
        ("$.flag", "true"),
    ],
)
def test_plain_paths_evaluate_like_the_parse(path: str, expected: str | None) -> None:
    payload = {
        "labels": {"severity": "critical", "team-name": "db"},
        "alerts": [{"labels": {"severity": "warning"}}],
        "count": 3,
        "flag": True,
    }
    assert routing.evaluate_path(path, payload) == expected


def test_a_javascript_parse_is_undecidable_offline() -> None:
    value = routing.evaluate_path("$.labels.severity.toUpperCase()", {"labels": {"severity": "x"}})
    assert isinstance(value, Unknown)


def test_an_undeclared_label_is_unknown_but_a_declared_missing_one_is_missing() -> None:
    labels = OpenMapping({"severity": "critical"}, unknown="label {!r} is not declared under emits", absent=["team"])
    assert routing.evaluate_path("$.severity", labels) == "critical"
    assert routing.evaluate_path("$.team", labels) is None
    region = routing.evaluate_path("$.region", labels)
    assert isinstance(region, Unknown) and region.reasons == {"label 'region' is not declared under emits"}


def test_an_alertmanager_group_is_one_alert_per_entry_and_other_bodies_are_one() -> None:
    group = {"version": "4", "alerts": [{"labels": {"a": "1"}}, {"labels": {"a": "2"}}], "commonLabels": {}}
    assert routing.split_event("alertmanager", group) == group["alerts"]
    assert routing.split_event("http", {"title": "x"}) == [{"title": "x"}]


def test_channel_conditions_decide_which_slack_channels_hear() -> None:
    source = {
        "source_type": "alertmanager",
        "template": {
            "expressions": [
                {
                    "label": "severity",
                    "reference": "severity",
                    "root_reference": "payload",
                    "operations": [
                        {
                            "operation_type": "parse",
                            "parse": {"source": "$.labels.severity", "returns": {"type": "String", "array": False}},
                        }
                    ],
                }
            ],
            "attributes": [
                {"alert_attribute_id": SEVERITY, "binding": {"value": {"reference": 'expressions["severity"]'}}}
            ],
        },
    }
    route = {
        "name": "All",
        "alert_sources": [{"alert_source_id": "S", "condition_groups": []}],
        "channel_config": [
            {
                "condition_groups": [{"conditions": [condition("one_of", "critical")]}],
                "slack_targets": {"binding": {"array_value": [{"literal": "C0PAGE"}]}},
            },
            {"condition_groups": [], "slack_targets": {"binding": {"array_value": [{"literal": "C0ALL"}]}}},
        ],
    }
    critical = routing.route_alert("S", source, [route], {"labels": {"severity": "critical"}})
    warning = routing.route_alert("S", source, [route], {"labels": {"severity": "warning"}})
    assert critical.slack_channel_ids == ("C0PAGE", "C0ALL")
    assert warning.slack_channel_ids == ("C0ALL",)
    assert routing.route_alert("OTHER", source, [route], {}).dropped
