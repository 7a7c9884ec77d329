"""The case service's one table from exceptions to HTTP statuses and ``{"error": "..."}``.

:func:`exception_handlers` is the generic table of :mod:`cleanapp_api.common.http_errors`
(HTTP, validation, database and unexpected errors, :class:`ApiError`) plus:

* The case service's domain errors (:mod:`cleanapp_api.domain_errors`) → the status of
  :data:`DOMAIN_STATUS` for the nearest class in the exception's MRO, and the error's message
  (a :class:`~cleanapp_api.domain_errors.RateLimited` also sets ``Retry-After``).
* ``InvalidScopeError``, ``InvalidReportsError``, ``InvalidModelError`` (and any other
  ``CleanAppGeoError``) → 400 with the library's message.
* ``UnknownReportError`` → 404 with the library's message.

A new refusal is a new class in :mod:`cleanapp_api.domain_errors` (or a subclass of an
existing one) and, when its status differs from its base's, one row in :data:`DOMAIN_STATUS`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from litestar import Request, Response
from litestar.types import ExceptionHandlersMap

from cleanapp_api import domain_errors as de
from cleanapp_api.common.http_errors import (
    ApiError,
    body_too_large_message,
    error_body,
    error_response,
    http_exception_handlers,
    status_message,
)
from cleanapp_geo.errors import (
    CleanAppGeoError,
    InvalidModelError,
    InvalidReportsError,
    InvalidScopeError,
    UnknownReportError,
)

__all__ = [
    "DOMAIN_STATUS",
    "ApiError",
    "body_too_large_message",
    "domain_status",
    "error_body",
    "error_response",
    "exception_handlers",
    "status_message",
]

logger = logging.getLogger("cleanapp_api")

# --------------------------------------------------------------------------- the table

#: HTTP status of each domain error class (the nearest class in the MRO wins).
DOMAIN_STATUS: Final[Mapping[type[de.CaseServiceError], int]] = {
    de.InvalidRequest: 400,
    de.NotCaseEditor: 403,
    de.ServiceOnly: 403,
    de.NotFound: 404,
    de.Conflict: 409,
    de.TransitionNotAllowed: 422,
    de.IdempotencyConflict: 422,
    de.RateLimited: 429,
    de.CaseServiceError: 500,
    de.EmailServiceFailed: 502,
    de.EmailServiceNotConfigured: 503,
}


def domain_status(exc: de.CaseServiceError) -> int:
    """Return the HTTP status of a domain error (its nearest class in :data:`DOMAIN_STATUS`).

    Examples
    --------
    >>> domain_status(de.CaseNotFound()), domain_status(de.AlreadyMerged("a", "b"))
    (404, 409)
    """
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 500  # pragma: no cover - CaseServiceError is in the table


# --------------------------------------------------------------------------- handlers


def _handle_domain(request: Request[Any, Any, Any], exc: de.CaseServiceError) -> Response[Any]:
    status = domain_status(exc)
    headers = {}
    if isinstance(exc, de.RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    if status >= 500:
        logger.error("%s %s -> %d %s", request.method, request.url.path, status, exc)
    return error_response(status, exc.message, headers)


def _handle_bad_input(request: Request[Any, Any, Any], exc: CleanAppGeoError) -> Response[Any]:
    return error_response(400, str(exc))


def _handle_unknown_report(
    request: Request[Any, Any, Any], exc: UnknownReportError
) -> Response[Any]:
    return error_response(404, str(exc))


def exception_handlers() -> ExceptionHandlersMap:
    """Return the exception → response table to pass to :class:`litestar.Litestar`.

    Litestar picks the handler of the most specific class in the exception's MRO.

    Returns
    -------
    dict
        Exception class → handler callable.
    """
    return {
        **http_exception_handlers(),
        de.CaseServiceError: _handle_domain,
        InvalidScopeError: _handle_bad_input,
        InvalidReportsError: _handle_bad_input,
        InvalidModelError: _handle_bad_input,
        CleanAppGeoError: _handle_bad_input,
        UnknownReportError: _handle_unknown_report,
    }
