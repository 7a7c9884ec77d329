"""What the case service refuses, as exceptions that know nothing of HTTP.

Services, repositories and the escalation code raise these; :mod:`cleanapp_api.errors`
alone maps each class to an HTTP status (its table :data:`cleanapp_api.errors.DOMAIN_STATUS`)
and answers ``{"error": str(exc)}``. The message is precise and safe to show to a client.

Examples
--------
>>> err = CaseNotFound()
>>> str(err), isinstance(err, NotFound)
('case not found', True)
>>> str(AlreadyMerged("case_a", "case_b"))
'case case_a is merged into case_b; use that case'
>>> RateLimited("slow down", retry_after_s=7).retry_after_s
7
"""

from __future__ import annotations

__all__ = [
    "AlreadyMerged",
    "AlreadySent",
    "CaseNotFound",
    "CaseServiceError",
    "Conflict",
    "EmailServiceFailed",
    "EmailServiceNotConfigured",
    "IdempotencyConflict",
    "InvalidRequest",
    "NotCaseEditor",
    "NotFound",
    "RateLimited",
    "SendInProgress",
    "ServiceOnly",
    "TransitionNotAllowed",
]


class CaseServiceError(Exception):
    """Base of every refusal of the case service; ``str(exc)`` is the client's message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(CaseServiceError, ValueError):
    """A value of the request is missing, malformed or out of range."""


class NotFound(CaseServiceError):
    """Something the request names does not exist (or is not visible)."""


class CaseNotFound(NotFound):
    """The case of the path does not exist."""

    def __init__(self, message: str = "case not found") -> None:
        super().__init__(message)


class NotCaseEditor(CaseServiceError):
    """The caller may read the case but not change it (creator, admin or service only)."""


class ServiceOnly(CaseServiceError):
    """The route is for machine clients: a token with role ``service`` is needed."""


class Conflict(CaseServiceError):
    """The request conflicts with the case's current state."""


class AlreadyMerged(Conflict):
    """The case was merged into another one; the client should use that case."""

    def __init__(self, case_id: str, merged_into_case_id: str) -> None:
        super().__init__(f"case {case_id} is merged into {merged_into_case_id}; use that case")
        self.case_id = case_id
        self.merged_into_case_id = merged_into_case_id


class AlreadySent(Conflict):
    """The same message already went to every recipient within the de-duplication window."""


class SendInProgress(Conflict):
    """A send with the same key is being driven by another request; retry later."""


class TransitionNotAllowed(CaseServiceError):
    """A status that is unknown, or not reachable from the case's current status."""


class IdempotencyConflict(CaseServiceError):
    """An ``Idempotency-Key`` reused with a different request."""


class RateLimited(CaseServiceError):
    """Too many sends; ``retry_after_s`` says when the next one is allowed."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EmailServiceFailed(CaseServiceError):
    """The email service failed (everything was recorded as failed)."""


class EmailServiceNotConfigured(CaseServiceError):
    """Sending needs ``EMAIL_SERVICE_URL``, which is not set."""
