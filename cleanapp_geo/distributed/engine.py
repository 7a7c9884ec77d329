"""Run an analysis on a Dask cluster: survey, halos, partitions, border groups, order.

The stages (each waits for the previous one's small answers on the client; the data
stays on the workers):

1. **survey** — a light pass over ``seq``, ``classification`` and ``geometry`` of every
   partition: the cells its reports in scope occupy (:mod:`~cleanapp_geo.distributed.halo`)
   and its seqs, checked for duplicates across partitions. Partitions that overlap
   heavily (e.g. rows in random order) are first shuffled along a Hilbert curve
   (``dask_geopandas``).
2. **partitions** — each partition is validated and scoped, hands its neighbours the
   reports in their halo, and is analysed with its own halo by the single-machine kernels
   (:func:`~cleanapp_geo.distributed.cells.analyze_cell`).
3. **border** — a union-find over the labels of the components that reach into halos
   joins them into whole groups; each border task groups some of them.
4. **order** — a sample sort of all hypotheses into ranges in the single-machine order
   (:mod:`~cleanapp_geo.distributed.ordering`).
"""

from __future__ import annotations

import glob
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import getitem
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from cleanapp_geo.analysis import _check_model, _reference_time
from cleanapp_geo.distributed import cells
from cleanapp_geo.distributed.cluster import local_cluster
from cleanapp_geo.distributed.files import ParquetPart, parquet_parts
from cleanapp_geo.distributed.halo import cell_side_m
from cleanapp_geo.distributed.ordering import merge_ranges, sample_keys, split_by, splitters
from cleanapp_geo.distributed.result import DistributedResult
from cleanapp_geo.distributed.stats import merge_stats
from cleanapp_geo.errors import InvalidModelError, InvalidReportsError
from cleanapp_geo.model import SimilarityModel
from cleanapp_geo.schema import CLASSIFICATION, GEOMETRY, SEQ
from cleanapp_geo.scope import Scope, as_scope

__all__ = ["UnboundedModelError", "analyze", "read_source"]

_DEFAULT_CLASSIFICATION: Final = "physical"
#: Partitions whose boxes together cover more than this many times the box of all
#: reports are shuffled spatially first (their halos would be most of the data).
OVERLAP_SHUFFLE: Final = 4.0
#: Reports per partition after a spatial shuffle.
SHUFFLE_PARTITION_REPORTS: Final = 1_000_000
#: Keys sampled per hypothesis table to choose the order ranges.
_SAMPLES: Final = 256
#: Border groups' reports per border task (at least one task when there are any).
_BORDER_TASK_REPORTS: Final = 500_000


class UnboundedModelError(InvalidModelError):
    """A model without a radius gate cannot be split into partitions."""


def _require_gate(model: SimilarityModel) -> float:
    if model.radius_gate_m is None:
        raise UnboundedModelError(
            "cleanapp_geo.distributed.analyze needs a model with a radius gate "
            "(radius_gate_m): without one an edge may join two reports anywhere in the "
            "scope (UPSTREAM_MODEL links reports kilometres apart on shared language "
            "alone), so no partition can be analysed with a bounded halo. Use "
            "cleanapp_geo.analyze on one machine, or a gated model such as DEFAULT_MODEL "
            "or dataclasses.replace(model, radius_gate_m=...)"
        )
    return float(model.radius_gate_m)


def read_source(source: Any, *, npartitions: int | None = None) -> Any:
    """Return a ``dask_geopandas.GeoDataFrame`` of reports from what :func:`analyze` takes.

    Parameters
    ----------
    source : dask_geopandas.GeoDataFrame, geopandas.GeoDataFrame, str or pathlib.Path
        A Dask frame as it is; an in-memory frame split into ``npartitions`` (default: one
        per million rows); a GeoParquet file, directory or glob read lazily.
    npartitions : int, optional
        Partitions of an in-memory frame.

    Returns
    -------
    dask_geopandas.GeoDataFrame

    Raises
    ------
    InvalidReportsError
        When the source is of another type or the path matches no file.
    """
    import dask_geopandas

    if isinstance(source, dask_geopandas.GeoDataFrame):
        return source
    if isinstance(source, gpd.GeoDataFrame):
        parts = npartitions or max(1, math.ceil(len(source) / SHUFFLE_PARTITION_REPORTS))
        return dask_geopandas.from_geopandas(source, npartitions=parts)
    if isinstance(source, str | Path):
        text = str(source)
        if not (glob.has_magic(text) or os.path.exists(text)):
            raise InvalidReportsError(f"no GeoParquet file or directory at {text!r}")
        paths = sorted(glob.glob(text)) if glob.has_magic(text) else text
        if not paths:
            raise InvalidReportsError(f"no GeoParquet file matches {text!r}")
        return dask_geopandas.read_parquet(paths)
    raise InvalidReportsError(
        "source must be a dask_geopandas.GeoDataFrame, a geopandas.GeoDataFrame or a "
        f"GeoParquet path or glob, got {type(source).__name__}"
    )


@contextmanager
def _client(client: Any) -> Iterator[tuple[Any, bool]]:
    """Yield the client: the given one, the current default one, or a temporary cluster."""
    from distributed import Client, get_client

    if client is not None:
        yield client, False
        return
    try:
        yield get_client(), False
        return
    except ValueError:
        pass
    with (
        local_cluster(dashboard_address=":0") as cluster,
        Client(cluster) as local,  # type: ignore[no-untyped-call]
    ):
        yield local, True


def analyze(
    source: Any,
    *,
    scope: Scope | Mapping[str, Any] | str | None = None,
    classification: str | None = None,
    model: SimilarityModel | None = None,
    now: pd.Timestamp | str | None = None,
    client: Any = None,
    spatial_shuffle: bool | None = None,
    progress: Callable[[str, Sequence[Any]], None] | None = None,
) -> DistributedResult:
    """Group the reports of a scope into incident hypotheses on a Dask cluster.

    The answer equals :func:`cleanapp_geo.analyze` on the same reports: the same
    hypotheses (ids, titles, members, scores) in the same order, the same statistics and
    the same edge table.

    Parameters
    ----------
    source : dask_geopandas.GeoDataFrame, geopandas.GeoDataFrame, str or pathlib.Path
        The reports (see :func:`read_source`): a Dask frame (e.g. from
        :func:`cleanapp_geo.io.read_reports_dask` for PostGIS), an in-memory frame, or a
        GeoParquet path or glob.
    scope, classification, model, now
        As in :func:`cleanapp_geo.analyze`.
    client : distributed.Client, optional
        The cluster. Default: the current client, else a temporary ``LocalCluster``
        (the result is then gathered into this process before the cluster closes) whose
        workers run without Dask's profiler
        (:func:`~cleanapp_geo.distributed.cluster.local_cluster`). A given or current
        client is used as it is configured.
    spatial_shuffle : bool, optional
        Shuffle the reports along a Hilbert curve first. Default: only when the
        partitions overlap heavily (:data:`OVERLAP_SHUFFLE`). Answers never depend on it.
    progress : callable, optional
        Called as ``progress(stage, futures)`` after each stage is submitted (e.g. to
        show ``distributed.progress`` bars).

    Returns
    -------
    DistributedResult

    Raises
    ------
    UnboundedModelError
        When the model has no radius gate (see the message: every pair of reports in
        the scope could be an edge, so partitions would need the whole scope as halo).
    InvalidReportsError
        When a partition breaks the report-frame contract or a seq repeats.
    InvalidScopeError
        When the scope is malformed.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    model = _check_model(model)
    side_m = cell_side_m(_require_gate(model))
    reference = _reference_time(now)
    area = as_scope(scope) if scope is not None else None
    scope_classification = classification or _DEFAULT_CLASSIFICATION
    frame = parquet_parts(source) if isinstance(source, str | Path) else read_source(source)
    show = progress or (lambda stage, futures: None)
    with _client(client) as (dask_client, temporary):
        plan = _Plan(dask_client, area, classification, scope_classification, model, reference)
        surveys, frame = plan.survey(frame, side_m, spatial_shuffle, show)
        clock = _lap(timings, "survey", clock)
        cell_futures, costs = plan.partitions(frame, surveys, side_m, show)
        clock = _lap(timings, "partitions", clock)
        border = plan.border(cell_futures, show)
        clock = _lap(timings, "border", clock)
        ranges = max(1, len(cell_futures))
        edges = dask_client.map(_attribute, cell_futures, attr="edges")
        stats = merge_stats(
            dask_client.gather(dask_client.map(_attribute, cell_futures, attr="stats")),
            scope_classification,
        )
        tables = dask_client.map(_attribute, cell_futures, attr="hypotheses") + border
        # From here on each partition's result is held only through its tables, edges and
        # border pieces, and the tables only until their ranges are cut (order consumes
        # the list): a worker never holds a range, its pieces and the whole result at once.
        del cell_futures, border
        parts, counts = plan.order(tables, ranges, show)
        from distributed import wait

        wait([*parts, *edges])  # type: ignore[no-untyped-call]
        _lap(timings, "order", clock)
        result = DistributedResult(
            parts=parts,
            part_sizes=counts,
            edges=edges,
            stats=stats,
            classification=scope_classification,
            model=model,
            now=reference,
            timings_s=timings,
            partition_costs=costs,
            client=dask_client,
        )
        if temporary:
            result = result.detached()
        return result


def _lap(timings: dict[str, float], phase: str, since: float) -> float:
    now = time.perf_counter()
    timings[phase] = now - since
    return now


def _attribute(obj: Any, attr: str) -> Any:
    return getattr(obj, attr)


def _survey_summary(survey: cells.Survey) -> tuple[int, int, np.ndarray, np.ndarray, tuple]:
    fp = survey.footprint
    return survey.rows, len(fp), fp.low, fp.high, survey.lon_lat_box


def _bucket(survey: cells.Survey, bucket: int) -> np.ndarray:
    return survey.seq_buckets[bucket]


def _duplicates(*buckets: np.ndarray) -> np.ndarray:
    return cells.duplicate_seqs(buckets)


def _border_labels(cell: cells.CellResult) -> tuple[np.ndarray, np.ndarray]:
    return cell.border_seqs, cell.border_labels


def _border_task(*pieces: cells.BorderPiece, **options: Any) -> Any:
    return cells.border_hypotheses(pieces, **options)


def _merge(*pieces: Any) -> Any:
    return merge_ranges(pieces)


def _rows(table: Any) -> int:
    return int(table.num_rows)


class _Plan:
    """The stages of one analysis on one client (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        area: Scope | None,
        classification: str | None,
        scope_classification: str,
        model: SimilarityModel,
        now: pd.Timestamp,
    ) -> None:
        self.client = client
        self.area = area
        self.classification = classification
        self.scope_classification = scope_classification
        self.model = model
        self.now = now
        self.buckets = max(1, len(client.scheduler_info().get("workers", {})))

    def survey(
        self, frame: Any, side_m: float, spatial_shuffle: bool | None, show: Callable[..., None]
    ) -> tuple[tuple[list[Any], list[tuple]], Any]:
        from dask.delayed import delayed

        def run(frame: Any) -> tuple[list[Any], list[tuple]]:
            options = {
                "scope": self.area,
                "classification": self.classification,
                "side_m": side_m,
                "buckets": self.buckets,
            }
            if isinstance(frame, list):  # GeoParquet files, read by the tasks themselves
                tasks = [delayed(cells.survey_file)(part, **options) for part in frame]
            else:
                light = frame[[c for c in (SEQ, CLASSIFICATION, GEOMETRY) if c in frame.columns]]
                tasks = [
                    delayed(cells.survey_partition)(part, **options) for part in light.to_delayed()
                ]
            futures = self.client.compute(tasks)
            show("survey", futures)
            return futures, self.client.gather(self.client.map(_survey_summary, futures))

        surveys, summaries = run(frame)
        shuffle = spatial_shuffle
        if shuffle is None:
            shuffle = _overlapping([s[4] for s in summaries]) or any(
                s[0] > 2 * SHUFFLE_PARTITION_REPORTS for s in summaries
            )
        if shuffle:
            rows = sum(s[0] for s in summaries)
            if isinstance(frame, list):
                import dask_geopandas

                frame = dask_geopandas.read_parquet([part.path for part in frame])
            # Persisted: both passes read the shuffled reports (spilled to disk if need be).
            frame = self.client.persist(
                _hilbert_shuffle(frame, max(1, math.ceil(rows / SHUFFLE_PARTITION_REPORTS)))
            )
            surveys, summaries = run(frame)
        self._check_unique(surveys)
        return (surveys, summaries), frame

    def _check_unique(self, surveys: list[Any]) -> None:
        client = self.client
        found = client.gather(
            [
                client.submit(_duplicates, *client.map(_bucket, surveys, bucket=b))
                for b in range(self.buckets)
            ]
        )
        repeated = np.unique(np.concatenate([*found, np.empty(0, np.int64)]))
        if len(repeated):
            listed = ", ".join(str(s) for s in repeated[:5].tolist())
            more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
            raise InvalidReportsError(
                f"column 'seq' must be unique; repeated [{listed}]{more} (across partitions)"
            )

    def partitions(
        self,
        frame: Any,
        surveyed: tuple[list[Any], list[tuple]],
        side_m: float,
        show: Callable[..., None],
    ) -> tuple[list[Any], list[dict[str, Any]]]:

        client = self.client
        surveys, summaries = surveyed
        footprints = client.map(_attribute, surveys, attr="footprint")
        live = [p for p, s in enumerate(summaries) if s[1] > 0]
        near = {p: [q for q in live if q != p and _near(summaries[p], summaries[q])] for p in live}
        if isinstance(frame, list):
            # Each file's cell keys, computed by its survey, are reused by its halo task.
            keys = client.map(_attribute, surveys, attr="keys")
            tasks = self._file_tasks(frame, live, near, footprints, keys, side_m)
        else:
            keys = []
            tasks = self._frame_tasks(frame, live, near, footprints, side_m)
        futures = client.compute(tasks)
        show("partitions", futures)
        costs = client.gather(client.map(_attribute, futures, attr="costs"))
        del surveys, footprints, keys
        return futures, [{"partition": p, **c} for p, c in zip(live, costs, strict=True)]

    def _cell_options(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "model": self.model,
            "classification": self.scope_classification,
            "now": self.now,
        }

    def _file_tasks(
        self,
        parts: list[ParquetPart],
        live: list[int],
        near: dict[int, list[int]],
        footprints: list[Any],
        keys: list[Any],
        side_m: float,
    ) -> list[Any]:
        """Tasks that read their GeoParquet file themselves: no frame outlives a task."""
        from dask.delayed import delayed

        filters = {"scope": self.area, "classification": self.classification, "side_m": side_m}
        halos = {
            q: delayed(cells.halo_file, nout=len(near[q]))(
                parts[q], [footprints[p] for p in near[q]], **filters, keys=keys[q]
            )
            for q in live
            if near[q]
        }
        return [
            delayed(cells.cell_file)(
                parts[p],
                [halos[q][near[q].index(p)] for q in near[p]],
                **filters,
                index=p,
                model=self.model,
                scope_classification=self.scope_classification,
                now=self.now,
            )
            for p in live
        ]

    def _frame_tasks(
        self,
        frame: Any,
        live: list[int],
        near: dict[int, list[int]],
        footprints: list[Any],
        side_m: float,
    ) -> list[Any]:
        """Tasks over a Dask collection's partitions (each computed once, then shared)."""
        from dask.delayed import delayed

        parts = frame.to_delayed()
        prepared = {
            p: delayed(cells.prepare_partition)(
                parts[p], scope=self.area, classification=self.classification, side_m=side_m
            )
            for p in live
        }
        halos = {
            q: delayed(cells.halo_pieces, nout=len(near[q]))(
                prepared[q], [footprints[p] for p in near[q]]
            )
            for q in live
            if near[q]
        }
        return [
            delayed(cells.analyze_cell)(
                prepared[p],
                [halos[q][near[q].index(p)] for q in near[p]],
                **self._cell_options(p),
            )
            for p in live
        ]

    def border(self, cell_futures: list[Any], show: Callable[..., None]) -> list[Any]:
        client = self.client
        found = client.gather(client.map(_border_labels, cell_futures))
        seqs = np.concatenate([f[0] for f in found] + [np.empty(0, np.int64)])
        labels = np.concatenate([f[1] for f in found] + [np.empty(0, np.int64)])
        if len(labels) == 0:
            return []
        distinct, local = np.unique(labels, return_inverse=True)
        order = np.argsort(seqs, kind="stable")
        same = np.flatnonzero(seqs[order][1:] == seqs[order][:-1])
        a, b = local[order][same], local[order][same + 1]
        graph = sp.csr_array(
            (np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(distinct), len(distinct))
        )
        _, group = connected_components(graph, directed=False)
        tasks = max(1, min(len(cell_futures), math.ceil(len(seqs) / _BORDER_TASK_REPORTS)))
        task = (np.asarray(group, dtype=np.int64) % tasks).astype(np.int64)
        [mapping] = client.scatter([(distinct, task)], broadcast=False)
        pieces = client.map(cells.border_pieces, cell_futures, task_of_label=mapping, tasks=tasks)
        options = {
            "model": self.model,
            "classification": self.scope_classification,
            "now": self.now,
        }
        futures = [
            client.submit(
                _border_task, *[client.submit(getitem, piece, t) for piece in pieces], **options
            )
            for t in range(tasks)
        ]
        show("border", futures)
        return futures

    def order(
        self, tables: list[Any], ranges: int, show: Callable[..., None]
    ) -> tuple[list[Any], list[int]]:
        """Sample-sort the hypothesis tables into ranges; empties ``tables`` (consumed)."""
        client = self.client
        if not tables:
            return [], []
        samples = client.gather(client.map(sample_keys, tables, count=_SAMPLES))
        cuts = splitters(samples, ranges)
        splits = client.map(split_by, tables, cuts=cuts)
        tables.clear()  # consumed: a table is released once it is split
        parts = [
            client.submit(_merge, *[client.submit(getitem, split, r) for split in splits])
            for r in range(len(cuts) + 1)
        ]
        del splits
        show("order", parts)
        counts = client.gather(client.map(_rows, parts))
        return parts, counts


def _hilbert_shuffle(frame: Any, npartitions: int) -> Any:
    """Sort the reports along a Hilbert curve into ``npartitions`` compact partitions.

    (``dask_geopandas``'s ``spatial_shuffle`` sets a computed index, which fails with
    dask 2026.8 and dask-geopandas 0.5; sorting on a column does the same.)
    """
    column = "_cleanapp_hilbert"
    shuffled = frame.assign(**{column: frame.hilbert_distance()})
    return shuffled.sort_values(column, npartitions=npartitions).drop(columns=column)


def _near(a: tuple, b: tuple) -> bool:
    """Whether two partitions' cell boxes are within one cell of each other."""
    return bool(np.all(b[2] <= a[3] + 1) and np.all(b[3] >= a[2] - 1))


def _overlapping(boxes: list[tuple[float, float, float, float]]) -> bool:
    """Whether partition boxes overlap so much that halos would be most of the data."""
    known = np.array([b for b in boxes if not math.isnan(b[0])], dtype=np.float64)
    if len(known) < 2:
        return False
    width = np.maximum(known[:, 2] - known[:, 0], 1e-9)
    height = np.maximum(known[:, 3] - known[:, 1], 1e-9)
    total = max(known[:, 2].max() - known[:, 0].min(), 1e-9) * max(
        known[:, 3].max() - known[:, 1].min(), 1e-9
    )
    return bool((width * height).sum() > OVERLAP_SHUFFLE * total)
