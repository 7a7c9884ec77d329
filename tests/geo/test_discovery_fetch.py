"""The discovery fetcher against local fixture servers: budget, robots.txt, cache, safety."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cleanapp_geo.discovery import (
    BlockedURLError,
    Budget,
    BudgetExhaustedError,
    Fetcher,
    FetchSettings,
    HTTPStatusError,
    MemoryCache,
    NetworkError,
    RobotsDisallowedError,
)
from tests.geo.discovery_support import Answer, FixtureWeb, fixture_web, forbid_name_lookups, html

SITE = "www.schule.test"


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)


@pytest.fixture
def web() -> Iterator[FixtureWeb]:
    with fixture_web() as server:
        yield server


def test_a_robots_disallowed_page_is_not_fetched(web: FixtureWeb) -> None:
    web.add(
        SITE,
        "/robots.txt",
        Answer("User-agent: *\nDisallow: /intern/\n", content_type="text/plain"),
    )
    web.add(SITE, "/intern/kontakt", html("<a href='mailto:secret@schule.test'>x</a>"))
    web.add(SITE, "/kontakt", html("<a href='mailto:info@schule.test'>x</a>"))
    fetcher = web.fetcher()
    with pytest.raises(RobotsDisallowedError):
        fetcher.get(web.url(SITE, "/intern/kontakt"))
    assert fetcher.get(web.url(SITE, "/kontakt")).status == 200
    assert web.requests_to(SITE, "/intern/kontakt") == []
    assert len(web.requests_to(SITE, "/robots.txt")) == 1  # rules cached per host
    assert fetcher.stats.robots_disallowed == 1
    # The robots.txt request is made with our user agent.
    assert web.requests_to(SITE, "/robots.txt")[0].headers["user-agent"].startswith("CleanApp")


def test_robots_groups_for_our_agent_and_missing_or_failing_files(web: FixtureWeb) -> None:
    web.add(SITE, "/robots.txt", Answer(
        "User-agent: CleanApp-Case-Discovery-Tests\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        content_type="text/plain"))  # fmt: skip
    web.add("none.test", "/page", html("ok"))
    web.add("broken.test", "/robots.txt", Answer("oops", 503, "text/plain"))
    web.add("broken.test", "/page", html("ok"))
    fetcher = web.fetcher()
    with pytest.raises(RobotsDisallowedError):
        fetcher.get(web.url(SITE, "/"))
    assert fetcher.get(web.url("none.test", "/page")).status == 200  # 404 robots: no rules
    with pytest.raises(RobotsDisallowedError):  # RFC 9309: 5xx means "assume disallowed"
        fetcher.get(web.url("broken.test", "/page"))
    assert web.requests_to("broken.test", "/page") == []


def test_the_time_budget_stops_a_slow_server(web: FixtureWeb) -> None:
    web.add(SITE, "/slow", Answer("late", delay_s=3.0))
    fetcher = web.fetcher(budget=Budget(max_requests=10, max_seconds=0.5))
    started = time.monotonic()
    with pytest.raises((NetworkError, BudgetExhaustedError)):
        fetcher.get(web.url(SITE, "/slow"), robots=False)
    assert time.monotonic() - started < 1.0
    with pytest.raises(BudgetExhaustedError):  # the deadline has passed: nothing is sent
        fetcher.get(web.url(SITE, "/other"), robots=False)
    assert web.requests_to(SITE, "/other") == []


def test_the_time_budget_stops_a_slow_drip(web: FixtureWeb) -> None:
    web.add(SITE, "/drip", Answer("x" * 400, drip_s=0.01))  # each byte well within timeout
    fetcher = web.fetcher(budget=Budget(max_requests=10, max_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(BudgetExhaustedError):
        fetcher.get(web.url(SITE, "/drip"), robots=False)
    assert time.monotonic() - started < 1.2


def test_the_request_budget_counts_robots_and_redirects(web: FixtureWeb) -> None:
    web.add(SITE, "/old", Answer("", 301, headers={"Location": "/new"}))
    web.add(SITE, "/new", html("new"))
    fetcher = web.fetcher(budget=Budget(max_requests=3, max_seconds=10))
    assert fetcher.get(web.url(SITE, "/old")).url.endswith("/new")  # robots, /old, /new
    assert fetcher.budget.requests_used == 3
    with pytest.raises(BudgetExhaustedError):
        fetcher.get(web.url(SITE, "/another"))


def test_cache_hits_do_not_request_again(web: FixtureWeb) -> None:
    web.add(SITE, "/kontakt", html("k"))
    now = [0.0]
    cache = MemoryCache(clock=lambda: now[0])
    fetcher = web.fetcher(cache=cache, cache_ttl_s=60)
    for _ in range(3):
        assert fetcher.get(web.url(SITE, "/kontakt"), robots=False).body.endswith(b"k</html>")
    assert len(web.requests_to(SITE, "/kontakt")) == 1
    assert fetcher.stats.cache_hits == 2 and fetcher.budget.requests_used == 1
    # A second fetcher sharing the cache (another run for the same place) is free too.
    other = web.fetcher(cache=cache)
    other.get(web.url(SITE, "/kontakt"), robots=False)
    assert len(web.requests_to(SITE, "/kontakt")) == 1 and other.budget.requests_used == 0
    now[0] = 61.0  # expired
    fetcher.get(web.url(SITE, "/kontakt"), robots=False)
    assert len(web.requests_to(SITE, "/kontakt")) == 2


def test_errors_are_not_cached(web: FixtureWeb) -> None:
    web.add(SITE, "/flaky", Answer("down", 503))
    fetcher = web.fetcher()
    for _ in range(2):
        with pytest.raises(HTTPStatusError) as info:
            fetcher.get(web.url(SITE, "/flaky"), robots=False)
        assert info.value.status == 503
    assert len(web.requests_to(SITE, "/flaky")) == 2


def test_bodies_are_capped(web: FixtureWeb) -> None:
    web.add(SITE, "/big", Answer("a" * 10_000))
    response = web.fetcher(max_bytes=1000).get(web.url(SITE, "/big"), robots=False)
    assert len(response.body) == 1000 and response.truncated


def test_private_addresses_and_other_schemes_are_refused(web: FixtureWeb) -> None:
    web.add(SITE, "/to-intranet", Answer("", 302, headers={"Location": "http://intranet.test/"}))
    web.add(SITE, "/to-file", Answer("", 302, headers={"Location": "file:///etc/passwd"}))
    web.add("intranet.test", "/", html("secret"))
    public = web.fetcher(allow_private_networks=False)
    with pytest.raises(BlockedURLError):  # resolves to 127.0.0.1
        public.get(web.url(SITE, "/"), robots=False)
    assert web.seen == []
    with pytest.raises(BlockedURLError):
        public.get("ftp://files.test/x")
    permissive = web.fetcher(extra_hosts=["files.test"])
    with pytest.raises(BlockedURLError):
        permissive.get(web.url(SITE, "/to-file"), robots=False)
    # A redirect hop is checked like a first request: into a refused address, not fetched.
    guarded = Fetcher(FetchSettings(resolve={"intranet.test": "10.0.0.1"}), budget=Budget(10, 5.0))
    with pytest.raises(BlockedURLError):
        guarded.get("http://intranet.test/", robots=False)


def test_the_user_agent_is_sent_and_hosts_are_rate_limited(web: FixtureWeb) -> None:
    web.add("nominatim.test", "/reverse", Answer("{}", content_type="application/json"))
    slept: list[float] = []
    fetcher = Fetcher(
        web.settings(min_interval_s={"nominatim.test": 1.0}, cache_ttl_s=0),
        budget=Budget(10, 5.0),
        sleep=slept.append,
    )
    fetcher.get(web.url("nominatim.test", "/reverse"), params={"lat": "1"}, robots=False)
    fetcher.get(web.url("nominatim.test", "/reverse"), params={"lat": "2"}, robots=False)
    assert len(slept) == 1 and 0.5 < slept[0] <= 1.0
    seen = web.requests_to("nominatim.test")
    assert [s.query["lat"] for s in seen] == [["1"], ["2"]]
    assert all(s.headers["user-agent"] == fetcher.settings.user_agent for s in seen)
    # A wait longer than the time left is not taken.
    short = Fetcher(web.settings(min_interval_s={"nominatim.test": 30.0}, cache_ttl_s=0),
                    budget=Budget(10, 2.0))  # fmt: skip
    short.get(web.url("nominatim.test", "/reverse"), robots=False)
    with pytest.raises(BudgetExhaustedError):
        short.get(web.url("nominatim.test", "/reverse"), params={"lat": "3"}, robots=False)


def test_a_refused_connection_is_a_network_error(web: FixtureWeb) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    fetcher = web.fetcher(extra_hosts=["down.test"])
    with pytest.raises(NetworkError):
        fetcher.get(f"http://down.test:{port}/", robots=False)
    assert fetcher.stats.errors == 1


def _https_server(tmp_path: Path, host: str) -> tuple[ThreadingHTTPServer, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host}"],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<html>secure</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, cert


def test_https_verifies_the_certificate_of_the_named_host(web: FixtureWeb, tmp_path: Path) -> None:
    host = "secure.test"
    server, cert = _https_server(tmp_path, host)
    try:
        url = f"https://{host}:{server.server_address[1]}/"
        trusting = ssl.create_default_context(cafile=str(cert))
        settings = web.settings(extra_hosts=[host, "other.test"])
        fetcher = Fetcher(settings, budget=Budget(10, 5.0), tls=trusting)
        assert fetcher.get(url, robots=False).body == b"<html>secure</html>"
        # The same server under another name: the certificate does not match it.
        other = f"https://other.test:{server.server_address[1]}/"
        with pytest.raises(NetworkError):
            fetcher.get(other, robots=False)
        # Not trusted by the system roots: refused.
        with pytest.raises(NetworkError):
            Fetcher(settings, budget=Budget(10, 5.0)).get(url, robots=False)
    finally:
        server.shutdown()
        server.server_close()
