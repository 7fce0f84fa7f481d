"""Placeholders for ids known only at deploy time (components/incidentio/references.py)."""

from __future__ import annotations

from components.incidentio.references import ALERT_SOURCE, ESCALATION_PATH, find, ref, substitute


def test_a_placeholder_is_readable_and_found_anywhere_in_a_payload() -> None:
    payload = {
        "alert_sources": [{"alert_source_id": ref(ALERT_SOURCE, "alertmanager")}],
        "escalation": {"paths": [f"before {ref(ESCALATION_PATH, 'Engineering On-Call')} after"]},
        "count": 3,
        "enabled": True,
    }
    assert ref(ESCALATION_PATH, "Engineering On-Call") == "${escalation_path:Engineering On-Call}"
    assert find(payload) == {(ALERT_SOURCE, "alertmanager"), (ESCALATION_PATH, "Engineering On-Call")}


def test_substitute_replaces_what_it_knows_and_leaves_the_rest_without_touching_the_input() -> None:
    payload = {"ids": [ref(ALERT_SOURCE, "a"), ref(ALERT_SOURCE, "b")], "text": "no placeholder", "n": 1}
    done = substitute(payload, {(ALERT_SOURCE, "a"): "01ALPHA"})
    assert done == {"ids": ["01ALPHA", "${alert_source:b}"], "text": "no placeholder", "n": 1}
    assert payload["ids"][0] == "${alert_source:a}"  # a new value; the compiled payload stays as it was
    assert find(done) == {(ALERT_SOURCE, "b")}
