"""CPU per small-scope analyze request in-process, and the answers of 35 comparison scopes.

    python -m benchmarks.analyze_cpu setup [--database-url URL]     # prints the schema URL
    python -m benchmarks.analyze_cpu cpu URL [--requests 600] [--rounds 3] [--concurrency 4]
    python -m benchmarks.analyze_cpu capture URL OUT.json
    python -m benchmarks.analyze_cpu compare A.json B.json

``setup`` loads a kept private schema as :mod:`benchmarks.service` does (10,000 synthetic
reports around Zurich, seed 7, all ``physical``) plus three areas with consented contacts
and contacts for four of the synthetic brands, so target suggestion has areas and brands
to find. ``cpu`` drives the whole ASGI application (edge middleware, Litestar, gzip) in
this process with ``POST /api/v3/clusters/analyze`` on the benchmark's ~30-report scope,
``--concurrency`` requests at a time, and prints per request the CPU of this process
(``time.process_time``: the service's share without uvicorn's HTTP parsing) and of the
PostgreSQL backends (``/proc``, sessions named by ``application_name``). ``capture`` writes the
status and body of 35 analyses (1 to 3,000 reports, both models, ``from-report``) so two
code versions can be compared byte for byte on one database (``compare``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa

from benchmarks.cpu_accounting import APPLICATION_NAME, _process_cpu_s, with_application_name

DEFAULT_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp_test"
PATH = "/api/v3/clusters/analyze"
LON0, LAT0 = 8.5417, 47.3769


def _frame() -> Any:
    from cleanapp_geo.synthetic import make_reports

    frame = make_reports(10_000, seed=7)
    frame["classification"] = "physical"
    return frame


def _order(frame: Any) -> np.ndarray:
    distance = shapely.distance(np.asarray(frame.geometry.array), shapely.Point(LON0, LAT0))
    return np.argsort(distance, kind="stable")


def _hull(frame: Any, order: np.ndarray, k: int) -> dict[str, Any]:
    points = np.asarray(frame.geometry.array)[order[:k]]
    hull = shapely.convex_hull(shapely.MultiPoint(points)).buffer(1e-7)
    result: dict[str, Any] = json.loads(shapely.to_geojson(hull))
    return result


def setup(url: str) -> str:
    """Create and load a kept private schema; return its URL."""
    import cleanapp_geo.io as cio
    from cleanapp_api import db
    from cleanapp_api.db import tables as t

    with db.private_schema(url, "bench_analyze_cpu", keep=True) as schema_url:
        engine = sa.create_engine(schema_url)
        cio.write_reports(_frame(), engine)
        near = shapely.MultiPolygon(
            [shapely.box(LON0 - 2e-3, LAT0 - 2e-3, LON0 + 2e-3, LAT0 + 2e-3)]
        )
        city = shapely.MultiPolygon(
            [shapely.box(LON0 - 0.05, LAT0 - 0.05, LON0 + 0.05, LAT0 + 0.05)]
        )
        east = shapely.MultiPolygon([shapely.box(LON0, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)])
        with engine.begin() as conn:
            ids = (
                conn.execute(
                    sa.insert(t.areas)
                    .values(
                        [
                            {"name": "Kreis 1", "geom": near.wkt},
                            {"name": "Stadt Zürich", "geom": city.wkt},
                            {"name": "Ost", "geom": east.wkt},
                        ]
                    )
                    .returning(t.areas.c.id)
                )
                .scalars()
                .all()
            )
            conn.execute(
                sa.insert(t.area_contacts),
                [
                    {"area_id": ids[0], "email": "kreis1@stadt-zuerich.ch", "consent_report": True},
                    {"area_id": ids[0], "email": "no@stadt-zuerich.ch", "consent_report": False},
                    {"area_id": ids[1], "email": "bau@stadt-zuerich.ch", "consent_report": True},
                    {"area_id": ids[2], "email": "ost@example.ch", "consent_report": True},
                ],
            )
            conn.execute(
                sa.insert(t.brand_contacts),
                [
                    {
                        "brand_key": key,
                        "organization": f"{key.title()} AG",
                        "role": "operator",
                        "emails": [f"service@{key}.ch"],
                        "website": f"https://www.{key}.ch",
                        "contact_url": "",
                        "source": "curated",
                    }
                    for key in ("migros", "subway", "volg", "brand148")
                ],
            )
            conn.execute(sa.text("ANALYZE"))
        engine.dispose()
        return schema_url


@contextmanager
def _app(url: str) -> Iterator[Any]:
    from cleanapp_api.app import create_app
    from cleanapp_api.serve import freeze_startup_objects
    from cleanapp_api.settings import Settings

    settings = Settings(
        database_url=with_application_name(url),
        jwt_secret="benchmark-secret-" + "0" * 48,
        auth_token_store="off",
        rate_limit_rps=100000.0,
        rate_limit_burst=100000,
    )
    freeze_startup_objects()
    yield create_app(settings)


async def _request(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # a streamed answer listens for the client's disconnect
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _backend_cpu_s(engine: sa.Engine) -> dict[int, float]:
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
            {"n": APPLICATION_NAME},
        ).scalars()
        return {pid: _process_cpu_s(pid) for pid in pids}


def _profiler() -> Any:
    """A cProfile of this thread (CPU time) when ``ANALYZE_CPU_PROFILE`` is set, else None."""
    if not os.environ.get("ANALYZE_CPU_PROFILE"):
        return None
    import cProfile

    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    return profile


def _report(profile: Any) -> None:
    if profile is None:
        return
    import pstats

    profile.disable()
    pstats.Stats(profile).sort_stats(os.environ["ANALYZE_CPU_PROFILE"]).print_stats(60)


def cpu(url: str, requests: int, rounds: int, concurrency: int) -> None:
    """Print CPU milliseconds per request of this process and of PostgreSQL."""
    frame = _frame()
    body = json.dumps(
        {"geometry": _hull(frame, _order(frame), 30), "classification": "physical", "n": 250}
    ).encode()
    del frame
    probe = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with _app(url) as app:

        async def main() -> None:
            async with app.lifespan():
                headers = [(b"accept-encoding", b"gzip")]
                for _ in range(30):
                    status, _answer = await _request(app, body, headers)
                    assert status == 200, status
                for _ in range(rounds):
                    gc.collect()
                    remaining = [requests]

                    async def client(remaining: list[int] = remaining) -> None:
                        while remaining[0] > 0:
                            remaining[0] -= 1
                            status, _answer = await _request(app, body, headers)
                            assert status == 200, status

                    before_pg = _backend_cpu_s(probe)
                    profile = _profiler()
                    before = time.process_time()
                    await asyncio.gather(*(client() for _ in range(concurrency)))
                    used = time.process_time() - before
                    _report(profile)
                    after_pg = _backend_cpu_s(probe)
                    pg = sum(s - before_pg.get(pid, 0.0) for pid, s in after_pg.items())
                    print(
                        f"service {used / requests * 1e3:.2f} ms, PostgreSQL "
                        f"{pg / requests * 1e3:.2f} ms per request ({requests} requests, "
                        f"{concurrency} at a time)",
                        flush=True,
                    )

        asyncio.run(main())
    probe.dispose()


def _scopes() -> list[tuple[str, dict[str, Any], str]]:
    frame = _frame()
    order = _order(frame)
    bodies: list[tuple[str, dict[str, Any], str]] = []
    for k in (1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 100, 150, 250, 400, 700, 1000, 3000):
        geometry = _hull(frame, order, k)
        for model in ("default", "upstream") if k in (30, 250, 1000, 3000) else ("default",):
            n = max(250, k) if k != 400 else 300
            bodies.append(
                (f"hull{k}-{model}",
                 {"geometry": geometry, "classification": "physical", "n": n, "model": model},
                 PATH)
            )  # fmt: skip
    seqs = frame["seq"].to_numpy()[order]
    for i, radius in enumerate((50, 150, 250, 600, 1500)):
        seq = int(seqs[i * 7])
        bodies.append((f"seed{seq}-r{radius}", {"seq": seq, "radius_m": radius},
                       "/api/v3/clusters/from-report"))  # fmt: skip
    bodies.append(("seed-upstream", {"seq": int(seqs[3]), "radius_km": 0.3, "model": "upstream"},
                   "/api/v3/clusters/from-report"))  # fmt: skip
    bodies.append(("digital", {"geometry": _hull(frame, order, 100), "classification": "digital"},
                   PATH))  # fmt: skip
    bodies.append(("empty", {"geometry": json.loads(shapely.to_geojson(
        shapely.box(0, 0, 0.001, 0.001)))}, PATH))  # fmt: skip
    bodies.append(("bad-model", {"geometry": _hull(frame, order, 5), "model": "x"}, PATH))
    bodies.append(("seed-missing", {"seq": 99_999_999}, "/api/v3/clusters/from-report"))
    bodies.append(("hull30-n5", {"geometry": _hull(frame, order, 30), "n": 5}, PATH))
    feature = {"type": "Feature", "properties": {}, "geometry": _hull(frame, order, 60)}
    bodies.append(("feature60", {"geometry": feature}, PATH))
    bodies.append(("seed-n10", {"seq": int(seqs[1]), "radius_m": 400, "n": 10},
                   "/api/v3/clusters/from-report"))  # fmt: skip
    bodies.append(("gzip30", {"geometry": _hull(frame, order, 30)}, PATH + "#gzip"))
    return bodies


def capture(url: str, out: str) -> None:
    """Write the status and body of the comparison analyses to ``out`` (JSON)."""
    global PATH
    scopes = _scopes()
    with _app(url) as app:

        async def main() -> dict[str, Any]:
            global PATH
            answers: dict[str, Any] = {}
            async with app.lifespan():
                for name, body, path in scopes:
                    gzip = path.endswith("#gzip")
                    PATH = path.removesuffix("#gzip")
                    headers = [(b"accept-encoding", b"gzip")] if gzip else []
                    status, answer = await _request(app, json.dumps(body).encode(), headers)
                    if gzip:
                        import gzip as gz

                        answer = gz.decompress(answer)
                    answers[name] = {"status": status, "body": answer.decode()}
            return answers

        answers = asyncio.run(main())
    with open(out, "w") as fh:
        json.dump(answers, fh)
    print(f"{len(answers)} answers -> {out}")


def compare(a: str, b: str) -> int:
    """Compare two capture files; print the differing names; 0 when identical."""
    with open(a) as fa, open(b) as fb:
        left, right = json.load(fa), json.load(fb)
    differing = [k for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)]
    sizes = [len(json.loads(v["body"]).get("reports", [])) if v["status"] == 200 else -v["status"]
             for v in left.values()]  # fmt: skip
    print(f"{len(left)} answers, reports per answer {sizes}; differing: {differing or 'none'}")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    c = sub.add_parser("cpu")
    c.add_argument("url")
    c.add_argument("--requests", type=int, default=600)
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--concurrency", type=int, default=4)
    p = sub.add_parser("capture")
    p.add_argument("url")
    p.add_argument("out")
    d = sub.add_parser("compare")
    d.add_argument("a")
    d.add_argument("b")
    args = parser.parse_args(argv)
    if args.command == "setup":
        print(setup(args.database_url))
    elif args.command == "cpu":
        cpu(args.url, args.requests, args.rounds, args.concurrency)
    elif args.command == "capture":
        capture(args.url, args.out)
    else:
        return compare(args.a, args.b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
