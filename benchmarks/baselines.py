"""Baselines measured next to our analysis: brute-force all-pairs scoring and PostGIS DBSCAN."""

from __future__ import annotations

import os
import time
from typing import Any

import geopandas as gpd
import numpy as np

from cleanapp_geo.arrays import haversine_m, prepare_reports
from cleanapp_geo.model import SimilarityModel

BLOCK_ROWS = 1_000


def brute_force_edges(
    reports: gpd.GeoDataFrame, model: SimilarityModel
) -> tuple[int, dict[str, float]]:
    """Score every pair ``i < j`` with blocked numpy (no candidate generation at all).

    The same six kernels as :func:`cleanapp_geo.similarity.score_pairs` for models with
    smooth or step kernels, with the exact token-set Jaccard from a sparse token matrix
    product per block of rows. Returns the number of edges and the timings
    (``text_s``: token features, once per report; ``pairs_s``: the O(n²) scoring).
    """
    clock = time.perf_counter()
    arrays = prepare_reports(reports, model)
    matrix = arrays.text.to_csr().astype(np.float32)
    sizes = np.asarray(matrix.sum(axis=1)).reshape(-1)
    matrix_t = matrix.T.tocsc()
    text_s = time.perf_counter() - clock
    clock = time.perf_counter()
    w = model.weights
    n = len(arrays)
    edges = 0
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        rows = np.arange(start, stop)
        cols = slice(start, n)
        overlap = (matrix[start:stop] @ matrix_t[:, cols]).toarray()
        union = sizes[start:stop, None] + sizes[None, cols] - overlap
        jaccard = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        if model.text_kernel == "step":
            text = (jaccard > model.text_min_jaccard).astype(np.float64)
        else:
            text = np.minimum(1.0, jaccard / model.text_saturation)
        distance = haversine_m(
            arrays.lon[rows, None],
            arrays.lat[rows, None],
            arrays.lon[None, cols],
            arrays.lat[None, cols],
        )
        location = (
            (distance < model.location_max_m).astype(np.float64)
            if model.location_kernel == "step"
            else np.exp(-distance / model.location_scale_m)
        )
        severity_diff = np.abs(arrays.severity[rows, None] - arrays.severity[None, cols])
        severity = (
            (severity_diff <= model.severity_max_diff).astype(np.float64)
            if model.severity_kernel == "step"
            else 1.0 - severity_diff
        )
        time_diff_s = np.abs(arrays.ts_ns[rows, None] - arrays.ts_ns[None, cols]) / 1e9
        time_k = (
            (time_diff_s <= model.time_max_s).astype(np.float64)
            if model.time_kernel == "step"
            else np.exp(-time_diff_s / model.time_scale_s)
        )
        same_class = arrays.classification[rows, None] == arrays.classification[None, cols]
        brand_i = arrays.brand[rows, None]
        same_brand = (brand_i == arrays.brand[None, cols]) & (brand_i >= 0)
        score = (
            w["classification"] * same_class
            + w["severity"] * severity
            + w["text"] * text
            + w["location"] * location
            + w["brand"] * same_brand
            + w["time"] * time_k
        )
        edge = score >= model.threshold
        if model.radius_gate_m is not None:
            edge &= distance <= model.radius_gate_m
        upper = np.arange(start, n)[None, :] > rows[:, None]
        edges += int(np.count_nonzero(edge & upper))
    return edges, {"text_s": text_s, "pairs_s": time.perf_counter() - clock}


def database_url() -> str | None:
    """The PostGIS URL benchmarks use (``BENCH_DATABASE_URL``, else ``TEST_DATABASE_URL``)."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    return url.replace("postgresql+psycopg://", "postgresql://")


def postgis_dbscan(
    xy_m: np.ndarray, *, eps_m: float, min_samples: int, repeats: int, timeout_s: float = 600.0
) -> dict[str, Any]:
    """Time ``ST_ClusterDBSCAN`` over a session-temporary table, labels exported to numpy.

    The points are loaded once (COPY, not timed) in a projected metric CRS; each timed
    run executes the window query and fetches every ``(row, cluster)`` label.
    Returns ``{"skipped": reason}`` when no database is reachable.
    """
    url = database_url()
    if url is None:
        return {"skipped": "no database URL (set TEST_DATABASE_URL or BENCH_DATABASE_URL)"}
    try:
        import psycopg
    except ImportError:
        return {"skipped": "psycopg not installed (install the postgis extra)"}
    try:
        conn = psycopg.connect(url, connect_timeout=5, autocommit=True)
    except psycopg.Error as exc:
        return {"skipped": f"database unreachable: {str(exc).splitlines()[0]}"}
    with conn:
        try:
            version = conn.execute("SELECT postgis_full_version()").fetchone()
        except psycopg.Error as exc:
            return {"skipped": f"PostGIS not available: {str(exc).splitlines()[0]}"}
        server = conn.execute("SHOW server_version").fetchone()
        conn.execute("SET work_mem = '512MB'")
        conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        conn.execute("CREATE TEMP TABLE bench_points (id bigint, x float8, y float8)")
        clock = time.perf_counter()
        with conn.cursor().copy("COPY bench_points (id, x, y) FROM STDIN") as copy:
            for k in range(len(xy_m)):
                copy.write_row((k, float(xy_m[k, 0]), float(xy_m[k, 1])))
        conn.execute(
            "CREATE TEMP TABLE bench_geom AS SELECT id, ST_MakePoint(x, y) AS geom "
            "FROM bench_points"
        )
        conn.execute("ANALYZE bench_geom")
        load_s = time.perf_counter() - clock
        query = (
            "SELECT id, ST_ClusterDBSCAN(geom, eps => %s, minpoints => %s) OVER () FROM bench_geom"
        )
        times = []
        labels = np.empty(0, dtype=np.int64)
        for _ in range(repeats):
            clock = time.perf_counter()
            rows = conn.execute(query, (eps_m, min_samples)).fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            cid = np.fromiter(
                (-1 if r[1] is None else r[1] for r in rows), dtype=np.int64, count=len(rows)
            )
            labels = np.full(len(xy_m), -1, dtype=np.int64)
            labels[ids] = cid
            times.append(time.perf_counter() - clock)
    return {
        "seconds": float(np.median(times)),
        "seconds_all": times,
        "load_s": load_s,
        "labels": labels,
        "server_version": server[0] if server else None,
        "postgis_version": version[0] if version else None,
    }
