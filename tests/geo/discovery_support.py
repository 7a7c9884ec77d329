"""Local HTTP fixture servers for the discovery tests (no test touches the network).

One threaded ``http.server`` on a free 127.0.0.1 port serves several *virtual hosts*: a
route is keyed by the ``Host`` header's name and the path, so ``www.adliswil.ch``,
``nominatim.test`` and ``overpass.test`` are one server. The fetcher reaches them through
``FetchSettings(resolve={host: "127.0.0.1"}, allow_private_networks=True)``; every request
is recorded (method, host, path, query, body, headers).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cleanapp_geo.discovery import Budget, Fetcher, FetchSettings, MemoryCache


@dataclass
class Answer:
    """A canned answer: status, body, content type, extra headers, delay before answering."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drip_s: float = 0.0  # pause between 1-byte chunks (a slow-drip server)


def html(body: str, status: int = 200) -> Answer:
    return Answer(f"<!doctype html><html>{body}</html>", status)


def as_json(payload: Any) -> Answer:
    return Answer(json.dumps(payload), content_type="application/json")


@dataclass
class Seen:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    body: str
    headers: dict[str, str]


Route = Answer | Callable[["Seen"], Answer]


class FixtureWeb:
    """Virtual hosts on one local server; ``routes[(host, path)]`` answers, others are 404."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                seen = Seen(self.command, host, parts.path, parse_qs(parts.query), body,
                            {k.lower(): v for k, v in self.headers.items()})  # fmt: skip
                with web._lock:
                    web.seen.append(seen)
                route = web.routes.get((host, parts.path))
                answer = route(seen) if callable(route) else route
                if answer is None:
                    answer = Answer("not found", 404, "text/plain")
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                data = answer.body.encode() if isinstance(answer.body, str) else answer.body
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if answer.drip_s:
                        for i in range(len(data)):
                            self.wfile.write(data[i : i + 1])
                            self.wfile.flush()
                            time.sleep(answer.drip_s)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _answer  # noqa: N815
            do_POST = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def add(self, host: str, path: str, answer: Route) -> None:
        self.routes[(host, path)] = answer

    def requests_to(self, host: str, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.host == host and (path is None or s.path == path)]

    def settings(self, **overrides: Any) -> FetchSettings:
        hosts = {h for h, _ in self.routes} | set(overrides.pop("extra_hosts", ()))
        values: dict[str, Any] = {
            "resolve": dict.fromkeys(hosts, "127.0.0.1"),
            "allow_private_networks": True,
            "user_agent": "CleanApp-Case-Discovery-Tests/1.0 (+https://cleanapp.io)",
        }
        values.update(overrides)
        return FetchSettings(**values)

    def fetcher(
        self, *, budget: Budget | None = None, cache: MemoryCache | None = None, **settings: Any
    ) -> Fetcher:
        return Fetcher(self.settings(**settings), budget=budget or Budget(50, 10.0), cache=cache)


@contextmanager
def fixture_web() -> Iterator[FixtureWeb]:
    web = FixtureWeb()
    web.thread.start()
    try:
        yield web
    finally:
        web.server.shutdown()
        web.server.server_close()


def forbid_name_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any name lookup: every host must come from the fixture's resolve map."""
    real = socket.getaddrinfo

    def numeric_only(host: object, *args: object, **kwargs: object) -> object:
        try:
            ipaddress.ip_address(str(host))
        except ValueError:
            raise OSError(f"tests never resolve names ({host})") from None
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
