"""Exact candidate generation: every edge of a model, never all pairs.

The features are split into *routes* (location: a grid radius join on the sphere's chord
distances; text: an exact set-similarity join, blocked by classification or brand when
the weights require it) and the rest. If every route feature were
below its route bound, the score could reach at most ``sum(other weights) + sum(route
weight × bound)``; the bounds are chosen so that this is below the threshold, so every
edge lies in the union of the route joins. A model's radius gate is itself an exact
route (no edge lies beyond it). When no such bounds exist (the non-route weights alone
reach the threshold) and there is no radius gate, an :class:`ExhaustiveScoringWarning` is
issued and all pairs are scored in chunks — edges are never dropped silently.

Under ``missing="ignore"`` a pair is scored over its known features, so a pair without
text must reach the threshold without text's weight: such a pair "gains" as much as a
text kernel equal to the threshold would give, which the text route's bound accounts for
(outside the route text counts as at least ``threshold × weight``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.spatial import cKDTree

from cleanapp_geo.arrays import ReportArrays, chord_m, haversine_m
from cleanapp_geo.errors import ExhaustiveScoringWarning
from cleanapp_geo.model import FEATURES, SimilarityModel
from cleanapp_geo.text import TextFeatures

__all__ = [
    "BOUND_MARGIN",
    "CandidateGraph",
    "CandidatePlan",
    "candidate_graph",
    "candidate_pairs",
    "plan_candidates",
]

#: Safety margin on score bounds, far above float rounding of a six-term sum.
BOUND_MARGIN: Final = 1e-9
_THREADED_JOIN_MIN_REPORTS: Final = 5_000
_ESTIMATE_SAMPLE: Final = 20_000
#: Equality features the text join may be blocked by.
_BLOCKABLE: Final = ("classification", "brand", "category")
# A spatial-only plan with at most this many candidate pairs per report is taken as is.
_CHEAP_PAIRS_PER_REPORT: Final = 64


@dataclass(frozen=True, slots=True)
class CandidatePlan:
    """How candidate pairs are generated for a model (see the module docstring).

    Attributes
    ----------
    spatial_radius_m : float or None
        Radius of the spatial join (None: no spatial route).
    text_min_jaccard : float or None
        Jaccard bound of the set-similarity join (None: no text route).
    gate_m : float or None
        The model's radius gate; text-route pairs beyond it are dropped.
    exhaustive : bool
        True when every pair must be scored.
    explanation : str
        Why this plan is exact.
    text_blocks : tuple of tuple of str
        The text join is the union of one join per entry, each only among reports equal
        on the named features (``classification``, ``brand``, ``category``; a report
        without a brand or category has none to share); ``((),)`` is one join over all
        reports. Blocking is used when a pair outside the spatial route cannot reach the
        threshold without those features.
    spatial_pairs_estimate : float
        Expected number of spatial-route pairs (sizes the join's output).
    """

    spatial_radius_m: float | None
    text_min_jaccard: float | None
    gate_m: float | None
    exhaustive: bool
    explanation: str
    text_blocks: tuple[tuple[str, ...], ...] = ((),)
    spatial_pairs_estimate: float = 0.0


def _route_options(
    model: SimilarityModel,
) -> Iterator[tuple[float | None, float | None, float, str]]:
    """Yield exact options for the model.

    Each is (spatial radius, text bound, the most location contributes outside the
    spatial route, explanation).
    """
    w = model.weights
    gate = model.radius_gate_m
    if gate is not None:
        yield gate, None, 0.0, f"every edge is within the {gate:g} m radius gate"
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
        # Pairs outside the text route contribute < budget through text (None: text
        # never reaches the budget, no route needed; NaN: no bound works, see below).
        if budget >= w["text"]:
            return None
        if model.missing == "ignore" and budget <= model.threshold * w["text"]:
            # Under "ignore" a pair without text leaves text's weight out of the total,
            # which helps it as much as a text kernel at the threshold would: outside
            # the route text counts as at least threshold × weight.
            return math.nan
        if model.text_kernel == "step":
            return model.text_min_jaccard
        return budget / w["text"] * model.text_saturation

    if w["location"] == 0 and w["text"] == 0:
        yield None, None, 0.0, "the non-route weights cannot reach the threshold: no edges"
        return
    # Drop one route entirely (its whole weight counts as slack used).
    if w["text"] <= slack and w["location"] > 0:
        budget = slack - w["text"]
        yield spatial(budget), None, budget, "edges need location (text cannot suffice)"
    if w["location"] <= slack and w["text"] > 0:
        bound = textual(slack - w["location"])
        if not (bound is not None and math.isnan(bound)):
            yield None, bound, w["location"], "edges need text (location cannot suffice)"
    if w["location"] > 0 and w["text"] > 0:
        for share in (0.2, 0.35, 0.5, 0.65, 0.8):
            bound = textual(slack * share)
            if bound is not None and math.isnan(bound):
                continue
            budget = 0.0 if model.location_kernel == "step" else slack * (1 - share)
            yield (
                spatial(slack * (1 - share)),
                bound,
                budget,
                "edges need location or text",
            )


def _text_blocks(model: SimilarityModel, location_budget: float) -> tuple[tuple[str, ...], ...]:
    """Equality blocks of the text join (see :attr:`CandidatePlan.text_blocks`).

    A pair found only by the text route has a location contribution below
    ``location_budget``; if it could not reach the threshold with the classification
    (or brand) kernel at 0 even with perfect text, every such edge shares it.
    """
    w = model.weights
    t = model.threshold

    def reaches_without(*features: str) -> bool:
        if model.missing == "no_match":
            best = math.fsum(w[f] for f in FEATURES if f != "location") + location_budget
            return best - math.fsum(w[f] for f in features) >= t - BOUND_MARGIN
        # "ignore": the score reaches t when sum(w_f (k_f - t)) over the known features
        # does. Text is known (the pair shares tokens); each blockable feature may be
        # unknown, which costs nothing (a known, different value would cost t × w_f).
        excess = location_budget - t * w["location"]
        excess += math.fsum(
            w[f] * (1 - t) for f in FEATURES if f != "location" and f not in features
        )
        return excess >= -BOUND_MARGIN

    required = tuple(f for f in _BLOCKABLE if not reaches_without(f))
    if required:
        return (required,)
    if not reaches_without(*_BLOCKABLE):
        # An edge shares at least one of them (one with weight: sharing a feature of
        # weight 0 does not help): the union of one join per feature.
        return tuple((f,) for f in _BLOCKABLE if w[f] > 0)
    return ((),)


def _estimate_spatial_pairs(arrays: ReportArrays, radius_m: float) -> float:
    """Estimate the pairs within ``radius_m`` from a k-d tree over a random sample."""
    n = len(arrays)
    if n < 2:
        return 0.0
    rng = np.random.default_rng(0)
    sample = rng.choice(n, size=min(n, _ESTIMATE_SAMPLE), replace=False)
    tree = cKDTree(arrays.xyz[sample])
    probes = arrays.xyz[sample[:1000]]
    neighbours = tree.query_ball_point(probes, chord_m(radius_m), return_length=True) - 1
    return float(n * np.mean(neighbours) * (n - 1) / max(len(sample) - 1, 1) / 2)


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
    for radius, min_jaccard, location_budget, why in _route_options(model):
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
        blocks = _text_blocks(model, location_budget) if min_jaccard is not None else ((),)
        plan = CandidatePlan(radius, min_jaccard, model.radius_gate_m, False, why, blocks, cost)
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


def _spatial_pairs(
    arrays: ReportArrays, radius_m: float, expected_pairs: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within ``radius_m`` as int32 ``(lower, higher)`` positions.

    A grid join on chord distances (a k-d tree when the grid would be too fine for 64-bit
    cell keys).
    """
    from cleanapp_geo import _join_accel

    chord = chord_m(radius_m)
    found = _join_accel.radius_pairs(arrays.xyz, chord, expected_pairs=int(expected_pairs))
    if found is not None:
        return found
    pairs = arrays.tree.query_pairs(chord, output_type="ndarray").reshape(-1, 2)
    return pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)


def _text_pairs(
    arrays: ReportArrays,
    min_jaccard: float,
    blocks: tuple[tuple[str, ...], ...] = ((),),
    *,
    model_ignores_missing: bool = False,
) -> np.ndarray:
    """All pairs whose token sets have ``Jaccard >= min_jaccard`` (exact), within blocks.

    One join per entry of ``blocks`` (see :attr:`CandidatePlan.text_blocks`) among the
    reports of each group of equal block features; the union may repeat a pair.
    """
    text = arrays.text
    n = len(arrays)
    if n < 2 or len(text.indices) == 0:
        return np.empty((0, 2), dtype=np.int64)
    parts = []
    for features in blocks:
        if not features:
            parts.append(_jaccard_join(text, min_jaccard))
            continue
        classification = arrays.classification
        if model_ignores_missing:
            classification = np.where(arrays.classification_known, classification, -1)
        codes = {
            "classification": classification,
            "brand": arrays.brand,
            "category": arrays.category,
        }
        key = np.zeros(n, dtype=np.int64)
        valid = np.ones(n, dtype=bool)
        for feature in features:
            values = codes[feature]
            valid &= values >= 0
            key = key * (int(values.max(initial=0)) + 1) + np.maximum(values, 0)
        rows = np.flatnonzero(valid)
        rows = rows[np.argsort(key[rows], kind="stable")]
        bounds = np.flatnonzero(np.diff(key[rows])) + 1
        for group in np.split(rows, bounds):
            if len(group) > 1:
                parts.append(group[_jaccard_join(text.take(group), min_jaccard)])
    return np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)


def _jaccard_join(text: TextFeatures, min_jaccard: float) -> np.ndarray:
    """(m, 2) row pairs ``(y, x)``, ``y < x``, with ``Jaccard >= min_jaccard`` (exact).

    A compiled all-pairs join over the inverted index (see
    :func:`cleanapp_geo._join_accel.jaccard_join`), on two threads for many reports. Its
    cost grows with the number of pairs sharing any token: at low bounds such as
    upstream's 0.15 on long texts it is the costliest step of an analysis.
    """
    from cleanapp_geo import _join_accel

    n = text.n_reports
    if n < 2 or len(text.indices) == 0:
        return np.empty((0, 2), dtype=np.int64)
    token_ptr, token_rows = _join_accel.postings(text.indptr, text.indices, len(text.vocabulary))
    bound = min_jaccard - BOUND_MARGIN

    def join(first_row: int, row_step: int) -> tuple[np.ndarray, np.ndarray]:
        return _join_accel.jaccard_join(
            text.indptr, text.indices, token_ptr, token_rows, bound, first_row, row_step
        )

    if n < _THREADED_JOIN_MIN_REPORTS:
        parts = [join(0, 1)]
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = list(pool.map(join, (0, 1), (2, 2)))
    return np.column_stack(
        (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    )


@dataclass(frozen=True, slots=True)
class CandidateGraph:
    """Candidate pairs as an upper-triangular adjacency (CSR).

    Report ``i`` (positional) is paired with ``neighbors[indptr[i]:indptr[i + 1]]``, all
    greater than ``i`` and sorted, so the pairs are in ``(i, j)`` order, each once. At a
    million reports this is a third of the memory of an (m, 2) int64 pair array.

    Attributes
    ----------
    indptr : numpy.ndarray
        int64, length ``n + 1``.
    neighbors : numpy.ndarray
        int32 partner positions.
    """

    indptr: np.ndarray
    neighbors: np.ndarray

    def __len__(self) -> int:
        return len(self.neighbors)

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the pairs ``(i, j)`` as int64 arrays of at most ``size`` pairs."""
        for start in range(0, len(self), size):
            stop = min(len(self), start + size)
            yield self.rows(start, stop), self.neighbors[start:stop].astype(np.int64)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Return the ``i`` of pairs ``start:stop`` (int64)."""
        first = int(np.searchsorted(self.indptr, start, side="right")) - 1
        last = int(np.searchsorted(self.indptr, stop, side="left"))
        bounds = np.clip(self.indptr[first : last + 1], start, stop)
        return np.repeat(np.arange(first, last, dtype=np.int64), np.diff(bounds))

    def pairs(self) -> np.ndarray:
        """All pairs as an (m, 2) int64 array."""
        return np.column_stack((self.rows(0, len(self)), self.neighbors.astype(np.int64)))

    @classmethod
    def from_pairs(cls, lower: np.ndarray, higher: np.ndarray, n: int) -> CandidateGraph:
        """Build from pairs ``lower[k] < higher[k]`` (repeats are kept once)."""
        from cleanapp_geo import _join_accel

        indptr, neighbors = _join_accel.pairs_to_csr(
            lower.astype(np.int32, copy=False), higher.astype(np.int32, copy=False), n
        )
        return cls(indptr=indptr, neighbors=neighbors)


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

    See Also
    --------
    candidate_graph : The same pairs in a compact adjacency layout.
    """
    graph, plan = candidate_graph(arrays, model, plan)
    return graph.pairs(), plan


def candidate_graph(
    arrays: ReportArrays, model: SimilarityModel, plan: CandidatePlan | None = None
) -> tuple[CandidateGraph, CandidatePlan]:
    """Generate the candidate pairs of a model as a :class:`CandidateGraph`.

    Parameters and warnings as :func:`candidate_pairs`.
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
        return CandidateGraph.from_pairs(i, j, n), plan
    lower_parts, higher_parts = [], []
    if plan.spatial_radius_m is not None:
        lower, higher = _spatial_pairs(arrays, plan.spatial_radius_m, plan.spatial_pairs_estimate)
        lower_parts.append(lower)
        higher_parts.append(higher)
    if plan.text_min_jaccard is not None:
        text_pairs = _text_pairs(
            arrays,
            plan.text_min_jaccard,
            plan.text_blocks,
            model_ignores_missing=model.missing == "ignore",
        )
        if plan.gate_m is not None and len(text_pairs):
            d = haversine_m(
                arrays.lon[text_pairs[:, 0]],
                arrays.lat[text_pairs[:, 0]],
                arrays.lon[text_pairs[:, 1]],
                arrays.lat[text_pairs[:, 1]],
            )
            text_pairs = text_pairs[d <= plan.gate_m]
        lower_parts.append(text_pairs[:, 0].astype(np.int32))
        higher_parts.append(text_pairs[:, 1].astype(np.int32))
        del text_pairs
    if not lower_parts:
        return CandidateGraph.from_pairs(np.empty(0, np.int32), np.empty(0, np.int32), n), plan
    lower = lower_parts[0] if len(lower_parts) == 1 else np.concatenate(lower_parts)
    higher = higher_parts[0] if len(higher_parts) == 1 else np.concatenate(higher_parts)
    del lower_parts, higher_parts
    return CandidateGraph.from_pairs(lower, higher, n), plan
