"""A lean asyncio HTTP/1.1 client for loopback load tests: keep-alive connections, JSON posts.

The load client of a loopback benchmark runs on the cores it measures: every
CPU-millisecond it spends is taken from the service and the database. httpx's
``AsyncClient`` spends about 1-4 ms of CPU per request (more as its pool grows); this
client writes the request bytes and reads the status line, the headers and a
``Content-Length`` (or chunked) body on a pool of keep-alive connections, about a tenth of
that. It speaks only what the benchmarks need: ``POST`` of a JSON body, answers with a
length or chunked. Latencies and statuses mean what they mean with httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RawClient", "RawResponse"]


class RawResponse:
    """Status and body of one answer."""

    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body


class RawClient:
    """Keep-alive connections to one ``http://host:port``; at most ``max_connections``.

    A request takes the idle connection that has waited longest, else opens one (waiting
    for one to be free when ``max_connections`` are open): connections are used in turn,
    not the last one over and over. Against a service whose workers each listen on their
    own ``SO_REUSEPORT`` socket, the kernel gives each *connection* to one worker, so a
    client that reused its most recent connection sent most of a light load to one worker
    (as if one phone sent every report); :meth:`open` a number of connections first to
    spread the load as many clients would. A connection the server closed is dropped; the
    request on it raises :class:`ConnectionError` (the caller counts it, as an httpx
    transport error).
    """

    def __init__(self, base_url: str, headers: dict[str, str], max_connections: int = 256):
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self._slots = asyncio.Semaphore(max_connections)

    async def open(self, count: int) -> None:
        """Open ``count`` keep-alive connections now (idle, used in turn by requests)."""
        for _ in range(count):
            self._idle.append(await asyncio.open_connection(self._host, self._port))

    async def post_json(self, path: str, body: Any) -> RawResponse:
        """``POST path`` with ``body`` as JSON; return the status and the body."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._head}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        async with self._slots:
            if self._idle:
                reader, writer = self._idle.popleft()
            else:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            try:
                writer.write(request)
                response = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                writer.close()
                raise ConnectionError(str(exc)) from exc
            self._idle.append((reader, writer))
            return response

    async def aclose(self) -> None:
        """Close every idle connection."""
        for _, writer in self._idle:
            writer.close()
        for _, writer in self._idle:
            with contextlib.suppress(OSError):  # a connection the server reset
                await writer.wait_closed()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return RawResponse(status, await reader.readexactly(int(headers["content-length"])))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        return RawResponse(status, b"".join(chunks))
    raise ValueError("an answer with neither a length nor chunks")
