"""Who may do what with a case: the caller, the editors of a case and the audit actor (pure).

Upstream had no authorization policy; this is ours.

Roles come from the token's ``roles`` claim; ``admin`` and ``service`` are meaningful.

* **Public** (no token): cluster analysis, ``match-cluster``, cases by report seq.
* **Any authenticated user**: read any case; create cases (``POST /cases``,
  ``/cases/upsert-from-cluster``), including when create attaches reports to an existing
  open case; add reports to a case. Accumulating evidence is collaborative: many people
  report the same incident.
* **Case editors only** — the case's creator (``created_by_user_id``), any ``admin`` and any
  ``service`` token: change a case's status, merge cases (the caller must be an editor of the
  target *and* of every source), draft and send escalations, record execution outcomes.
  Enforce with :func:`require_case_editor`, which raises 403
  ``only the case creator, an admin or a service account may change this case``.
* **Service accounts only**: ingest reports (``POST /reports``), see :func:`require_service`.
* **admin** may do everything.
* **Audit actor**: the actor of a mutation is always the authenticated user;
  an ``actor_user_id`` in a request body is honoured only for ``service`` tokens (which act on
  behalf of users) and ignored otherwise — see :func:`effective_actor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cleanapp_api.domain_errors import InvalidRequest, NotCaseEditor, ServiceOnly

__all__ = [
    "ADMIN_ROLE",
    "MAX_USER_ID_LENGTH",
    "MSG_NOT_CASE_EDITOR",
    "MSG_SERVICE_ONLY",
    "SERVICE_ROLE",
    "AuthenticatedUser",
    "can_edit_case",
    "effective_actor",
    "require_case_editor",
    "require_service",
]

ADMIN_ROLE: Final = "admin"
#: Longest user id (token ``user_id``, body ``actor_user_id``): the store's column width.
MAX_USER_ID_LENGTH: Final = 255
SERVICE_ROLE: Final = "service"
MSG_NOT_CASE_EDITOR: Final = (
    "only the case creator, an admin or a service account may change this case"
)
MSG_SERVICE_ONLY: Final = "only a service account may ingest reports"


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """The caller of a protected route, from a verified access token.

    Parameters
    ----------
    user_id : str
        The token's ``user_id`` claim (non-empty).
    roles : frozenset of str
        The token's ``roles`` claim; empty for ordinary users.

    Examples
    --------
    >>> AuthenticatedUser("u1", frozenset({"admin"})).is_admin
    True
    >>> AuthenticatedUser("svc", frozenset({"service"})).is_service
    True
    """

    user_id: str
    roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        """Whether the token carries the ``admin`` role."""
        return ADMIN_ROLE in self.roles

    @property
    def is_service(self) -> bool:
        """Whether the token carries the ``service`` role (a machine client)."""
        return SERVICE_ROLE in self.roles


def can_edit_case(user: AuthenticatedUser, created_by_user_id: str | None) -> bool:
    """Whether ``user`` may change a case's status, merge it or escalate it.

    Parameters
    ----------
    user : AuthenticatedUser
        The caller.
    created_by_user_id : str or None
        The case's creator.

    Returns
    -------
    bool
        True for the creator, admins and service tokens.

    Examples
    --------
    >>> can_edit_case(AuthenticatedUser("u1"), "u1"), can_edit_case(AuthenticatedUser("u2"), "u1")
    (True, False)
    """
    if user.is_admin or user.is_service:
        return True
    return bool(created_by_user_id) and created_by_user_id == user.user_id


def require_case_editor(user: AuthenticatedUser, created_by_user_id: str | None) -> None:
    """Raise 403 unless ``user`` may edit the case (see :func:`can_edit_case`).

    Raises
    ------
    NotCaseEditor
        403 ``only the case creator, an admin or a service account may change this case``.
    """
    if not can_edit_case(user, created_by_user_id):
        raise NotCaseEditor(MSG_NOT_CASE_EDITOR)


def require_service(user: AuthenticatedUser) -> None:
    """Raise 403 unless ``user`` is a service account (report ingest is for machines).

    Raises
    ------
    ServiceOnly
        403 ``only a service account may ingest reports``.

    Examples
    --------
    >>> require_service(AuthenticatedUser("svc", frozenset({"service"})))
    """
    if not user.is_service:
        raise ServiceOnly(MSG_SERVICE_ONLY)


def effective_actor(user: AuthenticatedUser, body_actor: str | None) -> str:
    """Return the user id to record as the actor of a mutation.

    A body's ``actor_user_id`` is honoured only for ``service`` tokens; everyone else acts as
    themselves (upstream let any caller spoof the audit actor).

    Parameters
    ----------
    user : AuthenticatedUser
        The caller.
    body_actor : str or None
        ``actor_user_id`` from the request body.

    Returns
    -------
    str
        The actor's user id.

    Examples
    --------
    >>> effective_actor(AuthenticatedUser("u1"), "someone-else")
    'u1'
    >>> effective_actor(AuthenticatedUser("svc", frozenset({"service"})), "u9")
    'u9'

    Raises
    ------
    InvalidRequest
        400 when a service token's ``actor_user_id`` is longer than 255 characters.
    """
    if user.is_service and body_actor is not None and body_actor.strip():
        actor = body_actor.strip()
        if len(actor) > MAX_USER_ID_LENGTH:
            raise InvalidRequest(
                f"actor_user_id must be at most {MAX_USER_ID_LENGTH} characters, got {len(actor)}"
            )
        return actor
    return user.user_id
