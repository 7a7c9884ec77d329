"""The similarity model: features, kernels, weights, threshold and the two presets.

A :class:`SimilarityModel` scores a pair of reports as a weighted sum of seven features,
each mapped to [0, 1] by a kernel::

    score = w_cls·k_cls + w_sev·k_sev + w_text·k_text + w_loc·k_loc + w_brand·k_brand
            + w_time·k_time + w_cat·k_cat

==================== ============================ =========================================
feature              ``step`` kernel (upstream)   smooth kernel
==================== ============================ =========================================
``classification``   same resolved classification (step only)
``severity``         ``|Δseverity| <= 0.2``       ``linear``: ``1 - |Δseverity|``
``text``             ``Jaccard > 0.15``           ``jaccard``: ``min(1, Jaccard / saturation)``
``location``         haversine ``d < 100 m``      ``exp``: ``exp(-d / scale_m)``
``brand``            equal non-empty display name, case-insensitive (step only)
``time``             ``|Δt| <= max_s``            ``exp``: ``exp(-|Δt| / scale_s)``
``category``         equal non-empty category (a city's request type; step only)
==================== ============================ =========================================

Two reports are linked by an *edge* when ``score >= threshold`` and, if the model has a
radius gate, their distance is at most ``radius_gate_m``.

**Unknown values.** Classification (none in the report's own analysis), severity (NaN),
text (no token left after stop words), brand (no display name) and category ("") may be
unknown; location and time are always known. A feature unknown on either side of a pair
contributes nothing. With ``missing="no_match"``
(upstream) its weight still counts, so the pair scores as if the feature disagreed; with
``missing="ignore"`` the pair is scored over the features both reports have::

    score = sum(w_f·k_f over known f) / sum(w_f over known f)

so a city export without severity or text is judged on what it has, and the score stays
a property of the pair alone. (Under ``no_match`` a report without a classification takes
the scope's, as upstream.)

**Grouping.** ``grouping="connected"`` (upstream) groups the connected components of the
edge graph, which chains A–B–C–D along a busy street. ``grouping="average"`` is average
linkage over the edge graph: starting from single reports, the two groups with the
highest mean cross score (the mean over every pair across them of the pair's score if it
is an edge, else 0) merge, best first, while that mean is at least
``linkage_cut × threshold``. Two single reports merge exactly when they share an edge; a
report joins a group only when it is linked strongly enough to enough of its members.
Groups never join reports without a path of edges between them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, Literal

from cleanapp_geo.errors import InvalidModelError
from cleanapp_geo.text import DEFAULT_STOP_WORDS, UPSTREAM_STOP_WORDS

__all__ = [
    "DEFAULT_MODEL",
    "FEATURES",
    "OPTIONAL_FEATURES",
    "REASONS",
    "REASON_MIN_KERNEL",
    "UPSTREAM_MODEL",
    "SimilarityModel",
]

#: Feature names, in the order their contributions are summed.
FEATURES: Final = (
    "classification",
    "severity",
    "text",
    "location",
    "brand",
    "time",
    "category",
)

#: Features that may be unknown for a report (see "Unknown values" above).
OPTIONAL_FEATURES: Final = ("classification", "severity", "text", "brand", "category")

#: Rationale string of each feature (the upstream strings for the first five).
REASONS: Final = {
    "classification": "same classification",
    "severity": "similar severity",
    "text": "shared incident language",
    "location": "same physical location",
    "brand": "same organization",
    "time": "close in time",
    "category": "same category",
}

#: A reason is listed for an edge when the feature has a positive weight and its kernel
#: value reaches this (for step kernels: when the step fires).
REASON_MIN_KERNEL: Final = 0.5

Vocabulary = Literal["default", "upstream"]
Missing = Literal["no_match", "ignore"]
Grouping = Literal["connected", "average"]


@dataclass(frozen=True, slots=True)
class SimilarityModel:
    """Weights, kernels and threshold of the pairwise report similarity.

    Parameters
    ----------
    weight_classification, weight_severity, weight_text, weight_location, weight_brand, \
weight_time, weight_category : float
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
    missing : {"no_match", "ignore"}
        How a feature unknown on either side of a pair counts: ``no_match`` keeps its
        weight in the total (upstream); ``ignore`` scores the pair over the features both
        reports have.
    grouping : {"connected", "average"}
        ``connected``: connected components of the edge graph (upstream);
        ``average``: average linkage over the edge graph, cut at
        ``linkage_cut × threshold``.
    linkage_cut : float
        In (0, 1]; with ``grouping="average"``, two groups merge while the mean cross
        score reaches ``linkage_cut × threshold``.

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
    weight_category: float = 0.0
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
    missing: Missing = "no_match"
    grouping: Grouping = "connected"
    linkage_cut: float = 0.5

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
            "missing": ("no_match", "ignore"),
            "grouping": ("connected", "average"),
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
        cut = self.linkage_cut
        if not isinstance(cut, int | float) or not 0 < cut <= 1:
            raise InvalidModelError(f"linkage_cut must lie in (0, 1], got {cut!r}")
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
            ``location``, ``brand``, ``time``, ``category``); features not given keep
            their weight.

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

#: Our default model, selected on real 311 files and synthetic hard data together
#: (``python -m benchmarks tune``, :mod:`cleanapp_geo.model_selection`; the report is in
#: ``benchmarks/results/tuning/``). Weights of the six CleanApp features come from a
#: logistic fit on synthetic pairs (classification gets 0: the photo analysis's
#: physical/digital label disagrees within a third of the planted incidents); the
#: category (a city's request type) gets 0.2, which is decisive for reports that carry
#: one: two reports of different categories stay apart (the other features of a 311 request,
#: location and time, reach at most 0.45 < 0.576), and two of the same one need to be
#: close in place and time. A category weight changes no decision on reports without one.
#: Unknown features count as no match; groups are connected components (average linkage
#: scored no better on the real files); the 150 m gate keeps 99.8% of true synthetic pairs.
DEFAULT_MODEL: Final = SimilarityModel(
    weight_classification=0.0,
    weight_severity=0.13,
    weight_text=0.178,
    weight_location=0.091,
    weight_brand=0.042,
    weight_time=0.359,
    weight_category=0.2,
    severity_kernel="linear",
    text_kernel="jaccard",
    text_saturation=0.1,
    location_kernel="exp",
    location_scale_m=40.0,
    time_kernel="exp",
    time_scale_s=7 * 86_400.0,
    threshold=0.576,
    radius_gate_m=150.0,
)
