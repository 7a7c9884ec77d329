"""The email service's refusals: its messages and its exception table.

It answers errors as the case service does (``{"error": "..."}``, the shared table of
:mod:`cleanapp_api.common.http_errors`) but raises only :class:`ApiError` at its own edge
(the internal token, the request) and has no domain errors of the case service.
"""

from __future__ import annotations

from typing import Final

from litestar.types import ExceptionHandlersMap

from cleanapp_api.common.http_errors import ApiError, http_exception_handlers

__all__ = [
    "MSG_NO_RECIPIENTS",
    "MSG_NO_VALID_RECIPIENTS",
    "MSG_TOKEN_NOT_CONFIGURED",
    "MSG_UNAUTHORIZED",
    "MSG_UNSUBSCRIBE_NOT_CONFIGURED",
    "ApiError",
    "exception_handlers",
]

MSG_TOKEN_NOT_CONFIGURED: Final = "internal admin token not configured"
MSG_UNAUTHORIZED: Final = "unauthorized"
MSG_NO_RECIPIENTS: Final = "at least one recipient is required"
MSG_NO_VALID_RECIPIENTS: Final = "no valid recipients provided"
MSG_UNSUBSCRIBE_NOT_CONFIGURED: Final = "unsubscribe links are not configured"


def exception_handlers() -> ExceptionHandlersMap:
    """Return the email service's exception → response table (the shared HTTP table)."""
    return http_exception_handlers()
