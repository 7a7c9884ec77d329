"""Where a loopback benchmark's CPU goes: the service, the load client and PostgreSQL.

On the 2-core machine the service, the load client and the database share the two cores,
so a throughput floor is a CPU budget: at ``rate`` requests per second the three together
may spend at most ``2 / rate`` CPU-seconds per request (13.3 ms at 150 req/s). Wall-clock
latencies move with whatever else the machine runs; CPU-seconds per request move much
less, which makes them the number to compare before and after a change.

Read from ``/proc`` (Linux): the service's process tree (uvicorn's supervisor and its
workers), this process (the load client) and the PostgreSQL backends whose
``application_name`` is the benchmark's (:data:`APPLICATION_NAME`, set on the service's
database URL by :func:`with_application_name`). A backend opened during the measurement
counts from zero. A backend that *ends* during the measurement (a pool's overflow
connection, closed when it is returned to a full pool) is gone from ``/proc`` by the end:
:class:`BackendTracker` reads every backend's CPU in the background (every 50 ms) so that
:func:`cpu_per_request_ms` can add what those spent (``postgres_closed_ms``, in
``postgres_ms`` too). Without it, an open loop that overflowed the pools read about half
of PostgreSQL's CPU (100k store: 2.4 ms per ingest counted, 4.8 ms spent).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

__all__ = [
    "APPLICATION_NAME",
    "BackendTracker",
    "CpuSample",
    "cpu_per_request_ms",
    "sample",
    "with_application_name",
]

#: ``application_name`` of the service's database sessions in a benchmark.
APPLICATION_NAME = "cleanapp-benchmark-service"
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def with_application_name(database_url: str, name: str = APPLICATION_NAME) -> str:
    """Return ``database_url`` with ``application_name=name`` in its query."""
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"]
    query.append(("application_name", name))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended
        return None
    # The command name (field 2) may hold spaces; every later field follows its ")".
    return text[text.rindex(")") + 2 :].split()


def _process_cpu_s(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime


def _descendants(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU-seconds used so far by the service tree, this process and the backends."""

    service_s: float
    client_s: float
    backends_s: Mapping[int, float]


def sample(
    service_pid: int, engine: sa.Engine, application_name: str = APPLICATION_NAME
) -> CpuSample:
    """CPU-seconds of the service's process tree, this process and its backends, now."""
    with engine.connect() as conn:
        backends = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name},
        ).scalars()
        pids = list(backends)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSample(
        service_s=sum(_process_cpu_s(pid) for pid in _descendants(service_pid)),
        client_s=usage.ru_utime + usage.ru_stime,
        backends_s={pid: _process_cpu_s(pid) for pid in pids},
    )


class BackendTracker:
    """Last CPU reading of every benchmark backend seen, read in a background thread.

    Use as a context manager around a measured phase; its own CPU (the thread's) is
    reported as ``own_s`` so the client's share can leave it out.
    """

    def __init__(
        self,
        engine: sa.Engine,
        interval_s: float = 0.05,
        application_name: str = APPLICATION_NAME,
    ) -> None:
        self._engine = engine
        self._name = application_name
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-tracker", daemon=True)
        self.last_s: dict[int, float] = {}
        self.own_s = 0.0

    def _run(self) -> None:
        start = time.thread_time()
        query = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
        with self._engine.connect() as conn:
            while not self._stop.is_set():
                pids = list(conn.execute(query, {"name": self._name}).scalars())
                conn.rollback()
                for pid in pids:
                    if (fields := _stat_fields(pid)) is not None:
                        self.last_s[pid] = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
                self.own_s = time.thread_time() - start
                self._stop.wait(self._interval_s)

    def __enter__(self) -> BackendTracker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def closed_s(self, before: CpuSample, after: CpuSample) -> float:
        """CPU-seconds of the backends seen that were gone by ``after``."""
        return sum(
            s - before.backends_s.get(pid, 0.0)
            for pid, s in self.last_s.items()
            if pid not in after.backends_s
        )


def cpu_per_request_ms(
    before: CpuSample, after: CpuSample, requests: int, tracker: BackendTracker | None = None
) -> dict[str, float]:
    """Milliseconds of CPU per request, by consumer, between two samples.

    With a ``tracker`` running over the phase, the backends that ended during it count too
    (``postgres_closed_ms``, included in ``postgres_ms``) and the tracker's own CPU is left
    out of the client's.
    """
    backends = sum(s - before.backends_s.get(pid, 0.0) for pid, s in after.backends_s.items())
    closed = tracker.closed_s(before, after) if tracker is not None else 0.0
    parts = {
        "service": after.service_s - before.service_s,
        "client": after.client_s - before.client_s - (tracker.own_s if tracker else 0.0),
        "postgres": backends + closed,
    }
    per_request = {f"{name}_ms": s / requests * 1e3 for name, s in parts.items()}
    per_request["total_ms"] = sum(parts.values()) / requests * 1e3
    per_request["postgres_closed_ms"] = closed / requests * 1e3
    return per_request
