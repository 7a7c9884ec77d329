"""The public analysis entry points: :func:`analyze` and :class:`IncidentClusterer`.

Both share one implementation (as :func:`sklearn.cluster.dbscan` and
:class:`sklearn.cluster.DBSCAN` do): scope → text features → exact candidate pairs →
vectorised scoring → groups (connected components or average linkage, as the model says)
→ hypotheses and statistics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin

from cleanapp_geo.arrays import ReportArrays, prepare_reports
from cleanapp_geo.blocking import CandidatePlan, candidate_graph
from cleanapp_geo.errors import InvalidModelError
from cleanapp_geo.export import (
    hypotheses_arrow,
    iter_hypotheses,
    select_hypotheses,
    write_geoparquet,
)
from cleanapp_geo.grouping import group_labels
from cleanapp_geo.hypotheses import (
    ClusterStats,
    HypothesisTable,
    IncidentHypothesis,
    cluster_stats,
    group_hypotheses,
)
from cleanapp_geo.model import DEFAULT_MODEL, SimilarityModel
from cleanapp_geo.schema import CLASSIFICATION, classification_mask, validate_reports
from cleanapp_geo.scope import Scope, scope_reports
from cleanapp_geo.similarity import edges_frame, scored_edges

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AnalysisResult", "IncidentClusterer", "analyze"]

_DEFAULT_CLASSIFICATION = "physical"


class AnalysisResult:
    """The outcome of :func:`analyze` for one scope.

    Attributes
    ----------
    reports : geopandas.GeoDataFrame
        The analysed reports (in scope and of the classification), input index kept.
    labels : numpy.ndarray
        For each row of :attr:`reports`, the position of its hypothesis in
        :attr:`hypotheses`.
    stats : ClusterStats
        Scope statistics.
    table : HypothesisTable
        Hypotheses in columnar form (what :attr:`hypotheses` is built from).
    classification : str
        The scope classification.
    model : SimilarityModel
        The model used.
    plan : CandidatePlan
        How candidate pairs were generated.
    now : pandas.Timestamp
        Reference time of the recency boost.
    candidate_pair_count : int
        Number of pairs scored.
    timings_s : dict of str to float
        Seconds spent per phase.
    """

    def __init__(
        self,
        *,
        reports: gpd.GeoDataFrame,
        arrays: ReportArrays,
        edges: dict[str, np.ndarray],
        table: HypothesisTable,
        stats: ClusterStats,
        classification: str,
        model: SimilarityModel,
        plan: CandidatePlan,
        now: pd.Timestamp,
        candidate_pair_count: int,
        timings_s: dict[str, float],
    ) -> None:
        self.reports = reports
        self.arrays = arrays
        self._edges = edges
        self.table = table
        self.stats = stats
        self.classification = classification
        self.model = model
        self.plan = plan
        self.now = now
        self.candidate_pair_count = candidate_pair_count
        self.timings_s = timings_s

    @cached_property
    def labels(self) -> np.ndarray:
        """Hypothesis position of each analysed report, in the order of :attr:`reports`."""
        labels = np.empty(len(self.table.labels), dtype=np.int64)
        labels[self.arrays.frame_position] = self.table.labels
        return labels

    @cached_property
    def hypotheses(self) -> list[IncidentHypothesis]:
        """All hypotheses, ordered by urgency, severity, size (desc), then smallest seq."""
        return self.table.to_hypotheses()

    @cached_property
    def edges(self) -> pd.DataFrame:
        """Edge table indexed ``(focal, neighbor)`` by seq, one column per contribution."""
        return edges_frame(self.arrays, self._edges)

    def to_dict(
        self, *, limit: int | None = None, min_reports: int | None = None
    ) -> dict[str, Any]:
        """Wire JSON of the analysis: ``classification``, ``stats`` and ``hypotheses``.

        Parameters
        ----------
        limit : int, optional
            Emit at most this many hypotheses, the first ones (all by default).
        min_reports : int, optional
            Emit only hypotheses of at least this many reports.

        Returns
        -------
        dict
            One dict per emitted hypothesis; for large results prefer :meth:`to_arrow`,
            :meth:`to_parquet` or :meth:`iter_hypotheses`, which build none.
        """
        positions = select_hypotheses(self.table, limit=limit, min_reports=min_reports)
        if len(positions) == len(self.table) and "hypotheses" in self.__dict__:
            records = [h.to_dict() for h in self.hypotheses]
        else:
            records = self.table.to_records(positions=positions)
        return {
            "classification": self.classification,
            "stats": self.stats.to_dict(),
            "hypotheses": records,
        }

    def to_arrow(
        self,
        *,
        limit: int | None = None,
        min_reports: int | None = None,
        geometry: bool = True,
    ) -> pa.Table:
        """Return the hypotheses as an Arrow table, in order, with no Python object per one.

        Parameters
        ----------
        limit, min_reports : int, optional
            As in :meth:`to_dict`.
        geometry : bool, default True
            Add a WKB ``geometry`` column (the representative's location) and the
            GeoParquet metadata, so ``geopandas.GeoDataFrame.from_arrow`` reads it.

        Returns
        -------
        pyarrow.Table
            The columns of :data:`cleanapp_geo.export.HYPOTHESIS_COLUMNS` (the wire
            fields of :class:`IncidentHypothesis`) and ``geometry``.
        """
        positions = select_hypotheses(self.table, limit=limit, min_reports=min_reports)
        return hypotheses_arrow(self.table, positions, geometry=geometry)

    def to_parquet(
        self, path: str | Path, *, limit: int | None = None, min_reports: int | None = None
    ) -> Path:
        """Write the hypotheses to a GeoParquet file (the table of :meth:`to_arrow`).

        Parameters
        ----------
        path : str or pathlib.Path
            The file to write.
        limit, min_reports : int, optional
            As in :meth:`to_dict`.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return write_geoparquet(self.to_arrow(limit=limit, min_reports=min_reports), path)

    def iter_hypotheses(self, *, min_reports: int | None = None) -> Iterator[IncidentHypothesis]:
        """Yield the hypotheses in order, materialising a batch at a time.

        Parameters
        ----------
        min_reports : int, optional
            Only hypotheses of at least this many reports.

        Yields
        ------
        IncidentHypothesis
        """
        return iter_hypotheses(self.table, select_hypotheses(self.table, min_reports=min_reports))

    def __repr__(self) -> str:
        return (
            f"AnalysisResult(reports={len(self.reports)}, hypotheses={len(self.table)}, "
            f"edges={len(self._edges['i'])}, classification={self.classification!r})"
        )


def analyze(
    reports: gpd.GeoDataFrame,
    *,
    scope: Scope | Mapping[str, Any] | str | None = None,
    classification: str | None = None,
    model: SimilarityModel | None = None,
    now: pd.Timestamp | str | None = None,
) -> AnalysisResult:
    """Group the reports of a scope into incident hypotheses.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A report frame (see :mod:`cleanapp_geo.schema`); validated here.
    scope : Polygon, MultiPolygon, RadiusScope, GeoJSON mapping or str, optional
        Keep only the reports inside it (see :func:`cleanapp_geo.scope.scope_reports`).
    classification : str, optional
        Keep only reports of this classification (case-insensitive, as upstream's MySQL
        ENUM compares). Also the fallback classification of reports without one; the
        stats echo it (``physical`` when not given).
    model : SimilarityModel, optional
        Defaults to :data:`~cleanapp_geo.similarity.DEFAULT_MODEL`.
    now : pandas.Timestamp or str, optional
        Reference time of the urgency recency boost; defaults to the current time.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    InvalidReportsError
        When the frame breaks the contract.
    InvalidScopeError
        When the scope is malformed.
    InvalidModelError
        When ``model`` is not a :class:`SimilarityModel`.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    model = _check_model(model)
    reference = _reference_time(now)
    frame = validate_reports(reports)
    if scope is not None:
        frame = scope_reports(frame, scope)
    if classification:
        kept = classification_mask(frame[CLASSIFICATION], classification)
        if not kept.all():  # a frame read by classification keeps every row: no copy
            frame = frame[kept]
    scope_classification = classification or _DEFAULT_CLASSIFICATION
    clock = _lap(timings, "scope", clock)

    # Tokenizing runs on a second core while the candidates are found.
    arrays = prepare_reports(
        frame,
        model,
        classification=scope_classification,
        spatial_order=True,
        tokenize=model.weight_text > 0,
    )
    clock = _lap(timings, "prepare", clock)
    graph, plan = candidate_graph(arrays, model)
    clock = _lap(timings, "candidates", clock)
    # Scoring waits for the tokens only once the pairs that need them are known.
    edges = scored_edges(arrays, graph, model)
    candidate_pair_count = len(graph)
    del graph  # the largest arrays of an analysis: free them before grouping
    arrays.release_text()
    clock = _lap(timings, "scoring", clock)
    groups = group_labels(
        len(arrays),
        edges["i"],
        edges["j"],
        edges["score"],
        arrays.seq,
        grouping=model.grouping,
        min_mean_score=model.linkage_cut * model.threshold,
    )
    table = group_hypotheses(
        arrays, edges["i"], edges["j"], edges["reasons"], now=reference, groups=groups
    )
    stats = cluster_stats(arrays, scope_classification)
    _lap(timings, "grouping", clock)
    return AnalysisResult(
        reports=frame,
        arrays=arrays,
        edges=edges,
        table=table,
        stats=stats,
        classification=scope_classification,
        model=model,
        plan=plan,
        now=reference,
        candidate_pair_count=candidate_pair_count,
        timings_s=timings,
    )


def _lap(timings: dict[str, float], phase: str, since: float) -> float:
    now = time.perf_counter()
    timings[phase] = now - since
    return now


def _check_model(model: SimilarityModel | None) -> SimilarityModel:
    if model is None:
        return DEFAULT_MODEL
    if not isinstance(model, SimilarityModel):
        raise InvalidModelError(
            f"model must be a SimilarityModel (e.g. cleanapp_geo.DEFAULT_MODEL), got "
            f"{type(model).__name__}"
        )
    return model


def _reference_time(now: pd.Timestamp | str | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC")
    ts = pd.Timestamp(now)
    if ts.tzinfo is None:
        raise InvalidModelError(f"now must be timezone-aware, got {now!r}")
    return ts.tz_convert("UTC")


class IncidentClusterer(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """Scikit-learn style estimator over :func:`analyze`.

    Parameters
    ----------
    model : SimilarityModel, optional
        Defaults to :data:`~cleanapp_geo.similarity.DEFAULT_MODEL`.
    classification : str, optional
        Passed to :func:`analyze`.
    now : pandas.Timestamp or str, optional
        Passed to :func:`analyze`.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Hypothesis position of each report of the fitted frame (every report gets one;
        singletons have labels of their own).
    hypotheses_ : list of IncidentHypothesis
        The hypotheses.
    edges_ : pandas.DataFrame
        The edge table.
    stats_ : ClusterStats
        Scope statistics.
    result_ : AnalysisResult
        The full result.

    Examples
    --------
    >>> from sklearn.base import clone
    >>> import cleanapp_geo as cg
    >>> est = cg.IncidentClusterer(model=cg.UPSTREAM_MODEL)
    >>> clone(est).get_params()["model"] == cg.UPSTREAM_MODEL
    True
    """

    def __init__(
        self,
        model: SimilarityModel | None = None,
        classification: str | None = None,
        now: pd.Timestamp | str | None = None,
    ) -> None:
        self.model = model
        self.classification = classification
        self.now = now

    def fit(self, X: gpd.GeoDataFrame, y: object = None) -> IncidentClusterer:  # noqa: N803
        """Analyse the report frame ``X``; ``y`` is ignored.

        Every report of ``X`` is labelled, so ``X`` should already be scoped.
        """
        result = analyze(X, classification=self.classification, model=self.model, now=self.now)
        self.result_ = result
        self.labels_ = result.labels
        self.hypotheses_ = result.hypotheses
        self.edges_ = result.edges
        self.stats_ = result.stats
        return self
