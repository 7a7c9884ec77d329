"""The service over real TCP: uvicorn in a subprocess (``serve``) and in a thread."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from api_support import JWT_SECRET, ProbeController, base_settings, bearer, mint_token
from support import closed_port_url, serve_thread

from cleanapp_api.app import create_app
from cleanapp_api.settings import ENV_VARS, Settings

_SERVE = "from cleanapp_api.serve import serve; serve('127.0.0.1', 0, workers=1)"
STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@contextmanager
def serve_subprocess(env_overrides: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Run ``serve('127.0.0.1', 0, workers=1)`` in a child process; yield its URL."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(env_overrides)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                pytest.fail("uvicorn did not start:\n" + "".join(log))
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            log.append(line)
            if match := STARTED.search(line):
                port = int(match.group(1))
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - diagnostic path
            proc.kill()
            proc.wait()
        pump_thread.join(timeout=5)  # EOF follows the exit
        if proc.stderr is not None:
            proc.stderr.close()
        while not lines.empty():
            log.append(lines.get())


def test_serve_subprocess_end_to_end() -> None:
    env = {
        "DATABASE_URL": closed_port_url(),
        "JWT_SECRET": JWT_SECRET,
        "AUTH_TOKEN_STORE": "off",
        "REQUEST_BODY_LIMIT_BYTES": "4096",
        "RATE_LIMIT_RPS": "0.5",
        "RATE_LIMIT_BURST": "10",
        "CORS_ORIGINS": "*",
    }
    with serve_subprocess(env) as (url, log), httpx.Client(base_url=url, timeout=10) as http:
        health = http.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"error": "database unreachable"}
        assert health.headers["x-content-type-options"] == "nosniff"
        assert "server" not in health.headers

        missing = http.get("/api/v3/no-such-route")
        assert missing.status_code == 404 and missing.json() == {"error": "not found"}

        doc = http.get("/schema/openapi.json")
        assert doc.status_code == 200 and doc.json()["openapi"].startswith("3.")

        pre = http.options(
            "/api/v3/cases",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-methods"] == "GET, OPTIONS, POST"

        big = http.post("/api/v3/cases", content=b"x" * 5000)
        assert big.status_code == 413
        assert big.json() == {"error": "request body exceeds 4096 bytes"}

        # 5 requests so far; the bucket holds 10 and refills 1 every 2 s.
        statuses = [http.get("/nope").status_code for _ in range(8)]
        assert statuses.count(429) >= 1, statuses
        limited = http.get("/nope")
        assert limited.status_code == 429
        assert limited.json() == {"error": "rate limit exceeded"}
        assert int(limited.headers["retry-after"]) >= 1
    text = "".join(log)
    assert "Traceback" not in text
    assert "database unreachable" in text  # the health check logged why


@pytest.mark.postgis
def test_thread_server_real_tokens(db_settings: Settings, token_rows: Callable[..., None]) -> None:
    app = create_app(db_settings, extra_controllers=[ProbeController])
    token, unknown = mint_token("tcp-user"), mint_token("tcp-user")
    token_rows(token, "tcp-user")
    with serve_thread(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok", "database": "ok"}

        ok = http.get("/api/v4/_probe/whoami", headers=bearer(token))
        assert ok.status_code == 200 and ok.json()["user_id"] == "tcp-user"
        denied = http.get("/api/v4/_probe/whoami", headers=bearer(unknown))
        assert denied.status_code == 401
        assert denied.json() == {"error": "invalid or expired token"}

        big = http.get("/api/v3/_probe/big", headers={"Accept-Encoding": "gzip"})
        assert big.headers["content-encoding"] == "gzip"
        assert len(big.json()["items"]) == 2000


def test_thread_server_streamed_body_limit() -> None:
    app = create_app(
        base_settings(request_body_limit_bytes=1000), extra_controllers=[ProbeController]
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"y" * 100

    with serve_thread(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        chunked = http.post("/api/v3/_probe/raw", content=chunks())
        assert chunked.status_code == 413
        assert chunked.json() == {"error": "request body exceeds 1000 bytes"}
        small = http.post("/api/v3/_probe/raw", content=b"z" * 999)
        assert small.json() == {"received": 999}
        bad: Any = http.post(
            "/api/v3/_probe/echo", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["error"].startswith("invalid json: ")
