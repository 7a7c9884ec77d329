"""Benchmark cases; each runs in a fresh subprocess (``python -m benchmarks case KIND``).

A case loads one pickled synthetic frame, measures, and writes one JSON object. Peak RSS
is measured in the case's own process: the high-water mark is reset (Linux
``/proc/self/clear_refs``) once the data is loaded, so it covers the measured work plus
the resident data, not the loading.
"""

from __future__ import annotations

import gc
import pickle
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

import cleanapp_geo as cg
from cleanapp_geo.arrays import prepare_reports
from cleanapp_geo.blocking import candidate_pairs
from cleanapp_geo.evaluation import candidate_recall, evaluate_clustering
from cleanapp_geo.synthetic import INCIDENT_ID, incident_pairs, make_reports
from cleanapp_geo.tuning import dbscan_labels, project_m

from .baselines import brute_force_edges, postgis_dbscan

MODELS = {"default": cg.DEFAULT_MODEL, "upstream": cg.UPSTREAM_MODEL}
BRUTE_FORCE_ROWS = 10_000
#: UPSTREAM runs are not repeated once one run took longer than this.
SLOW_RUN_S = 20.0


# --- memory ------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset the peak-RSS high-water mark of this process (Linux only)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mb() -> dict[str, float]:
    """Current and peak RSS: ``getrusage`` maximum and ``/proc`` VmHWM/VmRSS, in MiB."""
    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmHWM", "VmRSS")):
                key = "vm_hwm_mb" if line.startswith("VmHWM") else "vm_rss_mb"
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


# --- data --------------------------------------------------------------------------------


def prepare(size: int, seed: int, mode: str, path: Path) -> dict[str, Any]:
    clock = time.perf_counter()
    frame = make_reports(size, seed=seed, mode=mode)  # type: ignore[arg-type]
    generate_s = time.perf_counter() - clock
    with path.open("wb") as fh:
        pickle.dump(frame, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"size": size, "seed": seed, "mode": mode, "generate_s": generate_s}


def load(path: Path) -> gpd.GeoDataFrame:
    with path.open("rb") as fh:
        frame = pickle.load(fh)
    assert isinstance(frame, gpd.GeoDataFrame)
    return frame


def _now(frame: gpd.GeoDataFrame) -> pd.Timestamp:
    return pd.Timestamp(frame["ts"].max()) if len(frame) else pd.Timestamp.now(tz="UTC")


# --- single measurements -----------------------------------------------------------------


def run_analyze(frame: gpd.GeoDataFrame, model: cg.SimilarityModel) -> dict[str, Any]:
    now = _now(frame)
    clock = time.perf_counter()
    result = cg.analyze(frame, model=model, now=now)
    analyze_s = time.perf_counter() - clock
    clock = time.perf_counter()
    payload = result.to_dict()
    serialise_s = time.perf_counter() - clock
    phases = dict(result.timings_s)
    phases["serialisation"] = serialise_s
    scoring_s = phases.get("scoring", float("nan"))
    return {
        "analyze_s": analyze_s,
        "serialise_s": serialise_s,
        "total_s": analyze_s + serialise_s,
        "phases_s": phases,
        "candidate_pairs": int(result.candidate_pair_count),
        "pairs_per_report": result.candidate_pair_count / max(len(result.reports), 1),
        "pairs_scored_per_s": result.candidate_pair_count / scoring_s if scoring_s else None,
        "edges": len(result.edges) if len(result.reports) <= 200_000 else None,
        "hypotheses": len(payload["hypotheses"]),
        "plan": result.plan.explanation,
        "labels": result.labels,
    }


def run_dbscan(frame: gpd.GeoDataFrame, eps_m: float, min_samples: int) -> dict[str, Any]:
    from sklearn.cluster import DBSCAN

    clock = time.perf_counter()
    xy = project_m(frame)
    project_s = time.perf_counter() - clock
    clock = time.perf_counter()
    labels = DBSCAN(eps=eps_m, min_samples=min_samples, algorithm="kd_tree").fit(xy).labels_
    fit_s = time.perf_counter() - clock
    return {
        "seconds": project_s + fit_s,
        "project_s": project_s,
        "fit_s": fit_s,
        "labels": np.asarray(labels, dtype=np.int64),
    }


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r[key])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen[f"{key}_all"] = [r[key] for r in runs]
    chosen[f"{key}_median"] = statistics.median(r[key] for r in runs)
    chosen.pop("labels", None)
    return chosen


# --- cases -------------------------------------------------------------------------------


def case_timing(
    frame: gpd.GeoDataFrame,
    *,
    repeats: int,
    upstream: bool,
    dbscan_eps_m: float,
    dbscan_min_samples: int,
) -> dict[str, Any]:
    """Interleaved repetitions of every timed method on the same data, medians and ratios."""
    n = len(frame)
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "upstream": [], "dbscan": []}
    brute: list[dict[str, float]] = []
    slice_frame = frame.iloc[: min(n, BRUTE_FORCE_ROWS)]
    slice_edges_fast = len(cg.analyze(slice_frame, model=cg.DEFAULT_MODEL, now=_now(frame)).edges)
    slice_edges_brute = None
    for r in range(repeats):
        gc.collect()
        runs["default"].append(run_analyze(frame, cg.DEFAULT_MODEL))
        if upstream and (r == 0 or runs["upstream"][0]["analyze_s"] < SLOW_RUN_S):
            gc.collect()
            runs["upstream"].append(run_analyze(frame, cg.UPSTREAM_MODEL))
        gc.collect()
        runs["dbscan"].append(run_dbscan(frame, dbscan_eps_m, dbscan_min_samples))
        if r < 3:
            gc.collect()
            slice_edges_brute, t = brute_force_edges(slice_frame, cg.DEFAULT_MODEL)
            brute.append(t)
    default = _median_run(runs["default"], "analyze_s")
    out: dict[str, Any] = {"n": n, "repeats": repeats, "default": default}
    t_default = default["analyze_s_median"]
    if runs["upstream"]:
        up = _median_run(runs["upstream"], "analyze_s")
        up["ratio_vs_default"] = up["analyze_s_median"] / t_default
        out["upstream"] = up
    else:
        out["upstream"] = {"skipped": f"UPSTREAM not timed at n={n} (see --upstream-max)"}
    db = _median_run(runs["dbscan"], "seconds")
    db["ratio_vs_default"] = db["seconds_median"] / t_default
    db["eps_m"], db["min_samples"] = dbscan_eps_m, dbscan_min_samples
    out["dbscan"] = db
    m = len(slice_frame)
    text_s = statistics.median(b["text_s"] for b in brute)
    pairs_s = statistics.median(b["pairs_s"] for b in brute)
    slice_pairs = m * (m - 1) / 2
    full_pairs = n * (n - 1) / 2
    extrapolated = text_s * n / m + pairs_s * full_pairs / slice_pairs
    out["brute_force"] = {
        "slice_rows": m,
        "slice_pairs": slice_pairs,
        "text_s": text_s,
        "pairs_s": pairs_s,
        "pairs_per_s": slice_pairs / pairs_s,
        "extrapolated_s": extrapolated,
        "extrapolated": m < n,
        "speedup_vs_default": extrapolated / t_default,
        "slice_edges": slice_edges_brute,
        "slice_edges_fast": slice_edges_fast,
        "slice_edges_equal": slice_edges_brute == slice_edges_fast,
    }
    return out


def case_memory(frame: gpd.GeoDataFrame, *, what: str, dbscan_eps_m: float) -> dict[str, Any]:
    gc.collect()
    reset = reset_peak_rss()
    before = rss_mb()
    clock = time.perf_counter()
    serialised = None
    if what == "dbscan":
        run_dbscan(frame, dbscan_eps_m, 2)
    else:
        # The floor is on analyze; serialising every hypothesis to dicts (to_dict) is
        # measured after it, as a second peak.
        result = cg.analyze(frame, model=MODELS[what], now=_now(frame))
    seconds = time.perf_counter() - clock
    after = rss_mb()
    peak = max(after.get("vm_hwm_mb", 0.0), after["ru_maxrss_mb"] if reset else 0.0)
    if what != "dbscan":
        payload = result.to_dict()
        serialised = rss_mb()
        del payload, result
    return {
        "what": what,
        "seconds": seconds,
        "reset_peak": reset,
        "rss_before_mb": before.get("vm_rss_mb"),
        "peak_rss_mb": peak,
        "peak_above_data_mb": peak - before.get("vm_rss_mb", 0.0),
        "peak_with_serialisation_mb": (
            None
            if serialised is None
            else max(serialised.get("vm_hwm_mb", 0.0), serialised["ru_maxrss_mb"])
        ),
        "raw": {"before": before, "after": after, "serialised": serialised},
    }


def _quality(truth: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {
        "overall": evaluate_clustering(truth, labels),
        "incident_only": evaluate_clustering(truth, labels, incident_only=True),
    }


def case_quality(
    frame: gpd.GeoDataFrame,
    *,
    upstream: bool,
    upstream_recall_max: int,
    dbscan_eps_m: float,
    dbscan_min_samples: int,
) -> dict[str, Any]:
    truth = frame[INCIDENT_ID].to_numpy(dtype=np.int64)
    true_i, true_j = incident_pairs(truth)
    out: dict[str, Any] = {"n": len(frame), "true_pairs": len(true_i)}
    for name, model in MODELS.items():
        if name == "upstream" and not upstream:
            out[name] = {"skipped": "UPSTREAM not run at this size (see --upstream-max)"}
            continue
        run = run_analyze(frame, model)
        entry = _quality(truth, run.pop("labels"))
        entry["analyze_s"] = run["analyze_s"]
        entry["candidate_pairs"] = run["candidate_pairs"]
        if name == "default" or len(frame) <= upstream_recall_max:
            arrays = prepare_reports(frame, model)
            pairs, _ = candidate_pairs(arrays, model)
            entry["candidate_recall"] = candidate_recall(
                (true_i, true_j), (pairs[:, 0], pairs[:, 1]), len(frame)
            )
            del pairs, arrays
        else:
            entry["candidate_recall"] = None
        out[name] = entry
    db = run_dbscan(frame, dbscan_eps_m, dbscan_min_samples)
    out["dbscan"] = _quality(truth, db["labels"])
    out["dbscan"].update(seconds=db["seconds"], eps_m=dbscan_eps_m, min_samples=dbscan_min_samples)
    return out


def case_postgis(
    frame: gpd.GeoDataFrame, *, repeats: int, dbscan_eps_m: float, dbscan_min_samples: int
) -> dict[str, Any]:
    xy = project_m(frame)
    result = postgis_dbscan(xy, eps_m=dbscan_eps_m, min_samples=dbscan_min_samples, repeats=repeats)
    if "skipped" in result:
        return result
    truth = frame[INCIDENT_ID].to_numpy(dtype=np.int64)
    labels = result.pop("labels")
    result["quality"] = _quality(truth, labels)
    sk = dbscan_labels(frame, eps_m=dbscan_eps_m, min_samples=dbscan_min_samples)
    result["ari_vs_sklearn_dbscan"] = evaluate_clustering(sk, labels)["ari"]
    ours = [run_analyze(frame, cg.DEFAULT_MODEL)["analyze_s"] for _ in range(repeats)]
    result["default_analyze_s"] = statistics.median(ours)
    result["ratio_vs_default"] = result["seconds"] / result["default_analyze_s"]
    result["eps_m"], result["min_samples"] = dbscan_eps_m, dbscan_min_samples
    return result
