"""Tune the similarity model on labelled pairs from synthetic data, cross-validated by seed.

The search works on *labelled candidate pairs*: every pair of reports within
``max_radius_m`` of each other in synthetic frames (:func:`labelled_pairs`), with the raw
measures the kernels need (distance, |Δseverity|, |Δt|, same classification, same brand,
token-set Jaccard) and the truth (same planted incident). For every point of a small grid
of kernel scales (location scale, time scale, text saturation):

1. the kernel values of the six features are computed (:func:`kernel_matrix`);
2. a scikit-learn :class:`~sklearn.linear_model.LogisticRegression` on them gives the
   weights (features with a negative coefficient are dropped and the fit repeated, so the
   weights stay non-negative and sum to 1 after normalisation, as
   :class:`~cleanapp_geo.model.SimilarityModel` needs);
3. the edge threshold is the one that maximises the *grouping* pairwise F1 (connected
   components of the edges, exactly what :func:`cleanapp_geo.analyze` does) on the
   training seeds.

Each grid point is scored by leave-one-seed-out cross-validation on the training seeds;
the best one is refitted on all training seeds and evaluated with the real pipeline
(:func:`cleanapp_geo.analyze`) on *held-out* seeds, next to :data:`UPSTREAM_MODEL`, the
model it would replace and location-only DBSCAN (its ``eps`` tuned on the training seeds
too). The radius gate is the smallest candidate gate that keeps at least
``min_candidate_recall`` of the true pairs of the training seeds, so that blocking stays
spatial and fast.

The fast evaluator (:func:`grouping_scores`) sees every pair within the gate, hence every
edge, so it gives the same labels as :func:`cleanapp_geo.analyze` for the same model.

Examples
--------
>>> from cleanapp_geo.tuning import tune
>>> report = tune(train_seeds=(1, 2), test_seeds=(3,), n_reports=2_000,
...               grid=TuningGrid((40.0,), (43_200.0,), (0.1,)), evaluate_upstream=False)
>>> report.model.radius_gate_m is not None
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from cleanapp_geo.arrays import chord_m, haversine_m, prepare_reports
from cleanapp_geo.evaluation import evaluate_clustering
from cleanapp_geo.grouping import group_labels
from cleanapp_geo.model import DEFAULT_MODEL, FEATURES, UPSTREAM_MODEL, SimilarityModel
from cleanapp_geo.synthetic import INCIDENT_ID, Mode, incident_pairs, make_reports

__all__ = [
    "DEFAULT_GATES_M",
    "PairSample",
    "TuningGrid",
    "TuningReport",
    "dbscan_labels",
    "fit_weights",
    "grouping_scores",
    "kernel_matrix",
    "labelled_pairs",
    "model_from_fit",
    "pair_scores",
    "project_m",
    "tune",
]

#: Radius gates tried, smallest first; the smallest that keeps enough true pairs wins.
DEFAULT_GATES_M: Final = (120.0, 150.0, 200.0)
#: Pairs farther apart than this are never sampled (no candidate gate may exceed it).
MAX_RADIUS_M: Final = 200.0
_DBSCAN_EPS_M: Final = (15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 80.0)
_DBSCAN_MIN_SAMPLES: Final = (2, 3)
_COARSE_THRESHOLDS: Final = 17
_FINE_THRESHOLDS: Final = 9
_PR_POINTS: Final = 101
_NEGATIVES_PER_POSITIVE: Final = 10
_HOUR_S: Final = 3_600.0


@dataclass(frozen=True, slots=True)
class TuningGrid:
    """Kernel scales searched by :func:`tune` (every combination is tried).

    Attributes
    ----------
    location_scale_m : tuple of float
        Scales of the exponential location kernel, in metres.
    time_scale_s : tuple of float
        Scales of the exponential time kernel, in seconds.
    text_saturation : tuple of float
        Jaccard values at which the text kernel saturates.
    """

    location_scale_m: tuple[float, ...] = (30.0, 50.0, 80.0)
    time_scale_s: tuple[float, ...] = (12 * _HOUR_S, 24 * _HOUR_S, 48 * _HOUR_S)
    text_saturation: tuple[float, ...] = (0.05, 0.1, 0.2)

    def points(self) -> list[tuple[float, float, float]]:
        """All ``(location_scale_m, time_scale_s, text_saturation)`` combinations."""
        return [
            (loc, t, sat)
            for loc in self.location_scale_m
            for t in self.time_scale_s
            for sat in self.text_saturation
        ]


@dataclass(frozen=True, slots=True, eq=False)
class PairSample:
    """Labelled candidate pairs of several synthetic frames (one *group* per frame).

    Attributes
    ----------
    seeds : tuple of int
        Generator seed of each group.
    group : numpy.ndarray
        Group (position in ``seeds``) of every pair.
    i, j : numpy.ndarray
        Positional indices of the two reports within their frame (``i < j``).
    distance_m, severity_diff, time_diff_s, jaccard : numpy.ndarray
        Raw pair measures (haversine metres, absolute differences, token-set Jaccard).
    same_classification, same_brand, same_category : numpy.ndarray
        Boolean pair measures (brand and category: equal non-empty values,
        case-insensitive; classification: equal resolved classifications).
    label : numpy.ndarray
        True when both reports belong to the same planted incident.
    incident_ids : tuple of numpy.ndarray
        The ``incident_id`` column of every frame (the truth for grouping scores).
    true_pair_counts : tuple of int
        Number of true pairs of every frame (near or far).
    classification_known, severity_known, text_known, brand_known, category_known : \
numpy.ndarray
        Whether the feature is known on both sides of the pair (see
        :mod:`cleanapp_geo.model`, "Unknown values").
    seqs : tuple of numpy.ndarray
        The report seqs of every frame (average linkage breaks ties by seq).
    """

    seeds: tuple[int, ...]
    group: np.ndarray
    i: np.ndarray
    j: np.ndarray
    distance_m: np.ndarray
    severity_diff: np.ndarray
    time_diff_s: np.ndarray
    jaccard: np.ndarray
    same_classification: np.ndarray
    same_brand: np.ndarray
    label: np.ndarray
    incident_ids: tuple[np.ndarray, ...]
    true_pair_counts: tuple[int, ...]
    same_category: np.ndarray
    classification_known: np.ndarray
    severity_known: np.ndarray
    text_known: np.ndarray
    brand_known: np.ndarray
    category_known: np.ndarray
    seqs: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, groups: Iterable[int]) -> PairSample:
        """Keep the pairs of some groups only (group numbers are renumbered from 0)."""
        wanted = list(groups)
        keep = np.isin(self.group, wanted)
        renumber = np.full(len(self.seeds), -1, dtype=np.int64)
        renumber[wanted] = np.arange(len(wanted))
        return PairSample(
            seeds=tuple(self.seeds[g] for g in wanted),
            group=renumber[self.group[keep]],
            i=self.i[keep],
            j=self.j[keep],
            distance_m=self.distance_m[keep],
            severity_diff=self.severity_diff[keep],
            time_diff_s=self.time_diff_s[keep],
            jaccard=self.jaccard[keep],
            same_classification=self.same_classification[keep],
            same_brand=self.same_brand[keep],
            label=self.label[keep],
            incident_ids=tuple(self.incident_ids[g] for g in wanted),
            true_pair_counts=tuple(self.true_pair_counts[g] for g in wanted),
            same_category=self.same_category[keep],
            classification_known=self.classification_known[keep],
            severity_known=self.severity_known[keep],
            text_known=self.text_known[keep],
            brand_known=self.brand_known[keep],
            category_known=self.category_known[keep],
            seqs=tuple(self.seqs[g] for g in wanted),
        )

    def candidate_recall(self, radius_m: float) -> float:
        """Share of all true pairs (near or far) lying within ``radius_m``."""
        found = int(np.count_nonzero(self.label & (self.distance_m <= radius_m)))
        total = sum(self.true_pair_counts)
        return found / total if total else 1.0


def labelled_pairs(
    seeds: Sequence[int],
    *,
    n_reports: int = 20_000,
    mode: Mode = "hard",
    max_radius_m: float = MAX_RADIUS_M,
    frames: Sequence[gpd.GeoDataFrame] | None = None,
) -> PairSample:
    """Generate synthetic frames and list their pairs within ``max_radius_m``, labelled.

    Parameters
    ----------
    seeds : sequence of int
        One frame per seed (:func:`cleanapp_geo.synthetic.make_reports`).
    n_reports : int, default 20,000
        Reports per frame.
    mode : {"easy", "hard"}, default "hard"
        Generator mode.
    max_radius_m : float, default 200
        Farthest pair kept, in metres.
    frames : sequence of GeoDataFrame, optional
        Use these frames (with an ``incident_id`` column) instead of generating them;
        ``seeds`` then only names them.

    Returns
    -------
    PairSample
    """
    if frames is None:
        frames = [make_reports(n_reports, seed=int(s), mode=mode) for s in seeds]
    if len(frames) != len(seeds):
        raise ValueError(f"got {len(frames)} frames for {len(seeds)} seeds")
    parts: dict[str, list[np.ndarray]] = {}
    incident_ids = []
    true_counts = []
    seqs = []
    for g, frame in enumerate(frames):
        arrays = prepare_reports(frame, DEFAULT_MODEL)
        pairs = arrays.tree.query_pairs(chord_m(max_radius_m), output_type="ndarray")
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        i, j = pairs[:, 0], pairs[:, 1]
        distance = haversine_m(arrays.lon[i], arrays.lat[i], arrays.lon[j], arrays.lat[j])
        near = distance <= max_radius_m
        i, j, distance = i[near], j[near], distance[near]
        order = np.lexsort((j, i))
        i, j, distance = i[order], j[order], distance[order]
        truth = frame[INCIDENT_ID].to_numpy(dtype=np.int64)
        token_count = np.diff(arrays.text.indptr)
        columns = {
            "group": np.full(len(i), g, dtype=np.int64),
            "i": i,
            "j": j,
            "distance_m": distance,
            "severity_diff": np.abs(arrays.severity[i] - arrays.severity[j]),
            "time_diff_s": np.abs(arrays.ts_ns[i] - arrays.ts_ns[j]) / 1e9,
            "jaccard": arrays.jaccard(i, j),
            "same_classification": arrays.classification[i] == arrays.classification[j],
            "same_brand": (arrays.brand[i] == arrays.brand[j]) & (arrays.brand[i] >= 0),
            "label": (truth[i] == truth[j]) & (truth[i] >= 0),
            "same_category": (arrays.category[i] == arrays.category[j]) & (arrays.category[i] >= 0),
            "classification_known": arrays.classification_known[i] & arrays.classification_known[j],
            "severity_known": ~np.isnan(arrays.severity[i] - arrays.severity[j]),
            "text_known": (token_count[i] > 0) & (token_count[j] > 0),
            "brand_known": (arrays.brand[i] >= 0) & (arrays.brand[j] >= 0),
            "category_known": (arrays.category[i] >= 0) & (arrays.category[j] >= 0),
        }
        for name, values in columns.items():
            parts.setdefault(name, []).append(values)
        incident_ids.append(truth)
        true_counts.append(len(incident_pairs(truth)[0]))
        seqs.append(arrays.seq)
    data = {name: np.concatenate(values) for name, values in parts.items()}
    return PairSample(
        seeds=tuple(int(s) for s in seeds),
        incident_ids=tuple(incident_ids),
        true_pair_counts=tuple(true_counts),
        seqs=tuple(seqs),
        **data,
    )


def kernel_matrix(
    sample: PairSample,
    *,
    location_scale_m: float,
    time_scale_s: float,
    text_saturation: float,
) -> np.ndarray:
    """Kernel values of the seven features (columns in :data:`~cleanapp_geo.model.FEATURES` order).

    The kernels are those of :data:`DEFAULT_MODEL`'s family: classification, brand and
    category equality, ``1 - |Δseverity|``, ``min(1, Jaccard / text_saturation)``,
    ``exp(-d / location_scale_m)`` and ``exp(-|Δt| / time_scale_s)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(sample), 7)``, float64 in [0, 1]; 0 where a feature is unknown.
    """
    return np.column_stack(
        (
            sample.same_classification.astype(np.float64),
            np.where(sample.severity_known, 1.0 - sample.severity_diff, 0.0),
            np.minimum(1.0, sample.jaccard / text_saturation),
            np.exp(-sample.distance_m / location_scale_m),
            sample.same_brand.astype(np.float64),
            np.exp(-sample.time_diff_s / time_scale_s),
            sample.same_category.astype(np.float64),
        )
    )


def pair_scores(sample: PairSample, model: SimilarityModel) -> np.ndarray:
    """Scores of the sampled pairs under ``model``, as :func:`cleanapp_geo.analyze` computes them.

    Any kernel of the model (step or smooth) and either ``missing`` mode; text is compared
    for every pair (the pipeline skips it only where it cannot make an edge).

    Returns
    -------
    numpy.ndarray
        float64 scores in [0, 1].
    """
    m = model
    severity = (
        (sample.severity_diff <= m.severity_max_diff).astype(np.float64)
        if m.severity_kernel == "step"
        else 1.0 - sample.severity_diff
    )
    text = (
        (sample.jaccard > m.text_min_jaccard).astype(np.float64)
        if m.text_kernel == "step"
        else np.minimum(1.0, sample.jaccard / m.text_saturation)
    )
    location = (
        (sample.distance_m < m.location_max_m).astype(np.float64)
        if m.location_kernel == "step"
        else np.exp(-sample.distance_m / m.location_scale_m)
    )
    elapsed = (
        (sample.time_diff_s <= m.time_max_s).astype(np.float64)
        if m.time_kernel == "step"
        else np.exp(-sample.time_diff_s / m.time_scale_s)
    )
    always = np.ones(len(sample), dtype=bool)
    classification_known = sample.classification_known if m.missing == "ignore" else always
    columns = (
        (
            np.where(classification_known, sample.same_classification, False).astype(float),
            classification_known,
        ),
        (np.where(sample.severity_known, severity, 0.0), sample.severity_known),
        (np.where(sample.text_known, text, 0.0), sample.text_known),
        (location, always),
        (sample.same_brand.astype(np.float64), sample.brand_known),
        (elapsed, always),
        (sample.same_category.astype(np.float64), sample.category_known),
    )
    w = model.weights
    raw = np.zeros(len(sample))
    total = np.zeros(len(sample))
    for feature, (kernel, known) in zip(FEATURES, columns, strict=True):
        raw = raw + w[feature] * kernel
        total = total + np.where(known, w[feature], 0.0)
    if model.missing == "no_match":
        return raw
    return np.divide(raw, total, out=np.zeros(len(sample)), where=total > 0)


def fit_weights(kernels: np.ndarray, label: np.ndarray, *, c: float = 10.0) -> np.ndarray:
    """Non-negative feature weights summing to 1 from a logistic fit on kernel values.

    Features whose coefficient comes out negative (they speak *against* a match on this
    data) get weight 0 and the fit is repeated without them.

    Parameters
    ----------
    kernels : numpy.ndarray
        ``(m, 6)`` from :func:`kernel_matrix`.
    label : numpy.ndarray
        Pair truth.
    c : float, default 10
        Inverse L2 regularisation strength of the logistic regression.

    Returns
    -------
    numpy.ndarray
        Six weights (``FEATURES`` order), non-negative, summing to 1.
    """
    from sklearn.linear_model import LogisticRegression

    label = np.asarray(label, dtype=bool)
    weight = np.ones(len(label))
    negatives = np.flatnonzero(~label)
    limit = max(_NEGATIVES_PER_POSITIVE * int(label.sum()), 1)
    if len(negatives) > limit:
        # Subsample the (plentiful) negatives, weighted so the fit sees the full balance.
        rng = np.random.default_rng(0)
        kept = np.sort(rng.choice(negatives, size=limit, replace=False))
        rows = np.sort(np.concatenate((np.flatnonzero(label), kept)))
        weight = np.where(label[rows], 1.0, len(negatives) / limit)
        kernels, label = kernels[rows], label[rows]
    active = np.ones(kernels.shape[1], dtype=bool)
    coefficients = np.zeros(kernels.shape[1])
    while active.any():
        fit = LogisticRegression(C=c, max_iter=2_000).fit(
            kernels[:, active], label, sample_weight=weight
        )
        coefficients[:] = 0.0
        coefficients[active] = fit.coef_[0]
        negative = coefficients < 0
        if not negative.any():
            break
        active &= ~negative
    total = coefficients.sum()
    if total <= 0:
        raise ValueError("no feature separates the pairs: all logistic coefficients <= 0")
    return coefficients / total


def grouping_scores(
    sample: PairSample,
    scores: np.ndarray,
    threshold: float,
    *,
    gate_m: float | None,
    grouping: str = "connected",
    linkage_cut: float = 0.5,
) -> tuple[dict[str, float], list[float]]:
    """Pairwise precision/recall/F1 of the grouping the edges ``scores >= threshold`` give.

    Edges are grouped per frame as :func:`cleanapp_geo.analyze` does (connected
    components, or average linkage cut at ``linkage_cut × threshold``); pair counts are
    pooled over the frames (micro-average).

    Returns
    -------
    pooled : dict of str to float
        ``precision``, ``recall`` and ``f1`` over all frames.
    per_group : list of float
        F1 of every frame.
    """
    edge = scores >= threshold
    if gate_m is not None:
        edge &= sample.distance_m <= gate_m
    correct = predicted = true = 0
    per_group = []
    for g, truth in enumerate(sample.incident_ids):
        mask = edge & (sample.group == g)
        labels = group_labels(
            len(truth),
            sample.i[mask],
            sample.j[mask],
            scores[mask],
            sample.seqs[g],
            grouping=grouping,
            min_mean_score=linkage_cut * threshold,
        )
        m = evaluate_clustering(truth, labels)
        correct += int(m["correct_pairs"])
        predicted += int(m["predicted_pairs"])
        true += int(m["true_pairs"])
        per_group.append(float(m["pairwise_f1"]))
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}, per_group


def _best_threshold(
    sample: PairSample, scores: np.ndarray, gate_m: float | None
) -> tuple[float, float]:
    """Threshold in (0, 1] maximising the pooled grouping F1 (coarse then fine grid)."""
    positive = scores[sample.label]
    low = float(np.quantile(positive, 0.01)) if len(positive) else 0.05
    high = float(np.quantile(positive, 0.99)) if len(positive) else 1.0
    low, high = max(low, 1e-3), min(max(high, low + 1e-3), 1.0)
    best = (-1.0, high)
    grid = np.linspace(low, high, _COARSE_THRESHOLDS)
    step = grid[1] - grid[0] if len(grid) > 1 else 0.05
    for candidates in (grid, None):
        if candidates is None:
            centre = best[1]
            candidates = np.linspace(
                max(centre - step, 1e-3), min(centre + step, 1.0), _FINE_THRESHOLDS
            )
        for t in candidates:
            f1 = grouping_scores(sample, scores, float(t), gate_m=gate_m)[0]["f1"]
            if f1 > best[0]:
                best = (f1, float(t))
    return best[1], best[0]


def _fit_point(
    sample: PairSample, point: tuple[float, float, float], gate_m: float
) -> tuple[np.ndarray, float, float]:
    loc, t_scale, sat = point
    kernels = kernel_matrix(sample, location_scale_m=loc, time_scale_s=t_scale, text_saturation=sat)
    within = sample.distance_m <= gate_m
    weights = fit_weights(kernels[within], sample.label[within])
    threshold, f1 = _best_threshold(sample, kernels @ weights, gate_m)
    return weights, threshold, f1


def model_from_fit(
    weights: np.ndarray,
    threshold: float,
    point: tuple[float, float, float],
    gate_m: float,
) -> SimilarityModel:
    """Build a :class:`SimilarityModel` from fitted weights (rounded to 3 decimals)."""
    rounded = np.round(weights, 3)
    rounded[int(np.argmax(rounded))] += 1.0 - rounded.sum()
    params: dict[str, Any] = {
        f"weight_{name}": round(float(w), 3) for name, w in zip(FEATURES, rounded, strict=True)
    }
    loc, t_scale, sat = point
    return SimilarityModel(
        **params,
        severity_kernel="linear",
        text_kernel="jaccard",
        text_saturation=sat,
        location_kernel="exp",
        location_scale_m=loc,
        time_kernel="exp",
        time_scale_s=t_scale,
        threshold=round(threshold, 3),
        radius_gate_m=gate_m,
    )


def project_m(reports: gpd.GeoDataFrame) -> np.ndarray:
    """Report positions in metres, in the UTM zone of the frame (for location-only baselines)."""
    if len(reports) == 0:
        return np.empty((0, 2))
    crs = reports.estimate_utm_crs()
    projected = reports.geometry.to_crs(crs)
    return np.column_stack((projected.x.to_numpy(), projected.y.to_numpy()))


def dbscan_labels(
    reports: gpd.GeoDataFrame, *, eps_m: float = 50.0, min_samples: int = 2
) -> np.ndarray:
    """Location-only DBSCAN labels (UTM metres, k-d tree); noise is ``-1`` (a singleton).

    The baseline the weighted model must beat: it sees nothing but positions.
    """
    from sklearn.cluster import DBSCAN

    xy = project_m(reports)
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    fit = DBSCAN(eps=eps_m, min_samples=min_samples, algorithm="kd_tree").fit(xy)
    return np.asarray(fit.labels_, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class TuningReport:
    """What :func:`tune` found: the chosen model, the grid and the held-out comparison.

    Attributes
    ----------
    model : SimilarityModel
        The chosen model (rounded weights and threshold).
    settings : dict
        Seeds, sizes, mode, grid and gates used.
    grid : list of dict
        One row per grid point: scales, cross-validated F1 mean/std, weights, threshold.
    weight_spread : dict
        Mean and standard deviation of every weight and the threshold over the
        cross-validation folds of the chosen point.
    heldout : dict
        Per method (``tuned``, ``previous_default``, ``upstream``, ``dbscan``) the metrics
        of every held-out seed (overall and incident-only) as computed by
        :func:`cleanapp_geo.evaluation.evaluate_clustering`.
    summary : dict
        Per method the mean and standard deviation of the held-out metrics.
    pr_curve : dict
        Pair-level precision/recall per score threshold on the held-out pairs within
        the gate, and the grouping precision/recall/F1 per threshold.
    dbscan : dict
        DBSCAN ``eps_m`` and ``min_samples`` chosen on the training seeds.
    elapsed_s : float
        Wall time of the search.
    """

    model: SimilarityModel
    settings: dict[str, Any]
    grid: list[dict[str, Any]]
    weight_spread: dict[str, dict[str, float]]
    heldout: dict[str, list[dict[str, Any]]]
    summary: dict[str, dict[str, float]]
    pr_curve: dict[str, list[float]]
    dbscan: dict[str, float]
    elapsed_s: float = field(default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the model under ``model``)."""
        return {
            "model": self.model.to_dict(),
            "settings": self.settings,
            "summary": self.summary,
            "weight_spread": self.weight_spread,
            "dbscan": self.dbscan,
            "heldout": self.heldout,
            "grid": self.grid,
            "pr_curve": self.pr_curve,
            "elapsed_s": self.elapsed_s,
        }

    def to_markdown(self) -> str:
        """Held-out comparison and chosen weights as Markdown tables."""
        lines = [
            f"Held-out seeds {self.settings['test_seeds']} ({self.settings['n_reports']:,} "
            f"reports each, mode {self.settings['mode']}); mean ± std across seeds.",
            "",
            "| method | pairwise P | pairwise R | pairwise F1 | ARI | B³ F1 | F1 incident-only |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, s in self.summary.items():
            lines.append(
                f"| {method} | {_pm(s, 'pairwise_precision')} | {_pm(s, 'pairwise_recall')} "
                f"| {_pm(s, 'pairwise_f1')} | {_pm(s, 'ari')} | {_pm(s, 'bcubed_f1')} "
                f"| {_pm(s, 'incident_pairwise_f1')} |"
            )
        lines += ["", "| parameter | chosen | CV mean ± std |", "|---|---|---|"]
        chosen = self.model.to_dict()
        for name, spread in self.weight_spread.items():
            lines.append(
                f"| {name} | {chosen[name]:g} | {spread['mean']:.3f} ± {spread['std']:.3f} |"
            )
        for name in ("location_scale_m", "time_scale_s", "text_saturation", "radius_gate_m"):
            lines.append(f"| {name} | {chosen[name]:g} | (grid) |")
        return "\n".join(lines)

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``model.json``, ``report.json`` and ``report.md`` into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "model": out / "model.json",
            "report": out / "report.json",
            "markdown": out / "report.md",
        }
        paths["model"].write_text(json.dumps(self.model.to_dict(), indent=2) + "\n")
        paths["report"].write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        paths["markdown"].write_text(self.to_markdown() + "\n")
        return paths


def _pm(summary: dict[str, float], key: str) -> str:
    return f"{summary[key + '_mean']:.3f} ± {summary[key + '_std']:.3f}"


def _heldout_metrics(truth: np.ndarray, labels: np.ndarray, seconds: float) -> dict[str, Any]:
    overall = evaluate_clustering(truth, labels)
    incident = evaluate_clustering(truth, labels, incident_only=True)
    out: dict[str, Any] = dict(overall)
    out.update({f"incident_{k}": v for k, v in incident.items()})
    out["seconds"] = seconds
    return out


def _summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in rows[0].items() if isinstance(v, float)]
    out: dict[str, float] = {}
    for key in keys:
        values = np.array([r[key] for r in rows], dtype=np.float64)
        out[f"{key}_mean"] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def _choose_gate(sample: PairSample, gates: Sequence[float], min_recall: float) -> float:
    for gate in sorted(gates):
        if sample.candidate_recall(gate) >= min_recall:
            return float(gate)
    return float(max(gates))


def _choose_dbscan(frames: Sequence[gpd.GeoDataFrame]) -> tuple[float, int]:
    best = (-1.0, 50.0, 2)
    for eps in _DBSCAN_EPS_M:
        for min_samples in _DBSCAN_MIN_SAMPLES:
            f1 = float(
                np.mean(
                    [
                        evaluate_clustering(
                            f[INCIDENT_ID].to_numpy(dtype=np.int64),
                            dbscan_labels(f, eps_m=eps, min_samples=min_samples),
                        )["pairwise_f1"]
                        for f in frames
                    ]
                )
            )
            if f1 > best[0]:
                best = (f1, eps, min_samples)
    return best[1], best[2]


def _pr_curve(sample: PairSample, model: SimilarityModel, gate_m: float) -> dict[str, list[float]]:
    from sklearn.metrics import precision_recall_curve

    kernels = kernel_matrix(
        sample,
        location_scale_m=model.location_scale_m,
        time_scale_s=model.time_scale_s,
        text_saturation=model.text_saturation,
    )
    scores = kernels @ np.array([model.weights[f] for f in FEATURES])
    within = sample.distance_m <= gate_m
    precision, recall, thresholds = precision_recall_curve(sample.label[within], scores[within])
    keep = np.unique(np.linspace(0, len(thresholds) - 1, _PR_POINTS).astype(np.int64))
    grouping_t = np.round(np.linspace(0.3, 0.9, 25), 4)
    grouping = [grouping_scores(sample, scores, float(t), gate_m=gate_m)[0] for t in grouping_t]
    return {
        "pair_threshold": thresholds[keep].tolist(),
        "pair_precision": precision[keep].tolist(),
        "pair_recall": recall[keep].tolist(),
        "grouping_threshold": grouping_t.tolist(),
        "grouping_precision": [g["precision"] for g in grouping],
        "grouping_recall": [g["recall"] for g in grouping],
        "grouping_f1": [g["f1"] for g in grouping],
    }


def tune(
    *,
    train_seeds: Sequence[int] = (11, 12, 13, 14),
    test_seeds: Sequence[int] = (101, 102, 103),
    n_reports: int = 20_000,
    mode: Mode = "hard",
    grid: TuningGrid | None = None,
    gates_m: Sequence[float] = DEFAULT_GATES_M,
    min_candidate_recall: float = 0.995,
    previous_model: SimilarityModel | None = None,
    evaluate_upstream: bool = True,
    verbose: bool = False,
) -> TuningReport:
    """Search the model on labelled synthetic pairs and compare it on held-out seeds.

    Parameters
    ----------
    train_seeds : sequence of int
        Seeds of the training frames (at least two: cross-validation leaves one out).
    test_seeds : sequence of int
        Seeds of the held-out frames (never seen by the search).
    n_reports : int, default 20,000
        Reports per frame.
    mode : {"easy", "hard"}, default "hard"
        Generator mode.
    grid : TuningGrid, optional
        Kernel scales to search (default :class:`TuningGrid()`).
    gates_m : sequence of float
        Candidate radius gates; the smallest keeping ``min_candidate_recall`` of the true
        pairs of the training frames is used.
    min_candidate_recall : float, default 0.995
        See ``gates_m``.
    previous_model : SimilarityModel, optional
        The model being replaced, for comparison (default :data:`DEFAULT_MODEL`).
    evaluate_upstream : bool, default True
        Also evaluate :data:`UPSTREAM_MODEL` on the held-out seeds (slow: no radius gate).
    verbose : bool, default False
        Print progress.

    Returns
    -------
    TuningReport
    """
    if len(train_seeds) < 2:
        raise ValueError("tune needs at least two training seeds (leave-one-seed-out CV)")
    if set(train_seeds) & set(test_seeds):
        raise ValueError("training and held-out seeds must differ")
    started = time.perf_counter()
    grid = grid or TuningGrid()
    previous = previous_model or DEFAULT_MODEL
    say = print if verbose else (lambda *a, **k: None)

    train_frames = [make_reports(n_reports, seed=int(s), mode=mode) for s in train_seeds]
    train = labelled_pairs(train_seeds, frames=train_frames, max_radius_m=max(gates_m))
    gate = _choose_gate(train, gates_m, min_candidate_recall)
    say(f"{len(train):,} training pairs; radius gate {gate:g} m")

    rows = []
    folds = range(len(train_seeds))
    for point in grid.points():
        fold_f1 = []
        for held in folds:
            fit_on = train.subset([g for g in folds if g != held])
            weights, threshold, _ = _fit_point(fit_on, point, gate)
            left = train.subset([held])
            kernels = kernel_matrix(
                left, location_scale_m=point[0], time_scale_s=point[1], text_saturation=point[2]
            )
            fold_f1.append(
                grouping_scores(left, kernels @ weights, threshold, gate_m=gate)[0]["f1"]
            )
        row = {
            "location_scale_m": point[0],
            "time_scale_s": point[1],
            "text_saturation": point[2],
            "cv_f1_mean": float(np.mean(fold_f1)),
            "cv_f1_std": float(np.std(fold_f1, ddof=1)),
        }
        rows.append(row)
        say(
            f"  loc {point[0]:>5g} m  time {point[1] / _HOUR_S:>4g} h  sat {point[2]:<5g}"
            f" CV F1 {row['cv_f1_mean']:.4f} ± {row['cv_f1_std']:.4f}"
        )
    best_row = max(rows, key=lambda r: r["cv_f1_mean"])
    point = (best_row["location_scale_m"], best_row["time_scale_s"], best_row["text_saturation"])

    spread_rows = []
    for held in folds:
        fit_on = train.subset([g for g in folds if g != held])
        weights, threshold, _ = _fit_point(fit_on, point, gate)
        spread_rows.append({**dict(zip(FEATURES, weights, strict=True)), "threshold": threshold})
    weights, threshold, train_f1 = _fit_point(train, point, gate)
    model = model_from_fit(weights, threshold, point, gate)
    weight_spread = {
        (f"weight_{k}" if k != "threshold" else k): {
            "mean": float(np.mean([r[k] for r in spread_rows])),
            "std": float(np.std([r[k] for r in spread_rows], ddof=1)),
        }
        for k in (*FEATURES, "threshold")
    }
    say(f"chosen: {model}")

    eps_m, min_samples = _choose_dbscan(train_frames)
    del train_frames
    methods: dict[str, SimilarityModel | None] = {"tuned": model, "previous_default": previous}
    if evaluate_upstream:
        methods["upstream"] = UPSTREAM_MODEL
    methods["dbscan"] = None
    heldout: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    test_frames = []
    from cleanapp_geo.analysis import analyze

    for seed in test_seeds:
        frame = make_reports(n_reports, seed=int(seed), mode=mode)
        test_frames.append(frame)
        truth = frame[INCIDENT_ID].to_numpy(dtype=np.int64)
        now = pd.Timestamp(frame["ts"].max())
        for name, candidate in methods.items():
            clock = time.perf_counter()
            if candidate is None:
                labels = dbscan_labels(frame, eps_m=eps_m, min_samples=min_samples)
            else:
                result = analyze(frame, model=candidate, now=now)
                # analyze keeps the input order and index (no scope, no classification)
                labels = result.labels
            row_metrics = _heldout_metrics(truth, labels, time.perf_counter() - clock)
            row_metrics["seed"] = int(seed)
            heldout[name].append(row_metrics)
            say(f"  seed {seed} {name:<17} F1 {row_metrics['pairwise_f1']:.4f}")
    summary = {name: _summarise(rows_) for name, rows_ in heldout.items()}
    test = labelled_pairs(test_seeds, frames=test_frames, max_radius_m=gate)
    pr_curve = _pr_curve(test, model, gate)
    settings = {
        "train_seeds": [int(s) for s in train_seeds],
        "test_seeds": [int(s) for s in test_seeds],
        "n_reports": n_reports,
        "mode": mode,
        "grid": {
            "location_scale_m": list(grid.location_scale_m),
            "time_scale_s": list(grid.time_scale_s),
            "text_saturation": list(grid.text_saturation),
        },
        "gates_m": [float(g) for g in gates_m],
        "min_candidate_recall": min_candidate_recall,
        "gate_candidate_recall_train": train.candidate_recall(gate),
        "train_grouping_f1": train_f1,
        "previous_model": previous.to_dict(),
    }
    return TuningReport(
        model=model,
        settings=settings,
        grid=rows,
        weight_spread=weight_spread,
        heldout=heldout,
        summary=summary,
        pr_curve=pr_curve,
        dbscan={"eps_m": eps_m, "min_samples": float(min_samples)},
        elapsed_s=time.perf_counter() - started,
    )
