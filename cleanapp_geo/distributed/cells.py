"""The work of one partition, as plain functions of frames and arrays (no Dask here).

A partition is analysed with its *halo* (the reports of other partitions within the
radius gate of its own, see :mod:`cleanapp_geo.distributed.halo`) by the single-machine
kernels: :func:`~cleanapp_geo.arrays.prepare_reports`,
:func:`~cleanapp_geo.blocking.candidate_graph` and
:func:`~cleanapp_geo.similarity.scored_edges`. Every edge of a partition's own reports is
among them, so:

* an edge is *kept* by the partition that owns its smaller-seq report (once overall);
* a connected component of the partition's edges that holds no halo report is a whole
  component of the global edge graph, so its hypotheses (connected components, or
  average linkage, which never merges across components) are final here;
* a component that reaches into the halo is a *border* component: its reports, edges and
  labels go to a border task once a global union-find has joined it with the components
  of the other partitions it touches (:func:`border_hypotheses`).

Once validated, a partition's reports are kept as a coordinate frame (the point of each
report as two float columns, :mod:`~cleanapp_geo.distributed.points`): its halo pieces,
its border pieces and the kernels' inputs are all built from it without a shapely object.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from cleanapp_geo.arrays import ReportArrays, prepare_reports
from cleanapp_geo.blocking import candidate_graph
from cleanapp_geo.distributed.files import ParquetPart
from cleanapp_geo.distributed.halo import Footprint, cell_keys, footprint, halo_mask
from cleanapp_geo.distributed.ordering import OrderedTable
from cleanapp_geo.distributed.points import coordinates, with_coordinates
from cleanapp_geo.distributed.stats import StatsPartial, stats_partial
from cleanapp_geo.export import hypotheses_arrow
from cleanapp_geo.grouping import group_labels
from cleanapp_geo.hypotheses import group_hypotheses
from cleanapp_geo.model import SimilarityModel
from cleanapp_geo.schema import CLASSIFICATION, SEQ, validate_reports, validate_reports_xy
from cleanapp_geo.scope import Scope, scope_mask, scope_mask_xy
from cleanapp_geo.similarity import EDGE_COLUMNS, scored_edges

__all__ = [
    "EDGE_FRAME_COLUMNS",
    "BorderPiece",
    "CellResult",
    "PreparedPartition",
    "Survey",
    "analyze_cell",
    "border_hypotheses",
    "border_pieces",
    "cell_file",
    "duplicate_seqs",
    "halo_file",
    "halo_pieces",
    "prepare_coordinates",
    "prepare_partition",
    "survey_file",
    "survey_partition",
]

#: Columns of the edge frames of :attr:`CellResult.edges` (``reasons`` as bit masks).
EDGE_FRAME_COLUMNS = ("focal", "neighbor", *EDGE_COLUMNS)
_LABEL_SHIFT = 32


def _in_scope(
    frame: gpd.GeoDataFrame, scope: Scope | None, classification: str | None
) -> np.ndarray:
    """Rows kept by :func:`cleanapp_geo.analyze`: inside the scope, of the classification."""
    keep = np.ones(len(frame), dtype=bool)
    if scope is not None and len(frame):
        keep &= scope_mask(frame, scope)
    if classification:
        values = frame[CLASSIFICATION].fillna("").astype(str).str.lower()
        keep &= (values == classification.lower()).to_numpy(dtype=bool)
    return keep


def _lon_lat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geoms = frame.geometry.array
    import shapely

    return (
        np.asarray(shapely.get_x(geoms), dtype=np.float64),
        np.asarray(shapely.get_y(geoms), dtype=np.float64),
    )


@dataclass(frozen=True, slots=True, eq=False)
class Survey:
    """What the first, light pass learns of a partition (seq, classification, location).

    Attributes
    ----------
    rows : int
        Rows of the partition.
    footprint : Footprint
        Cells of its reports in scope.
    lon_lat_box : tuple of float
        ``(min lon, min lat, max lon, max lat)`` of its reports in scope (NaN if none).
    seq_buckets : list of numpy.ndarray
        Every seq of the partition (in scope or not), split by ``seq % len(seq_buckets)``
        for the global uniqueness check.
    keys : numpy.ndarray, optional
        The cell key of every row of a file (in scope or not; -1 for a row without a
        point), kept by :func:`survey_file` so that :func:`halo_file` need not compute
        them again (8 bytes a row).
    """

    rows: int
    footprint: Footprint
    lon_lat_box: tuple[float, float, float, float]
    seq_buckets: list[np.ndarray] = field(repr=False)
    keys: np.ndarray | None = field(default=None, repr=False)

    @property
    def in_scope(self) -> int:
        """Number of distinct cells in scope (a proxy of the work; 0: nothing to do)."""
        return len(self.footprint)


def survey_partition(
    part: gpd.GeoDataFrame,
    *,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
    buckets: int,
) -> Survey:
    """First pass over a partition: where its reports in scope lie, and its seqs.

    Parameters
    ----------
    part : geopandas.GeoDataFrame
        At least the ``seq``, ``classification`` and ``geometry`` columns.
    scope : Scope, optional
        The analysis scope.
    classification : str, optional
        The classification filter.
    side_m : float
        Cell side (:func:`~cleanapp_geo.distributed.halo.cell_side_m`).
    buckets : int
        Number of seq buckets.

    Returns
    -------
    Survey
    """
    seq = pd.to_numeric(part[SEQ], errors="coerce").to_numpy(dtype=np.float64)
    seq = seq[np.isfinite(seq)].astype(np.int64)  # bad seqs are reported by validation
    seq_buckets = [seq[seq % buckets == b] for b in range(buckets)]
    valid = part[~part.geometry.isna() & ~part.geometry.is_empty]
    valid = valid[valid.geometry.geom_type == "Point"]
    kept = valid[_in_scope(valid, scope, classification)] if len(valid) else valid
    lon, lat = _lon_lat(kept)
    box = (
        (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        if len(lon)
        else (np.nan, np.nan, np.nan, np.nan)
    )
    return Survey(len(part), footprint(cell_keys(lon, lat, side_m)), box, seq_buckets)


def survey_file(
    part: ParquetPart,
    *,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
    buckets: int,
) -> Survey:
    """:func:`survey_partition` of a GeoParquet file, reading only what it needs."""
    light, lon, lat = part.light()
    keep = np.isfinite(lon) & np.isfinite(lat)
    if scope is not None:
        keep &= scope_mask_xy(lon, lat, scope)
    if classification and CLASSIFICATION in light.columns:
        values = light[CLASSIFICATION].fillna("").astype(str).str.lower()
        keep &= (values == classification.lower()).to_numpy(dtype=bool)
    seq = pd.to_numeric(light[SEQ], errors="coerce").to_numpy(dtype=np.float64)
    seq = seq[np.isfinite(seq)].astype(np.int64)
    keys = cell_keys(lon, lat, side_m)  # every row's: halo_file reuses them
    lon, lat = lon[keep], lat[keep]
    box = (
        (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        if len(lon)
        else (np.nan, np.nan, np.nan, np.nan)
    )
    return Survey(
        len(light),
        footprint(keys[keep]),
        box,
        [seq[seq % buckets == b] for b in range(buckets)],
        keys,
    )


def halo_file(
    part: ParquetPart,
    footprints: Sequence[Footprint],
    *,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
    keys: np.ndarray | None = None,
) -> tuple[pd.DataFrame, ...]:
    """:func:`halo_pieces` of a GeoParquet file: only the rows near a neighbour are decoded.

    The points are read first (or not at all when ``keys``, the cell key of every row
    from :attr:`Survey.keys`, is given); of the other columns only the row groups that
    hold a report of the halo (all of them for a file of one row group).
    """
    from cleanapp_geo.distributed.files import lon_lat
    from cleanapp_geo.schema import GEOMETRY

    several = len(part.row_groups()) > 2  # first rows of two groups or more, then the end
    table = None if several else part.analysed_table()
    if keys is None:
        points = part.table([GEOMETRY]) if table is None else table
        keys = cell_keys(*lon_lat(points.column(GEOMETRY)), side_m)
        del points
    near = [halo_mask(keys, of) for of in footprints]
    rows = np.flatnonzero(np.logical_or.reduce([*near, np.zeros(len(keys), dtype=bool)]))
    del keys, near
    if table is None:
        frame, lon, lat, crs = part.reports(table=part.analysed_rows(rows))
    else:
        frame, lon, lat, crs = part.reports(rows, table)
    del table
    prepared = prepare_coordinates(
        frame, lon, lat, crs=crs, scope=scope, classification=classification, side_m=side_m
    )
    return halo_pieces(prepared, footprints)


def cell_file(
    part: ParquetPart,
    halos: Sequence[pd.DataFrame],
    *,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
    index: int,
    model: SimilarityModel,
    scope_classification: str,
    now: pd.Timestamp,
) -> CellResult:
    """:func:`analyze_cell` of a GeoParquet file (read here, released after).

    ``classification`` filters the reports; ``scope_classification`` is the analysis's.
    """
    frame, lon, lat, crs = part.reports(table=part.analysed_table())
    prepared = prepare_coordinates(
        frame, lon, lat, crs=crs, scope=scope, classification=classification, side_m=side_m
    )
    del frame, lon, lat
    return analyze_cell(
        prepared, halos, index=index, model=model, classification=scope_classification, now=now
    )


def duplicate_seqs(buckets: Sequence[np.ndarray]) -> np.ndarray:
    """Seqs that occur more than once across the given arrays (sorted, distinct)."""
    pooled = np.sort(np.concatenate([*buckets, np.empty(0, np.int64)]))
    return np.unique(pooled[1:][pooled[1:] == pooled[:-1]])


@dataclass(frozen=True, slots=True, eq=False)
class PreparedPartition:
    """A partition's reports in scope, validated, on a grid of cells.

    Attributes
    ----------
    frame : pandas.DataFrame
        A coordinate frame (:func:`~cleanapp_geo.distributed.points.with_coordinates`).
    side_m : float
        Cell side of the grid (:func:`~cleanapp_geo.distributed.halo.cell_side_m`).
    """

    frame: pd.DataFrame
    side_m: float

    @property
    def keys(self) -> np.ndarray:
        """The cell key of each row (computed on each read: only halos need them)."""
        return cell_keys(*coordinates(self.frame), self.side_m)


def prepare_partition(
    part: gpd.GeoDataFrame,
    *,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
) -> PreparedPartition:
    """Validate a partition and keep its reports in scope, as :func:`cleanapp_geo.analyze` does.

    Raises
    ------
    InvalidReportsError
        When the partition breaks the report-frame contract.
    """
    frame = validate_reports(part)
    lon, lat = _lon_lat(frame)
    return _prepared(frame, lon, lat, scope=scope, classification=classification, side_m=side_m)


def prepare_coordinates(
    frame: pd.DataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    crs: object,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
) -> PreparedPartition:
    """:func:`prepare_partition` of reports read as coordinates (no shapely points).

    Parameters
    ----------
    frame : pandas.DataFrame
        The report columns except ``geometry``.
    lon, lat : numpy.ndarray
        Each row's point (degrees; NaN where a row has none, which validation reports).
    crs : object
        The coordinates' CRS.
    scope, classification, side_m
        As in :func:`prepare_partition`.

    Returns
    -------
    PreparedPartition

    Raises
    ------
    InvalidReportsError
        When the partition breaks the report-frame contract
        (:func:`~cleanapp_geo.schema.validate_reports_xy`).
    """
    valid = validate_reports_xy(frame, lon, lat, crs=crs)
    return _prepared(valid, lon, lat, scope=scope, classification=classification, side_m=side_m)


def _prepared(
    frame: pd.DataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    scope: Scope | None,
    classification: str | None,
    side_m: float,
) -> PreparedPartition:
    """Keep the validated reports in scope, as a coordinate frame."""
    keep = np.ones(len(frame), dtype=bool)
    if scope is not None and len(frame):
        keep &= scope_mask_xy(lon, lat, scope)
    if classification:
        values = frame[CLASSIFICATION].fillna("").astype(str).str.lower()
        keep &= (values == classification.lower()).to_numpy(dtype=bool)
    if not keep.all():
        frame, lon, lat = frame[keep], lon[keep], lat[keep]
    return PreparedPartition(with_coordinates(frame, lon, lat), side_m)


def halo_pieces(
    prepared: PreparedPartition, footprints: Sequence[Footprint]
) -> tuple[pd.DataFrame, ...]:
    """Return the reports of ``prepared`` in the halo of each partition of ``footprints``."""
    keys = prepared.keys
    return tuple(prepared.frame[halo_mask(keys, of)].reset_index(drop=True) for of in footprints)


@dataclass(frozen=True, slots=True, eq=False)
class BorderPiece:
    """A partition's share of some border groups (see the module docstring).

    Attributes
    ----------
    reports : pandas.DataFrame
        The partition's own reports in those groups (a coordinate frame).
    edge_seqs : numpy.ndarray
        (m, 2) int64 seqs of the edges the partition keeps inside them.
    edge_score, edge_reasons : numpy.ndarray
        Their scores and reason bit masks.
    """

    reports: pd.DataFrame
    edge_seqs: np.ndarray
    edge_score: np.ndarray
    edge_reasons: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class CellResult:
    """Everything a partition hands on after its analysis.

    Attributes
    ----------
    hypotheses : OrderedTable
        Hypotheses of its complete components, in output order, with their order keys.
    edges : pandas.DataFrame
        The edges it keeps: :data:`EDGE_FRAME_COLUMNS`, ``focal < neighbor`` (seqs).
    border : BorderPiece
        Its reports and kept edges in border components.
    border_seqs, border_labels : numpy.ndarray
        Every report (own or halo) of its border components and the component's label
        (unique across partitions), for the global union-find.
    report_labels : numpy.ndarray
        Label of each row of ``border.reports``; ``edge_labels`` of each border edge.
    stats : StatsPartial
        Its share of the scope statistics.
    costs : dict
        Sizes and seconds per phase (for capacity estimates).
    """

    hypotheses: OrderedTable
    edges: pd.DataFrame
    border: BorderPiece
    border_seqs: np.ndarray
    border_labels: np.ndarray
    report_labels: np.ndarray
    edge_labels: np.ndarray
    stats: StatsPartial
    costs: dict[str, Any]


def _take(arrays: ReportArrays, positions: np.ndarray) -> ReportArrays:
    """Return the reports at ``positions`` as arrays of their own (tokens re-read on demand)."""
    return replace(
        arrays,
        frame_position=arrays.frame_position[positions],
        seq=arrays.seq[positions],
        lon=arrays.lon[positions],
        lat=arrays.lat[positions],
        xyz=arrays.xyz[positions],
        classification=arrays.classification[positions],
        classification_known=arrays.classification_known[positions],
        severity=arrays.severity[positions],
        brand=arrays.brand[positions],
        category=arrays.category[positions],
        ts_ns=arrays.ts_ns[positions],
        _tree=[],
        _text=[],
    )


def _edge_frame(
    arrays: ReportArrays, edges: dict[str, np.ndarray], keep: np.ndarray
) -> pd.DataFrame:
    focal = arrays.seq[edges["i"][keep]]
    neighbor = arrays.seq[edges["j"][keep]]
    low, high = np.minimum(focal, neighbor), np.maximum(focal, neighbor)
    data: dict[str, np.ndarray] = {"focal": low, "neighbor": high}
    data.update({column: edges[column][keep] for column in EDGE_COLUMNS})
    return pd.DataFrame(data)


def _hypotheses(
    arrays: ReportArrays,
    positions: np.ndarray,
    edge_i: np.ndarray,
    edge_j: np.ndarray,
    edge_score: np.ndarray,
    edge_reasons: np.ndarray,
    *,
    model: SimilarityModel,
    now: pd.Timestamp,
) -> OrderedTable:
    """Hypotheses of the complete components formed by ``positions`` (edges positional)."""
    local = np.full(len(arrays), -1, dtype=np.int64)
    local[positions] = np.arange(len(positions))
    subset = _take(arrays, positions)
    i, j = local[edge_i], local[edge_j]
    groups = group_labels(
        len(subset),
        i,
        j,
        edge_score,
        subset.seq,
        grouping=model.grouping,
        min_mean_score=model.linkage_cut * model.threshold,
    )
    table = group_hypotheses(subset, i, j, edge_reasons, now=now, groups=groups)
    return OrderedTable.of(hypotheses_arrow(table))


def analyze_cell(
    prepared: PreparedPartition,
    halos: Sequence[pd.DataFrame],
    *,
    index: int,
    model: SimilarityModel,
    classification: str,
    now: pd.Timestamp,
) -> CellResult:
    """Analyse a partition with its halo (see the module docstring).

    Parameters
    ----------
    prepared : PreparedPartition
        The partition's reports in scope.
    halos : sequence of pandas.DataFrame
        Its halo, from the other partitions (:func:`halo_pieces`): coordinate frames.
    index : int
        The partition's number (makes its component labels unique).
    model : SimilarityModel
        A model with a radius gate.
    classification : str
        The scope classification.
    now : pandas.Timestamp
        Reference time of the urgency.

    Returns
    -------
    CellResult
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    own = prepared.frame
    frames = [own.reset_index(drop=True), *(h for h in halos if len(h))]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    arrays = prepare_reports(
        frame,
        model,
        classification=classification,
        spatial_order=True,
        tokenize=model.weight_text > 0,
        lon_lat=coordinates(frame),
    )
    is_own = arrays.frame_position < len(own)
    clock = _lap(timings, "prepare", clock)
    graph, _ = candidate_graph(arrays, model)
    candidates = len(graph)
    edges = scored_edges(arrays, graph, model)
    del graph
    arrays.release_text()
    clock = _lap(timings, "scoring", clock)

    i, j, seq = edges["i"], edges["j"], arrays.seq
    relevant = is_own[i] | is_own[j]
    owned = is_own[np.where(seq[i] < seq[j], i, j)]
    n = len(arrays)
    ri, rj = i[relevant], j[relevant]
    graph_r = sp.csr_array((np.ones(len(ri), dtype=np.int8), (ri, rj)), shape=(n, n))
    _, component = connected_components(graph_r, directed=False)
    component = np.asarray(component, dtype=np.int64)
    border = np.zeros(int(component.max(initial=-1)) + 1, dtype=bool)
    border[component[ri[~is_own[ri]]]] = True
    border[component[rj[~is_own[rj]]]] = True
    in_border = border[component]
    internal = np.flatnonzero(is_own & ~in_border)
    inside = relevant & ~in_border[i]
    table = _hypotheses(
        arrays,
        internal,
        i[inside],
        j[inside],
        edges["score"][inside],
        edges["reasons"][inside],
        model=model,
        now=now,
    )
    clock = _lap(timings, "grouping", clock)

    labels = (np.int64(index) << _LABEL_SHIFT) + component
    members = np.flatnonzero(in_border)
    own_border = np.flatnonzero(is_own & in_border)
    kept = owned & in_border[i]
    piece = BorderPiece(
        reports=frame.iloc[arrays.frame_position[own_border]],
        edge_seqs=np.column_stack((seq[i[kept]], seq[j[kept]])),
        edge_score=edges["score"][kept],
        edge_reasons=edges["reasons"][kept],
    )
    result = CellResult(
        hypotheses=table,
        edges=_edge_frame(arrays, edges, owned),
        border=piece,
        border_seqs=seq[members],
        border_labels=labels[members],
        report_labels=labels[own_border],
        edge_labels=labels[i[kept]],
        stats=stats_partial(arrays, np.flatnonzero(is_own)),
        costs={
            "reports": len(own),
            "halo_reports": int(n - len(own)),
            "candidate_pairs": int(candidates),
            "edges_kept": int(owned.sum()),
            "border_reports": len(own_border),
            "hypotheses": int(table.table.num_rows),
            "seconds": timings,
        },
    )
    _lap(timings, "border", clock)
    return result


def _lap(timings: dict[str, float], phase: str, since: float) -> float:
    now = time.perf_counter()
    timings[phase] = now - since
    return now


def border_pieces(
    cell: CellResult, task_of_label: tuple[np.ndarray, np.ndarray], tasks: int
) -> list[BorderPiece]:
    """Split a partition's border share by border task.

    Parameters
    ----------
    cell : CellResult
        The partition's result.
    task_of_label : tuple of numpy.ndarray
        Sorted labels and the border task of each (from the global union-find).
    tasks : int
        Number of border tasks.

    Returns
    -------
    list of BorderPiece
        One per task.
    """
    labels, task = task_of_label

    def task_for(values: np.ndarray) -> np.ndarray:
        return task[np.searchsorted(labels, values)] if len(values) else values

    report_task, edge_task = task_for(cell.report_labels), task_for(cell.edge_labels)
    piece = cell.border
    return [
        BorderPiece(
            reports=piece.reports[report_task == t],
            edge_seqs=piece.edge_seqs[edge_task == t],
            edge_score=piece.edge_score[edge_task == t],
            edge_reasons=piece.edge_reasons[edge_task == t],
        )
        for t in range(tasks)
    ]


def border_hypotheses(
    pieces: Sequence[BorderPiece],
    *,
    model: SimilarityModel,
    classification: str,
    now: pd.Timestamp,
) -> OrderedTable:
    """Hypotheses of whole border groups from the pieces every partition sent.

    Parameters
    ----------
    pieces : sequence of BorderPiece
        The pieces of one border task: every report and edge of its groups.
    model, classification, now
        As in :func:`analyze_cell`.

    Returns
    -------
    OrderedTable
        The groups' hypotheses, in output order.
    """
    if not pieces:
        raise ValueError("border_hypotheses needs at least one piece")
    frames = [p.reports for p in pieces if len(p.reports)]
    frame = pd.concat(frames, ignore_index=True) if frames else pieces[0].reports.iloc[:0]
    arrays = prepare_reports(
        frame, model, classification=classification, lon_lat=coordinates(frame)
    )
    seqs = np.concatenate([p.edge_seqs.reshape(-1, 2) for p in pieces])
    score = np.concatenate([p.edge_score for p in pieces])
    reasons = np.concatenate([p.edge_reasons for p in pieces])
    sorter = np.argsort(arrays.seq)
    where = sorter[np.searchsorted(arrays.seq, seqs, sorter=sorter)] if len(seqs) else seqs
    return _hypotheses(
        arrays,
        np.arange(len(arrays)),
        where[:, 0],
        where[:, 1],
        score,
        reasons,
        model=model,
        now=now,
    )
