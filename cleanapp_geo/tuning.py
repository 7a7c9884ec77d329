"""Labelled report pairs, their kernel values and fast grouping scores: the tools of tuning.

Tuning works on *candidate pairs*: every pair of reports within ``max_radius_m`` of each
other in some frames (:func:`labelled_pairs`), with the raw measures the kernels need
(distance, |Δseverity|, |Δt|, token-set Jaccard, equal classification, brand and
category), which of them are known, and the truth when the frames have planted incidents
(:func:`cleanapp_geo.synthetic.make_reports`). On them:

* :func:`kernel_matrix` gives the kernel values of the smooth family, and
  :func:`fit_weights` non-negative weights from a logistic regression on them;
* :func:`pair_scores` scores every pair under any :class:`~cleanapp_geo.model.SimilarityModel`
  exactly as :func:`cleanapp_geo.analyze` does, and :func:`group_frames` groups each frame
  as it does (every edge lies within the radius gate, and the sample holds every pair
  within it), so :func:`grouping_scores` gives the pipeline's pairwise F1 in milliseconds.

:mod:`cleanapp_geo.model_selection` builds the search for ``DEFAULT_MODEL`` on them.

Examples
--------
>>> import cleanapp_geo as cg
>>> from cleanapp_geo.tuning import grouping_scores, labelled_pairs, pair_scores
>>> sample = labelled_pairs((5,), n_reports=2_000, max_radius_m=150.0)
>>> model = cg.DEFAULT_MODEL
>>> pooled, _ = grouping_scores(
...     sample, pair_scores(sample, model), model.threshold, gate_m=model.radius_gate_m,
...     grouping=model.grouping, linkage_cut=model.linkage_cut)
>>> pooled["f1"] > 0.9
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np

from cleanapp_geo.arrays import chord_m, haversine_m, prepare_reports
from cleanapp_geo.evaluation import evaluate_clustering
from cleanapp_geo.grouping import group_labels
from cleanapp_geo.model import DEFAULT_MODEL, FEATURES, SimilarityModel
from cleanapp_geo.synthetic import INCIDENT_ID, Mode, incident_pairs, make_reports

__all__ = [
    "PairSample",
    "dbscan_labels",
    "fit_weights",
    "group_frames",
    "grouping_scores",
    "kernel_matrix",
    "labelled_pairs",
    "pair_scores",
    "project_m",
]

#: Pairs farther apart than this are never sampled (no candidate gate may exceed it).
MAX_RADIUS_M: Final = 200.0
_NEGATIVES_PER_POSITIVE: Final = 10


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
        Use these frames instead of generating them; ``seeds`` then only names them. A
        frame without an ``incident_id`` column (real reports) has no true pairs: its
        pairs serve to score groupings by other labels.

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
        truth = (
            frame[INCIDENT_ID].to_numpy(dtype=np.int64)
            if INCIDENT_ID in frame.columns
            else np.full(len(frame), -1, dtype=np.int64)
        )
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
    correct = predicted = true = 0
    per_group = []
    groups = group_frames(
        sample, scores, threshold, gate_m=gate_m, grouping=grouping, linkage_cut=linkage_cut
    )
    for truth, labels in zip(sample.incident_ids, groups, strict=True):
        m = evaluate_clustering(truth, labels)
        correct += int(m["correct_pairs"])
        predicted += int(m["predicted_pairs"])
        true += int(m["true_pairs"])
        per_group.append(float(m["pairwise_f1"]))
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}, per_group


def group_frames(
    sample: PairSample,
    scores: np.ndarray,
    threshold: float,
    *,
    gate_m: float | None,
    grouping: str = "connected",
    linkage_cut: float = 0.5,
) -> list[np.ndarray]:
    """Group every frame of the sample as :func:`cleanapp_geo.analyze` would.

    The edges are the pairs with ``scores >= threshold`` within the gate (the sample must
    hold every pair within the gate), grouped by ``grouping``.

    Returns
    -------
    list of numpy.ndarray
        Group labels of every frame's reports, in the frame's row order.
    """
    edge = scores >= threshold
    if gate_m is not None:
        edge &= sample.distance_m <= gate_m
    out = []
    for g, truth in enumerate(sample.incident_ids):
        mask = edge & (sample.group == g)
        out.append(
            group_labels(
                len(truth),
                sample.i[mask],
                sample.j[mask],
                scores[mask],
                sample.seqs[g],
                grouping=grouping,
                min_mean_score=linkage_cut * threshold,
            )
        )
    return out


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
