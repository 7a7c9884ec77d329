"""App factory: health, OpenAPI, versioned mounting, lifespan; async client."""

from __future__ import annotations

import warnings
from typing import Any

import jwt
import pytest
from api_support import ProbeController, base_settings, bearer, client_for, mint_token
from litestar import Litestar
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy.engine import Engine

from cleanapp_api import routes
from cleanapp_api.app import API_PREFIXES, api_routers, create_app
from cleanapp_api.auth import Authenticator, DbTokenStore
from cleanapp_api.settings import Settings


@pytest.mark.postgis
def test_healthz_ok(db_client: TestClient[Any]) -> None:
    response = db_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_database_down(client: TestClient[Any], settings: Settings) -> None:
    assert ":5432/" not in settings.database_url  # a closed loopback port
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"error": "database unreachable"}


@pytest.mark.postgis
def test_engine_and_settings_dependencies(db_client: TestClient[Any]) -> None:
    response = db_client.get("/api/v3/_probe/db")
    assert response.json() == {"value": 42, "limit": 2 * 1024 * 1024}


def test_database_outage_in_handler_is_503(client: TestClient[Any]) -> None:
    response = client.get("/api/v3/_probe/db")
    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable"}


def test_openapi_document(client: TestClient[Any]) -> None:
    page = client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    doc = client.get("/schema/openapi.json").json()
    assert doc["info"]["title"] == "CleanApp Cases API"
    paths = set(doc["paths"])
    assert {"/healthz", "/api/v3/_probe/whoami", "/api/v4/_probe/whoami"} <= paths
    scheme = doc["components"]["securitySchemes"]["BearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert doc["paths"]["/api/v3/_probe/whoami"]["get"]["security"] == [{"BearerAuth": []}]


def test_api_routers_mount_both_versions() -> None:
    routers = api_routers([ProbeController])
    assert [r.path for r in routers] == list(API_PREFIXES) == ["/api/v3", "/api/v4"]
    assert isinstance(routes.CONTROLLERS, list)


def test_same_routes_under_v3_and_v4(client: TestClient[Any]) -> None:
    for prefix in API_PREFIXES:
        assert client.post(f"{prefix}/_probe/echo", json={"n": 3}).json() == {"n": 3, "name": ""}


def test_lifespan_sets_engine_and_authenticator() -> None:
    db_store = base_settings(auth_token_store="db")
    app = create_app(db_store)
    assert isinstance(app, Litestar)
    assert app.state.settings is db_store
    with TestClient(app):
        assert isinstance(app.state.engine, Engine)
        authenticator = app.state.authenticator
        assert isinstance(authenticator, Authenticator)
        assert isinstance(authenticator.token_store, DbTokenStore)
    with TestClient(create_app(base_settings(auth_token_store="off"))) as off:
        assert off.app.state.authenticator.token_store is None


@pytest.mark.anyio
async def test_async_client_full_stack() -> None:
    app = create_app(base_settings(), extra_controllers=[ProbeController])
    async with AsyncTestClient(app) as client:
        ok = await client.get("/api/v4/_probe/whoami", headers=bearer(mint_token("async-user")))
        assert ok.json()["user_id"] == "async-user"
        denied = await client.get("/api/v4/_probe/whoami")
        assert denied.status_code == 401
        assert denied.json() == {"error": "authorization header required"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_short_secret_logged_at_startup(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level("WARNING", logger="cleanapp_api"),
        client_for(base_settings(jwt_secret="short")) as client,
    ):
        assert client.get("/healthz").status_code == 503
    assert any("JWT_SECRET is shorter" in r.getMessage() for r in caplog.records)


def test_short_secret_still_verifies() -> None:
    # The secret is shared with the Go auth-service: a short one must still work, silently.
    secret = "short-shared-secret"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        token = jwt.encode({"user_id": "go-user", "type": "access", "exp": 2**40}, secret)
    with client_for(base_settings(jwt_secret=secret)) as client:
        response = client.get("/api/v3/_probe/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user_id"] == "go-user"
