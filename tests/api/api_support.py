"""Helpers for the service tests: settings, real signed tokens, database URLs and test-only
probe routes (mounted through ``create_app(extra_controllers=...)``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
import jwt
import msgspec
import psycopg
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import TestClient
from sqlalchemy import text
from support import closed_port_url, libpq_url

from cleanapp_api.app import create_app
from cleanapp_api.auth import (
    BEARER_SECURITY,
    effective_actor,
    require_case_editor,
    requires_auth,
    token_sha256,
)
from cleanapp_api.dependencies import AppSettings, CurrentUser, DbEngine
from cleanapp_api.settings import Settings
from cleanapp_geo.errors import (
    InvalidModelError,
    InvalidReportsError,
    InvalidScopeError,
    UnknownReportError,
)

JWT_SECRET = "test-secret-" + "0123456789abcdef" * 4  # >= 64 bytes: no short-key warning
OTHER_SECRET = "other-secret-" + "fedcba9876543210" * 4

# --------------------------------------------------------------------------- database


def revoke_token(db_url: str, token: str) -> None:
    """Delete a token's rows (upstream revocation)."""
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        conn.execute("DELETE FROM auth_tokens WHERE token_hash = %s", (token_sha256(token),))


# --------------------------------------------------------------------------- tokens


def mint_token(
    user_id: object = "user-1",
    *,
    secret: str = JWT_SECRET,
    algorithm: str = "HS256",
    token_type: object = "access",
    exp_in_s: float | None = 3600.0,
    roles: object = None,
    omit: tuple[str, ...] = (),
    **extra: Any,
) -> str:
    """Sign a real JWT the way the auth-service does (HS256, ``user_id``, ``type``, ``exp``)."""
    now = int(time.time())
    claims: dict[str, Any] = {"user_id": user_id, "type": token_type, "iat": now}
    if exp_in_s is not None:
        claims["exp"] = now + int(exp_in_s)
    if roles is not None:
        claims["roles"] = roles
    claims["jti"] = uuid.uuid4().hex  # distinct tokens → distinct token-store rows
    claims.update(extra)
    for name in omit:
        claims.pop(name, None)
    return jwt.encode(claims, secret, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- probe routes


class EchoBody(msgspec.Struct):
    n: int
    name: str = ""


class StatusBody(msgspec.Struct):
    status: str
    actor_user_id: str | None = None


class ProbeController(Controller):
    """Test-only routes mounted under /api/v3 and /api/v4 through ``extra_controllers``."""

    path = "/_probe"

    @get("/whoami", security=BEARER_SECURITY)
    async def whoami(self, current_user: CurrentUser) -> dict[str, Any]:
        return {
            "user_id": current_user.user_id,
            "roles": sorted(current_user.roles),
            "is_admin": current_user.is_admin,
            "is_service": current_user.is_service,
        }

    @get("/guarded", guards=[requires_auth])
    async def guarded(self) -> dict[str, str]:
        return {"ok": "yes"}

    @post("/echo")
    async def echo(self, data: JSONBody[EchoBody]) -> dict[str, Any]:
        return {"n": data.n, "name": data.name}

    @post("/raw")
    async def raw(self, request: Request[Any, Any, Any]) -> dict[str, int]:
        return {"received": len(await request.body())}

    @get("/big")
    async def big(self) -> dict[str, Any]:
        return {"items": [{"seq": i, "title": f"report {i}"} for i in range(2000)]}

    @get("/small")
    async def small(self) -> dict[str, str]:
        return {"ok": "yes"}

    @get("/db")
    async def db(self, db_engine: DbEngine, settings: AppSettings) -> dict[str, Any]:
        def query() -> Any:
            with db_engine.connect() as conn:
                return conn.execute(text("SELECT 41 + 1")).scalar_one()

        value = await anyio.to_thread.run_sync(query)
        return {"value": value, "limit": settings.request_body_limit_bytes}

    @get("/boom")
    async def boom(self) -> dict[str, str]:
        raise RuntimeError("secret internal detail")

    @get("/geo-error")
    async def geo_error(self, kind: FromQuery[str]) -> dict[str, str]:
        errors: dict[str, Exception] = {
            "scope": InvalidScopeError("scope must be a Polygon, MultiPolygon or Feature"),
            "reports": InvalidReportsError("reports frame lacks column 'seq'"),
            "model": InvalidModelError("weights must sum to 1"),
            "unknown": UnknownReportError("unknown report seqs: [7, 9]"),
        }
        raise errors[kind]

    @post("/cases/{created_by:str}/status", security=BEARER_SECURITY)
    async def change_status(
        self, created_by: FromPath[str], data: JSONBody[StatusBody], current_user: CurrentUser
    ) -> dict[str, str]:
        require_case_editor(current_user, created_by)
        return {"actor": effective_actor(current_user, data.actor_user_id), "status": data.status}


# --------------------------------------------------------------------------- apps


def base_settings(database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for tests: generous rate limit, JWT-only auth, any CORS origin unless overridden
    (the service's default allows none)."""
    values: dict[str, Any] = {
        "database_url": database_url or closed_port_url(),
        "jwt_secret": JWT_SECRET,
        "auth_token_store": "off",
        "rate_limit_rps": 1000.0,
        "rate_limit_burst": 1000,
        "cors_origins": ("*",),
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def client_for(settings: Settings, **client_kwargs: Any) -> Iterator[TestClient[Any]]:
    """A test client over the real app (lifespan run) with the probe routes mounted."""
    app = create_app(settings, extra_controllers=[ProbeController])
    with TestClient(app, **client_kwargs) as client:
        yield client
