"""Benchmark of the PostGIS store: bulk load, polygon scope, 250 m radius scope.

    python -m benchmarks.store [--n 1000000] [--database-url URL] [--json PATH]

Works in a private schema of the database (``DATABASE_URL``, else the local ``cleanapp``
database), dropped at the end (``--keep`` keeps it). Every figure sits beside a baseline
measured in the same run, because these machines are noisy:

* bulk load: ``write_reports`` (COPY) of ``n`` synthetic reports vs SQLAlchemy
  ``executemany`` inserts (multi-row VALUES batches) of a 10k slice, extrapolated to ``n``;
* polygon: ``read_reports`` of a polygon holding about 30k reports (the convex hull of the
  30k reports nearest to a random one) vs the in-memory ``scope_reports`` on the same frame
  (and, as a floor, a plain reports-analysis join of the same polygon read as raw tuples);
* radius: ``read_reports`` of a 250 m ``RadiusScope`` around a report (median over
  ``--repeats`` different reports) vs the in-memory ``scope_reports``.

``--compare-geography-index`` also builds a functional GiST index on ``geom::geography``
and times plain ``ST_DWithin`` on it, the alternative to the bounding-box prefilter.
Results: a table on stdout and a JSON file (default ``benchmarks/results/store-<time>.json``)
with a hardware block.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from scipy.spatial import cKDTree

import cleanapp_geo.io as cio
from benchmarks.hardware import hardware_block
from cleanapp_api import db
from cleanapp_geo.io import tables as t
from cleanapp_geo.scope import RadiusScope, scope_reports
from cleanapp_geo.synthetic import make_reports

DEFAULT_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp"
TARGETS = {"bulk_load_s": 60.0, "polygon_read_s": 0.5, "radius_read_s": 0.020}
BASELINE_SLICE = 10_000
POLYGON_REPORTS = 30_000


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _schema_engine(base_url: str, schema: str) -> sa.Engine:
    return sa.create_engine(db.url_with_schema(base_url, schema))


def _hardware(engine: sa.Engine) -> dict[str, Any]:
    """The shared hardware block plus the database server, its settings and the load."""
    with engine.connect() as conn:
        server = conn.execute(sa.text("SELECT version()")).scalar_one()
        postgis = conn.execute(sa.text("SELECT postgis_lib_version()")).scalar_one()
        settings = dict(
            conn.execute(
                sa.text(
                    "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_wal_size', "
                    "'synchronous_commit', 'jit')"
                )
            ).all()
        )
    block = hardware_block()
    block["versions"]["geoalchemy2"] = version("geoalchemy2")
    return block | {
        "load_average": list(os.getloadavg()),
        "postgresql": server,
        "postgis": postgis,
        "postgresql_settings": settings,
    }


def _baseline_insert(engine: sa.Engine, frame: pd.DataFrame) -> float:
    """Time SQLAlchemy executemany inserts of ``frame`` (reports + one analysis each)."""
    lon = shapely.get_x(frame.geometry.array)
    lat = shapely.get_y(frame.geometry.array)
    reports = [
        {"seq": int(seq), "public_id": pid, "ts": ts.to_pydatetime(), "latitude": y, "longitude": x}
        for seq, pid, ts, x, y in zip(
            frame["seq"], frame["public_id"], frame["ts"], lon, lat, strict=True
        )
    ]
    columns = ("title", "summary", "description", "brand_name", "brand_display_name")
    analyses = [
        {
            "seq": int(r["seq"]),
            "language": r["language"] or "en",
            "classification": r["classification"] or "physical",
            "severity_level": float(r["severity_level"]),
            **{c: r[c] for c in columns},
            "inferred_contact_emails": r["inferred_contact_emails"],
        }
        for r in frame.drop(columns="geometry").to_dict("records")
    ]
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.insert(t.reports), reports)
        conn.execute(sa.insert(t.report_analysis), analyses)
    return time.perf_counter() - start


def _polygon_around(frame: pd.DataFrame, rng: np.random.Generator) -> shapely.Polygon:
    lon = shapely.get_x(frame.geometry.array)
    lat = shapely.get_y(frame.geometry.array)
    scale = np.cos(np.radians(lat.mean()))
    tree = cKDTree(np.column_stack([lon * scale, lat]))
    centre = int(rng.integers(len(frame)))
    _, nearest = tree.query([lon[centre] * scale, lat[centre]], k=POLYGON_REPORTS)
    return shapely.convex_hull(shapely.multipoints(np.column_stack([lon, lat])[nearest]))


def _plain_join(engine: sa.Engine, polygon: shapely.Polygon) -> int:
    """Floor for the polygon read: reports joined to *an* analysis, no visibility rules, no
    preferred-analysis choice, raw tuples (one index probe per report, like read_reports)."""
    query = sa.text(
        "SELECT r.seq, r.public_id, r.ts, r.longitude, r.latitude, a.classification, "
        "a.severity_level, a.title, a.summary, a.description, a.brand_name, "
        "a.brand_display_name, a.inferred_contact_emails, a.language "
        "FROM reports r JOIN report_analysis a ON a.seq = r.seq "
        "WHERE ST_Intersects(r.geom, ST_GeomFromWKB(:wkb, 4326)) ORDER BY r.ts DESC, r.seq DESC"
    )
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('jit', 'off', true)"))
        result = conn.execute(query, {"wkb": shapely.to_wkb(polygon)})
        return len(result.cursor.fetchall()) if result.cursor is not None else 0


def _uses_index(engine: sa.Engine, stmt: sa.Select[Any], index: str) -> bool:
    compiled = stmt.compile(dialect=engine.dialect)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars()
        return index in "\n".join(plan)


def run(args: argparse.Namespace) -> dict[str, Any]:
    base_url = db.normalise_url(args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_URL)
    schema = f"bench_store_{uuid.uuid4().hex[:8]}"
    baseline_schema = f"{schema}_baseline"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.execute(sa.schema.CreateSchema(schema))
        conn.execute(sa.schema.CreateSchema(baseline_schema))
    engine = _schema_engine(base_url, schema)
    baseline_engine = _schema_engine(base_url, baseline_schema)
    rng = np.random.default_rng(args.seed)
    results: dict[str, Any] = {"n": args.n, "seed": args.seed, "schema": schema}
    try:
        db.upgrade(engine)
        db.upgrade(baseline_engine)
        print(f"generating {args.n:,} synthetic reports ...", flush=True)
        start = time.perf_counter()
        frame = make_reports(args.n, seed=args.seed)
        results["generate_s"] = time.perf_counter() - start

        print("bulk load (COPY) ...", flush=True)
        marks: dict[str, float] = {}

        def progress(phase: str, done: int, total: int) -> None:
            now = time.perf_counter()
            marks.setdefault(f"{phase}_first", now)
            marks[f"{phase}_last"] = now

        start = time.perf_counter()
        written = cio.insert_reports(frame, engine, progress=progress)
        end = time.perf_counter()
        results["bulk_load_s"] = end - start
        last = marks.get("indexing_last", marks["inserting_last"])
        results["bulk_load_phases_s"] = {
            "prepare_and_copy": marks["staging_last"] - start,
            "conflict_check_and_drop_indexes": marks["inserting_first"] - marks["staging_last"],
            "insert": marks["inserting_last"] - marks["inserting_first"],
            "rebuild_indexes": marks.get("indexing_last", 0.0) - marks.get("indexing_first", 0.0),
            "commit": end - last,
        }
        results["bulk_load_rebuilt_indexes"] = written.rebuilt_indexes
        start = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE reports"))
            conn.execute(sa.text("VACUUM ANALYZE report_analysis"))
        results["vacuum_analyze_s"] = time.perf_counter() - start
        slice_ = frame.iloc[:BASELINE_SLICE]
        print(f"baseline: executemany insert of {len(slice_):,} reports ...", flush=True)
        slice_time = _baseline_insert(baseline_engine, slice_)
        results["baseline_insert_slice_s"] = slice_time
        results["baseline_insert_extrapolated_s"] = slice_time * args.n / len(slice_)

        print("polygon scope ...", flush=True)
        polygon = _polygon_around(frame, rng)
        in_memory_count = len(scope_reports(frame, polygon))
        cio.read_reports(engine, scope=polygon)  # warm-up
        polygon_s, polygon_rows = _median_time(
            lambda: cio.read_reports(engine, scope=polygon), args.polygon_repeats
        )
        memory_s, _ = _median_time(lambda: scope_reports(frame, polygon), args.polygon_repeats)
        floor_s, _ = _median_time(lambda: _plain_join(engine, polygon), args.polygon_repeats)
        results |= {
            "polygon_floor_plain_join_s": floor_s,
            "polygon_reports": len(polygon_rows),
            "polygon_in_memory_reports": in_memory_count,
            "polygon_read_s": polygon_s,
            "polygon_baseline_in_memory_s": memory_s,
            "polygon_uses_gist": _uses_index(
                engine, cio.select_reports(scope=polygon), "ix_reports_geom"
            ),
        }

        print("250 m radius scope ...", flush=True)
        centres = rng.choice(len(frame), size=args.repeats, replace=False)
        scopes = [RadiusScope(float(p.x), float(p.y), 250.0) for p in frame.geometry.iloc[centres]]
        cio.read_reports(engine, scope=scopes[0])  # warm-up
        db_times, counts = [], []
        for scope in scopes:
            start = time.perf_counter()
            counts.append(len(cio.read_reports(engine, scope=scope)))
            db_times.append(time.perf_counter() - start)
        memory_times = []
        for scope in scopes[: max(3, args.repeats // 4)]:
            start = time.perf_counter()
            scope_reports(frame, scope)
            memory_times.append(time.perf_counter() - start)
        results |= {
            "radius_m": 250.0,
            "radius_repeats": len(scopes),
            "radius_median_reports": statistics.median(counts),
            "radius_read_s": statistics.median(db_times),
            "radius_read_p90_s": float(np.quantile(db_times, 0.9)),
            "radius_baseline_in_memory_s": statistics.median(memory_times),
            "radius_uses_gist": _uses_index(
                engine, cio.select_reports(scope=scopes[0]), "ix_reports_geom"
            ),
        }
        if args.compare_geography_index:
            results |= _geography_index_comparison(engine, scopes)
        results["hardware"] = _hardware(engine)
    finally:
        engine.dispose()
        baseline_engine.dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(sa.schema.DropSchema(schema, cascade=True))
                conn.execute(sa.schema.DropSchema(baseline_schema, cascade=True))
        admin.dispose()
    return results


def _geography_index_comparison(engine: sa.Engine, scopes: list[RadiusScope]) -> dict[str, Any]:
    """Build ``ix_reports_geog`` on ``(geom::geography)``, time plain ST_DWithin on it."""
    print("geography index comparison ...", flush=True)
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
        conn.execute(
            sa.text("CREATE INDEX ix_reports_geog ON reports USING gist ((geom::geography))")
        )
    build_s = time.perf_counter() - start
    query = sa.text(
        "SELECT seq FROM reports WHERE ST_DWithin(geom::geography, "
        "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :r)"
    )
    times = []
    with engine.connect() as conn:
        for scope in scopes:
            params = {"lon": scope.longitude, "lat": scope.latitude, "r": scope.radius_m}
            start = time.perf_counter()
            conn.execute(query, params).all()
            times.append(time.perf_counter() - start)
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + query.text), params).scalars())
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_reports_geog"))
    return {
        "geography_index_build_s": build_s,
        "geography_index_dwithin_s": statistics.median(times),
        "geography_index_used": "ix_reports_geog" in plan,
    }


def _table(results: dict[str, Any]) -> str:
    n = results["n"]
    lines = [
        f"PostGIS store benchmark, n = {n:,} reports "
        f"({results['hardware']['nproc']} CPUs, {results['hardware']['cpu_model']})",
        "",
        f"{'measure':<34}{'store':>12}{'baseline':>14}{'ratio':>9}{'target':>10}  ok",
    ]

    def add(name: str, value: float, baseline: float, target: float | None, unit: str) -> None:
        scale = 1000.0 if unit == "ms" else 1.0
        ratio = baseline / value if value else float("nan")
        shown_target = f"{target * scale:g} {unit}" if target else ""
        ok = "" if target is None else ("yes" if value <= target else "NO")
        lines.append(
            f"{name:<34}{value * scale:>9.3f} {unit:<2}{baseline * scale:>11.3f} {unit:<2}"
            f"{ratio:>8.1f}x{shown_target:>10}  {ok}"
        )

    add(
        "bulk load (COPY) vs executemany",
        results["bulk_load_s"],
        results["baseline_insert_extrapolated_s"],
        TARGETS["bulk_load_s"],
        "s",
    )
    add(
        f"polygon ({results['polygon_reports']:,} rows) vs shapely",
        results["polygon_read_s"],
        results["polygon_baseline_in_memory_s"],
        TARGETS["polygon_read_s"],
        "s",
    )
    add(
        f"250 m radius (median {results['radius_median_reports']:.0f} rows)",
        results["radius_read_s"],
        results["radius_baseline_in_memory_s"],
        TARGETS["radius_read_s"],
        "ms",
    )
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in results["bulk_load_phases_s"].items())
    lines += [
        "",
        f"bulk load phases: {phases}",
        f"generate {results['generate_s']:.1f} s; VACUUM ANALYZE after load "
        f"{results['vacuum_analyze_s']:.1f} s; indexes rebuilt during load: "
        f"{results['bulk_load_rebuilt_indexes']}",
        f"baseline insert of a {BASELINE_SLICE:,} slice: {results['baseline_insert_slice_s']:.2f} s"
        f" (extrapolated x{n / BASELINE_SLICE:g}); radius p90 "
        f"{results['radius_read_p90_s'] * 1000:.1f} ms",
        f"polygon floor (plain reports-analysis join, raw tuples): "
        f"{results['polygon_floor_plain_join_s']:.3f} s",
        f"GiST index used: polygon {results['polygon_uses_gist']}, "
        f"radius {results['radius_uses_gist']}; polygon rows in memory "
        f"{results['polygon_in_memory_reports']:,}",
    ]
    if "geography_index_build_s" in results:
        lines.append(
            f"alternative geography index: build {results['geography_index_build_s']:.1f} s, "
            f"ST_DWithin median {results['geography_index_dwithin_s'] * 1000:.2f} ms "
            f"(used: {results['geography_index_used']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store", description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000, help="reports (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=50, help="radius queries (default 50)")
    parser.add_argument("--polygon-repeats", type=int, default=5)
    parser.add_argument("--database-url", help="default: $DATABASE_URL or the local cleanapp db")
    parser.add_argument("--json", type=Path, help="result file (default benchmarks/results/)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schema")
    parser.add_argument("--compare-geography-index", action="store_true")
    args = parser.parse_args(argv)
    if args.n < BASELINE_SLICE or args.n < POLYGON_REPORTS:
        parser.error(f"--n must be at least {max(BASELINE_SLICE, POLYGON_REPORTS):,}")
    results = run(args)
    results["finished_at"] = datetime.now(UTC).isoformat()
    print()
    print(_table(results))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = args.json or Path(__file__).parent / "results" / f"store-{stamp}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
