"""Benchmark of the HTTP service: ``POST /api/v3/clusters/analyze`` latency over loopback.

    python -m benchmarks.service [--database-url URL] [--small-requests 300]
                                 [--large-requests 30] [--concurrent-requests 1200]
                                 [--clients 20] [--workers 2] [--json PATH] [--keep]

Set-up: a private schema of the database (``--database-url``, else ``DATABASE_URL``, else
``TEST_DATABASE_URL``, else the local ``cleanapp_test`` database), migrated and loaded with
10,000 synthetic reports (:func:`cleanapp_geo.synthetic.make_reports`, seed 7, all
``physical``, a 5 × 5 km square around Zurich) through :func:`cleanapp_geo.io.write_reports`.
The service runs with ``cleanapp_api.serve.serve`` (uvicorn, one worker) in a **subprocess**;
this process is the loopback client (``httpx``, one keep-alive connection, requests one
after another, each timed from sending to the last byte of the body).

Cases (each a bounded number of requests after 3 warm-ups):

* ``healthz``: ``GET /healthz`` (a ``SELECT 1``), the framework + database round-trip
  baseline;
* ``analyze_250``: a square scope holding 250 reports (target p99 <= 100 ms);
* ``analyze_10k``: a scope holding all 10,000 reports, ``n = 10000`` (target <= 1 s, judged
  on p99; the response is about 10 MB of JSON);
* the same two with ``"model": "upstream"``, and ``analyze_10k`` with gzip, for reference;
* ``concurrent_analyze_30``: **throughput** -- ``--clients`` (20) concurrent keep-alive
  clients (in this process, so the load client runs on the same two cores as the server;
  ``--client raw``, the default, is :class:`benchmarks.raw_http.RawClient`, about 0.3 ms
  of CPU per request; ``--client httpx`` one ``httpx.AsyncClient``, about 2 ms) posting a
  small scope holding about 30 reports, against the service with ``--workers`` worker
  processes (default: one per core) and, as the same-run baseline, with one worker.
  Floor: >= 150 req/s with p99 <= 250 ms.

Same-run baselines: the in-process library time on the same reports (``cg.analyze`` of the
frame ``read_reports`` returns, median of 5) and ``read_reports`` alone, so the table shows
what HTTP, serialisation and the database add. Results: a table on stdout and a JSON file
(default ``benchmarks/results/service-<time>.json``) with a hardware block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely
import sqlalchemy as sa

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from benchmarks.cpu_accounting import CpuSample, cpu_per_request_ms, with_application_name
from benchmarks.cpu_accounting import sample as cpu_sample
from benchmarks.raw_http import RawClient
from cleanapp_api import db
from cleanapp_geo.synthetic import make_reports

DEFAULT_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp_test"
N_REPORTS = 10_000
SMALL_SCOPE_REPORTS = 250
TARGETS_S = {"analyze_250": ("p99", 0.100), "analyze_10k": ("p99", 1.0)}
CONCURRENT_SCOPE_REPORTS = 30
THROUGHPUT_FLOOR_RPS = 150.0
THROUGHPUT_P99_S = 0.250
JWT_SECRET = "benchmark-secret-" + "0" * 48


def _hardware() -> dict[str, Any]:
    try:
        from benchmarks.hardware import hardware_block

        return hardware_block()
    except ImportError:  # pragma: no cover - the shared helper is optional
        return {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Service:
    """A service started by :func:`service_process`: its base URL and supervisor pid."""

    base_url: str
    pid: int


@contextmanager
def server(database_url: str, workers: int = 1) -> Iterator[str]:
    """Run the service in a subprocess (uvicorn via ``serve``); yield its base URL."""
    with service_process(database_url, workers) as service:
        yield service.base_url


@contextmanager
def service_process(database_url: str, workers: int = 1) -> Iterator[Service]:
    """Run the service in a subprocess (uvicorn via ``serve``); yield its URL and pid."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "AUTH_TOKEN_STORE": "off",
        "RATE_LIMIT_RPS": "100000",
        "RATE_LIMIT_BURST": "100000",
    }
    code = (
        "from cleanapp_api.serve import serve; "
        f"serve('127.0.0.1', {port}, log_level='warning', workers={workers})"
    )
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError("the service did not start:\n" + log.read())
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            yield Service(base, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _percentiles(times: list[float]) -> dict[str, float]:
    arr = np.asarray(times)
    return {
        "n": len(times),
        "p50_ms": float(np.percentile(arr, 50) * 1e3),
        "p90_ms": float(np.percentile(arr, 90) * 1e3),
        "p99_ms": float(np.percentile(arr, 99) * 1e3),
        "max_ms": float(arr.max() * 1e3),
        "mean_ms": float(arr.mean() * 1e3),
    }


def measure(
    http: httpx.Client,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None,
    requests: int,
    headers: dict[str, str] | None = None,
    check: Callable[[bytes], int] | None = None,
) -> dict[str, Any]:
    """Time ``requests`` sequential requests (after 3 warm-ups); each must answer 200."""
    times: list[float] = []
    size = reports = 0
    for i in range(requests + 3):
        start = time.perf_counter()
        response = http.request(method, path, json=body, headers=headers)
        content = response.content
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {content[:300]!r}")
        if i >= 3:
            times.append(elapsed)
        size = len(content)
        if check is not None and i == 0:
            reports = check(content)
    return {**_percentiles(times), "response_bytes": size, "reports": reports}


def concurrent_load(
    base_url: str,
    path: str,
    body: dict[str, Any],
    *,
    clients: int,
    requests: int,
    probe: Callable[[], CpuSample] | None = None,
    client: str = "raw",
) -> dict[str, Any]:
    """``clients`` concurrent keep-alive clients post ``body`` until ``requests`` are answered.

    Returns the throughput (answers per second of wall time), the latency percentiles, and
    the load average while it ran. Every answer must be 200. Bounded by ``requests``. With
    ``probe`` (see :mod:`benchmarks.cpu_accounting`), also the CPU milliseconds per
    request of the service, this client and PostgreSQL (``cpu_ms_per_request``).
    ``client``: ``raw`` (:class:`benchmarks.raw_http.RawClient`, about a tenth of httpx's
    CPU per request) or ``httpx`` (``httpx.AsyncClient``). Both ask for gzip, as browsers
    do, so the service compresses its answers either way.
    """
    samples: list[CpuSample] = []
    import asyncio

    async def run() -> tuple[list[float], float]:
        times: list[float] = []
        remaining = [requests]
        if client == "raw":
            raw = RawClient(base_url, {"Accept-Encoding": "gzip"}, max_connections=clients)

            async def post() -> int:
                return (await raw.post_json(path, body)).status_code

            close: Callable[[], Any] = raw.aclose
        else:
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            http = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits)

            async def post() -> int:
                return (await http.post(path, json=body)).status_code

            close = http.aclose
        try:
            # Warm every connection and worker.
            for status in await asyncio.gather(*(post() for _ in range(clients))):
                if status != 200:
                    raise RuntimeError(f"{path} -> {status}")

            async def one_client() -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    start = time.perf_counter()
                    status = await post()
                    times.append(time.perf_counter() - start)
                    if status != 200:
                        raise RuntimeError(f"{path} -> {status}")

            if probe is not None:
                samples.append(probe())
            start = time.perf_counter()
            await asyncio.gather(*(one_client() for _ in range(clients)))
            wall_s = time.perf_counter() - start
            if probe is not None:
                samples.append(probe())
            return times, wall_s
        finally:
            await close()

    load_before = os.getloadavg()[0]
    times, wall_s = asyncio.run(run())
    result = {
        **_percentiles(times),
        "clients": clients,
        "client": client,
        "wall_s": wall_s,
        "throughput_rps": len(times) / wall_s,
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
    if samples:
        result["cpu_ms_per_request"] = cpu_per_request_ms(samples[0], samples[1], len(times))
    return result


def _count_reports(content: bytes) -> int:
    return len(json.loads(content)["reports"])


def _geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(shapely.to_geojson(geometry))
    return result


def _median_s(fn: Callable[[], Any], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the reports, start the service, measure; return the result document."""
    base_url = db.normalise_url(
        args.database_url
        or os.environ.get("DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    frame = make_reports(N_REPORTS, seed=7)
    frame["classification"] = "physical"
    lon0, lat0 = 8.5417, 47.3769
    distance = shapely.distance(np.asarray(frame.geometry.array), shapely.Point(lon0, lat0))
    order = np.argsort(distance)
    small_scope = shapely.convex_hull(
        shapely.MultiPoint(np.asarray(frame.geometry.array)[order[:SMALL_SCOPE_REPORTS]])
    ).buffer(1e-7)
    w, s, e, n = frame.total_bounds
    large_scope = shapely.box(w - 1e-3, s - 1e-3, e + 1e-3, n + 1e-3)
    tiny_scope = shapely.convex_hull(
        shapely.MultiPoint(np.asarray(frame.geometry.array)[order[:CONCURRENT_SCOPE_REPORTS]])
    ).buffer(1e-7)
    results: dict[str, Any] = {}
    load_before = os.getloadavg()
    with db.private_schema(base_url, "bench_service", keep=args.keep) as url:
        engine = sa.create_engine(url)
        cio.write_reports(frame, engine)
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
        baselines: dict[str, Any] = {}
        for name, scope, limit in (
            ("analyze_250", small_scope, 250),
            ("analyze_10k", large_scope, N_REPORTS),
        ):
            scoped = cio.read_reports(engine, scope=scope, classification="physical", limit=limit)
            baselines[name] = {
                "reports": len(scoped),
                "read_reports_ms": _median_s(
                    lambda s=scope, k=limit: cio.read_reports(
                        engine, scope=s, classification="physical", limit=k
                    )
                )
                * 1e3,
                "library_default_ms": _median_s(
                    lambda f=scoped: (
                        cg.analyze(f, classification="physical", model=cg.DEFAULT_MODEL).hypotheses
                    )
                )
                * 1e3,
                "library_upstream_ms": _median_s(
                    lambda f=scoped: (
                        cg.analyze(f, classification="physical", model=cg.UPSTREAM_MODEL).hypotheses
                    ),
                    repeats=3,
                )
                * 1e3,
            }
        engine.dispose()
        small = {"geometry": _geojson(small_scope), "classification": "physical", "n": 250}
        large = {"geometry": _geojson(large_scope), "classification": "physical", "n": N_REPORTS}
        identity = {"Accept-Encoding": "identity"}
        tiny = {"geometry": _geojson(tiny_scope), "classification": "physical", "n": 250}
        throughput: dict[str, Any] = {}
        probe_engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        for workers in sorted({1, args.workers}):
            with service_process(with_application_name(url), workers) as service:
                throughput[f"workers_{workers}"] = concurrent_load(
                    service.base_url, "/api/v3/clusters/analyze", tiny,
                    clients=args.clients, requests=args.concurrent_requests, client=args.client,
                    probe=partial(cpu_sample, service.pid, probe_engine),
                )  # fmt: skip
        probe_engine.dispose()
        with server(url) as base, httpx.Client(base_url=base, timeout=120) as http:
            path = "/api/v3/clusters/analyze"
            results["healthz"] = measure(
                http, "GET", "/healthz", body=None, requests=args.small_requests, headers=identity
            )
            results["analyze_250"] = measure(
                http, "POST", path, body=small, requests=args.small_requests, headers=identity,
                check=_count_reports,
            )  # fmt: skip
            results["analyze_250_upstream"] = measure(
                http, "POST", path, body={**small, "model": "upstream"},
                requests=max(10, args.small_requests // 3), headers=identity,
                check=_count_reports,
            )  # fmt: skip
            results["analyze_10k"] = measure(
                http, "POST", path, body=large, requests=args.large_requests, headers=identity,
                check=_count_reports,
            )  # fmt: skip
            results["analyze_10k_gzip"] = measure(
                http, "POST", path, body=large, requests=max(5, args.large_requests // 3),
                headers={"Accept-Encoding": "gzip"}, check=_count_reports,
            )  # fmt: skip
            results["analyze_10k_upstream"] = measure(
                http, "POST", path, body={**large, "model": "upstream"},
                requests=max(5, args.large_requests // 3), headers=identity,
                check=_count_reports,
            )  # fmt: skip
    health_p50 = results["healthz"]["p50_ms"]
    for name, result in results.items():
        result["p50_over_healthz"] = result["p50_ms"] / health_p50
        key = "analyze_250" if name.startswith("analyze_250") else "analyze_10k"
        if name.startswith("analyze"):
            library = baselines[key][
                "library_upstream_ms" if name.endswith("upstream") else "library_default_ms"
            ]
            result["p50_over_library"] = result["p50_ms"] / library
    best = throughput[f"workers_{args.workers}"]
    one = throughput["workers_1"]
    best["over_one_worker"] = best["throughput_rps"] / one["throughput_rps"]
    results["concurrent_analyze_30"] = best
    verdicts = {
        name: {
            "metric": metric,
            "target_ms": limit * 1e3,
            "measured_ms": results[name][f"{metric}_ms"],
            "ok": results[name][f"{metric}_ms"] <= limit * 1e3,
        }
        for name, (metric, limit) in TARGETS_S.items()
    }
    verdicts["concurrent_analyze_30"] = {
        "metric": f"throughput >= {THROUGHPUT_FLOOR_RPS:g} req/s and p99",
        "target_ms": THROUGHPUT_P99_S * 1e3,
        "measured_ms": best["p99_ms"],
        "throughput_rps": best["throughput_rps"],
        "ok": best["throughput_rps"] >= THROUGHPUT_FLOOR_RPS
        and best["p99_ms"] <= THROUGHPUT_P99_S * 1e3,
    }
    return {
        "benchmark": "service",
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hardware": _hardware(),
        "config": {
            "reports": N_REPORTS,
            "small_requests": args.small_requests,
            "large_requests": args.large_requests,
            "client": "httpx, one keep-alive connection, sequential, separate process",
            "server": "cleanapp_api.serve (uvicorn) in a subprocess: 1 worker for the "
            f"sequential cases; 1 and {args.workers} for the concurrent one",
            "concurrent_clients": args.clients,
            "default_model": "default",
            "load_average_1_5_15_before": [round(x, 2) for x in load_before],
            "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        },
        "baselines_in_process": baselines,
        "throughput": throughput,
        "results": results,
        "targets": verdicts,
    }


def print_table(doc: dict[str, Any]) -> None:
    """Print the results as a table."""
    header = f"{'case':<24}{'n':>5}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    header += f"{'MB':>8}{'reports':>9}{'x lib':>8}"
    print(header)
    print("-" * len(header))
    for name, r in doc["results"].items():
        if name == "concurrent_analyze_30":
            continue
        ratio = r.get("p50_over_library")
        print(
            f"{name:<24}{r['n']:>5}{r['p50_ms']:>10.1f}{r['p90_ms']:>10.1f}{r['p99_ms']:>10.1f}"
            f"{r['max_ms']:>10.1f}{r['response_bytes'] / 1e6:>8.2f}{r['reports']:>9}"
            f"{'' if ratio is None else f'{ratio:.2f}':>8}"
        )
    print()
    for name, b in doc["baselines_in_process"].items():
        print(
            f"in-process {name}: {b['reports']} reports, "
            f"read_reports {b['read_reports_ms']:.1f} ms, "
            f"cg.analyze default {b['library_default_ms']:.1f} ms, "
            f"upstream {b['library_upstream_ms']:.1f} ms"
        )
    for name, t in doc["throughput"].items():
        print(
            f"concurrent analyze (~{CONCURRENT_SCOPE_REPORTS} reports), {t['clients']} clients "
            f"({t.get('client', 'httpx')} client), "
            f"{name}: {t['throughput_rps']:.0f} req/s, p50 {t['p50_ms']:.1f} ms, "
            f"p99 {t['p99_ms']:.1f} ms (load average {t['load_average_1min_before']} -> "
            f"{t['load_average_1min_after']})"
        )
        if "cpu_ms_per_request" in t:
            cpu = t["cpu_ms_per_request"]
            print(
                f"  CPU per request: service {cpu['service_ms']:.1f} ms, client "
                f"{cpu['client_ms']:.1f} ms, PostgreSQL {cpu['postgres_ms']:.1f} ms, total "
                f"{cpu['total_ms']:.1f} ms (budget at {THROUGHPUT_FLOOR_RPS:g} req/s on "
                f"{os.cpu_count()} cores: {(os.cpu_count() or 1) / THROUGHPUT_FLOOR_RPS * 1e3:.1f}"
                " ms)"
            )
    config = doc["config"]
    print(
        f"load average before {config['load_average_1_5_15_before']}, "
        f"after {config['load_average_1_5_15_after']} (nproc {os.cpu_count()})"
    )
    for name, v in doc["targets"].items():
        state = "OK" if v["ok"] else "MISSED"
        if "throughput_rps" in v:
            print(
                f"target {name}: {v['throughput_rps']:.0f} req/s >= {THROUGHPUT_FLOOR_RPS:g}, "
                f"p99 {v['measured_ms']:.1f} ms <= {v['target_ms']:.0f} ms: {state}"
            )
            continue
        print(
            f"target {name}: {v['metric']} {v['measured_ms']:.1f} ms"
            f" <= {v['target_ms']:.0f} ms: {state}"
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--small-requests", type=int, default=300)
    parser.add_argument("--large-requests", type=int, default=30)
    parser.add_argument("--concurrent-requests", type=int, default=1200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw",
        help="load client of the concurrent case: the lean raw HTTP/1.1 one or httpx",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the private schema")
    args = parser.parse_args(argv)
    doc = run(args)
    print_table(doc)
    path = args.json or Path(__file__).parent / "results" / (
        "service-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
