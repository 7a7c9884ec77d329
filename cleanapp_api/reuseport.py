"""Worker processes that each listen on their own ``SO_REUSEPORT`` socket (Linux).

uvicorn's own workers share one listening socket: an idle worker woken by a burst of new
connections accepts every connection queued in one go, so long-lived keep-alive clients
(browsers, a reverse proxy's upstream pool, a load test) end up unevenly spread, and the
busier process, bound to one core by the GIL, limits the whole service. Measured with 20
keep-alive clients on two workers: 9.4 s and 5.1 s of CPU in the two workers over the
same run. With ``SO_REUSEPORT`` every worker has its own socket on the same port and the
kernel spreads new connections over them by a hash of their addresses (what nginx's and
HAProxy's ``reuseport`` do).

:func:`serve_workers` is the supervisor: it reserves the port (a bound, not listening,
socket, so port 0 picks one port for every worker), starts the workers, restarts one that
dies, and stops them all on ``SIGTERM``/``SIGINT``. Each worker asks the kernel to send it
``SIGTERM`` when the supervisor dies (``PR_SET_PDEATHSIG``), so a killed supervisor
leaves no worker holding the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import signal
import socket
import time
from typing import Any, Final

import uvicorn

__all__ = ["BACKLOG", "reuseport_available", "serve_workers"]

#: Listen backlog of each worker's socket (uvicorn's default).
BACKLOG: Final = 2048
_PR_SET_PDEATHSIG: Final = 1
_POLL_S: Final = 0.2
_STOP_TIMEOUT_S: Final = 15.0


def reuseport_available() -> bool:
    """Whether this platform has ``SO_REUSEPORT`` with kernel load balancing (Linux)."""
    import sys

    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _die_with_parent() -> None:
    """Ask for ``SIGTERM`` when the supervisor dies (Linux ``prctl``; best effort)."""
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - every Linux has a C library
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _worker(config_kwargs: dict[str, Any], host: str, port: int) -> None:
    _die_with_parent()
    sock = _socket(host, port)
    sock.listen(BACKLOG)
    config = uvicorn.Config(**config_kwargs, host=host, port=port, backlog=BACKLOG)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(config_kwargs: dict[str, Any], *, host: str, port: int, workers: int) -> None:
    """Run ``workers`` uvicorn servers on ``host:port``, each on its own socket.

    Parameters
    ----------
    config_kwargs : dict
        Keyword arguments of :class:`uvicorn.Config` other than ``host``, ``port``,
        ``backlog`` and ``workers`` (the application, its factory flag, logging, ...).
    host : str
        Interface to bind.
    port : int
        TCP port; 0 picks a free one, the same for every worker.
    workers : int
        Worker processes (at least 1).

    Raises
    ------
    ValueError
        If ``workers`` is below 1.
    OSError
        If the port cannot be bound.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    reserved = _socket(host, port)  # bound, never listening: holds the port for the workers
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker, args=(config_kwargs, host, port), name="cleanapp-api-worker"
        )
        process.start()
        return process

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    processes = [start() for _ in range(workers)]
    try:
        while not stopping:
            for k, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    processes[k] = start()  # a worker died: replace it
            time.sleep(_POLL_S)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
