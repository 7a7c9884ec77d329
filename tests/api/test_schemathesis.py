"""The OpenAPI document tells the truth: schemathesis against the live service.

A real uvicorn server on a private schema (with reports, a case and a valid token), and the
schemathesis CLI generating a bounded number of requests per operation from the service's own
``/schema/openapi.json``, with the checks ``not_a_server_error`` (no 5xx a client could not
have caused: 502/503 are declared, 500 never is) and ``response_schema_conformance`` (every
answer matches the documented schema of its status, errors ``{"error": string}``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import base_settings, bearer, mint_token
from case_support import create_body, record, write
from escalation_support import INTERNAL_TOKEN
from support import UvicornThread

from cleanapp_api.app import create_app
from cleanapp_api.email_service.app import create_email_app
from cleanapp_api.email_service.settings import EmailSettings

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

MAX_EXAMPLES = 25


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    db_url: str, clean_db: sa.Engine, tmp_path: Path
) -> None:
    write(clean_db, [record(seq) for seq in range(1, 6)])
    token = mint_token("fuzzer", exp_in_s=3600)
    # A real email service in dry run: sends are recorded and answered, nothing is mailed.
    mailer = UvicornThread(
        create_email_app(
            EmailSettings(
                database_url=db_url,
                internal_admin_token=INTERNAL_TOKEN,
                dry_run=True,
                outbox_dir=str(tmp_path / "outbox"),
            )
        )
    ).start()
    settings = base_settings(
        db_url,
        rate_limit_rps=100_000.0,
        rate_limit_burst=100_000,
        email_service_url=mailer.url,
        internal_admin_token=INTERNAL_TOKEN,
        escalation_user_sends_per_h=100_000,
        escalation_case_sends_per_h=100_000,
    )
    server = UvicornThread(create_app(settings)).start()
    try:
        created = httpx.post(
            server.url + "/api/v3/cases",
            json=create_body([1, 2]),
            headers=bearer(token),
            timeout=30,
        )
        assert created.status_code == 201, created.text
        # Path parameters name the seeded case, so the case routes are fuzzed past their 404.
        case_id = created.json()["case"]["case_id"]
        (tmp_path / "schemathesis.toml").write_text(f'[parameters]\ncase_id = "{case_id}"\n')
        cli = Path(sys.executable).with_name("schemathesis")
        command: list[Any] = [
            cli, "run", f"{server.url}/schema/openapi.json",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--max-examples", str(MAX_EXAMPLES),
            "--phases", "examples,coverage,fuzzing",
            "--exclude-path-regex", "^/api/v4/",  # the same controllers as /api/v3
            "--header", f"Authorization: Bearer {token}",
            "--workers", "1",
            "--seed", "12",
            "--suppress-health-check", "all",
            "--request-timeout", "30",
        ]  # fmt: skip
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env
        )
    finally:
        server.stop()
        mailer.stop()
    summary = run.stdout[-6000:]
    print(summary)  # the run's summary, in the test log
    assert run.returncode == 0, summary + run.stderr[-2000:]
