"""``python -m benchmarks frontier``: how far any simple rule can go on each real file.

Issue 10's real-data floor asks, per file with groups, for a false-dup rate at most 0.8 ×
the lowest baseline's at a dup recall no lower than the "50 m and 7 days" rule's and
DBSCAN's. This script asks whether *any* rule over what a 311 file holds — position, time
and request type — gets there. The family (a few thousand rules per file):

    a request is a repeat when an earlier request lies within r_same metres with the same
    category, or within r_any metres whatever its category, and at most max_gap apart

with ``r_same``, ``r_any`` (or no cross-category match) and ``max_gap`` on grids, and a
second family with a radius per day gap (same day / 1 day / 2+ days, same category) for
files with dates only. A rule is judged directly on pairs (a request counts as grouped
when one earlier request satisfies the rule), which is what a grouping without chaining
achieves at best; connected components only add groupings. For each file it prints the
lowest false-dup rate any rule reaches at the floor's recall, and the highest recall at
the floor's false-dup rate.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from cleanapp_geo.arrays import EARTH_RADIUS_M, chord_m, haversine_m
from cleanapp_geo.realdata import read_labelled_reports
from cleanapp_geo.schema import CATEGORY, TS

from .realdata import DATA_DIR, data_files, dataset_name, evaluate_method, methods

R_SAME_M = (0.5, 5, 10, 20, 30, 40, 50, 60, 75, 100, 150, 200, 300)
R_ANY_M = (None, 0.5, 5, 10, 20, 50)
MAX_GAP_S = tuple(h * 3600.0 for h in (1, 3, 6, 12, 24, 48, 24 * 7, 24 * 30))
DAY_RADII_M = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120)


def earlier_pairs(reports: Any, radius_m: float) -> dict[str, np.ndarray]:
    """Every (later, earlier) pair within ``radius_m`` with distance, gap and category match."""
    lon, lat = reports.geometry.x.to_numpy(), reports.geometry.y.to_numpy()
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    xyz = EARTH_RADIUS_M * np.column_stack(
        (np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r))
    )
    pairs = cKDTree(xyz).query_pairs(chord_m(radius_m), output_type="ndarray").reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    distance = haversine_m(lon[i], lat[i], lon[j], lat[j])
    keep = distance <= radius_m
    i, j, distance = i[keep], j[keep], distance[keep]
    n = len(reports)
    ts = reports[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = np.lexsort((np.arange(n), ts))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    later = np.where(rank[i] > rank[j], i, j)
    earlier = np.where(rank[i] > rank[j], j, i)
    category = reports[CATEGORY].to_numpy(dtype=object)
    return {
        "later": later,
        "distance_m": distance,
        "gap_s": np.abs(ts[i] - ts[j]) / 1e9,
        "same": (category[later] == category[earlier]) & (category[later] != ""),
    }


def rule_rates(pairs: dict[str, np.ndarray], hit: np.ndarray, n: int, dup: np.ndarray) -> tuple:
    grouped = np.zeros(n, dtype=bool)
    grouped[pairs["later"][hit]] = True
    return float(grouped[dup].mean()), float(grouped[~dup].mean())


def frontier(reports: Any, labels: Any) -> list[dict[str, Any]]:
    """(dup recall, false-dup rate) of every rule of both families on one file."""
    dup = labels["is_duplicate"].to_numpy(dtype=bool)
    n = len(reports)
    pairs = earlier_pairs(reports, max(R_SAME_M))
    d, gap, same = pairs["distance_m"], pairs["gap_s"], pairs["same"]
    rules = []
    for r_same, r_any, max_gap in itertools.product(R_SAME_M, R_ANY_M, MAX_GAP_S):
        hit = ((same & (d <= r_same)) | (d <= (r_any if r_any is not None else -1.0))) & (
            gap <= max_gap
        )
        recall, false_dup = rule_rates(pairs, hit, n, dup)
        rules.append(
            {"rule": f"same ≤{r_same} m | any ≤{r_any} m, ≤{max_gap / 3600:g} h",
             "dup_recall": recall, "false_dup_rate": false_dup}
        )  # fmt: skip
    days = np.round(gap / 86_400.0)
    for r0, r1, r2 in itertools.product(DAY_RADII_M, DAY_RADII_M, DAY_RADII_M):
        if not r0 >= r1 >= r2:
            continue
        limit = np.where(days == 0, r0, np.where(days == 1, r1, np.where(days <= 7, r2, -1)))
        recall, false_dup = rule_rates(pairs, same & (d <= limit), n, dup)
        rules.append(
            {"rule": f"same, ≤{r0} m same day / ≤{r1} m next day / ≤{r2} m within a week",
             "dup_recall": recall, "false_dup_rate": false_dup}
        )  # fmt: skip
    return rules


def run(data: Path = DATA_DIR) -> dict[str, Any]:
    """The floor's targets from the baselines, and the best rules against them, per file."""
    registry = methods()
    out: dict[str, Any] = {}
    for path in data_files(data):
        reports, labels = read_labelled_reports(path)
        base = {
            m: evaluate_method(reports, labels, registry[m])
            for m in ("dbscan_50m", "same_category_250m", "same_category_50m_7d")
        }
        need_recall = max(
            base["same_category_50m_7d"]["dup_recall"], base["dbscan_50m"]["dup_recall"]
        )
        max_false = 0.8 * min(b["false_dup_rate"] for b in base.values() if b["dup_recall"] > 0)
        rules = frontier(reports, labels)
        at_recall = [r for r in rules if r["dup_recall"] >= need_recall]
        at_false = [r for r in rules if r["false_dup_rate"] <= max_false]
        out[dataset_name(path)] = {
            "rules": len(rules),
            "need_recall": need_recall,
            "max_false_dup_rate": max_false,
            "lowest_false_dup_at_recall": min(at_recall, key=lambda r: r["false_dup_rate"])
            if at_recall
            else None,
            "highest_recall_at_false_dup": max(at_false, key=lambda r: r["dup_recall"])
            if at_false
            else None,
        }
    return out


def format_table(document: dict[str, Any]) -> str:
    lines = [
        "| file | floor | best false-dup at the floor's recall "
        "| best recall at the floor's false-dup |",
        "|---|---|---|---|",
    ]
    for name, row in document.items():
        a, b = row["lowest_false_dup_at_recall"], row["highest_recall_at_false_dup"]
        show_a = f"{a['false_dup_rate']:.3f} ({a['rule']})" if a else "—"
        show_b = f"{b['dup_recall']:.3f} ({b['rule']})" if b else "—"
        lines.append(
            f"| {name} | false-dup ≤ {row['max_false_dup_rate']:.3f} at recall ≥ "
            f"{row['need_recall']:.3f} | {show_a} | {show_b} |"
        )
    return "\n".join(lines)
