"""``python -m benchmarks ingest``: reports that keep cases up to date, at scale.

    python -m benchmarks ingest [--reports 1m] [--cases 10000] [--rate 200] [--seconds 30]
                                [--file-reports 20000] [--nearby-requests 1000]
                                [--workers 2] [--client raw|httpx] [--seed 1]
                                [--database-url URL] [--json PATH]

Set-up (in a private schema of the database: ``--database-url``, else ``DATABASE_URL``,
else ``TEST_DATABASE_URL``, else the local ``cleanapp_test``): a synthetic hard-mode city
of ``--reports`` reports (:func:`cleanapp_geo.make_reports`, 400 per km², planted
incidents of 2-20 reports). ``--cases`` planted incidents of at least two reports get an
open case of their earlier half (linked reports, aggregates recomputed as the service
does: a case made from reports alone); the later half of those incidents, and as many
background reports, *arrive* later, in time order. Everything else is stored first
(:func:`cleanapp_geo.io.write_reports`), so the store holds about ``--reports`` reports
and ``--cases`` open cases before the measurements.

Measured, in one run:

* **ingest**: ``POST /api/v4/reports`` (store + match in one transaction) of the first
  arriving reports over loopback HTTP to the real service (``cleanapp-api serve``,
  ``--workers`` processes, in a subprocess), by an **open-loop** client in this process:
  request ``k`` is sent at ``t0 + k / rate`` whether or not the earlier ones have
  answered, and its latency counts from that scheduled time (queueing included). The
  first second is warm-up. Floor: p99 <= 25 ms at 200 reports/s. The client
  (``--client``) is :mod:`benchmarks.raw_http` by default, a lean HTTP/1.1 client on
  keep-alive connections (64, opened first and used in turn, as many phones would spread
  over the service's workers): it shares the two measured cores, and httpx's
  ``AsyncClient`` spent 4-9 ms of CPU per request there (``--client httpx`` measures with
  it).
* **ingest, one at a time**: ``--sequential-requests`` more reports posted one after the
  other (closed loop) before the load: the service time without queueing, beside it.
* **nearby**: ``GET /api/v4/cases/nearby`` (radius 500 m) at random report points, one
  after the other; ``GET /healthz`` beside it is the same-run baseline (HTTP plus a
  ``SELECT 1``). Floor: p99 <= 20 ms.
* **file load**: the next ``--file-reports`` arriving reports as a GeoParquet file,
  through what ``cleanapp-api reports load`` runs (store, then match in batches of 500);
  store and matching timed apart (the store phase is the same-run baseline of what
  matching adds). Floor: >= 500 reports/s for the whole load.
* **quality** of what the store recorded for the arriving reports (both paths): the
  precision of the ``auto`` attaches (linked to their own incident's case) and the share
  of the incident reports attached to their case or suggested for it. Floors: >= 0.98 and
  >= 0.90.
* **CPU per ingest** in both ingest phases (:mod:`benchmarks.cpu_accounting`): the
  milliseconds of CPU of the service's processes, this process (the load client) and the
  service's PostgreSQL backends per request (those that ended during the phase too, read by
  :class:`~benchmarks.cpu_accounting.BackendTracker`), beside the budget at the offered rate
  (``nproc / rate``: 10 ms at 200/s on 2 cores). CPU time moves much less than wall time
  on the shared machine: the number to compare before and after a change.

The machine is shared (other sessions run tests on the same two cores): the load average
is printed before and after each phase. Results: a table on stdout and a JSON document
(``--json``, default ``benchmarks/results/ingest-<time>.json``) with a hardware block.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import sqlalchemy as sa

import cleanapp_geo.io as cio
from benchmarks.cpu_accounting import (
    BackendTracker,
    CpuSample,
    cpu_per_request_ms,
    with_application_name,
)
from benchmarks.cpu_accounting import sample as cpu_sample
from benchmarks.raw_http import RawClient
from benchmarks.service import JWT_SECRET, service_process
from cleanapp_api import db
from cleanapp_api.auth import issue_access_token
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.importer import import_report_file
from cleanapp_api.services.cases import new_case_id, slugify
from cleanapp_api.services.ingest import MatchOptions, match_stored_reports
from cleanapp_geo.synthetic import INCIDENT_ID, make_reports

DEFAULT_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp_test"
FLOORS = {
    "ingest_p99_ms": ("<=", 25.0),
    "file_load_reports_per_s": (">=", 500.0),
    "nearby_p99_ms": ("<=", 20.0),
    "auto_precision": (">=", 0.98),
    "incident_attached_or_suggested": (">=", 0.90),
}
_CASES_PER_TRANSACTION = 250
_WARMUP_S = 1.0
#: Keep-alive connections of the open loop's raw client, used in turn: reports come from
#: many phones, each on its own connection, and the kernel gives each connection to one
#: service worker (SO_REUSEPORT); reusing the latest connection sent most of the load to
#: one worker (at 80/s on 100k: 5.67 vs 0.56 s of worker CPU). Fewer below 32/s offered.
OPEN_LOOP_CONNECTIONS = 64
Log = Callable[[str], None]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _percentiles(times_s: list[float]) -> dict[str, float]:
    arr = np.asarray(times_s, dtype=float) * 1e3
    if not len(arr):
        return {"n": 0}
    return {
        "n": len(arr),
        "p50_ms": float(np.percentile(arr, 50)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


# =========================================================================== the store


@dataclass(frozen=True)
class Prepared:
    """The stored city and what arrives later."""

    arriving: gpd.GeoDataFrame  # in arrival order, with incident_id
    case_incident: dict[str, int]
    timings_s: dict[str, float]
    stored_reports: int


def prepare(engine: sa.Engine, n_reports: int, n_cases: int, seed: int, log: Log) -> Prepared:
    """Store the city and the open cases (module docstring); return the arriving reports."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    city = make_reports(n_reports, seed=seed, mode="hard")
    timings["generate_s"] = time.perf_counter() - start
    incident = city[INCIDENT_ID].to_numpy()
    order = np.lexsort((city["seq"].to_numpy(), city["ts"].to_numpy()))
    members: dict[int, list[int]] = {}
    for pos in order.tolist():
        if incident[pos] >= 0:
            members.setdefault(int(incident[pos]), []).append(pos)
    eligible = sorted(inc for inc, rows in members.items() if len(rows) >= 2)
    rng = np.random.default_rng(seed + 7919)
    chosen = rng.choice(eligible, size=min(n_cases, len(eligible)), replace=False)
    early: dict[int, list[int]] = {}
    arriving: list[int] = []
    for inc in sorted(int(i) for i in chosen):
        rows = members[inc]
        half = (len(rows) + 1) // 2
        early[inc] = rows[:half]
        arriving.extend(rows[half:])
    background = np.flatnonzero(incident < 0)
    arriving.extend(rng.choice(background, size=min(len(background), len(arriving)),
                               replace=False).tolist())  # fmt: skip
    arriving_set = np.zeros(len(city), dtype=bool)
    arriving_set[arriving] = True
    base = city.loc[~arriving_set].drop(columns=[INCIDENT_ID])
    log(f"storing {len(base):,} reports ({len(chosen):,} cases to make, "
        f"{len(arriving):,} reports to arrive)")  # fmt: skip
    start = time.perf_counter()
    cio.write_reports(base, engine)
    timings["store_reports_s"] = time.perf_counter() - start

    start = time.perf_counter()
    case_incident: dict[str, int] = {}
    seqs = city["seq"].to_numpy()
    severity = city["severity_level"].to_numpy()
    items = list(early.items())
    for lo in range(0, len(items), _CASES_PER_TRANSACTION):
        with engine.begin() as conn:
            for inc, rows in items[lo : lo + _CASES_PER_TRANSACTION]:
                anchor = max(rows, key=lambda p: (severity[p], -seqs[p]))
                case_id = new_case_id()
                title = str(city["title"].iat[anchor]) or f"Incident {inc}"
                repo.insert_case(
                    conn,
                    {
                        "case_id": case_id, "slug": slugify(title), "title": title,
                        "status": "open", "classification": str(city["classification"].iat[anchor]),
                        "summary": str(city["summary"].iat[anchor]), "geometry_json": None,
                        "created_by_user_id": "benchmark",
                    },
                )  # fmt: skip
                repo.link_reports(
                    conn, case_id, [int(seqs[p]) for p in rows], reason="initial_selection",
                    confidence=1.0, overwrite=False,
                )  # fmt: skip
                repo.recompute_aggregates(conn, case_id)
                case_incident[case_id] = inc
        if (lo // _CASES_PER_TRANSACTION) % 8 == 0:
            log(f"  cases: {min(lo + _CASES_PER_TRANSACTION, len(items)):,}/{len(items):,}")
    timings["make_cases_s"] = time.perf_counter() - start
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
    frame = city.iloc[sorted(arriving, key=lambda p: (city["ts"].iat[p], seqs[p]))]
    return Prepared(frame.reset_index(drop=True), case_incident, timings, len(base))


# =========================================================================== the loads


def ingest_body(row: Any) -> dict[str, Any]:
    """The ``POST /reports`` body of one report row (reference shape)."""
    point = row.geometry
    return {
        "report": {
            "seq": int(row.seq),
            "timestamp": row.ts.isoformat().replace("+00:00", "Z"),
            "latitude": float(point.y),
            "longitude": float(point.x),
        },
        "analysis": [
            {
                "language": "en",
                "title": row.title,
                "summary": row.summary,
                "description": row.description,
                "brand_name": row.brand_name,
                "brand_display_name": row.brand_display_name,
                "severity_level": float(row.severity_level),
                "classification": row.classification,
            }
        ],
    }


def open_loop(
    base_url: str, token: str, bodies: list[dict[str, Any]], rate: float, *, client: str = "raw"
) -> dict[str, Any]:
    """Send ``bodies`` at ``rate`` per second whatever the answers; time from the schedule.

    ``client``: ``raw`` (:class:`benchmarks.raw_http.RawClient`, a lean HTTP/1.1 client:
    the load client shares the measured cores; :data:`OPEN_LOOP_CONNECTIONS` keep-alive
    connections used in turn) or ``httpx`` (``httpx.AsyncClient``).
    """

    async def run() -> tuple[list[float], list[float], dict[int | str, int], float]:
        latencies: list[float] = []
        warm: list[float] = []
        statuses: dict[int | str, int] = {}
        headers = {"Authorization": f"Bearer {token}"}
        post: Callable[[dict[str, Any]], Awaitable[int]]
        if client == "raw":
            raw = RawClient(base_url, headers, max_connections=256)
            # Many phones, not one (see RawClient); each connection used at least every 2 s,
            # well within the server's keep-alive (uvicorn closes one idle for 5 s).
            await raw.open(max(1, min(OPEN_LOOP_CONNECTIONS, int(2 * rate))))

            async def post(body: dict[str, Any]) -> int:
                return (await raw.post_json("/api/v4/reports", body)).status_code

            errors: tuple[type[Exception], ...] = (ConnectionError,)
        else:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            http = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits,
                                     headers=headers)  # fmt: skip
            (await http.get("/healthz")).raise_for_status()

            async def post(body: dict[str, Any]) -> int:
                return (await http.post("/api/v4/reports", json=body)).status_code

            errors = (httpx.TransportError,)
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05

        async def send(k: int, body: dict[str, Any]) -> None:
            scheduled = t0 + k / rate
            try:
                status: int | str = await post(body)
            except errors as exc:
                # A connection the server closed while idle (keep-alive timeout) or
                # reset: counted, not fatal, so one lost connection does not end the run.
                status = type(exc).__name__
                statuses[status] = statuses.get(status, 0) + 1
                return
            elapsed = loop.time() - scheduled
            statuses[status] = statuses.get(status, 0) + 1
            (warm if k / rate < _WARMUP_S else latencies).append(elapsed)

        tasks = []
        for k, body in enumerate(bodies):
            delay = t0 + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(k, body)))
        await asyncio.gather(*tasks)
        wall_s = loop.time() - t0
        await (raw.aclose() if client == "raw" else http.aclose())
        return latencies, warm, statuses, wall_s

    before = _load()
    latencies, warm, statuses, wall_s = asyncio.run(run())
    return {
        **_percentiles(latencies),
        "client": client,
        "offered_rate_per_s": rate,
        "sent": len(bodies),
        "warmup_requests": len(warm),
        "achieved_rate_per_s": len(bodies) / wall_s,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "load_average_before": before,
        "load_average_after": _load(),
    }


def sequential(base_url: str, token: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The same requests one after the other (closed loop): the service time, no queueing."""
    before = _load()
    times: list[float] = []
    with httpx.Client(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for body in bodies:
            start = time.perf_counter()
            response = http.post("/api/v4/reports", json=body)
            times.append(time.perf_counter() - start)
            if response.status_code not in (200, 201):
                raise RuntimeError(
                    f"POST /reports -> {response.status_code}: {response.text[:200]}"
                )
    wall_s = sum(times)
    return {
        **_percentiles(times),
        "throughput_per_s": len(times) / wall_s if wall_s else 0.0,
        "load_average_before": before,
        "load_average_after": _load(),
    }


def nearby(base_url: str, points: np.ndarray, requests: int) -> dict[str, Any]:
    """``GET /cases/nearby`` at ``points`` one after the other, and ``/healthz`` beside."""
    before = _load()
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for name, paths in (
            ("healthz", ["/healthz"] * requests),
            ("nearby", [f"/api/v4/cases/nearby?lat={lat:.6f}&lon={lon:.6f}&radius_m=500"
                        for lon, lat in points[:requests]]),
        ):  # fmt: skip
            times: list[float] = []
            found = 0
            for k, path in enumerate(paths):
                start = time.perf_counter()
                response = http.get(path)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    raise RuntimeError(f"{path} -> {response.status_code}: {response.text[:200]}")
                if k >= 10:
                    times.append(elapsed)
                if name == "nearby":
                    found += len(response.json()["cases"])
            out[name] = {**_percentiles(times), "mean_cases": found / max(1, len(paths))}
    out["load_average_before"] = before
    out["load_average_after"] = _load()
    return out


def file_load(engine: sa.Engine, frame: gpd.GeoDataFrame, directory: Path) -> dict[str, Any]:
    """What ``cleanapp-api reports load`` runs, timed: store, then match."""
    path = directory / "arriving.parquet"
    file_frame = frame.drop(columns=[INCIDENT_ID]).copy()
    file_frame["ts"] = file_frame["ts"].map(lambda ts: ts.isoformat().replace("+00:00", "Z"))
    file_frame.to_parquet(path)
    before = _load()
    start = time.perf_counter()
    result = import_report_file(engine, path)
    store_s = time.perf_counter() - start
    start = time.perf_counter()
    summary = match_stored_reports(
        engine, result.seqs.tolist(), MatchOptions(reopen_window_s=90 * 86_400.0,
                                                   auto_reopen=False),
    )  # fmt: skip
    match_s = time.perf_counter() - start
    n = len(frame)
    return {
        "reports": n,
        "stored": result.inserted_reports,
        "store_s": store_s,
        "match_s": match_s,
        "total_s": store_s + match_s,
        "reports_per_s": n / (store_s + match_s),
        "store_only_reports_per_s": n / store_s,
        "match_only_reports_per_s": n / match_s,
        "attached": summary.attached,
        "suggested": summary.suggested,
        "load_average_before": before,
        "load_average_after": _load(),
    }


# =========================================================================== quality


def quality(
    engine: sa.Engine, frame: gpd.GeoDataFrame, case_incident: dict[str, int]
) -> dict[str, float]:
    """Precision of the auto attaches and share of incident reports attached or suggested."""
    seqs = [int(s) for s in frame["seq"]]
    truth = dict(zip(seqs, frame[INCIDENT_ID].astype(int).tolist(), strict=True))
    cr, cs = t.case_reports, t.case_suggestions
    with engine.connect() as conn:
        links = conn.execute(
            sa.select(cr.c.seq, cr.c.case_id).where(
                cr.c.seq.in_(seqs), cr.c.link_reason == "auto_match"
            )
        ).all()
        suggested = conn.execute(
            sa.select(cs.c.seq, cs.c.case_id).where(cs.c.seq.in_(seqs), cs.c.status == "open")
        ).all()
    attached = {int(s): c for s, c in links}
    correct = {s for s, c in attached.items() if case_incident.get(c, -2) == truth[s]}
    suggested_own = {int(s) for s, c in suggested if case_incident.get(c, -2) == truth[int(s)]}
    incident = [s for s in seqs if truth[s] >= 0]
    background = [s for s in seqs if truth[s] < 0]
    return {
        "reports": float(len(seqs)),
        "incident_reports": float(len(incident)),
        "attached": float(len(attached)),
        "auto_precision": len(correct) / len(attached) if attached else float("nan"),
        "incident_attached": sum(s in correct for s in incident) / max(1, len(incident)),
        "incident_attached_or_suggested": sum(s in correct or s in suggested_own for s in incident)
        / max(1, len(incident)),
        "background_attached": sum(s in attached for s in background) / max(1, len(background)),
    }


# =========================================================================== the run


def run(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    """Prepare the store, measure every phase; return the result document."""
    base_url = db.normalise_url(
        args.database_url
        or os.environ.get("DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    doc: dict[str, Any] = {
        "benchmark": "ingest",
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {
            "reports": args.reports, "cases": args.cases, "rate_per_s": args.rate,
            "seconds": args.seconds, "file_reports": args.file_reports,
            "nearby_requests": args.nearby_requests, "workers": args.workers, "seed": args.seed,
            "sequential_requests": args.sequential_requests,
            "client": f"open-loop asyncio {args.client} client in the benchmark process "
                      f"(same 2 cores; raw: {OPEN_LOOP_CONNECTIONS} connections in turn)",
            "load_average_start": _load(),
        },
    }  # fmt: skip
    with db.private_schema(base_url, "bench_ingest", keep=args.keep) as url:
        engine = sa.create_engine(url)
        prepared = prepare(engine, args.reports, args.cases, args.seed, log)
        doc["setup"] = {**prepared.timings_s, "stored_reports": prepared.stored_reports,
                        "open_cases": len(prepared.case_incident),
                        "arriving_reports": len(prepared.arriving)}  # fmt: skip
        log(f"set-up: {json.dumps(doc['setup'])}")
        n_ingest = min(len(prepared.arriving), int(args.rate * args.seconds))
        n_seq = args.sequential_requests
        by_route = prepared.arriving.iloc[: n_ingest + n_seq]
        by_file = prepared.arriving.iloc[n_ingest + n_seq : n_ingest + n_seq + args.file_reports]
        token = issue_access_token(JWT_SECRET, "bench-pipeline", roles=("service",))
        rng = np.random.default_rng(args.seed)
        points = np.column_stack(
            [prepared.arriving.geometry.x.to_numpy(), prepared.arriving.geometry.y.to_numpy()]
        )[rng.permutation(len(prepared.arriving))]
        probe_engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with service_process(with_application_name(url), args.workers) as service:
            service_url = service.base_url

            def probe() -> CpuSample:
                return cpu_sample(service.pid, probe_engine)

            bodies = [ingest_body(row) for row in by_route.itertuples(index=False)]
            log(f"ingest: {n_seq} reports one after the other")
            with BackendTracker(probe_engine) as tracker:
                before = probe()
                doc["ingest_sequential"] = sequential(service_url, token, bodies[:n_seq])
                after = probe()
            doc["ingest_sequential"]["cpu_ms_per_request"] = cpu_per_request_ms(
                before, after, max(1, n_seq), tracker
            )
            log(f"ingest: {n_ingest} reports at {args.rate:g}/s (open loop)")
            with BackendTracker(probe_engine) as tracker:
                before = probe()
                doc["ingest"] = open_loop(
                    service_url, token, bodies[n_seq:], args.rate, client=args.client
                )
                after = probe()
            doc["ingest"]["cpu_ms_per_request"] = cpu_per_request_ms(
                before, after, max(1, len(bodies) - n_seq), tracker
            )
            doc["ingest"]["cpu_budget_ms"] = (os.cpu_count() or 1) / args.rate * 1e3
            log(f"nearby: {args.nearby_requests} requests")
            doc["nearby"] = nearby(service_url, points, args.nearby_requests)
        probe_engine.dispose()
        log(f"file load: {len(by_file)} reports")
        with tempfile.TemporaryDirectory() as tmp:
            doc["file_load"] = file_load(engine, by_file, Path(tmp))
        doc["quality"] = {
            "route": quality(engine, by_route, prepared.case_incident),
            "file": quality(engine, by_file, prepared.case_incident),
            "all": quality(engine, pd.concat([by_route, by_file]), prepared.case_incident),
        }
        engine.dispose()
    doc["config"]["load_average_end"] = _load()
    measured = {
        "ingest_p99_ms": doc["ingest"]["p99_ms"],
        "file_load_reports_per_s": doc["file_load"]["reports_per_s"],
        "nearby_p99_ms": doc["nearby"]["nearby"]["p99_ms"],
        "auto_precision": doc["quality"]["all"]["auto_precision"],
        "incident_attached_or_suggested": doc["quality"]["all"]["incident_attached_or_suggested"],
    }
    doc["floors"] = [
        {"name": name, "measured": measured[name], "op": op, "floor": floor,
         "status": "OK" if (measured[name] <= floor if op == "<=" else measured[name] >= floor)
         else "MISSED"}
        for name, (op, floor) in FLOORS.items()
    ]  # fmt: skip
    try:
        from benchmarks.hardware import hardware_block

        doc["hardware"] = hardware_block()
    except ImportError:  # pragma: no cover
        doc["hardware"] = {"nproc": os.cpu_count()}
    return doc


def format_table(doc: dict[str, Any]) -> str:
    """A readable table of the result document."""
    c, s = doc["config"], doc["setup"]
    i, n, f = doc["ingest"], doc["nearby"], doc["file_load"]
    q = doc["ingest_sequential"]
    lines = [
        f"ingest benchmark, {doc['date_utc']}: {s['stored_reports']:,} stored reports, "
        f"{s['open_cases']:,} open cases, {s['arriving_reports']:,} arriving "
        f"(seed {c['seed']}, {c['workers']} service workers, nproc {os.cpu_count()})",
        f"set-up: generate {s['generate_s']:.0f} s, store {s['store_reports_s']:.0f} s, "
        f"cases {s['make_cases_s']:.0f} s",
        "",
        f"{'phase':<34}{'n':>7}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"  load avg before -> after",
        f"{'POST /reports, open loop':<34}{i['n']:>7}{i['p50_ms']:>9.1f}{i['p90_ms']:>9.1f}"
        f"{i['p99_ms']:>9.1f}{i['max_ms']:>9.1f}  {i['load_average_before']} -> "
        f"{i['load_average_after']}",
        f"{'POST /reports, one at a time':<34}{q['n']:>7}{q['p50_ms']:>9.1f}{q['p90_ms']:>9.1f}"
        f"{q['p99_ms']:>9.1f}{q['max_ms']:>9.1f}  {q['load_average_before']} -> "
        f"{q['load_average_after']}",
        f"{'GET /cases/nearby (500 m)':<34}{n['nearby']['n']:>7}{n['nearby']['p50_ms']:>9.1f}"
        f"{n['nearby']['p90_ms']:>9.1f}{n['nearby']['p99_ms']:>9.1f}{n['nearby']['max_ms']:>9.1f}"
        f"  {n['load_average_before']} -> {n['load_average_after']}",
        f"{'GET /healthz (baseline)':<34}{n['healthz']['n']:>7}{n['healthz']['p50_ms']:>9.1f}"
        f"{n['healthz']['p90_ms']:>9.1f}{n['healthz']['p99_ms']:>9.1f}"
        f"{n['healthz']['max_ms']:>9.1f}",
        "",
        f"ingest: offered {i['offered_rate_per_s']:g}/s, achieved {i['achieved_rate_per_s']:.0f}/s"
        f", statuses {i['statuses']}; nearby returned {n['nearby']['mean_cases']:.1f} cases "
        "on average",
        *(
            f"CPU per ingest, {name}: service {cpu['service_ms']:.1f} ms, client "
            f"{cpu['client_ms']:.1f} ms, PostgreSQL {cpu['postgres_ms']:.1f} ms (of which "
            f"backends closed during the phase {cpu.get('postgres_closed_ms', 0.0):.1f}), total "
            f"{cpu['total_ms']:.1f} ms (budget at {i['offered_rate_per_s']:g}/s on "
            f"{os.cpu_count()} cores: {i['cpu_budget_ms']:.1f} ms)"
            for name, cpu in (
                ("one at a time", q["cpu_ms_per_request"]),
                ("open loop", i["cpu_ms_per_request"]),
            )
        ),
        f"file load of {f['reports']:,} reports: {f['reports_per_s']:.0f} reports/s "
        f"(store {f['store_s']:.1f} s = {f['store_only_reports_per_s']:.0f}/s, "
        f"match {f['match_s']:.1f} s = {f['match_only_reports_per_s']:.0f}/s; "
        f"{f['attached']:,} attached, {f['suggested']:,} suggested; load avg "
        f"{f['load_average_before']} -> {f['load_average_after']})",
        "",
        f"{'quality':<10}{'reports':>9}{'incident':>10}{'attached':>10}{'auto prec':>11}"
        f"{'inc att':>9}{'inc att|sug':>13}{'bg att':>8}",
    ]
    for name, q in doc["quality"].items():
        lines.append(
            f"{name:<10}{q['reports']:>9.0f}{q['incident_reports']:>10.0f}{q['attached']:>10.0f}"
            f"{q['auto_precision']:>11.4f}{q['incident_attached']:>9.4f}"
            f"{q['incident_attached_or_suggested']:>13.4f}{q['background_attached']:>8.4f}"
        )
    lines.append("")
    for floor in doc["floors"]:
        lines.append(
            f"floor {floor['name']}: {floor['measured']:.4g} {floor['op']} {floor['floor']:g}: "
            f"{floor['status']}"
        )
    lines.append(
        f"load average at start {c['load_average_start']}, at end {c['load_average_end']} "
        "(the machine is shared with other sessions running tests)"
    )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Run, print the table, write the JSON document."""
    doc = run(args, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    table = format_table(doc)
    print(table)
    path = Path(args.json) if args.json else Path(__file__).parent / "results" / (
        "ingest-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    path.with_suffix(".md").write_text(table + "\n")
    print(f"\nwrote {path} and {path.with_suffix('.md')}", file=sys.stderr)
    return 0
