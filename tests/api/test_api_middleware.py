"""Global middleware and the error table, driven through the real app."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from api_support import base_settings, bearer, client_for, mint_token
from litestar.testing import TestClient

from cleanapp_api.middleware import API_CONTENT_SECURITY_POLICY, TokenBucketLimiter

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": API_CONTENT_SECURITY_POLICY,
}


def _assert_error(response: Any, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body["error"] == message
    return str(body["error"])


# --------------------------------------------------------------------------- CORS


@pytest.mark.parametrize(
    "path", ["/api/v3/_probe/whoami", "/api/v4/_probe/echo", "/api/v3/no/such/route"]
)
def test_preflight_is_204_before_auth_and_routing(client: TestClient[Any], path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, OPTIONS, POST"
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_plain_options_without_origin_needs_no_auth(client: TestClient[Any]) -> None:
    response = client.options("/api/v3/_probe/whoami")
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]


def test_simple_request_gets_cors_header(client: TestClient[Any]) -> None:
    response = client.get("/api/v3/_probe/small", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "Retry-After"


@pytest.fixture(scope="module")
def strict_cors() -> Iterator[TestClient[Any]]:
    settings = base_settings(cors_origins=("https://app.cleanapp.io",))
    with client_for(settings) as client:
        yield client


def test_listed_origin(strict_cors: TestClient[Any]) -> None:
    origin = "https://app.cleanapp.io"
    pre = strict_cors.options(
        "/api/v3/_probe/whoami",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    assert "Origin" in pre.headers["vary"]
    simple = strict_cors.get("/api/v3/_probe/small", headers={"Origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin
    assert "Origin" in simple.headers["vary"]


def test_default_allows_no_origin() -> None:
    settings = base_settings(cors_origins=())
    with client_for(settings) as client:
        headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        _assert_error(client.options("/api/v3/_probe/echo", headers=headers), 403,
                      "cors origin not allowed")  # fmt: skip
        simple = client.get("/api/v3/_probe/small", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in simple.headers


def test_unlisted_origin(strict_cors: TestClient[Any]) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    pre = strict_cors.options("/api/v3/_probe/echo", headers=headers)
    _assert_error(pre, 403, "cors origin not allowed")
    simple = strict_cors.get("/api/v3/_probe/small", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


# --------------------------------------------------------------------------- rate limit


def test_rate_limit_429() -> None:
    settings = base_settings(rate_limit_rps=0.01, rate_limit_burst=3)
    with client_for(settings) as client:
        for _ in range(3):
            assert client.get("/api/v3/_probe/small").status_code == 200
        limited = client.get("/api/v3/_probe/small", headers={"Origin": "https://app.example"})
        _assert_error(limited, 429, "rate limit exceeded")
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 100
        assert limited.headers["x-frame-options"] == "DENY"
        assert limited.headers["access-control-allow-origin"] == "*"  # readable by browsers
        # Everything from that client is limited, unknown routes and preflights included.
        _assert_error(client.get("/nope"), 429, "rate limit exceeded")
        _assert_error(client.get("/healthz"), 429, "rate limit exceeded")


def test_token_bucket_refill_burst_and_keys() -> None:
    now = [100.0]
    limiter = TokenBucketLimiter(2.0, 4, clock=lambda: now[0], sweep_interval_s=10.0)
    assert [limiter.acquire("a") for _ in range(5)] == [0.0, 0.0, 0.0, 0.0, 0.5]
    assert limiter.acquire("b") == 0.0  # other clients have their own bucket
    now[0] += 0.5  # one token back (2/s)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] += 60.0  # long idle: refilled only up to the burst
    assert [limiter.acquire("a") for _ in range(5)][-1] > 0
    # Idle buckets are swept; the active one is kept.
    assert len(limiter) == 1


def test_token_bucket_validates() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucketLimiter(0.0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucketLimiter(1.0, 0)


# --------------------------------------------------------------------------- security headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v3/_probe/small", 200),
        ("GET", "/api/v3/_probe/whoami", 401),
        ("GET", "/nope", 404),
        ("PUT", "/api/v3/_probe/echo", 405),
        ("GET", "/api/v3/_probe/boom", 500),
        ("GET", "/schema/openapi.json", 200),
    ],
)
def test_security_headers(client: TestClient[Any], method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    for name, value in SECURITY.items():
        assert response.headers[name] == value, name


def test_docs_page_has_no_strict_csp(client: TestClient[Any]) -> None:
    response = client.get("/schema")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


# --------------------------------------------------------------------------- gzip


def test_gzip_large_responses_only(client: TestClient[Any]) -> None:
    big = client.get("/api/v3/_probe/big", headers={"Accept-Encoding": "gzip"})
    assert big.status_code == 200
    assert big.headers["content-encoding"] == "gzip"
    assert len(big.json()["items"]) == 2000  # httpx decoded it
    assert int(big.headers["content-length"]) < len(msgspec.json.encode(big.json())) / 3
    small = client.get("/api/v3/_probe/small", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    plain = client.get("/api/v3/_probe/big", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_gzip_bytes_are_real_gzip(client: TestClient[Any]) -> None:
    with client.stream("GET", "/api/v3/_probe/big", headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert msgspec.json.decode(gzip.decompress(raw))["items"][0] == {"seq": 0, "title": "report 0"}


# --------------------------------------------------------------------------- body limit


@pytest.fixture(scope="module")
def small_limit() -> Iterator[TestClient[Any]]:
    with client_for(base_settings(request_body_limit_bytes=1000)) as client:
        yield client


def test_body_over_limit_by_content_length(small_limit: TestClient[Any]) -> None:
    body = b'{"n": 1, "name": "' + b"x" * 2000 + b'"}'
    response = small_limit.post("/api/v3/_probe/echo", content=body)
    _assert_error(response, 413, "request body exceeds 1000 bytes")
    # Rejected before routing too: the limit does not depend on the route.
    _assert_error(small_limit.post("/nope", content=body), 413, "request body exceeds 1000 bytes")


def test_body_over_limit_streamed(small_limit: TestClient[Any]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"x" * 100

    response = small_limit.post("/api/v3/_probe/raw", content=chunks())
    _assert_error(response, 413, "request body exceeds 1000 bytes")


def test_body_at_limit_is_accepted(small_limit: TestClient[Any]) -> None:
    response = small_limit.post("/api/v3/_probe/raw", content=b"x" * 1000)
    assert response.status_code == 201
    assert response.json() == {"received": 1000}


# --------------------------------------------------------------------------- error table


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{bad", "invalid json: object keys must be strings (byte 1)"),
        (b'{"n": 1', "invalid json: Input data was truncated"),
        (b"", "invalid json: request body is empty"),
        (b'{"n": "one"}', "invalid json: Expected `int`, got `str` - at `$.n`"),
        (b'{"n": 1.5}', "invalid json: Expected `int`, got `float` - at `$.n`"),
        (b"{}", "invalid json: Object missing required field `n`"),
        (b"[1, 2]", "invalid json: Expected `object`, got `array`"),
        (b'{"n": 1, "name": 5}', "invalid json: Expected `str`, got `int` - at `$.name`"),
    ],
)
def test_bad_json_is_400(client: TestClient[Any], content: bytes, message: str) -> None:
    response = client.post(
        "/api/v3/_probe/echo", content=content, headers={"Content-Type": "application/json"}
    )
    error = _assert_error(response, 400)
    assert error.startswith(message), error


def test_unknown_fields_are_ignored(client: TestClient[Any]) -> None:
    response = client.post("/api/v3/_probe/echo", json={"n": 2, "extra": [1]})
    assert response.status_code == 201
    assert response.json() == {"n": 2, "name": ""}


def test_bad_query_parameter(client: TestClient[Any]) -> None:
    missing = client.get("/api/v3/_probe/geo-error")
    error = _assert_error(missing, 400)
    assert "kind" in error and "for path" not in error


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("scope", 400, "scope must be a Polygon, MultiPolygon or Feature"),
        ("reports", 400, "reports frame lacks column 'seq'"),
        ("model", 400, "weights must sum to 1"),
        ("unknown", 404, "unknown report seqs: [7, 9]"),
    ],
)
def test_library_errors(client: TestClient[Any], kind: str, status: int, message: str) -> None:
    response = client.get("/api/v3/_probe/geo-error", params={"kind": kind})
    _assert_error(response, status, message)


def test_not_found_and_method_not_allowed(client: TestClient[Any]) -> None:
    _assert_error(client.get("/api/v3/nothing-here"), 404, "not found")
    _assert_error(client.get("/"), 404, "not found")
    _assert_error(client.get("/schema/does-not-exist"), 404, "not found")  # framework HTML page
    _assert_error(client.delete("/api/v3/_probe/echo"), 405, "method not allowed")


def test_unexpected_error_is_500_without_leak(
    client: TestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR", logger="cleanapp_api"):
        response = client.get("/api/v3/_probe/boom")
    _assert_error(response, 500, "internal server error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert any("secret internal detail" in r.getMessage() for r in caplog.records)


def test_authenticated_bad_json(client: TestClient[Any]) -> None:
    response = client.post(
        "/api/v3/_probe/cases/u/status",
        content=b"{oops",
        headers={**bearer(mint_token("u")), "Content-Type": "application/json"},
    )
    assert _assert_error(response, 400).startswith("invalid json: ")


def test_authenticated_answers_are_not_cached(client: TestClient[Any]) -> None:
    private = client.get("/api/v3/_probe/whoami", headers=bearer(mint_token("u")))
    assert private.status_code == 200 and private.headers["cache-control"] == "no-store"
    refused = client.get("/api/v3/_probe/whoami", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/api/v3/_probe/small").headers
