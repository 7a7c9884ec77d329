"""Vectorised pair scoring, edge tables and per-pair explanations.

See :mod:`cleanapp_geo.model` for the features and kernels and
:mod:`cleanapp_geo.blocking` for how candidate pairs are generated exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from cleanapp_geo.arrays import EARTH_RADIUS_M, PairInputs, ReportArrays, prepare_reports
from cleanapp_geo.blocking import BOUND_MARGIN, CandidateGraph, candidate_graph
from cleanapp_geo.errors import UnknownReportError
from cleanapp_geo.model import DEFAULT_MODEL, FEATURES, REASON_MIN_KERNEL, REASONS, SimilarityModel
from cleanapp_geo.schema import SEQ
from cleanapp_geo.text import TextFeatures

__all__ = [
    "EDGE_COLUMNS",
    "PairExplanation",
    "edge_mask",
    "edges_frame",
    "explain_pair",
    "reasons_from_bits",
    "score_pairs",
    "scored_edges",
    "similarity_edges",
]

_SCORE_CHUNK: Final = 2_000_000
_THREADED_MIN_PAIRS: Final = 200_000
_NO_TEXT: Final = TextFeatures(
    indptr=np.zeros(1, np.int64),
    indices=np.zeros(0, np.int32),
    vocabulary=np.zeros(0, object),
    document_frequency=np.zeros(0, np.int64),
)


def score_pairs(
    arrays: PairInputs,
    i: np.ndarray,
    j: np.ndarray,
    model: SimilarityModel,
    *,
    force_text: bool = False,
) -> dict[str, np.ndarray]:
    """Score report pairs ``(i[k], j[k])`` (positional indices), fully vectorised.

    Parameters
    ----------
    arrays : ReportArrays or PairArrays
        From :func:`prepare_reports` (or :meth:`PairArrays.from_values` for a few reports).
    i, j : numpy.ndarray
        Positional indices of equal length.
    model : SimilarityModel
        The model.
    force_text : bool, default False
        Compare the texts of every pair. By default text is compared only where it can
        change whether the pair is an edge; elsewhere its kernel is 0 (the score is then
        a lower bound) and ``jaccard`` is NaN.

    Returns
    -------
    dict of str to numpy.ndarray
        For every feature its contribution ``weight × kernel / known_weight``, plus
        ``score`` (``sum(weight × kernel) / known_weight``, summed in :data:`FEATURES`
        order), ``known_weight`` (the total weight of the features both reports have
        under ``missing="ignore"``, else 1), ``distance_m``, ``jaccard``,
        ``severity_diff`` (NaN when a severity is unknown), ``time_diff_s`` and
        ``is_edge`` (score >= threshold and within the radius gate).
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    w = model.weights
    kernels, measures, jaccard, needs_text, known_weight, is_edge = pair_kernels(
        arrays, i, j, model, force_text=force_text
    )
    weighted = {feature: w[feature] * kernels[:, column] for column, feature in enumerate(FEATURES)}
    raw = np.zeros(len(i), dtype=np.float64)
    for feature in FEATURES:  # summed in FEATURES order, as the compiled kernel does
        raw = raw + weighted[feature]
    known = known_weight > 0
    out: dict[str, np.ndarray] = {}
    for feature in FEATURES:
        out[feature] = np.divide(weighted[feature], known_weight, out=np.zeros(len(i)), where=known)
    out["score"] = np.divide(raw, known_weight, out=np.zeros(len(i)), where=known)
    out["known_weight"] = known_weight
    out["is_edge"] = is_edge
    out.update(measures)
    out["jaccard"] = jaccard if force_text else np.where(needs_text, jaccard, np.nan)
    out["kernels"] = kernels
    out["reasons"] = _reason_bits(kernels, w)
    return out


def pair_kernels(
    arrays: PairInputs,
    i: np.ndarray,
    j: np.ndarray,
    model: SimilarityModel,
    *,
    force_text: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kernel values of pairs in one compiled pass.

    Returns ``(kernels, measures, jaccard, needs_text, known_weight, is_edge)``: the
    (m, 6) kernel values in :data:`FEATURES` order, the raw measures, the Jaccard
    similarities, whether text could change the outcome, the weight the score is divided
    by (see :func:`score_pairs`) and whether the pair is an edge. The text kernel is
    computed only where it can change the outcome (the other features plus a perfect
    text match reach the threshold) unless ``force_text``; elsewhere it is 0 and
    ``jaccard`` is NaN.
    """
    from cleanapp_geo import _accel

    text = arrays.text if model.weight_text > 0 or force_text else _NO_TEXT
    mode = _accel.MODE_FORCE_TEXT if force_text else _accel.MODE_FULL
    kernels, distance, severity_diff, time_diff, jaccard, needs_text, known_weight, is_edge = (
        _accel.pair_kernels(
            i, j, arrays.xyz, arrays.severity, arrays.classification,
            arrays.classification_known, arrays.brand, arrays.category, arrays.ts_ns,
            text.indptr, text.indices, _kernel_params(model), _kernel_flags(model), mode,
        )
    )  # fmt: skip
    measures = {"distance_m": distance, "severity_diff": severity_diff, "time_diff_s": time_diff}
    return kernels, measures, jaccard, needs_text, known_weight, is_edge


def edge_mask(
    arrays: ReportArrays,
    i: np.ndarray,
    j: np.ndarray,
    model: SimilarityModel,
    *,
    without_text: bool = False,
) -> np.ndarray:
    """Whether each pair ``(i[k], j[k])`` is an edge, computing nothing else.

    The ``is_edge`` of :func:`score_pairs`, as a fast first pass over candidates. Large
    inputs are split in two halves scored on two threads (the compiled kernel releases
    the GIL). With ``without_text`` no token set is read: the mask is of the pairs that
    could be edges with a perfect text match (a superset of the edges), so the pairs that
    need text are known before the texts are tokenized.
    """
    from cleanapp_geo import _accel

    text = arrays.text if model.weight_text > 0 and not without_text else _NO_TEXT
    params, flags = _kernel_params(model), _kernel_flags(model)
    mode = _accel.MODE_POSSIBLE if without_text else _accel.MODE_EDGES_ONLY

    def run(lo: int, hi: int) -> np.ndarray:
        return _accel.pair_kernels(
            i[lo:hi], j[lo:hi], arrays.xyz, arrays.severity, arrays.classification,
            arrays.classification_known, arrays.brand, arrays.category, arrays.ts_ns,
            text.indptr, text.indices, params, flags, mode,
        )[-1]  # fmt: skip

    m = len(i)
    if m < _THREADED_MIN_PAIRS or without_text:  # without text, a tokenizer may be running
        return run(0, m)
    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = list(pool.map(run, (0, m // 2), (m // 2, m)))
    return np.concatenate(halves)


def _kernel_params(model: SimilarityModel) -> np.ndarray:
    from cleanapp_geo import _accel as k

    params = np.zeros(k.N_PARAMS, dtype=np.float64)
    params[[k.P_W_CLS, k.P_W_SEV, k.P_W_TEXT, k.P_W_LOC, k.P_W_BRAND, k.P_W_TIME, k.P_W_CAT]] = [
        model.weights[f] for f in FEATURES
    ]
    params[k.P_THRESHOLD] = model.threshold
    params[k.P_SEV_MAX] = model.severity_max_diff
    params[k.P_TEXT_MIN] = model.text_min_jaccard
    params[k.P_TEXT_SAT] = model.text_saturation
    params[k.P_LOC_MAX] = model.location_max_m
    params[k.P_LOC_SCALE] = model.location_scale_m
    params[k.P_TIME_MAX] = model.time_max_s
    params[k.P_TIME_SCALE] = model.time_scale_s
    params[k.P_MARGIN] = BOUND_MARGIN
    params[k.P_EARTH] = EARTH_RADIUS_M
    params[k.P_GATE] = np.inf if model.radius_gate_m is None else model.radius_gate_m
    return params


def _kernel_flags(model: SimilarityModel) -> np.ndarray:
    return np.array(
        [
            model.severity_kernel == "step",
            model.text_kernel == "step",
            model.location_kernel == "step",
            model.time_kernel == "step",
            model.missing == "ignore",
        ],
        dtype=np.int64,
    )


def _reason_bits(kernels: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """Bit mask of the features with a positive weight whose kernel is at least 0.5."""
    bits = np.zeros(len(kernels), dtype=np.int64)
    for bit, feature in enumerate(FEATURES):
        if weights[feature] > 0:
            bits |= (kernels[:, bit] >= REASON_MIN_KERNEL).astype(np.int64) << bit
    return bits


def reasons_from_bits(bits: int) -> list[str]:
    """Decode a reason bit mask into the sorted list of rationale strings."""
    return sorted(REASONS[f] for bit, f in enumerate(FEATURES) if bits >> bit & 1)


EDGE_COLUMNS: Final = (*FEATURES, "score", "distance_m", "jaccard", "reasons")


def scored_edges(
    arrays: ReportArrays, pairs: np.ndarray | CandidateGraph, model: SimilarityModel
) -> dict[str, np.ndarray]:
    """Score candidate pairs and keep the edges.

    A first pass (:func:`edge_mask`, in chunks) decides which pairs are edges without
    writing anything else (when text counts, first without reading any token set, then
    with them for the pairs still possible); the edges alone are then scored in full.

    Parameters
    ----------
    arrays : ReportArrays
        The reports.
    pairs : numpy.ndarray or CandidateGraph
        (m, 2) positional pairs, or a candidate graph.
    model : SimilarityModel
        The model.

    Returns
    -------
    dict of str to numpy.ndarray
        Positional ``i``, ``j`` and the :data:`EDGE_COLUMNS` of the edges only.
    """
    if isinstance(pairs, CandidateGraph):
        chunks: Iterable[tuple[np.ndarray, np.ndarray]] = pairs.chunks(_SCORE_CHUNK)
    else:
        chunks = (
            (pairs[s : s + _SCORE_CHUNK, 0], pairs[s : s + _SCORE_CHUNK, 1])
            for s in range(0, len(pairs), _SCORE_CHUNK)
        )
    if model.weight_text > 0:
        # First the pairs that could be edges with a perfect text match: no token set is
        # read, so this runs while the texts are still being tokenized (usually most
        # candidates drop out here); only those are then compared with their tokens.
        possible = [
            (i[keep], j[keep])
            for i, j in chunks
            for keep in [edge_mask(arrays, i, j, model, without_text=True)]
        ]
        chunks = possible
    edge_i, edge_j = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for i, j in chunks:
        edge = edge_mask(arrays, i, j, model)
        edge_i.append(i[edge])
        edge_j.append(j[edge])
    i, j = np.concatenate(edge_i), np.concatenate(edge_j)
    scored = score_pairs(arrays, i, j, model)
    return {"i": i, "j": j, **{column: scored[column] for column in EDGE_COLUMNS}}


def edges_frame(arrays: ReportArrays, edges: dict[str, np.ndarray]) -> pd.DataFrame:
    """Build the public edge table indexed ``(focal, neighbor)`` by report seq."""
    focal = arrays.seq[edges["i"].astype(np.int64)]
    neighbor = arrays.seq[edges["j"].astype(np.int64)]
    swap = focal > neighbor
    focal, neighbor = np.where(swap, neighbor, focal), np.where(swap, focal, neighbor)
    index = pd.MultiIndex.from_arrays([focal, neighbor], names=["focal", "neighbor"])
    data: dict[str, Any] = {c: edges[c] for c in EDGE_COLUMNS if c != "reasons"}
    data["reasons"] = [reasons_from_bits(int(b)) for b in edges["reasons"]]
    return pd.DataFrame(data, index=index).sort_index()


def similarity_edges(
    reports: gpd.GeoDataFrame,
    *,
    model: SimilarityModel | None = None,
    classification: str | None = None,
) -> pd.DataFrame:
    """All edges (pairs with ``score >= threshold``) among reports.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A report frame (validated here).
    model : SimilarityModel, optional
        Defaults to :data:`DEFAULT_MODEL`.
    classification : str, optional
        Scope classification for reports whose analysis has none.

    Returns
    -------
    pandas.DataFrame
        Indexed ``(focal, neighbor)`` by seq with ``focal < neighbor``; one column per
        feature contribution, ``score``, ``distance_m``, ``jaccard`` (NaN where it could
        not change the outcome and was skipped) and ``reasons``.
    """
    from cleanapp_geo.schema import validate_reports

    model = model or DEFAULT_MODEL
    frame = validate_reports(reports)
    arrays = prepare_reports(frame, model, classification=classification)
    graph, _ = candidate_graph(arrays, model)
    return edges_frame(arrays, scored_edges(arrays, graph, model))


@dataclass(frozen=True, slots=True)
class PairExplanation:
    """Why two reports are, or are not, linked.

    Attributes
    ----------
    focal, neighbor : int
        The report seqs.
    score : float
        Weighted similarity.
    threshold : float
        The model's threshold.
    is_edge : bool
        Whether the pair is an edge.
    contributions : dict of str to float
        ``weight × kernel / known_weight`` per feature; they sum to the score.
    kernels : dict of str to float
        Kernel value per feature (0 where the weight is 0 is still computed; 0 where the
        feature is unknown).
    measures : dict of str to float
        Raw measures: ``distance_m``, ``jaccard``, ``severity_diff``, ``time_diff_s``.
    reasons : list of str
        Rationale strings of the features whose kernel value is at least 0.5.
    shared_tokens : list of str
        Tokens both reports share.
    unknown : list of str
        Features unknown on either side (they contribute nothing; under
        ``missing="ignore"`` their weight also leaves the total).
    """

    focal: int
    neighbor: int
    score: float
    threshold: float
    is_edge: bool
    contributions: dict[str, float]
    kernels: dict[str, float]
    measures: dict[str, float]
    reasons: list[str]
    shared_tokens: list[str]
    unknown: list[str]

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: weight, kernel value, contribution."""
        return pd.DataFrame(
            {
                "kernel": self.kernels,
                "contribution": self.contributions,
            }
        ).rename_axis("feature")

    def __str__(self) -> str:
        lines = [
            f"reports {self.focal} and {self.neighbor}: score {self.score:.3f} "
            f"({'edge' if self.is_edge else 'no edge'}, threshold {self.threshold:.3f})"
        ]
        for feature in FEATURES:
            if feature in self.unknown:
                lines.append(f"  {feature:<15} unknown")
                continue
            lines.append(
                f"  {feature:<15} kernel {self.kernels[feature]:.3f}  "
                f"contribution {self.contributions[feature]:.3f}"
            )
        m = self.measures
        severity = "unknown" if math.isnan(m["severity_diff"]) else f"{m['severity_diff']:.2f}"
        lines.append(
            f"  distance {m['distance_m']:.1f} m, Jaccard {m['jaccard']:.3f}, "
            f"|Δseverity| {severity}, |Δt| {m['time_diff_s'] / 3600:.1f} h"
        )
        lines.append(f"  shared tokens: {', '.join(self.shared_tokens) or '-'}")
        return "\n".join(lines)


def explain_pair(
    reports: gpd.GeoDataFrame,
    focal: int,
    neighbor: int,
    *,
    model: SimilarityModel | None = None,
    classification: str | None = None,
) -> PairExplanation:
    """Explain the similarity of two reports, feature by feature.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A report frame holding both seqs.
    focal, neighbor : int
        The seqs of the two reports.
    model : SimilarityModel, optional
        Defaults to :data:`DEFAULT_MODEL`.
    classification : str, optional
        Scope classification for reports whose analysis has none.

    Returns
    -------
    PairExplanation

    Raises
    ------
    UnknownReportError
        When a seq is not in the frame.
    """
    from cleanapp_geo.schema import validate_reports

    model = model or DEFAULT_MODEL
    seqs = reports[SEQ].to_numpy()
    missing = [s for s in (focal, neighbor) if s not in set(seqs.tolist())]
    if missing:
        raise UnknownReportError(f"reports frame has no seq {missing}")
    two = validate_reports(reports[np.isin(seqs, [focal, neighbor])])
    order = [int(np.flatnonzero(two[SEQ].to_numpy() == s)[0]) for s in (focal, neighbor)]
    arrays = prepare_reports(two.iloc[order], model, classification=classification)
    i, j = np.array([0]), np.array([1 if focal != neighbor else 0])
    scored = score_pairs(arrays, i, j, model, force_text=True)
    kernels = {f: float(scored["kernels"][0, c]) for c, f in enumerate(FEATURES)}
    contributions = {f: float(scored[f][0]) for f in FEATURES}
    tokens_a, tokens_b = arrays.text.tokens(0), arrays.text.tokens(int(j[0]))
    shared = sorted(tokens_a & tokens_b)
    b = int(j[0])
    unknown = [
        feature
        for feature, is_unknown in (
            (
                "classification",
                model.missing == "ignore" and not arrays.classification_known[[0, b]].all(),
            ),
            ("severity", bool(np.isnan(arrays.severity[[0, b]]).any())),
            ("text", not tokens_a or not tokens_b),
            ("brand", bool((arrays.brand[[0, b]] < 0).any())),
            ("category", bool((arrays.category[[0, b]] < 0).any())),
        )
        if is_unknown
    ]
    return PairExplanation(
        focal=int(focal),
        neighbor=int(neighbor),
        score=float(scored["score"][0]),
        threshold=model.threshold,
        is_edge=bool(scored["is_edge"][0]),
        contributions=contributions,
        kernels=kernels,
        measures={
            "distance_m": float(scored["distance_m"][0]),
            "jaccard": float(scored["jaccard"][0]),
            "severity_diff": float(scored["severity_diff"][0]),
            "time_diff_s": float(scored["time_diff_s"][0]),
        },
        reasons=reasons_from_bits(int(scored["reasons"][0])),
        shared_tokens=shared,
        unknown=unknown,
    )
