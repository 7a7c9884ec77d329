"""Grouping methods judged on real 311 duplicate labels (``python -m benchmarks realdata``).

For every labelled file in a directory (default: the bundled ``benchmarks/data/real311``)
each method groups the reports (it sees only the report frame: position, time, category;
the files have no text), and :func:`cleanapp_geo.evaluation.duplicate_scores` compares the
grouping with the city's labels:

* dup recall: share of the labelled duplicates grouped with an earlier report;
* false-dup rate: share of the other reports grouped with an earlier report;
* parent recall: share of (parent, child) pairs with the parent in the file that share a
  group (NaN/"—" when there is none: only San Francisco names 3 parents in its file).

Methods (see :func:`methods`): location-only DBSCAN, two FixMyStreet-like "same category
nearby" rules, ``cg.analyze`` with UPSTREAM_MODEL and DEFAULT_MODEL, and any
``SimilarityModel`` given as JSON. Code that tunes a model calls :func:`evaluate_method`
for one labeller on one file, without the CLI::

    reports, labels = cg.realdata.read_labelled_reports(path)
    evaluate_method(reports, labels, analyze_labeller(model))

Every baseline is exact: radius queries in a k-d tree over 3-D sphere coordinates (the
chord radius of the great-circle radius, then the haversine distance decides), pairs
grouped with :func:`scipy.sparse.csgraph.connected_components`.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

import cleanapp_geo as cg
from cleanapp_geo.arrays import EARTH_RADIUS_M, chord_m, haversine_m
from cleanapp_geo.evaluation import duplicate_scores
from cleanapp_geo.model import SimilarityModel
from cleanapp_geo.realdata import read_labelled_reports
from cleanapp_geo.schema import CATEGORY, TS

from .hardware import hardware_block

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / "data" / "real311"

#: A method: report frame in, one integer group label per row out (``-1`` = a singleton).
Labeller = Callable[[gpd.GeoDataFrame], np.ndarray]

SECONDS_PER_DAY = 86_400.0
#: What each built-in method is, for the JSON document.
DESCRIPTIONS = {
    "dbscan_50m": "location-only DBSCAN, eps 50 m (haversine, ball tree), min_samples 2; "
    "noise = singletons",
    "same_category_250m": "same category within 250 m (FixMyStreet-like), connected components",
    "same_category_50m_7d": "same category within 50 m and 7 days, connected components",
    "upstream": "cg.analyze(model=UPSTREAM_MODEL, now=max ts), every report, all categories",
    "default": "cg.analyze(model=DEFAULT_MODEL, now=max ts), every report, all categories",
}
#: Columns of the table, in order: (key, heading, format).
TABLE_COLUMNS = (
    ("dup_recall", "dup recall", ".3f"),
    ("false_dup_rate", "false-dup rate", ".3f"),
    ("parent_recall", "parent recall", ".3f"),
    ("multi_report_groups", "multi-report groups", ",d"),
    ("reports_grouped", "reports grouped", ",d"),
    ("seconds", "seconds", ".4f"),
)


# --- baselines -----------------------------------------------------------------------------


def _lon_lat(reports: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geoms = reports.geometry.array
    return (
        np.asarray(shapely.get_x(geoms), dtype=np.float64),
        np.asarray(shapely.get_y(geoms), dtype=np.float64),
    )


def dbscan_labels(
    reports: gpd.GeoDataFrame, *, eps_m: float = 50.0, min_samples: int = 2
) -> np.ndarray:
    """Location-only DBSCAN on the sphere (haversine metric, ball tree); noise is ``-1``."""
    from sklearn.cluster import DBSCAN

    if len(reports) == 0:
        return np.empty(0, dtype=np.int64)
    lon, lat = _lon_lat(reports)
    fit = DBSCAN(
        eps=eps_m / EARTH_RADIUS_M,
        min_samples=min_samples,
        metric="haversine",
        algorithm="ball_tree",
    ).fit(np.radians(np.column_stack((lat, lon))))
    return np.asarray(fit.labels_, dtype=np.int64)


def pairs_within(
    reports: gpd.GeoDataFrame,
    *,
    radius_m: float,
    same_category: bool = False,
    max_dt_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` at most ``radius_m`` apart (haversine), exactly.

    With ``same_category`` only pairs of the same non-empty ``category``; with
    ``max_dt_s`` only pairs at most that many seconds apart.
    """
    n = len(reports)
    if n < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    lon, lat = _lon_lat(reports)
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    cos_lat = np.cos(lat_r)
    points = EARTH_RADIUS_M * np.column_stack(
        (cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r))
    )
    keep = np.ones(n, dtype=bool)
    if same_category:
        category = reports[CATEGORY].to_numpy(dtype=object)
        codes, _ = pd.factorize(category)
        keep = category != ""  # unknown is no evidence of the same category
        # A fourth coordinate 4 R per category apart: points of two categories lie farther
        # apart than any chord on the sphere (2 R), so one tree answers per category.
        points = np.column_stack((points, codes * 4.0 * EARTH_RADIUS_M))
    pairs = cKDTree(points).query_pairs(chord_m(radius_m), output_type="ndarray")
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    ok = keep[i] & keep[j] & (haversine_m(lon[i], lat[i], lon[j], lat[j]) <= radius_m)
    if max_dt_s is not None:
        ts_ns = reports[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
        ok &= np.abs(ts_ns[i] - ts_ns[j]) <= max_dt_s * 1e9
    i, j = i[ok], j[ok]
    swap = i > j
    return np.where(swap, j, i), np.where(swap, i, j)


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` reports linked by the pairs ``(i, j)``."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    graph = sp.coo_array((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def same_category_labels(
    reports: gpd.GeoDataFrame, *, radius_m: float, max_dt_s: float | None = None
) -> np.ndarray:
    """Connected components of "same category within ``radius_m`` (and ``max_dt_s``)"."""
    i, j = pairs_within(reports, radius_m=radius_m, same_category=True, max_dt_s=max_dt_s)
    return components(len(reports), i, j)


def analyze_labeller(model: SimilarityModel) -> Labeller:
    """Group with ``cg.analyze`` and ``model``: every report, every classification.

    ``now`` is the latest report time, so the recency boost sees the data as it was when
    the extract was taken. Each report's label is its hypothesis (singletons included).
    """

    def label(reports: gpd.GeoDataFrame) -> np.ndarray:
        if len(reports) == 0:
            return np.empty(0, dtype=np.int64)
        result = cg.analyze(reports, model=model, now=reports[TS].max())
        if len(result.labels) != len(reports):  # no scope, no classification filter
            raise RuntimeError(f"analyze labelled {len(result.labels)} of {len(reports)} reports")
        return np.asarray(result.labels, dtype=np.int64)

    return label


def methods(models: Mapping[str, SimilarityModel] | None = None) -> dict[str, Labeller]:
    """The built-in methods, then ``cg.analyze`` with each extra model, by name.

    Add a method in code by adding a labeller to the returned dictionary.
    """
    registry: dict[str, Labeller] = {
        "dbscan_50m": lambda r: dbscan_labels(r, eps_m=50.0, min_samples=2),
        "same_category_250m": lambda r: same_category_labels(r, radius_m=250.0),
        "same_category_50m_7d": lambda r: same_category_labels(
            r, radius_m=50.0, max_dt_s=7 * SECONDS_PER_DAY
        ),
        "upstream": analyze_labeller(cg.UPSTREAM_MODEL),
        "default": analyze_labeller(cg.DEFAULT_MODEL),
    }
    for name, model in (models or {}).items():
        if name in registry:
            raise ValueError(f"model name {name!r} is taken by a built-in method")
        registry[name] = analyze_labeller(model)
    return registry


def load_model(path: str | Path) -> SimilarityModel:
    """A ``SimilarityModel`` from a JSON file of :meth:`SimilarityModel.to_dict`."""
    params = json.loads(Path(path).read_text())
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a JSON object of model parameters")
    return SimilarityModel.from_dict(params)


def parse_model_arg(text: str) -> tuple[str, SimilarityModel]:
    """``NAME=path.json`` → ``(NAME, model)``."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"--model takes NAME=path.json, got {text!r}")
    return name.strip(), load_model(path.strip())


# --- evaluation ----------------------------------------------------------------------------


def evaluate_method(
    reports: gpd.GeoDataFrame,
    labels: pd.DataFrame,
    labeller: Labeller,
    *,
    repeats: int = 1,
) -> dict[str, Any]:
    """Group ``reports`` with ``labeller`` and score the grouping against ``labels``.

    One untimed warm-up run (numba and scikit-learn load lazily), then ``repeats`` timed
    runs; ``seconds`` is their median. Returns the :class:`DuplicateScores` fields plus
    ``seconds``, ``seconds_all`` and ``deterministic`` (every run gave the same labels).
    """
    groups = np.asarray(labeller(reports))
    deterministic = True
    times = []
    for _ in range(max(repeats, 1)):
        clock = time.perf_counter()
        again = np.asarray(labeller(reports))
        times.append(time.perf_counter() - clock)
        deterministic &= bool(np.array_equal(again, groups))
    scores = duplicate_scores(labels, groups, reports[TS]).to_dict()
    return {
        **scores,
        "seconds": statistics.median(times),
        "seconds_all": times,
        "deterministic": deterministic,
    }


def data_files(data: Path) -> list[Path]:
    """The labelled files of a directory (``*.csv`` and ``*.csv.gz``), sorted; or one file."""
    if data.is_file():
        return [data]
    files = sorted(p for p in data.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    if not files:
        raise SystemExit(f"no .csv or .csv.gz files in {data}")
    return files


def dataset_name(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".csv")


def run_realdata(
    data: Path = DATA_DIR,
    *,
    labellers: Mapping[str, Labeller] | None = None,
    repeats: int = 3,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Evaluate every method on every file; returns the JSON document."""
    labellers = dict(labellers if labellers is not None else methods())
    described = {
        name: DESCRIPTIONS.get(name, "cg.analyze with a SimilarityModel given as JSON")
        for name in labellers
    }
    document: dict[str, Any] = {
        "hardware": hardware_block(),
        "settings": {
            "data": str(data),
            "repeats": repeats,
            "methods": described,
            "metrics": (
                "dup recall: share of labelled duplicates grouped with an earlier report; "
                "false-dup rate: share of the other reports grouped with an earlier report; "
                "parent recall: share of (parent, child) pairs in the file in one group "
                "(null when there is none); earlier = by ts, then by row"
            ),
            "timing": "one warm-up run, then the median of `repeats` runs in this process",
        },
        "results": {},
    }
    for path in data_files(data):
        reports, labels = read_labelled_reports(path)
        name = dataset_name(path)
        entry: dict[str, Any] = {
            "file": path.name,
            "n": len(reports),
            "n_duplicates": int(labels["is_duplicate"].sum()),
            "n_parent_ids": int(labels["parent_id"].notna().sum()),
            "n_parent_pairs": int(labels["parent_seq"].notna().sum()),
            "categories": int(reports[CATEGORY].nunique()),
            "methods": {},
        }
        for method, labeller in labellers.items():
            log(f"[{name}] {method}")
            try:
                entry["methods"][method] = evaluate_method(
                    reports, labels, labeller, repeats=repeats
                )
            except Exception as exc:  # one failing method must not hide the others
                entry["methods"][method] = {"error": f"{type(exc).__name__}: {exc}"}
        document["results"][name] = entry
    return json_safe(document)


def json_safe(value: Any) -> Any:
    """NaN → None (strict JSON), numpy scalars → Python, recursively."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:{spec}}"


def format_table(document: dict[str, Any]) -> str:
    """A Markdown summary: one table per file, one row per method."""
    hw = document["hardware"]
    lines = [
        f"# CleanApp Cases on real 311 duplicate labels — {hw['date_utc']}",
        f"{hw['cpu_model']}, nproc {hw['nproc']}, Python {hw['python']}; commit "
        f"{hw['git_commit'][:10]}{' (dirty)' if hw['git_dirty'] else ''}; seconds: median "
        f"of {document['settings']['repeats']} runs after a warm-up",
    ]
    for name, entry in document["results"].items():
        share = entry["n_duplicates"] / entry["n"] if entry["n"] else float("nan")
        lines += [
            "",
            f"## {name}: n {entry['n']:,}, duplicates {entry['n_duplicates']:,} "
            f"({_fmt(100 * share, '.1f')}%), parent pairs in file {entry['n_parent_pairs']}, "
            f"categories {entry['categories']}",
            "",
            "| method | " + " | ".join(heading for _, heading, _ in TABLE_COLUMNS) + " |",
            "|---|" + "---|" * len(TABLE_COLUMNS),
        ]
        for method, m in entry["methods"].items():
            if "error" in m:
                lines.append(f"| {method} | error: {m['error'][:100]} |")
                continue
            cells = [_fmt(m.get(key), spec) for key, _, spec in TABLE_COLUMNS]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
