"""Explainable weighted similarity between reports, with exact candidate generation.

A :class:`SimilarityModel` scores a pair of reports as a weighted sum of six features,
each mapped to [0, 1] by a kernel::

    score = w_cls·k_cls + w_sev·k_sev + w_text·k_text + w_loc·k_loc + w_brand·k_brand
            + w_time·k_time

==================== ============================ =========================================
feature              ``step`` kernel (upstream)   smooth kernel
==================== ============================ =========================================
``classification``   same resolved classification (step only)
``severity``         ``|Δseverity| <= 0.2``       ``linear``: ``1 - |Δseverity|``
``text``             ``Jaccard > 0.15``           ``jaccard``: ``min(1, Jaccard / saturation)``
``location``         haversine ``d < 100 m``      ``exp``: ``exp(-d / scale_m)``
``brand``            equal non-empty display name, case-insensitive (step only)
``time``             ``|Δt| <= max_s``            ``exp``: ``exp(-|Δt| / scale_s)``
==================== ============================ =========================================

Two reports are linked by an *edge* when ``score >= threshold`` and, if the model has a
radius gate, their distance is at most ``radius_gate_m``.

Candidate generation is exact: the edges found are identical to those of a brute-force
loop over all pairs. Only pairs that can reach the threshold are generated. The features
are split into *routes* (location: a KD-tree radius join; text: a prefix-filtered
set-similarity join) and the rest. If every route feature were below its route bound,
the score could reach at most ``sum(other weights) + sum(route weight × bound)``; the
bounds are chosen so that this is below the threshold, so every edge lies in the union
of the route joins. When no such bounds exist (the non-route weights alone reach the
threshold) and there is no radius gate, an :class:`ExhaustiveScoringWarning` is issued
and all pairs are scored in chunks — edges are never dropped silently.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from cleanapp_geo.errors import ExhaustiveScoringWarning, InvalidModelError, UnknownReportError
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    CLASSIFICATION,
    DESCRIPTION,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
)
from cleanapp_geo.text import DEFAULT_STOP_WORDS, UPSTREAM_STOP_WORDS, TextFeatures, jaccard_pairs

__all__ = [
    "DEFAULT_MODEL",
    "FEATURES",
    "REASONS",
    "UPSTREAM_MODEL",
    "CandidatePlan",
    "PairExplanation",
    "ReportArrays",
    "SimilarityModel",
    "candidate_pairs",
    "explain_pair",
    "plan_candidates",
    "prepare_reports",
    "score_pairs",
    "similarity_edges",
]

#: Feature names, in the order their contributions are summed.
FEATURES: Final = ("classification", "severity", "text", "location", "brand", "time")

#: Rationale string of each feature (the upstream strings for the first five).
REASONS: Final = {
    "classification": "same classification",
    "severity": "similar severity",
    "text": "shared incident language",
    "location": "same physical location",
    "brand": "same organization",
    "time": "close in time",
}

#: A reason is listed for an edge when the feature's kernel value reaches this.
REASON_MIN_KERNEL: Final = 0.5

EARTH_RADIUS_M: Final = 6_371_000.0
_BOUND_MARGIN: Final = 1e-9
_SCORE_CHUNK: Final = 2_000_000
_TEXT_BLOCK_OUTPUT: Final = 4_000_000
_DEFAULT_CLASSIFICATION: Final = "physical"

Vocabulary = Literal["default", "upstream"]


@dataclass(frozen=True, slots=True)
class SimilarityModel:
    """Weights, kernels and threshold of the pairwise report similarity.

    Parameters
    ----------
    weight_classification, weight_severity, weight_text, weight_location, weight_brand, \
weight_time : float
        Non-negative feature weights summing to 1, so every score lies in [0, 1].
    severity_kernel : {"step", "linear"}
        ``step``: 1 when ``|Δseverity| <= severity_max_diff``; ``linear``: ``1 - |Δ|``.
    severity_max_diff : float
        Step bound on the severity difference.
    text_kernel : {"step", "jaccard"}
        ``step``: 1 when ``Jaccard > text_min_jaccard``; ``jaccard``:
        ``min(1, Jaccard / text_saturation)``.
    text_min_jaccard : float
        Step bound on the token-set Jaccard similarity (strict).
    text_saturation : float
        Jaccard value at which the smooth text kernel reaches 1.
    location_kernel : {"step", "exp"}
        ``step``: 1 when the haversine distance ``< location_max_m``; ``exp``:
        ``exp(-d / location_scale_m)``.
    location_max_m, location_scale_m : float
        Step bound (strict) and exponential scale of the distance, in metres.
    time_kernel : {"step", "exp"}
        ``step``: 1 when ``|Δt| <= time_max_s``; ``exp``: ``exp(-|Δt| / time_scale_s)``.
    time_max_s, time_scale_s : float
        Step bound and exponential scale of the time difference, in seconds.
    threshold : float
        An edge needs ``score >= threshold``; in (0, 1].
    radius_gate_m : float or None
        When set, pairs farther apart than this are never edges.
    vocabulary : {"default", "upstream"}
        Stop-word list for the text feature (:data:`~cleanapp_geo.text.DEFAULT_STOP_WORDS`
        or the upstream list).
    min_token_chars : int
        Tokens shorter than this many characters are dropped.

    Raises
    ------
    InvalidModelError
        When a weight is negative or not finite, the weights do not sum to 1, a kernel
        name is unknown, or a bound, scale or threshold is out of range.
    """

    weight_classification: float = 0.2
    weight_severity: float = 0.1
    weight_text: float = 0.4
    weight_location: float = 0.2
    weight_brand: float = 0.1
    weight_time: float = 0.0
    severity_kernel: Literal["step", "linear"] = "step"
    severity_max_diff: float = 0.2
    text_kernel: Literal["step", "jaccard"] = "step"
    text_min_jaccard: float = 0.15
    text_saturation: float = 1.0
    location_kernel: Literal["step", "exp"] = "step"
    location_max_m: float = 100.0
    location_scale_m: float = 50.0
    time_kernel: Literal["step", "exp"] = "step"
    time_max_s: float = 7 * 86_400.0
    time_scale_s: float = 3 * 86_400.0
    threshold: float = 0.55
    radius_gate_m: float | None = None
    vocabulary: Vocabulary = "default"
    min_token_chars: int = 3

    def __post_init__(self) -> None:
        weights = self.weights
        for name, value in weights.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidModelError(
                    f"weight_{name} must be a finite number >= 0, got {value!r}"
                )
        total = math.fsum(weights.values())
        if abs(total - 1.0) > 1e-6:
            raise InvalidModelError(
                f"weights must sum to 1 so scores lie in [0, 1]; got {total:.6g} "
                f"({', '.join(f'{k}={v:g}' for k, v in weights.items())}); "
                "use SimilarityModel.with_weights(...) to normalise"
            )
        kernels = {
            "severity_kernel": ("step", "linear"),
            "text_kernel": ("step", "jaccard"),
            "location_kernel": ("step", "exp"),
            "time_kernel": ("step", "exp"),
            "vocabulary": ("default", "upstream"),
        }
        for name, allowed in kernels.items():
            if getattr(self, name) not in allowed:
                raise InvalidModelError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        positive = (
            "location_max_m",
            "location_scale_m",
            "time_max_s",
            "time_scale_s",
            "text_saturation",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise InvalidModelError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("severity_max_diff", "text_min_jaccard"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InvalidModelError(f"{name} must lie in [0, 1], got {value!r}")
        if not isinstance(self.threshold, int | float) or not 0 < self.threshold <= 1:
            raise InvalidModelError(f"threshold must lie in (0, 1], got {self.threshold!r}")
        gate = self.radius_gate_m
        if gate is not None and (
            not isinstance(gate, int | float) or not math.isfinite(gate) or gate <= 0
        ):
            raise InvalidModelError(f"radius_gate_m must be None or a number > 0, got {gate!r}")
        if not isinstance(self.min_token_chars, int) or self.min_token_chars < 1:
            raise InvalidModelError(
                f"min_token_chars must be an integer >= 1, got {self.min_token_chars!r}"
            )

    @property
    def weights(self) -> dict[str, float]:
        """Feature weights keyed by feature name, in summation order."""
        return {name: getattr(self, f"weight_{name}") for name in FEATURES}

    @property
    def stop_words(self) -> frozenset[str]:
        """The stop words of the model's vocabulary."""
        return UPSTREAM_STOP_WORDS if self.vocabulary == "upstream" else DEFAULT_STOP_WORDS

    def with_weights(self, **weights: float) -> SimilarityModel:
        """Return a copy with new weights, normalised to sum to 1.

        Parameters
        ----------
        **weights : float
            Weights by feature name (``classification``, ``severity``, ``text``,
            ``location``, ``brand``, ``time``); features not given keep their weight.

        Returns
        -------
        SimilarityModel
        """
        unknown = sorted(set(weights) - set(FEATURES))
        if unknown:
            raise InvalidModelError(f"unknown features {unknown}; expected {list(FEATURES)}")
        merged = {**self.weights, **weights}
        for name, value in merged.items():
            if not math.isfinite(value) or value < 0:
                raise InvalidModelError(
                    f"weight_{name} must be a finite number >= 0, got {value!r}"
                )
        total = math.fsum(merged.values())
        if total <= 0:
            raise InvalidModelError("at least one weight must be positive")
        normalised: dict[str, Any] = {f"weight_{k}": v / total for k, v in merged.items()}
        return replace(self, **normalised)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> SimilarityModel:
        """Build a model from :meth:`to_dict` output (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidModelError(f"unknown model parameters {unknown}")
        return cls(**params)


#: The upstream Go system, exactly: weights 0.20/0.10/0.40/0.20/0.10, step kernels,
#: threshold 0.55, no radius gate, upstream stop words (token length in characters).
UPSTREAM_MODEL: Final = SimilarityModel(vocabulary="upstream")

#: Our default model (smooth kernels, a 150 m radius gate and a time feature).
DEFAULT_MODEL: Final = SimilarityModel(
    weight_classification=0.10,
    weight_severity=0.10,
    weight_text=0.30,
    weight_location=0.30,
    weight_brand=0.10,
    weight_time=0.10,
    severity_kernel="linear",
    text_kernel="jaccard",
    text_saturation=0.3,
    location_kernel="exp",
    location_scale_m=40.0,
    time_kernel="exp",
    time_scale_s=3 * 86_400.0,
    threshold=0.6,
    radius_gate_m=150.0,
)


@dataclass(frozen=True, slots=True, eq=False)
class ReportArrays:
    """Per-report arrays that pair scoring reads, computed once per analysis.

    Attributes
    ----------
    seq : numpy.ndarray
        int64 report seqs, in frame order.
    lon, lat : numpy.ndarray
        float64 degrees.
    xyz : numpy.ndarray
        (n, 3) float64 positions on a sphere of radius 6,371 km (for the KD-tree).
    classification : numpy.ndarray
        int64 codes of the resolved classification (analysis, else scope, else physical).
    classification_names : numpy.ndarray
        The resolved classification string of every report.
    severity : numpy.ndarray
        float64 severity levels.
    brand : numpy.ndarray
        int64 codes of the lowercased brand display name; -1 when empty.
    ts_ns : numpy.ndarray
        int64 nanoseconds since the epoch (UTC).
    text : TextFeatures
        Token sets of title + summary + description.
    title_text : numpy.ndarray
        First non-blank of title, summary, description ("" when all blank).
    """

    seq: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    xyz: np.ndarray
    classification: np.ndarray
    classification_names: np.ndarray
    severity: np.ndarray
    brand: np.ndarray
    ts_ns: np.ndarray
    text: TextFeatures
    title_text: np.ndarray
    _tree: list[cKDTree] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def tree(self) -> cKDTree:
        """KD-tree over :attr:`xyz` (built on first use)."""
        if not self._tree:
            self._tree.append(cKDTree(self.xyz, balanced_tree=False, compact_nodes=False))
        return self._tree[0]


def resolved_classification(reports: pd.DataFrame, classification: str | None) -> np.ndarray:
    """Return each report's classification, else the scope's, else ``physical``."""
    fallback = classification or _DEFAULT_CLASSIFICATION
    values = reports[CLASSIFICATION].to_numpy(dtype=object)
    return np.where(values == "", fallback, values).astype(object)


def prepare_reports(
    reports: gpd.GeoDataFrame,
    model: SimilarityModel,
    *,
    classification: str | None = None,
) -> ReportArrays:
    """Compute the per-report arrays used by scoring (text features included).

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A validated report frame.
    model : SimilarityModel
        Gives the tokenizer settings.
    classification : str, optional
        Scope classification, used for reports whose analysis has none.

    Returns
    -------
    ReportArrays
    """
    geoms = reports.geometry.array
    lon = np.asarray(shapely.get_x(geoms), dtype=np.float64)
    lat = np.asarray(shapely.get_y(geoms), dtype=np.float64)
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    cos_lat = np.cos(lat_r)
    xyz = EARTH_RADIUS_M * np.column_stack(
        (cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r))
    )
    names = resolved_classification(reports, classification)
    class_codes, _ = pd.factorize(names)
    brand_lower = reports[BRAND_DISPLAY_NAME].str.lower().to_numpy(dtype=object)
    brand_codes, _ = pd.factorize(brand_lower)
    brand_codes = np.where(brand_lower == "", -1, brand_codes).astype(np.int64)
    title, summary, description = (
        reports[c].to_numpy(dtype=object) for c in (TITLE, SUMMARY, DESCRIPTION)
    )
    texts = (reports[TITLE] + " " + reports[SUMMARY] + " " + reports[DESCRIPTION]).to_numpy(
        dtype=object
    )
    title_text = _first_non_blank(title, summary, description)
    text = TextFeatures.from_texts(
        texts, stop_words=model.stop_words, min_token_chars=model.min_token_chars
    )
    ts_ns = reports[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ReportArrays(
        seq=reports[SEQ].to_numpy(dtype=np.int64),
        lon=lon,
        lat=lat,
        xyz=xyz,
        classification=class_codes.astype(np.int64),
        classification_names=names,
        severity=reports[SEVERITY_LEVEL].to_numpy(dtype=np.float64),
        brand=brand_codes,
        ts_ns=ts_ns,
        text=text,
        title_text=title_text,
    )


def _first_non_blank(*columns: np.ndarray) -> np.ndarray:
    result = np.full(len(columns[0]), "", dtype=object)
    unset = np.ones(len(result), dtype=bool)
    for column in columns:
        stripped = np.array([s.strip() for s in column], dtype=object)
        take = unset & (stripped != "")
        result[take] = column[take]
        unset &= ~take
    return result


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres on a sphere of radius 6,371 km (as upstream)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arctan2(np.sqrt(a), np.sqrt(np.clip(1 - a, 0, None)))


def _chord_m(distance_m: float) -> float:
    """KD-tree radius that contains every pair within ``distance_m`` (with a margin)."""
    if distance_m >= math.pi * EARTH_RADIUS_M:
        return 2 * EARTH_RADIUS_M * 1.000001
    chord = 2 * EARTH_RADIUS_M * math.sin(distance_m / (2 * EARTH_RADIUS_M))
    return chord * (1 + 1e-9) + 1e-6


def score_pairs(
    arrays: ReportArrays, i: np.ndarray, j: np.ndarray, model: SimilarityModel
) -> dict[str, np.ndarray]:
    """Score report pairs ``(i[k], j[k])`` (positional indices), fully vectorised.

    Parameters
    ----------
    arrays : ReportArrays
        From :func:`prepare_reports`.
    i, j : numpy.ndarray
        Positional indices of equal length.
    model : SimilarityModel
        The model.

    Returns
    -------
    dict of str to numpy.ndarray
        For every feature its weighted contribution ``weight × kernel``, plus ``score``
        (their sum, in :data:`FEATURES` order), ``distance_m``, ``jaccard``,
        ``severity_diff``, ``time_diff_s`` and ``is_edge`` (score >= threshold and within
        the radius gate).
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    w = model.weights
    out: dict[str, np.ndarray] = {}
    measures = _pair_measures(arrays, i, j)
    kernels = _kernels_except_text(arrays, i, j, model, measures)
    # Text is the expensive feature: compute it only where it can change the outcome.
    without_text = sum(w[f] * kernels[f] for f in FEATURES if f != "text")
    needs_text = np.asarray(without_text + w["text"] >= model.threshold - _BOUND_MARGIN)
    jaccard = np.zeros(len(i), dtype=np.float64)
    if w["text"] > 0 and needs_text.any():
        jaccard[needs_text] = jaccard_pairs(arrays.text, i[needs_text], j[needs_text])
    kernels["text"] = _text_kernel(jaccard, model)
    distance = measures["distance_m"]
    score = np.zeros(len(i), dtype=np.float64)
    for feature in FEATURES:
        contribution = w[feature] * kernels[feature]
        out[feature] = contribution
        score = score + contribution
    out["score"] = score
    is_edge = score >= model.threshold
    if model.radius_gate_m is not None:
        is_edge &= distance <= model.radius_gate_m
    out["is_edge"] = is_edge
    out.update(measures)
    out["jaccard"] = np.where(needs_text & (w["text"] > 0), jaccard, np.nan)
    out["reasons"] = _reason_bits(kernels, w)
    return out


def _pair_measures(arrays: ReportArrays, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "distance_m": haversine_m(arrays.lon[i], arrays.lat[i], arrays.lon[j], arrays.lat[j]),
        "severity_diff": np.abs(arrays.severity[i] - arrays.severity[j]),
        "time_diff_s": np.abs(arrays.ts_ns[i] - arrays.ts_ns[j]) / 1e9,
    }


def _kernels_except_text(
    arrays: ReportArrays,
    i: np.ndarray,
    j: np.ndarray,
    model: SimilarityModel,
    measures: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    distance = measures["distance_m"]
    severity_diff = measures["severity_diff"]
    time_diff_s = measures["time_diff_s"]
    return {
        "classification": (arrays.classification[i] == arrays.classification[j]).astype(float),
        "severity": (
            (severity_diff <= model.severity_max_diff).astype(float)
            if model.severity_kernel == "step"
            else 1.0 - severity_diff
        ),
        "location": (
            (distance < model.location_max_m).astype(float)
            if model.location_kernel == "step"
            else np.exp(-distance / model.location_scale_m)
        ),
        "brand": ((arrays.brand[i] == arrays.brand[j]) & (arrays.brand[i] >= 0)).astype(float),
        "time": (
            (time_diff_s <= model.time_max_s).astype(float)
            if model.time_kernel == "step"
            else np.exp(-time_diff_s / model.time_scale_s)
        ),
    }


def _text_kernel(jaccard: np.ndarray, model: SimilarityModel) -> np.ndarray:
    if model.text_kernel == "step":
        return (jaccard > model.text_min_jaccard).astype(float)
    return np.minimum(1.0, jaccard / model.text_saturation)


def _reason_bits(kernels: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Bit mask of the features with a positive weight whose kernel is at least 0.5."""
    bits = np.zeros(len(kernels["classification"]), dtype=np.int64)
    for bit, feature in enumerate(FEATURES):
        if weights[feature] > 0:
            bits |= (kernels[feature] >= REASON_MIN_KERNEL).astype(np.int64) << bit
    return bits


def reasons_from_bits(bits: int) -> list[str]:
    """Decode a reason bit mask into the sorted list of rationale strings."""
    return sorted(REASONS[f] for bit, f in enumerate(FEATURES) if bits >> bit & 1)


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
    slack = model.threshold - others - _BOUND_MARGIN
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
    counts = arrays.tree.query_ball_point(
        arrays.xyz[sample], _chord_m(radius_m), return_length=True
    )
    return float(n * (np.mean(counts) - 1) / 2)


def _prefix_lengths(text: TextFeatures, min_jaccard: float) -> np.ndarray:
    sizes = text.sizes
    needed = np.ceil(min_jaccard * sizes - 1e-9).astype(np.int64)
    return np.clip(sizes - np.maximum(needed, 1) + 1, 0, sizes)


def _estimate_text_pairs(arrays: ReportArrays, min_jaccard: float) -> float:
    text = arrays.text
    if min_jaccard <= 0:
        return float(len(arrays)) ** 2 / 2
    prefix = _prefix_lengths(text, min_jaccard)
    position = np.arange(len(text.indices)) - np.repeat(text.indptr[:-1], text.sizes)
    tokens = text.indices[position < np.repeat(prefix, text.sizes)]
    df = np.bincount(tokens, minlength=len(text.vocabulary)).astype(np.float64)
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
        if min_jaccard is not None:
            cost += 3.0 * _estimate_text_pairs(arrays, min_jaccard)
        plan = CandidatePlan(radius, min_jaccard, model.radius_gate_m, False, why)
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
    pairs = arrays.tree.query_pairs(_chord_m(radius_m), output_type="ndarray")
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _text_pairs(arrays: ReportArrays, min_jaccard: float) -> np.ndarray:
    """Pairs whose token sets may have ``Jaccard >= min_jaccard`` (prefix filter)."""
    import scipy.sparse as sp

    text = arrays.text
    n = len(arrays)
    if n < 2 or len(text.indices) == 0:
        return np.empty((0, 2), dtype=np.int64)
    sizes = text.sizes
    prefix = _prefix_lengths(text, min_jaccard)
    position = np.arange(len(text.indices)) - np.repeat(text.indptr[:-1], sizes)
    in_prefix = position < np.repeat(prefix, sizes)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(prefix, out=indptr[1:])
    tokens = text.indices[in_prefix]
    shape = (n, len(text.vocabulary))
    ones = np.ones(len(tokens), dtype=np.int32)
    prefix_matrix = sp.csr_array((ones, tokens, indptr), shape=shape)
    transposed = prefix_matrix.T.tocsr()
    df = np.bincount(tokens, minlength=shape[1])
    row_cost = np.bincount(np.repeat(np.arange(n), prefix), weights=df[tokens], minlength=n)
    bounds = [0]
    cumulative = np.cumsum(row_cost)
    while bounds[-1] < n:
        start_cost = cumulative[bounds[-1] - 1] if bounds[-1] > 0 else 0
        stop = int(np.searchsorted(cumulative, start_cost + _TEXT_BLOCK_OUTPUT, side="right"))
        bounds.append(max(stop, bounds[-1] + 1))
    parts = []
    for start, stop in itertools.pairwise(bounds):
        block = (prefix_matrix[start:stop] @ transposed).tocoo()
        rows = block.row.astype(np.int64) + start
        cols = block.col.astype(np.int64)
        keep = cols > rows
        rows, cols = rows[keep], cols[keep]
        # Length filter: Jaccard >= t needs t·|A| <= |B| <= |A| / t.
        size_r, size_c = sizes[rows], sizes[cols]
        bound = min_jaccard - _BOUND_MARGIN
        keep = (size_c >= bound * size_r) & (size_r >= bound * size_c)
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
    parts = []
    if plan.spatial_radius_m is not None:
        parts.append(_spatial_pairs(arrays, plan.spatial_radius_m))
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
        parts.append(text_pairs)
    if not parts:
        return np.empty((0, 2), dtype=np.int64), plan
    keys = np.concatenate([p[:, 0] * n + p[:, 1] for p in parts])
    keys = np.unique(keys) if len(parts) > 1 else np.sort(keys)
    return np.column_stack(np.divmod(keys, n)).astype(np.int64), plan


EDGE_COLUMNS: Final = (*FEATURES, "score", "distance_m", "jaccard", "reasons")


def scored_edges(
    arrays: ReportArrays, pairs: np.ndarray, model: SimilarityModel
) -> dict[str, np.ndarray]:
    """Score candidate pairs in chunks and keep the edges.

    Returns a dict with positional ``i``, ``j`` and the :data:`EDGE_COLUMNS` of the
    edges only.
    """
    kept: dict[str, list[np.ndarray]] = {k: [] for k in ("i", "j", *EDGE_COLUMNS)}
    for start in range(0, len(pairs), _SCORE_CHUNK):
        chunk = pairs[start : start + _SCORE_CHUNK]
        scored = score_pairs(arrays, chunk[:, 0], chunk[:, 1], model)
        edge = scored["is_edge"]
        kept["i"].append(chunk[edge, 0])
        kept["j"].append(chunk[edge, 1])
        for column in EDGE_COLUMNS:
            kept[column].append(scored[column][edge])
    return {
        k: (np.concatenate(v) if v else np.empty(0, dtype=np.int64 if k in "ij" else float))
        for k, v in kept.items()
    }


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
    pairs, _ = candidate_pairs(arrays, model)
    return edges_frame(arrays, scored_edges(arrays, pairs, model))


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
        ``weight × kernel`` per feature.
    kernels : dict of str to float
        Kernel value per feature (0 where the weight is 0 is still computed).
    measures : dict of str to float
        Raw measures: ``distance_m``, ``jaccard``, ``severity_diff``, ``time_diff_s``.
    reasons : list of str
        Rationale strings of the features whose kernel value is at least 0.5.
    shared_tokens : list of str
        Tokens both reports share.
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
            lines.append(
                f"  {feature:<15} kernel {self.kernels[feature]:.3f}  "
                f"contribution {self.contributions[feature]:.3f}"
            )
        m = self.measures
        lines.append(
            f"  distance {m['distance_m']:.1f} m, Jaccard {m['jaccard']:.3f}, "
            f"|Δseverity| {m['severity_diff']:.2f}, |Δt| {m['time_diff_s'] / 3600:.1f} h"
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
    scored = score_pairs(arrays, i, j, model)
    jaccard = jaccard_pairs(arrays.text, i, j)
    measures = _pair_measures(arrays, i, j)
    kernel_arrays = _kernels_except_text(arrays, i, j, model, measures)
    kernel_arrays["text"] = _text_kernel(jaccard, model)
    kernels = {f: float(kernel_arrays[f][0]) for f in FEATURES}
    contributions = {f: float(scored[f][0]) for f in FEATURES}
    shared = sorted(arrays.text.tokens(0) & arrays.text.tokens(int(j[0])))
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
            "jaccard": float(jaccard[0]),
            "severity_diff": float(scored["severity_diff"][0]),
            "time_diff_s": float(scored["time_diff_s"][0]),
        },
        reasons=reasons_from_bits(int(scored["reasons"][0])),
        shared_tokens=shared,
    )
