"""Bearer-JWT authentication and the case authorization policy.

Authentication (upstream ``AuthMiddleware``)
-------------------------------------------------------------
1. No (or an empty) ``Authorization`` header → 401 ``authorization header required``.
2. The header must start with exactly ``Bearer `` (case-sensitive), else 401
   ``bearer token required``. The token is the trimmed remainder.
3. The token must be a JWT signed with ``JWT_SECRET`` by an HMAC algorithm (HS256, HS384 or
   HS512; ``none`` and asymmetric algorithms are refused), with a numeric ``exp`` in the
   future (``nbf`` is honoured when present; ``iat`` and ``aud`` are not checked, as
   golang-jwt v5 does not by default). Claim ``type`` must not be ``"refresh"`` (a missing
   ``type`` is allowed: legacy tokens have none); ``user_id`` must be a non-empty string of
   at most 255 characters (the store's width, checked before the store sees it);
   the optional ``roles`` claim must be a list of strings (or one space-separated string).
4. With ``AUTH_TOKEN_STORE=db`` the token must also have a row in ``auth_tokens`` with this
   ``user_id``, ``token_hash = sha256_hex(token)``, ``token_type = 'access'`` and
   ``expires_at > now()`` (revocation = deleting the row). With ``off`` only the JWT is
   checked.
5. Any failure of 3–4 → 401 ``invalid or expired token``. 401 responses carry
   ``WWW-Authenticate: Bearer``.
6. **Fixed upstream bug:** a token-store failure (database down, table missing,
   timeout) is 503 ``auth token store unavailable``, not 401.

Handlers declare that they need a user with a parameter ``current_user: AuthenticatedUser``
(the app registers :func:`provide_current_user` under that name), or with the guard
:func:`requires_auth` when they do not need the user object. Public handlers declare neither,
so CORS preflights and public routes never touch authentication. Protected handlers should
also pass ``security=BEARER_SECURITY`` so the OpenAPI document shows the requirement.

Authorization policy
--------------------
The rules of who may do what are in :mod:`cleanapp_api.policy` (pure, no HTTP), so the
use cases can apply them; they are re-exported here.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import anyio.to_thread
import jwt
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cleanapp_api.errors import ApiError
from cleanapp_api.policy import (
    ADMIN_ROLE,
    MAX_USER_ID_LENGTH,
    MSG_NOT_CASE_EDITOR,
    SERVICE_ROLE,
    AuthenticatedUser,
    can_edit_case,
    effective_actor,
    require_case_editor,
)

if TYPE_CHECKING:
    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler
    from litestar.openapi.spec import SecurityRequirement
    from sqlalchemy.engine import Engine

__all__ = [
    "ADMIN_ROLE",
    "BEARER_SECURITY",
    "BEARER_SECURITY_SCHEME",
    "JWT_ALGORITHMS",
    "MSG_BEARER_REQUIRED",
    "MSG_HEADER_REQUIRED",
    "MSG_INVALID_TOKEN",
    "MSG_NOT_CASE_EDITOR",
    "MSG_STORE_UNAVAILABLE",
    "SERVICE_ROLE",
    "AuthenticatedUser",
    "Authenticator",
    "DbTokenStore",
    "InvalidTokenError",
    "TokenStore",
    "TokenStoreUnavailableError",
    "authenticate_connection",
    "can_edit_case",
    "decode_access_token",
    "effective_actor",
    "issue_access_token",
    "provide_current_user",
    "require_case_editor",
    "requires_auth",
    "token_sha256",
]

logger = logging.getLogger("cleanapp_api.auth")

JWT_ALGORITHMS: Final = ("HS256", "HS384", "HS512")

MSG_HEADER_REQUIRED: Final = "authorization header required"
MSG_BEARER_REQUIRED: Final = "bearer token required"
MSG_INVALID_TOKEN: Final = "invalid or expired token"
MSG_STORE_UNAVAILABLE: Final = "auth token store unavailable"

BEARER_SECURITY_SCHEME: Final = "BearerAuth"
"""Name of the OpenAPI security scheme registered by :func:`cleanapp_api.app.create_app`."""

BEARER_SECURITY: list[SecurityRequirement] = [{BEARER_SECURITY_SCHEME: []}]
"""Pass as ``security=`` on protected handlers."""

_BEARER_PREFIX: Final = "Bearer "
_USER_STATE_KEY: Final = "cleanapp_authenticated_user"
_WWW_AUTHENTICATE: Final = {"WWW-Authenticate": "Bearer"}
_WWW_AUTHENTICATE_INVALID: Final = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

_TOKEN_QUERY = text(
    "SELECT 1 FROM auth_tokens"
    " WHERE user_id = :user_id AND token_hash = :token_hash"
    " AND token_type = 'access' AND expires_at > now()"
    " LIMIT 1"
)


class InvalidTokenError(Exception):
    """A bearer token failed verification; the message is for logs only, never sent."""


class TokenStoreUnavailableError(Exception):
    """The token store could not answer (database down, timeout, missing table)."""


def token_sha256(token: str) -> str:
    """Return the lowercase hex SHA-256 of a raw token, as stored in ``auth_tokens``.

    Examples
    --------
    >>> token_sha256("abc")
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def decode_access_token(token: str, secret: str) -> AuthenticatedUser:
    """Verify an access token's signature and claims (steps 3 of the module docstring).

    Parameters
    ----------
    token : str
        The raw JWT.
    secret : str
        The HMAC secret (``JWT_SECRET``).

    Returns
    -------
    AuthenticatedUser
        The ``user_id`` and ``roles`` of the token.

    Raises
    ------
    InvalidTokenError
        If the token is malformed, badly signed, expired, a refresh token, or lacks a valid
        ``user_id``.
    """
    if not token:
        raise InvalidTokenError("empty token")
    if not secret:
        raise InvalidTokenError("empty JWT secret")
    try:
        with warnings.catch_warnings():
            # The secret is shared with the Go auth-service; its length is not ours to pick.
            # create_app logs once at start-up when it is short.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=list(JWT_ALGORITHMS),
                options={"require": ["exp"], "verify_aud": False, "verify_iat": False},
            )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"{type(exc).__name__}: {exc}") from exc

    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidTokenError("exp claim is not numeric")
    token_type = claims.get("type")
    if token_type is not None and not isinstance(token_type, str):
        raise InvalidTokenError("type claim is not a string")
    if token_type == "refresh":
        raise InvalidTokenError("refresh tokens cannot be used as access tokens")
    user_id = claims.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidTokenError("user_id claim missing, empty or not a string")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise InvalidTokenError(f"user_id claim longer than {MAX_USER_ID_LENGTH} characters")
    return AuthenticatedUser(user_id=user_id, roles=_parse_roles(claims.get("roles")))


def _parse_roles(raw: object) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list) and all(isinstance(role, str) for role in raw):
        return frozenset(role.strip() for role in raw if role.strip())
    raise InvalidTokenError("roles claim must be a list of strings")


class TokenStore(Protocol):
    """Answers whether an access token is still active (not revoked, not expired)."""

    async def is_active(self, user_id: str, token_hash: str) -> bool:
        """Return whether ``(user_id, token_hash)`` is an active access token.

        Raises
        ------
        TokenStoreUnavailableError
            If the store cannot answer.
        """
        ...


def issue_access_token(
    secret: str,
    user_id: str,
    *,
    roles: tuple[str, ...] = (),
    lifetime_s: float = 12 * 3600,
    engine: Engine | None = None,
) -> str:
    """Sign an HS256 access token as the auth service does, and register it when asked.

    For local work and demos (``cleanapp-api demo-token``); production tokens come from
    the CleanApp auth service.

    Parameters
    ----------
    secret : str
        The service's ``JWT_SECRET``.
    user_id : str
        The ``user_id`` claim.
    roles : tuple of str, optional
        The ``roles`` claim (e.g. ``("admin",)``).
    lifetime_s : float, default 12 hours
        Seconds until ``exp``.
    engine : sqlalchemy.engine.Engine, optional
        When given, an ``auth_tokens`` row (by SHA-256, as the auth service stores it) is
        inserted, so the token also passes ``AUTH_TOKEN_STORE=db``.

    Returns
    -------
    str
        The token.

    Examples
    --------
    >>> token = issue_access_token("k" * 32, "ana", roles=("admin",))
    >>> user = decode_access_token(token, "k" * 32)
    >>> user.user_id, sorted(user.roles)
    ('ana', ['admin'])
    """
    if not user_id:
        raise ValueError("user_id must not be empty")
    expires = int(time.time() + lifetime_s)
    claims: dict[str, Any] = {
        "user_id": user_id,
        "type": "access",
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    if roles:
        claims["roles"] = list(roles)
    token = jwt.encode(claims, secret, algorithm="HS256")
    if engine is not None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO auth_tokens (user_id, token_hash, token_type, expires_at)"
                    " VALUES (:user_id, :token_hash, 'access', :expires_at)"
                ),
                {
                    "user_id": user_id,
                    "token_hash": token_sha256(token),
                    "expires_at": datetime.now(UTC) + timedelta(seconds=lifetime_s),
                },
            )
    return token


class DbTokenStore:
    """The upstream token store: the ``auth_tokens`` table, queried with bound parameters.

    The query runs on a worker thread with a timeout so a hung database cannot hold a request
    forever.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Engine of the database holding ``auth_tokens``.
    timeout_s : float, default 5.0
        Give up (→ :class:`TokenStoreUnavailableError`) after this many seconds.
    """

    def __init__(self, engine: Engine, *, timeout_s: float = 5.0) -> None:
        self._engine = engine
        self._timeout_s = timeout_s

    def _lookup(self, user_id: str, token_hash: str) -> bool:
        with self._engine.connect() as conn:
            row = conn.execute(_TOKEN_QUERY, {"user_id": user_id, "token_hash": token_hash}).first()
        return row is not None

    async def is_active(self, user_id: str, token_hash: str) -> bool:
        """Return whether an unexpired ``access`` row exists for this user and token hash.

        Raises
        ------
        TokenStoreUnavailableError
            On any database error or after ``timeout_s``.
        """
        try:
            with anyio.fail_after(self._timeout_s):
                return await anyio.to_thread.run_sync(
                    partial(self._lookup, user_id, token_hash), abandon_on_cancel=True
                )
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise TokenStoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc


class Authenticator:
    """Turns an ``Authorization`` header into an :class:`AuthenticatedUser` or an ApiError.

    Parameters
    ----------
    jwt_secret : str
        HMAC secret (``JWT_SECRET``).
    token_store : TokenStore or None
        Revocation store (``AUTH_TOKEN_STORE=db``); ``None`` checks the JWT only.
    """

    def __init__(self, jwt_secret: str, token_store: TokenStore | None) -> None:
        self._secret = jwt_secret
        self._store = token_store

    @property
    def token_store(self) -> TokenStore | None:
        """The revocation store, or ``None`` when disabled."""
        return self._store

    async def authenticate(self, authorization: str | None) -> AuthenticatedUser:
        """Authenticate one request from its ``Authorization`` header value.

        Parameters
        ----------
        authorization : str or None
            The raw header value.

        Returns
        -------
        AuthenticatedUser
            The verified caller.

        Raises
        ------
        ApiError
            401 with upstream's messages for missing/invalid credentials; 503 when the token
            store is unavailable.
        """
        if not authorization:
            raise ApiError(401, MSG_HEADER_REQUIRED, headers=_WWW_AUTHENTICATE)
        if not authorization.startswith(_BEARER_PREFIX):
            raise ApiError(401, MSG_BEARER_REQUIRED, headers=_WWW_AUTHENTICATE)
        token = authorization[len(_BEARER_PREFIX) :].strip()
        try:
            user = decode_access_token(token, self._secret)
        except InvalidTokenError as exc:
            logger.info("rejected bearer token: %s", exc)
            raise ApiError(401, MSG_INVALID_TOKEN, headers=_WWW_AUTHENTICATE_INVALID) from None
        if self._store is not None:
            try:
                active = await self._store.is_active(user.user_id, token_sha256(token))
            except TokenStoreUnavailableError as exc:
                logger.warning("auth token store unavailable: %s", exc)
                raise ApiError(503, MSG_STORE_UNAVAILABLE) from exc
            if not active:
                logger.info("rejected bearer token: not in token store (user %s)", user.user_id)
                raise ApiError(401, MSG_INVALID_TOKEN, headers=_WWW_AUTHENTICATE_INVALID)
        return user


async def authenticate_connection(
    connection: ASGIConnection[Any, Any, Any, Any],
) -> AuthenticatedUser:
    """Authenticate a connection once; later calls in the same request reuse the result.

    Parameters
    ----------
    connection : litestar.connection.ASGIConnection
        The request; the app's ``state.authenticator`` must be set (by the app lifespan).

    Returns
    -------
    AuthenticatedUser
        The verified caller.

    Raises
    ------
    ApiError
        See :meth:`Authenticator.authenticate`.
    """
    cached = connection.scope.get("state", {}).get(_USER_STATE_KEY)
    if isinstance(cached, AuthenticatedUser):
        return cached
    authenticator = connection.app.state.get("authenticator")
    if not isinstance(authenticator, Authenticator):
        raise RuntimeError("no Authenticator in app state: was the app lifespan run?")
    user = await authenticator.authenticate(connection.headers.get("authorization"))
    connection.scope.setdefault("state", {})[_USER_STATE_KEY] = user
    return user


async def provide_current_user(request: Request[Any, Any, Any]) -> AuthenticatedUser:
    """Litestar dependency ``current_user``: the authenticated caller (401/503 otherwise)."""
    return await authenticate_connection(request)


async def requires_auth(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Litestar guard: reject the request unless it carries a valid bearer token."""
    await authenticate_connection(connection)
