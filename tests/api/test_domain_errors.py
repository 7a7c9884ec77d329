"""The case service's domain errors and their one HTTP table."""

from __future__ import annotations

import inspect

import pytest

from cleanapp_api import domain_errors as de
from cleanapp_api.errors import DOMAIN_STATUS, domain_status, exception_handlers

ERRORS = [
    cls
    for _, cls in inspect.getmembers(de, inspect.isclass)
    if issubclass(cls, de.CaseServiceError)
]


def test_every_domain_error_has_a_client_error_or_a_gateway_status() -> None:
    for cls in ERRORS:
        status = next(DOMAIN_STATUS[c] for c in cls.__mro__ if c in DOMAIN_STATUS)
        assert 400 <= status <= 599, cls


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (de.InvalidRequest("title is required"), 400),
        (de.NotCaseEditor("no"), 403),
        (de.CaseNotFound(), 404),
        (de.NotFound("seed report not found"), 404),
        (de.AlreadyMerged("case_a", "case_b"), 409),
        (de.AlreadySent("again"), 409),
        (de.SendInProgress("busy"), 409),
        (de.TransitionNotAllowed("no way"), 422),
        (de.IdempotencyConflict("other body"), 422),
        (de.RateLimited("slow", retry_after_s=3), 429),
        (de.EmailServiceFailed("down"), 502),
        (de.EmailServiceNotConfigured("unset"), 503),
    ],
)
def test_domain_status(error: de.CaseServiceError, status: int) -> None:
    assert domain_status(error) == status


def test_domain_errors_are_not_http_errors() -> None:
    """The domain module knows nothing of HTTP; the handler table names its base once."""
    code = inspect.getsource(de).split('"""', 2)[2]  # after the module docstring
    assert "litestar" not in code and "status_code" not in code
    assert de.CaseServiceError in exception_handlers()
