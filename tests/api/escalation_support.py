"""Real servers for the escalation tests: uvicorn in a thread, an SMTP sink (aiosmtpd) and a
local HTTP server that follows SendGrid's documented v3 mail/send contract."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from support import free_port

INTERNAL_TOKEN = "internal-" + "a1b2c3d4" * 6


# --------------------------------------------------------------------------- SMTP


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, envelope.content)
            )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[tuple[int, list[Received]]]:
    """A real SMTP server (aiosmtpd) on a free loopback port; yield (port, received)."""
    handler = _Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.received
    finally:
        controller.stop()


# --------------------------------------------------------------------------- SendGrid


@dataclass
class SendGridContract:
    """What a SendGrid contract server saw."""

    api_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


def _sendgrid_errors(body: Any) -> list[dict[str, Any]]:
    """Check a v3 mail/send body against SendGrid's documented schema."""
    errors: list[dict[str, Any]] = []

    def err(message: str, field_name: str) -> None:
        errors.append({"message": message, "field": field_name, "help": None})

    if not isinstance(body, dict):
        err("Bad Request", "")
        return errors
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not 1 <= len(personalizations) <= 1000:
        err(
            "The personalizations field is required and must have at least one.", "personalizations"
        )
    else:
        for i, p in enumerate(personalizations):
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to:
                err(
                    "The to array is required for all personalization objects.",
                    f"personalizations.{i}.to",
                )
                continue
            for j, address in enumerate(to):
                if not isinstance(address, dict) or "@" not in str(address.get("email", "")):
                    err("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email")
    sender = body.get("from")
    if not isinstance(sender, dict) or "@" not in str(sender.get("email", "")):
        err("The from object must be provided for every email send.", "from")
    if not isinstance(body.get("subject"), str) or not body["subject"]:
        err("The subject is required.", "subject")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        err("Unless a valid template_id is provided, the content parameter is required.", "content")
    else:
        types = [c.get("type") for c in content if isinstance(c, dict)]
        if any(not isinstance(c, dict) or not c.get("value") for c in content):
            err("The content value must be a string at least one character in length.", "content")
        if "text/plain" in types and types.index("text/plain") != 0:
            err("If present, text/plain must be first, followed by text/html.", "content")
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or any(not isinstance(v, str) for v in headers.values()):
        err("Header values must be strings.", "headers")
    return errors


@contextmanager
def sendgrid_contract_server(api_key: str) -> Iterator[tuple[str, SendGridContract]]:
    """A local HTTP server following SendGrid's v3 contract: ``POST /v3/mail/send`` with
    ``Authorization: Bearer <key>`` and a valid JSON body → 202 (empty body) with an
    ``X-Message-Id`` header; 401 for a bad key, 400 ``{"errors": [...]}`` for a bad body,
    404 elsewhere."""
    seen = SendGridContract(api_key=api_key)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(
            self, status: int, payload: Any = None, headers: dict[str, str] | None = None
        ) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != "/v3/mail/send":
                self._answer(404, {"errors": [{"message": "Not Found"}]})
                return
            if self.headers.get("Authorization") != f"Bearer {seen.api_key}":
                self._answer(
                    401,
                    {
                        "errors": [
                            {
                                "message": (
                                    "The provided authorization grant is invalid, expired, "
                                    "or revoked"
                                ),
                                "field": None,
                                "help": None,
                            }
                        ]
                    },
                )
                return
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                self._answer(
                    415, {"errors": [{"message": "Content-Type should be application/json."}]}
                )
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._answer(400, {"errors": [{"message": "Bad Request", "field": None}]})
                return
            errors = _sendgrid_errors(body)
            if errors:
                self._answer(400, {"errors": errors})
                return
            message_id = uuid.uuid4().hex[:22]
            seen.requests.append({"headers": dict(self.headers), "body": body})
            seen.message_ids.append(message_id)
            self._answer(202, None, {"X-Message-Id": message_id})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def slow_http_server(delay_s: float) -> Iterator[str]:
    """An HTTP server that answers every request after ``delay_s`` (a slow email service)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay_s)
            try:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
