"""The error module's one scrubber: what it removes, and that errors, problems and logs pass it."""

from __future__ import annotations

import logging

import pytest

from components.errors import AlertingError, Problem, install_log_scrubber, register_secret, scrub


def test_scrub_removes_registered_secrets_url_user_info_and_bearer_tokens() -> None:
    register_secret("canary-secret-one-9d81")
    text = (
        "key canary-secret-one-9d81 at https://robot:pa55@api.example.test/v2 "
        "with Authorization: Bearer abc.def-123 and ftp://user@host/x; AUTHORIZATION: BEARER xyz.789"
    )

    assert scrub(text) == (
        "key [redacted] at https://[redacted]@api.example.test/v2 "
        "with Authorization: Bearer [redacted] and ftp://[redacted]@host/x; AUTHORIZATION: BEARER [redacted]"
    )


def test_short_strings_are_not_treated_as_secrets() -> None:
    register_secret("abc")  # would turn every "abc" in every message into [redacted]
    assert scrub("abc def") == "abc def"


def test_the_longest_secret_goes_whole_when_one_contains_another() -> None:
    register_secret("canary-prefix-77")
    register_secret("canary-prefix-77-and-more")
    assert scrub("x canary-prefix-77-and-more y") == "x [redacted] y"


def test_an_error_is_scrubbed_even_for_a_secret_registered_after_it_was_made() -> None:
    error = AlertingError("token canary-late-secret-5521 was refused")
    register_secret("canary-late-secret-5521")
    assert str(error) == "token [redacted] was refused"


def test_problems_are_scrubbed_when_made() -> None:
    problem = Problem("f.yaml", 1, 2, "$.x", "got 'http://me:hunter2hunter2@host'")
    assert "hunter2" not in str(problem)


def test_the_log_scrubber_cleans_every_record(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("canary-log-secret-0042")
    install_log_scrubber()
    install_log_scrubber()  # idempotent: one wrapper, not two
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything").info("sent %s to %s", "canary-log-secret-0042", "http://u:p@host")

    assert caplog.messages == ["sent [redacted] to http://[redacted]@host"]
