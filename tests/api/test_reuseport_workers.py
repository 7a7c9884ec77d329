"""``serve(workers=2)``: worker processes on their own SO_REUSEPORT sockets, supervised.

Real processes and real sockets: the connections are spread over both workers, a worker
killed with SIGKILL is replaced, SIGTERM stops everything, and a SIGKILLed supervisor
takes its workers with it (no worker left holding the port).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from api_support import JWT_SECRET
from support import closed_port_url, free_port

from cleanapp_api.reuseport import reuseport_available
from cleanapp_api.settings import ENV_VARS

pytestmark = pytest.mark.skipif(not reuseport_available(), reason="SO_REUSEPORT balancing is Linux")


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _workers(pid: int) -> set[int]:
    """The supervisor's worker processes (children running uvicorn, not helpers)."""
    return {p for p in _children(pid) if _listens(p)}


def _listens(pid: int) -> bool:
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def _wait(predicate, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.1)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def two_workers() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(
        DATABASE_URL=closed_port_url(),
        JWT_SECRET=JWT_SECRET,
        AUTH_TOKEN_STORE="off",
        RATE_LIMIT_RPS="100000",
        RATE_LIMIT_BURST="100000",
    )
    code = f"from cleanapp_api.serve import serve; serve('127.0.0.1', {port}, workers=2)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(lambda: len(_workers(proc.pid)) == 2 and not _port_free(port))
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_workers_share_the_port_and_a_killed_worker_is_replaced() -> None:
    with two_workers() as (proc, port):
        first = _workers(proc.pid)
        assert len(first) == 2
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/healthz").status_code == 503  # up; the database is unreachable
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: len(_workers(proc.pid)) == 2 and victim not in _workers(proc.pid))
        for _ in range(20):  # every new connection is answered, whichever worker takes it
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                assert http.get("/healthz").status_code == 503
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        _wait(lambda: not any(_alive(p) for p in workers))
        assert _port_free(port)


def test_connections_are_spread_over_both_workers() -> None:
    with two_workers() as (proc, port):
        workers = _workers(proc.pid)
        cpu_before = {p: _cpu_ticks(p) for p in workers}
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(40)]
        try:
            for _ in range(5):
                for client in clients:
                    assert client.get("/healthz").status_code == 503
        finally:
            for client in clients:
                client.close()
        used = {p: _cpu_ticks(p) - cpu_before[p] for p in workers}
        assert all(ticks > 0 for ticks in used.values()), used


def test_a_killed_supervisor_takes_its_workers_with_it() -> None:
    with two_workers() as (proc, port):
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _wait(lambda: not any(_alive(p) for p in workers), timeout_s=30)
        _wait(lambda: _port_free(port), timeout_s=30)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()
    return int(fields[11]) + int(fields[12])
