"""The benchmarks' lean HTTP client against a real loopback server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from benchmarks.raw_http import RawClient


async def _serve(counts: Counter[int]) -> asyncio.Server:
    """An HTTP/1.1 server answering every POST with its connection's number, kept alive."""
    opened = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened
        opened += 1
        number = opened
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed the connection
                writer.close()
                await writer.wait_closed()
                return
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            counts[number] += 1
            body = json.dumps({"connection": number}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_requests_take_the_connections_in_turn() -> None:
    async def run() -> tuple[Counter[int], list[int]]:
        counts: Counter[int] = Counter()
        server = await _serve(counts)
        port = server.sockets[0].getsockname()[1]
        client = RawClient(f"http://127.0.0.1:{port}", {})
        await client.open(4)
        used = []
        for _ in range(8):  # one at a time: a LIFO pool would use one connection
            answer = await client.post_json("/x", {"k": 1})
            assert answer.status_code == 200
            used.append(json.loads(answer.body)["connection"])
        await client.aclose()
        server.close()
        await server.wait_closed()
        return counts, used

    counts, used = asyncio.run(run())
    assert sorted(counts.values()) == [2, 2, 2, 2]
    assert used[:4] == used[4:]  # the same order each round
