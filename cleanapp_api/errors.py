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

import msgspec
from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
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
    "ERROR_EXAMPLES",
    "ApiError",
    "ErrorBody",
    "body_too_large_message",
    "domain_status",
    "error_body",
    "error_response",
    "error_responses",
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


# --------------------------------------------------------------------------- OpenAPI


class ErrorBody(msgspec.Struct):
    """The body of every 4xx/5xx answer: ``{"error": "<message>"}``."""

    error: str


#: Each error status a route can answer: what it means and an example message.
ERROR_EXAMPLES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("Bad input: the message says what and where.",
          "invalid json: nested deeper than 64 levels"),
    401: ("Missing or invalid bearer token.", "authorization header required"),
    403: ("The caller may not do this to this case.",
          "only the case creator, an admin or a service account may change this case"),
    404: ("Not found.", "case not found"),
    409: ("Conflicts with the case's state.",
          "case case_0123456789abcdef01234567 is merged into case_89abcdef0123456789abcdef; "
          "use that case"),
    413: ("Body over the limit.", "request body exceeds 2097152 bytes"),
    415: ("Body that is not JSON.", "Content-Type must be application/json"),
    422: ("Not allowed in the current state, or a reused Idempotency-Key.",
          'cannot change status from "closed" to "resolved"; allowed: open'),
    429: ("Rate limit (Retry-After says when to retry).", "rate limit exceeded"),
    502: ("The email service delivered nothing (everything is recorded).",
          "failed to send case escalation emails: email service unreachable"),
    503: ("The database (or the token store) did not answer in time.", "database unavailable"),
}  # fmt: skip

_EVERY_ROUTE: Final = (400, 429, 503)
_WITH_BODY: Final = (413, 415)
_AUTHENTICATED: Final = (401,)


def error_responses(
    *statuses: int, body: bool = False, auth: bool = False
) -> dict[int, ResponseSpec]:
    """Return the OpenAPI responses of a route's errors: ``{"error": string}``, with examples.

    Every route may answer 400, 429 and 503; a route with a body also 413 and 415; an
    authenticated one 401 (and 503 when the token store is down). ``statuses`` adds the
    route's own (403, 404, 409, 422, 502).

    Examples
    --------
    >>> sorted(error_responses(404, body=True))
    [400, 404, 413, 415, 429, 503]
    """
    wanted = {
        *_EVERY_ROUTE,
        *statuses,
        *(_WITH_BODY if body else ()),
        *(_AUTHENTICATED if auth else ()),
    }
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=ERROR_EXAMPLES[status][0],
            examples=[Example(summary=str(status), value={"error": ERROR_EXAMPLES[status][1]})],
        )
        for status in sorted(wanted)
    }


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
