"""The outcome of a distributed analysis: ordered hypothesis parts kept on the cluster.

The hypotheses stay where they were computed, as Arrow tables, one per *part* (a range
of the global order, see :mod:`cleanapp_geo.distributed.ordering`); the client fetches
one part at a time to stream them, and the workers write them to GeoParquet directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cleanapp_geo.export import GEOMETRY_COLUMN, write_geoparquet
from cleanapp_geo.hypotheses import ClusterStats, IncidentHypothesis
from cleanapp_geo.model import SimilarityModel
from cleanapp_geo.similarity import EDGE_COLUMNS, reasons_from_bits

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DistributedResult"]


def _write_part(table: pa.Table, path: str) -> str:
    write_geoparquet(table, path)
    return path


def _filtered(table: pa.Table, min_reports: int | None) -> pa.Table:
    if min_reports is None or min_reports <= 1:
        return table
    import pyarrow.compute as pc

    return table.filter(pc.greater_equal(table.column("report_count"), min_reports))


class DistributedResult:
    """Hypotheses, statistics and edges of :func:`cleanapp_geo.distributed.analyze`.

    Attributes
    ----------
    stats : ClusterStats
        Scope statistics (equal to the single-machine ones).
    classification : str
        The scope classification.
    model : SimilarityModel
        The model used.
    now : pandas.Timestamp
        Reference time of the urgency.
    timings_s : dict of str to float
        Seconds per stage (survey, partitions, border, order).
    partition_costs : list of dict
        Per analysed partition: reports, halo reports, candidate pairs, edges kept,
        border reports, hypotheses and seconds per phase.
    part_sizes : list of int
        Hypotheses per part, in order.
    """

    def __init__(
        self,
        *,
        parts: list[Any],
        part_sizes: list[int],
        edges: list[Any],
        stats: ClusterStats,
        classification: str,
        model: SimilarityModel,
        now: pd.Timestamp,
        timings_s: dict[str, float],
        partition_costs: list[dict[str, Any]],
        client: Any = None,
    ) -> None:
        self._parts = parts
        self.part_sizes = part_sizes
        self._edges = edges
        self.stats = stats
        self.classification = classification
        self.model = model
        self.now = now
        self.timings_s = timings_s
        self.partition_costs = partition_costs
        self._client = client

    def __len__(self) -> int:
        return sum(self.part_sizes)

    def __repr__(self) -> str:
        return (
            f"DistributedResult(reports={self.stats.report_count}, hypotheses={len(self)}, "
            f"parts={len(self._parts)}, classification={self.classification!r})"
        )

    def detached(self) -> DistributedResult:
        """Return a copy whose parts and edges live in this process (the cluster may close)."""
        fetched = DistributedResult(
            parts=[self._fetch(p) for p in self._parts],
            part_sizes=self.part_sizes,
            edges=[self._fetch(e) for e in self._edges],
            stats=self.stats,
            classification=self.classification,
            model=self.model,
            now=self.now,
            timings_s=self.timings_s,
            partition_costs=self.partition_costs,
        )
        return fetched

    @staticmethod
    def _fetch(handle: Any) -> Any:
        result = getattr(handle, "result", None)
        return result() if callable(result) else handle

    def iter_tables(self, *, min_reports: int | None = None) -> Iterator[pa.Table]:
        """Yield the parts as Arrow tables, in order, fetching one at a time.

        Parameters
        ----------
        min_reports : int, optional
            Keep only hypotheses of at least this many reports.

        Yields
        ------
        pyarrow.Table
            Columns of :func:`cleanapp_geo.export.hypotheses_arrow`.
        """
        for part in self._parts:
            yield _filtered(self._fetch(part), min_reports)

    def iter_hypotheses(self, *, min_reports: int | None = None) -> Iterator[IncidentHypothesis]:
        """Yield every hypothesis in order, one part in memory at a time.

        Parameters
        ----------
        min_reports : int, optional
            Only hypotheses of at least this many reports.

        Yields
        ------
        IncidentHypothesis
        """
        for table in self.iter_tables(min_reports=min_reports):
            for batch in table.drop_columns([GEOMETRY_COLUMN]).to_batches(10_000):
                for row in batch.to_pylist():
                    yield _hypothesis(row)

    def to_arrow(self, *, limit: int | None = None, min_reports: int | None = None) -> pa.Table:
        """Gather the hypotheses into one Arrow table (only for results that fit here).

        Parameters
        ----------
        limit, min_reports : int, optional
            As in :meth:`cleanapp_geo.AnalysisResult.to_arrow`.

        Returns
        -------
        pyarrow.Table
        """
        import pyarrow as pa

        tables = []
        remaining = limit
        for table in self.iter_tables(min_reports=min_reports):
            if remaining is not None:
                table = table.slice(0, remaining)
                remaining -= table.num_rows
            tables.append(table)
            if remaining == 0:
                break
        return pa.concat_tables(tables) if tables else self._empty()

    def _empty(self) -> pa.Table:
        from cleanapp_geo.export import hypotheses_arrow
        from cleanapp_geo.hypotheses import group_hypotheses

        empty = group_hypotheses(
            _no_reports(self.model), np.empty(0), np.empty(0), np.empty(0), now=self.now
        )
        return hypotheses_arrow(empty)

    def to_parquet(self, path: str | Path) -> list[Path]:
        """Write every part to ``path/part-NNNNN.parquet`` (GeoParquet), on the workers.

        Parameters
        ----------
        path : str or pathlib.Path
            A directory visible to the workers (created); read it back in order with
            ``geopandas.read_parquet(path)`` or ``dask_geopandas.read_parquet(path)``.

        Returns
        -------
        list of pathlib.Path
            The files, in order.
        """
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        paths = [str(directory / f"part-{k:05d}.parquet") for k in range(len(self._parts))]
        if self._client is None:
            written = [
                _write_part(self._fetch(p), q) for p, q in zip(self._parts, paths, strict=True)
            ]
        else:
            written = self._client.gather(self._client.map(_write_part, self._parts, paths))
        return [Path(p) for p in written]

    def to_dict(
        self, *, limit: int | None = None, min_reports: int | None = None
    ) -> dict[str, Any]:
        """Wire JSON of the analysis, as :meth:`cleanapp_geo.AnalysisResult.to_dict`."""
        table = self.to_arrow(limit=limit, min_reports=min_reports)
        records = table.drop_columns([GEOMETRY_COLUMN]).to_pylist()
        return {
            "classification": self.classification,
            "stats": self.stats.to_dict(),
            "hypotheses": records,
        }

    @property
    def hypotheses(self) -> list[IncidentHypothesis]:
        """All hypotheses, in order (gathered here: for results that fit in memory)."""
        return list(self.iter_hypotheses())

    @property
    def edges(self) -> pd.DataFrame:
        """The edge table indexed ``(focal, neighbor)``, as :attr:`AnalysisResult.edges`."""
        frames = [self._fetch(e) for e in self._edges]
        frame = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame({c: [] for c in ("focal", "neighbor", *EDGE_COLUMNS)})
        )
        index = pd.MultiIndex.from_arrays(
            [frame["focal"].to_numpy(np.int64), frame["neighbor"].to_numpy(np.int64)],
            names=["focal", "neighbor"],
        )
        data: dict[str, Any] = {c: frame[c].to_numpy() for c in EDGE_COLUMNS if c != "reasons"}
        data["reasons"] = [reasons_from_bits(int(b)) for b in frame["reasons"]]
        return pd.DataFrame(data, index=index).sort_index()

    @property
    def edge_count(self) -> int:
        """Number of edges."""
        return sum(len(self._fetch(e)) for e in self._edges)


def _hypothesis(row: dict[str, Any]) -> IncidentHypothesis:
    severity = row["severity_score"]
    return IncidentHypothesis(
        hypothesis_id=row["hypothesis_id"],
        title=row["title"],
        classification=row["classification"],
        representative_report_seq=row["representative_report_seq"],
        report_seqs=tuple(row["report_seqs"]),
        report_count=row["report_count"],
        confidence=row["confidence"],
        severity_score=float("nan") if severity is None else severity,
        urgency_score=row["urgency_score"],
        rationale=tuple(row["rationale"]),
    )


def _no_reports(model: SimilarityModel) -> Any:
    from cleanapp_geo.arrays import prepare_reports
    from cleanapp_geo.reports import reports_from_records

    return prepare_reports(reports_from_records([]), model)
