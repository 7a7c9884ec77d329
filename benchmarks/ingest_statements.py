"""PostgreSQL CPU of each statement of ``POST /reports``, in process (issue 13).

Stores a city (:func:`benchmarks.ingest.prepare`: reports and open cases in a private
schema), then ingests the arriving reports one after the other through
:func:`cleanapp_api.services.ingest.ingest_report` on the service's engine
(:func:`cleanapp_api.common.db_engine.bounded_engine`: one pooled connection, its
``pool_pre_ping`` included). Around every statement psycopg sends (``execute`` and
``executemany`` of any cursor, so the implicit ``BEGIN`` counts with a transaction's first
statement) and every ``COMMIT``, the backend's on-CPU time is read from
``/proc/<backend pid>/schedstat`` (nanoseconds, not clock ticks), so each statement's
server-side cost (parse/bind/plan/execute, triggers, WAL, the round trip's socket work)
is summed by its SQL text. Linux only; the database must run on this machine.

Run::

    python -m benchmarks.ingest_statements --reports 100000 --cases 1000 --ingests 600

The table lists, per statement, the CPU per ingest (ms), the number of executions and the
CPU per execution (µs), most expensive first; ``total`` is the backend's CPU over all
ingests (the statements' sum equals it: nothing else runs on that backend).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from benchmarks.ingest import ingest_body, prepare
from cleanapp_api import db
from cleanapp_api.common.db_engine import bounded_engine
from cleanapp_api.matching_schemas import IngestReportRequest
from cleanapp_api.policy import AuthenticatedUser
from cleanapp_api.services.ingest import ingest_report
from cleanapp_api.settings import Settings

DEFAULT_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp"


def backend_cpu_ns(pid: int) -> int:
    """On-CPU time of a process so far (``/proc/<pid>/schedstat``, nanoseconds)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _key(query: Any) -> str:
    text = query.decode() if isinstance(query, bytes) else str(query)
    return re.sub(r"\s+", " ", text)[:100]


@contextmanager
def statement_cpu(stats: dict[str, list[int]]) -> Iterator[None]:
    """Add each statement's backend CPU (ns) and count to ``stats`` (by its SQL text)."""
    originals: list[tuple[Any, str, Any]] = []

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            pid = self.connection.info.backend_pid
            start = backend_cpu_ns(pid)
            try:
                return method(self, query, *args, **kwargs)
            finally:
                entry = stats.setdefault(f"{name} {_key(query)}", [0, 0])
                entry[0] += backend_cpu_ns(pid) - start
                entry[1] += 1

        return run

    def timed_commit(method: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Any) -> Any:
            pid = self.info.backend_pid
            start = backend_cpu_ns(pid)
            try:
                return method(self)
            finally:
                entry = stats.setdefault("COMMIT", [0, 0])
                entry[0] += backend_cpu_ns(pid) - start
                entry[1] += 1

        return run

    for owner, name in ((psycopg.Cursor, "execute"), (psycopg.Cursor, "executemany")):
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, timed(name, getattr(owner, name)))
    originals.append((psycopg.Connection, "commit", psycopg.Connection.commit))
    psycopg.Connection.commit = timed_commit(psycopg.Connection.commit)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for owner, name, method in originals:
            setattr(owner, name, method)


def main(argv: list[str] | None = None) -> int:
    """Store a city, ingest its arriving reports one at a time, print each statement's CPU."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--ingests", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with db.private_schema(db.normalise_url(args.database_url), "bench_stmts") as url:
        prepared = prepare(
            db.create_engine(url), args.reports, args.cases, args.seed, lambda m: print(m)
        )
        engine = bounded_engine(url, statement_timeout_s=30.0)
        settings = Settings(database_url=url, jwt_secret="bench", auth_token_store="off")
        user = AuthenticatedUser("bench-pipeline", frozenset({"service"}))
        bodies = [
            msgspec.convert(ingest_body(row), IngestReportRequest)
            for row in prepared.arriving.iloc[: args.ingests].itertuples(index=False)
        ]
        with engine.connect() as conn:
            pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        stats: dict[str, list[int]] = {}
        actions: dict[str, int] = {}
        start = backend_cpu_ns(pid)
        with statement_cpu(stats):
            for body in bodies:
                response, _ = ingest_report(engine, settings, body, user)
                actions[response.case.action] = actions.get(response.case.action, 0) + 1
        total_ns = backend_cpu_ns(pid) - start
        engine.dispose()
    n = max(1, len(bodies))
    print(f"{len(bodies)} ingests {actions}: backend CPU {total_ns / n / 1e6:.3f} ms per ingest")
    for key, (ns, count) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
        print(f"{ns / n / 1e6:7.3f} ms/ingest {count:6d} x {ns / count / 1e3:7.1f} us  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
