"""Settings: the only reader of the environment; every problem named at once."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from cleanapp_api.app import create_app
from cleanapp_api.serve import serve
from cleanapp_api.settings import (
    DEFAULT_PUBLIC_CASE_URL_BASE,
    ENV_VARS,
    Settings,
    SettingsError,
)

VALID = {"DATABASE_URL": "postgresql+psycopg://u:pw@db:5432/cases", "JWT_SECRET": "s3cret"}


def test_defaults() -> None:
    s = Settings.from_env(VALID)
    assert s.database_url == VALID["DATABASE_URL"]
    assert s.jwt_secret == "s3cret"
    assert s.auth_token_store == "db"
    assert s.public_case_url_base == DEFAULT_PUBLIC_CASE_URL_BASE
    assert s.request_body_limit_bytes == 2 * 1024 * 1024
    assert (s.rate_limit_rps, s.rate_limit_burst) == (20.0, 40)
    assert s.cors_origins == ()  # no origin unless configured
    assert not s.cors_allow_all
    assert s.email_service_url is None
    assert s.internal_admin_token is None
    assert s.ingest_concurrency == 4


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("16", True), ("0", False),
                                           ("-2", False), ("many", False)])  # fmt: skip
def test_ingest_concurrency(value: str, ok: bool) -> None:
    env = {**VALID, "INGEST_CONCURRENCY": value}
    if ok:
        assert Settings.from_env(env).ingest_concurrency == int(value)
    else:
        with pytest.raises(SettingsError, match="INGEST_CONCURRENCY must be an integer >= 1"):
            Settings.from_env(env)


def test_every_variable_is_read() -> None:
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgres://u:pw@db/cases",
            "JWT_SECRET": "k",
            "AUTH_TOKEN_STORE": "OFF",
            "PUBLIC_CASE_URL_BASE": "https://example.org/c/",
            "REQUEST_BODY_LIMIT_BYTES": "1024",
            "RATE_LIMIT_RPS": "2.5",
            "RATE_LIMIT_BURST": "5",
            "CORS_ORIGINS": " https://a.example , http://localhost:3000/ ",
            "EMAIL_SERVICE_URL": "http://email:8080/",
            "INTERNAL_ADMIN_TOKEN": "tok",
        }
    )
    assert s.database_url == "postgresql+psycopg://u:pw@db/cases"
    assert s.auth_token_store == "off"
    assert s.public_case_url_base == "https://example.org/c"
    assert s.public_case_url("case_1") == "https://example.org/c/case_1"
    assert s.request_body_limit_bytes == 1024
    assert (s.rate_limit_rps, s.rate_limit_burst) == (2.5, 5)
    assert s.cors_origins == ("https://a.example", "http://localhost:3000")
    assert not s.cors_allow_all
    assert s.email_service_url == "http://email:8080"
    assert s.internal_admin_token == "tok"
    assert set(ENV_VARS) >= {"DATABASE_URL", "JWT_SECRET", "CORS_ORIGINS", "RATE_LIMIT_RPS"}


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "missing required environment variables: DATABASE_URL, JWT_SECRET"),
        ({"JWT_SECRET": "k"}, "missing required environment variable: DATABASE_URL"),
        (
            {"DATABASE_URL": VALID["DATABASE_URL"]},
            "missing required environment variable: JWT_SECRET",
        ),
        ({"DATABASE_URL": "  ", "JWT_SECRET": ""}, "DATABASE_URL, JWT_SECRET"),
    ],
)
def test_missing_required_variables_are_named(env: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert missing in str(info.value)
    assert str(info.value).startswith("invalid configuration: ")


def test_all_problems_reported_together() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(
            {
                "JWT_SECRET": "k",
                "AUTH_TOKEN_STORE": "redis",
                "REQUEST_BODY_LIMIT_BYTES": "2MB",
                "RATE_LIMIT_RPS": "-1",
                "RATE_LIMIT_BURST": "0",
                "CORS_ORIGINS": "*,https://a.example",
                "PUBLIC_CASE_URL_BASE": "ftp://x",
                "EMAIL_SERVICE_URL": "email-service",
            }
        )
    problems = info.value.problems
    text = str(info.value)
    assert problems[0] == "missing required environment variable: DATABASE_URL"
    for name in (
        "AUTH_TOKEN_STORE",
        "REQUEST_BODY_LIMIT_BYTES",
        "RATE_LIMIT_RPS",
        "RATE_LIMIT_BURST",
        "CORS_ORIGINS",
        "PUBLIC_CASE_URL_BASE",
        "EMAIL_SERVICE_URL",
    ):
        assert name in text, name
    assert len(problems) == 8


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mysql://u:pw@h/db", "got driver 'mysql'"),
        ("postgresql+asyncpg://u:pw@h/db", "got driver 'postgresql+asyncpg'"),
        ("not a url at all", "not a valid SQLAlchemy URL"),
    ],
)
def test_bad_database_url(value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL") as info:
        Settings.from_env({"DATABASE_URL": value, "JWT_SECRET": "k"})
    assert expected in str(info.value)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    "origins", ["https://a.example/path", "a.example", "https://a.example?x=1"]
)
def test_bad_cors_origins(origins: str) -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        Settings.from_env({**VALID, "CORS_ORIGINS": origins})
    assert Settings.from_env({**VALID, "CORS_ORIGINS": " , "}).cors_origins == ()


def test_direct_construction_validates() -> None:
    with pytest.raises(SettingsError, match="RATE_LIMIT_BURST"):
        Settings(database_url=VALID["DATABASE_URL"], jwt_secret="k", rate_limit_burst=0)
    with pytest.raises(SettingsError, match="JWT_SECRET must not be empty"):
        Settings(database_url=VALID["DATABASE_URL"], jwt_secret="")


def test_frozen_and_secrets_not_in_repr() -> None:
    s = Settings.from_env({**VALID, "INTERNAL_ADMIN_TOKEN": "admintok"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.jwt_secret = "x"  # type: ignore[misc]
    text = repr(s)
    assert "s3cret" not in text
    assert "admintok" not in text
    assert ":pw@" not in text
    assert "u:***@db" in text


def test_create_app_without_settings_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="DATABASE_URL, JWT_SECRET"):
        create_app()
    with pytest.raises(SettingsError, match="DATABASE_URL, JWT_SECRET"):
        serve("127.0.0.1", 0)
    monkeypatch.setenv("DATABASE_URL", VALID["DATABASE_URL"])
    monkeypatch.setenv("JWT_SECRET", "k")
    app = create_app()
    assert app.state.settings.database_url == VALID["DATABASE_URL"]


def test_startup_stops_with_clear_message() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["RATE_LIMIT_RPS"] = "lots"
    proc = subprocess.run(
        [sys.executable, "-c", "from cleanapp_api.serve import serve; serve('127.0.0.1', 0)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert (
        "SettingsError: invalid configuration: missing required environment variables: "
        "DATABASE_URL, JWT_SECRET; RATE_LIMIT_RPS must be a positive number, got 'lots'"
    ) in proc.stderr
