"""Exact candidate generation: every edge of a model, never all pairs.

The features are split into *routes* (location: a KD-tree radius join on the sphere;
text: an exact blocked set-similarity join) and the rest. If every route feature were
below its route bound, the score could reach at most ``sum(other weights) + sum(route
weight × bound)``; the bounds are chosen so that this is below the threshold, so every
edge lies in the union of the route joins. A model's radius gate is itself an exact
route (no edge lies beyond it). When no such bounds exist (the non-route weights alone
reach the threshold) and there is no radius gate, an :class:`ExhaustiveScoringWarning` is
issued and all pairs are scored in chunks — edges are never dropped silently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np

from cleanapp_geo.arrays import ReportArrays, chord_m, haversine_m
from cleanapp_geo.errors import ExhaustiveScoringWarning
from cleanapp_geo.model import FEATURES, SimilarityModel

__all__ = ["BOUND_MARGIN", "CandidatePlan", "candidate_pairs", "plan_candidates"]

#: Safety margin on score bounds, far above float rounding of a six-term sum.
BOUND_MARGIN: Final = 1e-9
_TEXT_BLOCK_ROWS: Final = 1_000
# A spatial-only plan with at most this many candidate pairs per report is taken as is.
_CHEAP_PAIRS_PER_REPORT: Final = 64


@dataclass(frozen=True, slots=True)
class CandidatePlan:
    """How candidate pairs are generated for a model (see the module docstring).

    Attributes
    ----------
    spatial_radius_m : float or None
        Radius of the KD-tree join (None: no spatial route).
    text_min_jaccard : float or None
        Jaccard bound of the set-similarity join (None: no text route).
    gate_m : float or None
        The model's radius gate; text-route pairs beyond it are dropped.
    exhaustive : bool
        True when every pair must be scored.
    explanation : str
        Why this plan is exact.
    """

    spatial_radius_m: float | None
    text_min_jaccard: float | None
    gate_m: float | None
    exhaustive: bool
    explanation: str


def _route_options(model: SimilarityModel) -> Iterator[tuple[float | None, float | None, str]]:
    """Yield exact (spatial radius, text bound, explanation) options for the model."""
    w = model.weights
    gate = model.radius_gate_m
    if gate is not None:
        yield gate, None, f"every edge is within the {gate:g} m radius gate"
    others = math.fsum(w[f] for f in FEATURES if f not in ("location", "text"))
    slack = model.threshold - others - BOUND_MARGIN
    if slack <= 0:
        return

    def spatial(budget: float) -> float | None:
        # Pairs outside the spatial route contribute < budget through location.
        if model.location_kernel == "step":
            return model.location_max_m
        if budget >= w["location"]:
            return None
        return -model.location_scale_m * math.log(budget / w["location"])

    def textual(budget: float) -> float | None:
        if model.text_kernel == "step":
            return model.text_min_jaccard
        if budget >= w["text"]:
            return None
        return budget / w["text"] * model.text_saturation

    if w["location"] == 0 and w["text"] == 0:
        yield None, None, "the non-route weights cannot reach the threshold: no edges"
        return
    # Drop one route entirely (its whole weight counts as slack used).
    if w["text"] <= slack and w["location"] > 0:
        yield spatial(slack - w["text"]), None, "edges need location (text cannot suffice)"
    if w["location"] <= slack and w["text"] > 0:
        yield None, textual(slack - w["location"]), "edges need text (location cannot suffice)"
    if w["location"] > 0 and w["text"] > 0:
        for share in (0.2, 0.35, 0.5, 0.65, 0.8):
            yield (
                spatial(slack * (1 - share)),
                textual(slack * share),
                "edges need location or text",
            )


def _estimate_spatial_pairs(arrays: ReportArrays, radius_m: float) -> float:
    n = len(arrays)
    if n < 2:
        return 0.0
    rng = np.random.default_rng(0)
    sample = rng.choice(n, size=min(n, 1000), replace=False)
    counts = arrays.tree.query_ball_point(arrays.xyz[sample], chord_m(radius_m), return_length=True)
    return float(n * (np.mean(counts) - 1) / 2)


def _estimate_text_pairs(arrays: ReportArrays, min_jaccard: float) -> float:
    """Work of the text join: token co-occurrences it enumerates (pairs sharing a token)."""
    if min_jaccard <= 0:
        return float(len(arrays)) ** 2 / 2
    df = arrays.text.document_frequency.astype(np.float64)
    return float(np.sum(df * (df - 1) / 2))


def plan_candidates(arrays: ReportArrays, model: SimilarityModel) -> CandidatePlan:
    """Choose the cheapest exact candidate-generation plan for a model on these reports.

    Parameters
    ----------
    arrays : ReportArrays
        The reports (used to estimate the size of each join).
    model : SimilarityModel
        The model.

    Returns
    -------
    CandidatePlan
    """
    best: tuple[float, CandidatePlan] | None = None
    n = len(arrays)
    for radius, min_jaccard, why in _route_options(model):
        if radius is None and min_jaccard is None:
            plan = CandidatePlan(None, None, model.radius_gate_m, False, why)
            return plan
        if model.radius_gate_m is not None and radius is not None:
            radius = min(radius, model.radius_gate_m)
        if min_jaccard is not None and min_jaccard <= 0:
            continue
        cost = 0.0
        if radius is not None:
            cost += _estimate_spatial_pairs(arrays, radius)
        plan = CandidatePlan(radius, min_jaccard, model.radius_gate_m, False, why)
        if min_jaccard is None and cost <= _CHEAP_PAIRS_PER_REPORT * n:
            # Cheap enough without a text join; estimating one would tokenize every report.
            return plan
        if min_jaccard is not None:
            cost += 3.0 * _estimate_text_pairs(arrays, min_jaccard)
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is not None:
        return best[1]
    return CandidatePlan(
        None,
        None,
        None,
        True,
        "the weights outside location and text reach the threshold on their own, so no "
        f"join can bound the edges of this model (n={n}); every pair is scored",
    )


def _spatial_pairs(arrays: ReportArrays, radius_m: float) -> np.ndarray:
    if len(arrays) < 2:
        return np.empty((0, 2), dtype=np.int64)
    pairs = arrays.tree.query_pairs(chord_m(radius_m), output_type="ndarray")
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _pair_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    keys = pairs[:, 0] * n
    keys += pairs[:, 1]
    return keys


def _text_pairs(arrays: ReportArrays, min_jaccard: float) -> np.ndarray:
    """All pairs whose token sets have ``Jaccard >= min_jaccard`` (exact).

    Exact overlaps come from a sparse product of the report × token matrix with its
    transpose, computed in blocks of rows against the rows after them (upper triangle
    only), so memory stays bounded. ``Jaccard >= t`` is tested as
    ``overlap · (1 + t) >= t · (|A| + |B|)``, which needs no division. Its cost grows
    with the number of pairs sharing any token: at low bounds such as upstream's 0.15 on
    long texts this join, not scoring, dominates an analysis.
    """
    text = arrays.text
    n = len(arrays)
    if n < 2 or len(text.indices) == 0:
        return np.empty((0, 2), dtype=np.int64)
    sizes = text.sizes
    matrix = text.to_csr()
    parts = []
    for start in range(0, n, _TEXT_BLOCK_ROWS):
        stop = min(n, start + _TEXT_BLOCK_ROWS)
        block = (matrix[start:stop] @ matrix[start:].T).tocoo()
        rows = block.row.astype(np.int64) + start
        cols = block.col.astype(np.int64) + start
        overlap = block.data
        keep = cols > rows
        rows, cols, overlap = rows[keep], cols[keep], overlap[keep]
        bound = min_jaccard - BOUND_MARGIN
        keep = overlap * (1 + bound) >= bound * (sizes[rows] + sizes[cols])
        parts.append(np.column_stack((rows[keep], cols[keep])))
    return np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)


def candidate_pairs(
    arrays: ReportArrays, model: SimilarityModel, plan: CandidatePlan | None = None
) -> tuple[np.ndarray, CandidatePlan]:
    """Generate the candidate pairs of a model: a superset of its edges, never all pairs.

    Parameters
    ----------
    arrays : ReportArrays
        From :func:`prepare_reports`.
    model : SimilarityModel
        The model.
    plan : CandidatePlan, optional
        Defaults to :func:`plan_candidates`.

    Returns
    -------
    pairs : numpy.ndarray
        (m, 2) int64 positional pairs with ``i < j``, each pair once, sorted.
    plan : CandidatePlan
        The plan used.

    Warns
    -----
    ExhaustiveScoringWarning
        When the plan is exhaustive; the pairs are then all ``n (n - 1) / 2`` pairs.
    """
    plan = plan or plan_candidates(arrays, model)
    n = len(arrays)
    if plan.exhaustive:
        warnings.warn(
            f"exact candidate blocking is impossible for this model: {plan.explanation}",
            ExhaustiveScoringWarning,
            stacklevel=2,
        )
        i, j = np.triu_indices(n, k=1)
        return np.column_stack((i, j)).astype(np.int64), plan
    # Each route's pairs become int64 keys i·n + j at once, so its (m, 2) array is freed
    # before the next allocation (these are the largest arrays of an analysis).
    key_parts = []
    if plan.spatial_radius_m is not None:
        key_parts.append(_pair_keys(_spatial_pairs(arrays, plan.spatial_radius_m), n))
    if plan.text_min_jaccard is not None:
        text_pairs = _text_pairs(arrays, plan.text_min_jaccard)
        if plan.gate_m is not None and len(text_pairs):
            d = haversine_m(
                arrays.lon[text_pairs[:, 0]],
                arrays.lat[text_pairs[:, 0]],
                arrays.lon[text_pairs[:, 1]],
                arrays.lat[text_pairs[:, 1]],
            )
            text_pairs = text_pairs[d <= plan.gate_m]
        key_parts.append(_pair_keys(text_pairs, n))
        del text_pairs
    if not key_parts:
        return np.empty((0, 2), dtype=np.int64), plan
    routes = len(key_parts)
    keys = key_parts[0] if routes == 1 else np.concatenate(key_parts)
    del key_parts
    keys.sort()
    if routes > 1 and len(keys) > 1:  # a route gives each pair once; two routes may overlap
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    pairs = np.empty((len(keys), 2), dtype=np.int64)
    np.floor_divide(keys, n, out=pairs[:, 0])
    np.subtract(keys, pairs[:, 0] * n, out=pairs[:, 1])
    return pairs, plan
