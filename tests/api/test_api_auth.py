"""Bearer-JWT authentication and the authorization policy, over HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from api_support import (
    JWT_SECRET,
    OTHER_SECRET,
    base_settings,
    bearer,
    client_for,
    mint_token,
    revoke_token,
)
from litestar.testing import TestClient
from support import closed_port_url

from cleanapp_api.auth import (
    MSG_BEARER_REQUIRED,
    MSG_HEADER_REQUIRED,
    MSG_INVALID_TOKEN,
    MSG_NOT_CASE_EDITOR,
    MSG_STORE_UNAVAILABLE,
    AuthenticatedUser,
    can_edit_case,
    effective_actor,
    token_sha256,
)
from cleanapp_api.settings import Settings

WHOAMI = "/api/v3/_probe/whoami"


def _unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    def b64(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


def _assert_error(response: Any, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": message}


# --------------------------------------------------------------------------- JWT matrix


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, MSG_HEADER_REQUIRED, id="no-header"),
        pytest.param({"Authorization": ""}, MSG_HEADER_REQUIRED, id="empty-header"),
        pytest.param({"Authorization": "Token abc"}, MSG_BEARER_REQUIRED, id="not-bearer"),
        pytest.param(
            {"Authorization": f"bearer {mint_token()}"}, MSG_BEARER_REQUIRED, id="lowercase-bearer"
        ),
        pytest.param({"Authorization": "Basic dTpw"}, MSG_BEARER_REQUIRED, id="basic"),
        pytest.param({"Authorization": "Bearer    "}, MSG_INVALID_TOKEN, id="empty-token"),
        pytest.param(bearer("not-a-jwt"), MSG_INVALID_TOKEN, id="malformed"),
        pytest.param(bearer("a.b.c"), MSG_INVALID_TOKEN, id="malformed-segments"),
        pytest.param(
            bearer(mint_token(secret=OTHER_SECRET)), MSG_INVALID_TOKEN, id="bad-signature"
        ),
        pytest.param(bearer(mint_token(exp_in_s=-5)), MSG_INVALID_TOKEN, id="expired"),
        pytest.param(bearer(mint_token(exp_in_s=None)), MSG_INVALID_TOKEN, id="no-exp"),
        pytest.param(
            bearer(mint_token(exp=str(int(time.time()) + 3600))),
            MSG_INVALID_TOKEN,
            id="string-exp",
        ),
        pytest.param(bearer(mint_token(token_type="refresh")), MSG_INVALID_TOKEN, id="refresh"),
        pytest.param(bearer(mint_token(token_type=7)), MSG_INVALID_TOKEN, id="non-string-type"),
        pytest.param(bearer(mint_token(omit=("user_id",))), MSG_INVALID_TOKEN, id="no-user_id"),
        pytest.param(bearer(mint_token("")), MSG_INVALID_TOKEN, id="empty-user_id"),
        pytest.param(bearer(mint_token("   ")), MSG_INVALID_TOKEN, id="blank-user_id"),
        pytest.param(bearer(mint_token(42)), MSG_INVALID_TOKEN, id="int-user_id"),
        pytest.param(bearer(mint_token(None)), MSG_INVALID_TOKEN, id="null-user_id"),
        pytest.param(bearer(mint_token(["u"])), MSG_INVALID_TOKEN, id="list-user_id"),
        pytest.param(bearer(mint_token(roles={"a": 1})), MSG_INVALID_TOKEN, id="bad-roles"),
        pytest.param(bearer(mint_token(roles=["admin", 1])), MSG_INVALID_TOKEN, id="mixed-roles"),
        pytest.param(
            bearer(mint_token(nbf=int(time.time()) + 600)), MSG_INVALID_TOKEN, id="not-yet-valid"
        ),
        pytest.param(
            bearer(_unsigned({"user_id": "u", "exp": int(time.time()) + 600})),
            MSG_INVALID_TOKEN,
            id="alg-none",
        ),
        pytest.param(
            bearer(jwt.encode({"user_id": "u", "exp": int(time.time()) + 60}, JWT_SECRET + "x")),
            MSG_INVALID_TOKEN,
            id="other-key",
        ),
    ],
)
def test_rejected_credentials(
    client: TestClient[Any], headers: dict[str, str], message: str
) -> None:
    response = client.get(WHOAMI, headers=headers)
    _assert_error(response, 401, message)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("prefix", ["/api/v3", "/api/v4"])
@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_valid_token(client: TestClient[Any], prefix: str, algorithm: str) -> None:
    token = mint_token("user-7", algorithm=algorithm)
    response = client.get(f"{prefix}/_probe/whoami", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user_id": "user-7",
        "roles": [],
        "is_admin": False,
        "is_service": False,
    }


def test_legacy_token_without_type_is_accepted(client: TestClient[Any]) -> None:
    token = mint_token("legacy", omit=("type", "iat", "jti"))
    assert client.get(WHOAMI, headers=bearer(token)).json()["user_id"] == "legacy"


def test_token_with_surrounding_spaces(client: TestClient[Any]) -> None:
    token = mint_token("spaced")
    response = client.get(WHOAMI, headers={"Authorization": f"Bearer   {token}  "})
    assert response.json()["user_id"] == "spaced"


@pytest.mark.parametrize(
    ("roles", "expected", "is_admin", "is_service"),
    [
        (["admin"], ["admin"], True, False),
        (["service", "reader"], ["reader", "service"], False, True),
        ("admin service", ["admin", "service"], True, True),
        ([], [], False, False),
    ],
)
def test_roles_claim(
    client: TestClient[Any], roles: Any, expected: list[str], is_admin: bool, is_service: bool
) -> None:
    body = client.get(WHOAMI, headers=bearer(mint_token("r", roles=roles))).json()
    assert body["roles"] == expected
    assert (body["is_admin"], body["is_service"]) == (is_admin, is_service)


def test_guard_protects_route(client: TestClient[Any]) -> None:
    _assert_error(client.get("/api/v3/_probe/guarded"), 401, MSG_HEADER_REQUIRED)
    ok = client.get("/api/v3/_probe/guarded", headers=bearer(mint_token()))
    assert ok.json() == {"ok": "yes"}


def test_public_route_needs_no_token(client: TestClient[Any]) -> None:
    response = client.post("/api/v3/_probe/echo", json={"n": 1})
    assert response.status_code == 201
    bad = client.post("/api/v3/_probe/echo", json={"n": 1}, headers={"Authorization": "junk"})
    assert bad.status_code == 201  # public routes never look at the header


# --------------------------------------------------------------------------- token store


def test_store_off_accepts_jwt_without_row(client: TestClient[Any], settings: Settings) -> None:
    assert settings.auth_token_store == "off"
    assert client.get(WHOAMI, headers=bearer(mint_token("no-row"))).status_code == 200


@pytest.mark.postgis
def test_store_accepts_active_row(
    db_client: TestClient[Any], token_rows: Callable[..., None]
) -> None:
    token = mint_token("store-user")
    token_rows(token, "store-user")
    response = db_client.get(WHOAMI, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == "store-user"


@pytest.mark.postgis
@pytest.mark.parametrize(
    "row",
    [
        pytest.param(None, id="no-row"),
        pytest.param({"expires_in_s": -60}, id="row-expired"),
        pytest.param({"token_type": "refresh"}, id="row-refresh"),
        pytest.param({"user_id": "someone-else"}, id="row-other-user"),
    ],
)
def test_store_rejects_inactive_token(
    db_client: TestClient[Any], token_rows: Callable[..., None], row: dict[str, Any] | None
) -> None:
    token = mint_token("store-user")
    if row is not None:
        token_rows(token, row.pop("user_id", "store-user"), **row)
    _assert_error(db_client.get(WHOAMI, headers=bearer(token)), 401, MSG_INVALID_TOKEN)


@pytest.mark.postgis
def test_store_row_of_other_token_does_not_count(
    db_client: TestClient[Any], token_rows: Callable[..., None]
) -> None:
    stored, presented = mint_token("u"), mint_token("u")
    token_rows(stored, "u")
    _assert_error(db_client.get(WHOAMI, headers=bearer(presented)), 401, MSG_INVALID_TOKEN)


@pytest.mark.postgis
def test_revocation_takes_effect_immediately(
    db_client: TestClient[Any], db_url: str, token_rows: Callable[..., None]
) -> None:
    token = mint_token("revoked")
    token_rows(token, "revoked")
    assert db_client.get(WHOAMI, headers=bearer(token)).status_code == 200
    revoke_token(db_url, token)
    _assert_error(db_client.get(WHOAMI, headers=bearer(token)), 401, MSG_INVALID_TOKEN)


@pytest.mark.postgis
def test_store_does_not_rescue_bad_jwt(
    db_client: TestClient[Any], token_rows: Callable[..., None]
) -> None:
    for token in (mint_token("u", token_type="refresh"), mint_token("u", exp_in_s=-1)):
        token_rows(token, "u")
        _assert_error(db_client.get(WHOAMI, headers=bearer(token)), 401, MSG_INVALID_TOKEN)


def test_store_outage_is_503_not_401() -> None:
    settings = base_settings(closed_port_url(), auth_token_store="db")
    with client_for(settings) as client:
        response = client.get(WHOAMI, headers=bearer(mint_token()))
        _assert_error(response, 503, MSG_STORE_UNAVAILABLE)
        # A token that is invalid on its own is still 401: the store is never asked.
        _assert_error(client.get(WHOAMI, headers=bearer("nope")), 401, MSG_INVALID_TOKEN)
        _assert_error(client.get(WHOAMI), 401, MSG_HEADER_REQUIRED)


@pytest.mark.postgis
def test_store_missing_table_is_503(db_url: str) -> None:
    # A database without auth_tokens on its search path: the store cannot answer.
    plain_url = db_url.split("?")[0] + "?options=-csearch_path%3Dpg_catalog"
    settings = base_settings(plain_url, auth_token_store="db")
    with client_for(settings) as client:
        _assert_error(client.get(WHOAMI, headers=bearer(mint_token())), 503, MSG_STORE_UNAVAILABLE)


def test_token_hash_is_sha256_hex() -> None:
    assert token_sha256("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --------------------------------------------------------------------------- authorization


@pytest.mark.parametrize(
    ("user_id", "roles", "creator", "allowed"),
    [
        ("creator", None, "creator", True),
        ("other", None, "creator", False),
        ("other", ["admin"], "creator", True),
        ("svc", ["service"], "creator", True),
        ("other", ["reader"], "creator", False),
    ],
)
def test_case_editor_policy(
    client: TestClient[Any], user_id: str, roles: Any, creator: str, allowed: bool
) -> None:
    response = client.post(
        f"/api/v3/_probe/cases/{creator}/status",
        json={"status": "resolved"},
        headers=bearer(mint_token(user_id, roles=roles)),
    )
    if allowed:
        assert response.status_code == 201, response.text
        assert response.json() == {"actor": user_id, "status": "resolved"}
    else:
        _assert_error(response, 403, MSG_NOT_CASE_EDITOR)


def test_actor_user_id_honoured_only_for_service(client: TestClient[Any]) -> None:
    path = "/api/v3/_probe/cases/creator/status"
    body = {"status": "resolved", "actor_user_id": "spoofed"}
    as_creator = client.post(path, json=body, headers=bearer(mint_token("creator")))
    assert as_creator.json()["actor"] == "creator"
    as_admin = client.post(path, json=body, headers=bearer(mint_token("a", roles=["admin"])))
    assert as_admin.json()["actor"] == "a"
    as_service = client.post(path, json=body, headers=bearer(mint_token("s", roles=["service"])))
    assert as_service.json()["actor"] == "spoofed"


def test_policy_helpers() -> None:
    user = AuthenticatedUser("u1")
    assert can_edit_case(user, "u1")
    assert not can_edit_case(user, None)
    assert not can_edit_case(user, "")
    assert not can_edit_case(AuthenticatedUser(""), "")
    assert effective_actor(user, None) == "u1"
    service = AuthenticatedUser("svc", frozenset({"service"}))
    assert effective_actor(service, "  ") == "svc"
    assert effective_actor(service, " u2 ") == "u2"
