"""The ``{"error": "..."}`` answers both services give to HTTP-level errors.

Every 4xx/5xx response has exactly the body ``{"error": "<message>"}`` (upstream's
convention). :func:`http_exception_handlers` maps:

* :class:`ApiError` (raised by the HTTP edge: authentication, guards) → its status and
  message.
* Malformed JSON body → 400 ``invalid json: <parser detail>``; an empty body where one is
  required → 400 ``invalid json: request body is empty``; a wrong JSON type or a missing
  field → 400 ``invalid json: <detail> - at `$.path```; ``msgspec.DecodeError`` /
  ``ValidationError`` raised by handlers → 400 ``invalid json: <detail>``. (Upstream said
  only ``invalid json``; the prefix is kept so clients matching on it still work.)
* Bad query / path / header parameter → 400 ``invalid <source> parameter `<name>`: <detail>``;
  a missing one → 400 ``missing required query parameter '<name>'``.
* Unknown route → 404 ``not found``; wrong method → 405 ``method not allowed``.
* Body over the limit → 413 ``request body exceeds N bytes``.
* Any other Litestar ``HTTPException`` → its status and detail (the lower-cased status
  phrase when the detail is generic); 5xx ones → their lower-cased status phrase
  (``internal server error`` for 500), logged.
* Database unreachable (SQLAlchemy ``OperationalError``, ``InterfaceError``, pool
  ``TimeoutError``) → 503 ``database unavailable`` (logged).
* Anything else → 500 ``internal server error``, logged with its traceback, never sent.

Logged texts pass through :func:`redact_addresses`: a database error quotes the failing row
(PostgreSQL's ``DETAIL``), and a recipient's address must not reach the logs that way.

Each service adds its own errors to this table (:func:`cleanapp_api.errors.exception_handlers`,
:func:`cleanapp_api.email_service.app.create_email_app`).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.types import ExceptionHandlersMap
from sqlalchemy import exc as sa_exc

__all__ = [
    "ApiError",
    "body_too_large_message",
    "error_body",
    "error_response",
    "http_exception_handlers",
    "redact_addresses",
    "status_message",
]

logger = logging.getLogger("cleanapp_api")

MSG_INTERNAL = "internal server error"
MSG_NOT_FOUND = "not found"
MSG_METHOD_NOT_ALLOWED = "method not allowed"
MSG_DATABASE_UNAVAILABLE = "database unavailable"
INVALID_JSON = "invalid json"


class ApiError(Exception):
    """An error a handler wants answered as ``{"error": message}`` with ``status_code``.

    Parameters
    ----------
    status_code : int
        HTTP status code, 400-599.
    message : str
        The ``error`` text; precise and safe to show to clients.
    headers : mapping of str to str, optional
        Extra response headers (e.g. ``WWW-Authenticate``, ``Retry-After``).

    Examples
    --------
    >>> err = ApiError(404, "case not found")
    >>> err.status_code, str(err)
    (404, 'case not found')
    """

    def __init__(
        self, status_code: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"ApiError status_code must be 400-599, got {status_code}")
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


def error_body(message: str) -> bytes:
    """Encode ``{"error": message}`` as JSON bytes (for raw ASGI responses)."""
    return msgspec.json.encode({"error": message})


def error_response(
    status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> Response[dict[str, str]]:
    """Build the ``{"error": message}`` JSON response.

    Parameters
    ----------
    status_code : int
        HTTP status code.
    message : str
        The error text.
    headers : mapping of str to str, optional
        Extra response headers.

    Returns
    -------
    litestar.Response
        A JSON response whose body is exactly ``{"error": message}``.
    """
    return Response(
        content={"error": message},
        status_code=status_code,
        headers=dict(headers or {}),
        media_type=MediaType.JSON,
    )


def body_too_large_message(limit_bytes: int | None) -> str:
    """Return the 413 message for a body limit in bytes.

    Examples
    --------
    >>> body_too_large_message(2097152)
    'request body exceeds 2097152 bytes'
    """
    if limit_bytes is None:
        return "request body too large"
    return f"request body exceeds {limit_bytes} bytes"


_ADDRESS = re.compile(r"[^\s@(),;:<>\"'\[\]]+@[^\s@(),;:<>\"'\[\]]+\.[A-Za-z]{2,}")


def redact_addresses(text: str) -> str:
    """Replace every e-mail address in a text by ``<address>`` (for logs).

    Examples
    --------
    >>> redact_addresses('Failing row contains (ops@town.ch, 2026-03-10).')
    'Failing row contains (<address>, 2026-03-10).'
    """
    return _ADDRESS.sub("<address>", text)


def _redacted_traceback(exc: BaseException) -> str:
    return redact_addresses("".join(traceback.format_exception(exc)))


# --------------------------------------------------------------------------- handlers


def _handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    if exc.status_code >= 500:
        logger.error("%s %s -> %d %s", request.method, request.url.path, exc.status_code, exc)
    return error_response(exc.status_code, exc.message, exc.headers)


def _handle_msgspec(request: Request[Any, Any, Any], exc: msgspec.MsgspecError) -> Response[Any]:
    return error_response(400, f"{INVALID_JSON}: {exc}")


def _handle_database(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.warning(
        "%s %s -> 503 database unavailable: %s",
        request.method,
        request.url.path,
        redact_addresses(str(exc)),
    )
    return error_response(503, MSG_DATABASE_UNAVAILABLE)


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.error(
        "unhandled error on %s %s\n%s",
        request.method,
        request.url.path,
        _redacted_traceback(exc),
    )
    return error_response(500, MSG_INTERNAL)


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status >= 500:
        logger.error(
            "%s %s -> %d %s", request.method, request.url.path, status, exc.detail, exc_info=exc
        )
        message = MSG_INTERNAL if status == 500 else status_message(status)
        return error_response(status, message, headers)
    return error_response(status, _http_message(request, exc), headers)


def _http_message(request: Request[Any, Any, Any], exc: HTTPException) -> str:
    status = exc.status_code
    detail = exc.detail or ""
    if isinstance(exc, ValidationException):
        return _validation_message(exc)
    if isinstance(exc.__cause__, SerializationException):
        return f"{INVALID_JSON}: {_strip_prefix(exc.__cause__.detail or detail)}"
    if isinstance(exc, NotFoundException):
        return MSG_NOT_FOUND if detail in ("", _title_phrase(404)) else detail
    if isinstance(exc, MethodNotAllowedException):
        return MSG_METHOD_NOT_ALLOWED
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return body_too_large_message(_body_limit(request))
    if not detail or detail == _title_phrase(status):
        return status_message(status)
    return detail


_MSGSPEC_DATA_PATH = re.compile(r"`\$\.data(?=[.\[`])")
_FOR_PATH_SUFFIX = re.compile(r" for path \S+$")


def _validation_message(exc: ValidationException) -> str:
    extra = exc.extra if isinstance(exc.extra, list) else []
    cause = exc.__cause__
    items = [item for item in extra if isinstance(item, dict)]
    body_items = [item for item in items if str(item.get("source")) == "body"]
    if body_items:
        first = body_items[0]
        if first.get("key") == "data" and first.get("message") == "'data'":
            return f"{INVALID_JSON}: request body is empty"
        if isinstance(cause, msgspec.ValidationError):
            return f"{INVALID_JSON}: {_MSGSPEC_DATA_PATH.sub('`$', str(cause))}"
        return f"{INVALID_JSON}: {first.get('message', 'invalid value')}"
    if items:
        first = items[0]
        source = getattr(first.get("source"), "value", first.get("source")) or "request"
        return f"invalid {source} parameter `{first.get('key')}`: {first.get('message')}"
    detail = _FOR_PATH_SUFFIX.sub("", exc.detail or "")
    if not detail or detail.startswith("Validation failed"):
        return "invalid request"
    return detail[:1].lower() + detail[1:]


def _strip_prefix(message: str) -> str:
    for prefix in ("JSON is malformed: ", "Malformed JSON: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _body_limit(request: Request[Any, Any, Any]) -> int | None:
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except Exception:  # no route resolved (raised before routing)
        limit = None
    if limit is None:
        settings = getattr(request.app.state, "settings", None)
        limit = getattr(settings, "request_body_limit_bytes", None)
    return limit


def status_message(status: int) -> str:
    """Return the lower-cased reason phrase of an HTTP status (``"error"`` if unknown).

    Examples
    --------
    >>> status_message(404), status_message(429)
    ('not found', 'too many requests')
    """
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


def _title_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def http_exception_handlers() -> ExceptionHandlersMap:
    """Return the exception → response table every service starts from.

    Litestar picks the handler of the most specific class in the exception's MRO.

    Returns
    -------
    dict
        Exception class → handler callable.
    """
    return {
        ApiError: _handle_api_error,
        msgspec.DecodeError: _handle_msgspec,
        msgspec.ValidationError: _handle_msgspec,
        HTTPException: _handle_http,
        sa_exc.OperationalError: _handle_database,
        sa_exc.InterfaceError: _handle_database,
        sa_exc.TimeoutError: _handle_database,
        Exception: _handle_unexpected,
    }
