"""Bulk import of report files into the store (behind ``cleanapp-api reports load``).

Reading and row validation live in :mod:`cleanapp_geo.io.files`, writing in
:func:`cleanapp_geo.io.write.insert_reports`; this module strings them together:

1. read the file and check every row (all problems of every row are collected);
2. by default, write nothing when any row is invalid; with ``skip_invalid`` write the
   valid rows and put the invalid ones in a rejects file (CSV: ``row``, ``reason``, then
   the record's original fields);
3. write in one transaction, idempotent on ``seq`` (re-importing a file adds nothing).
   The stored reports' seqs come back in arrival order, for ``reports load`` to match
   them (:func:`cleanapp_api.services.ingest.match_stored_reports`).
   Rows whose report clashes with a stored one (same ``seq`` with another ``public_id``,
   timestamp or location; a ``public_id`` of another ``seq``) count as invalid rows too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import sqlalchemy as sa

from cleanapp_geo.io.connect import ProgressCallback
from cleanapp_geo.io.errors import ReportConflictError
from cleanapp_geo.io.files import (
    REASON,
    ROW,
    Format,
    ReportFile,
    check_report_rows,
    read_report_file,
)
from cleanapp_geo.io.write import insert_reports
from cleanapp_geo.schema import SEQ, TS

__all__ = ["ImportResult", "default_rejects_path", "import_report_file"]

_MAX_CONFLICT_RETRIES: Final = 3


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The outcome of :func:`import_report_file`.

    Attributes
    ----------
    path : pathlib.Path
        The imported file.
    n_rows : int
        Records in the file.
    n_reports : int
        Reports among the valid records (several records of one ``seq`` are one report).
    rejects : pandas.DataFrame
        Invalid rows: ``row``, ``reason`` and the original fields, ordered by ``row``.
    written : bool
        Whether anything was written (False when rows were invalid and ``skip_invalid``
        was not given).
    inserted_reports, inserted_analyses : int
        New rows stored (0 when re-importing a file).
    rejects_path : pathlib.Path or None
        Where the rejects were written, if anywhere.
    seqs : numpy.ndarray
        The file's reports that are stored now (written or stored before), in arrival
        order (``ts``, then ``seq``): what ``reports load`` matches next. Empty when
        nothing was written.
    """

    path: Path
    n_rows: int
    n_reports: int
    rejects: pd.DataFrame
    written: bool
    inserted_reports: int
    inserted_analyses: int
    rejects_path: Path | None
    seqs: np.ndarray


def default_rejects_path(path: str | Path) -> Path:
    """Return where ``--skip-invalid`` writes rejects by default: ``<stem>.rejects.csv``.

    Parameters
    ----------
    path : str or pathlib.Path
        The imported file.

    Returns
    -------
    pathlib.Path
        A sibling path.

    Examples
    --------
    >>> default_rejects_path("data/reports.geojson").name
    'reports.rejects.csv'
    """
    source = Path(path)
    return source.with_name(f"{source.stem}.rejects.csv")


def _conflict_rejects(
    checked: ReportFile, records: pd.DataFrame, conflicts: pd.DataFrame
) -> pd.DataFrame:
    reasons = conflicts.set_index(SEQ)[REASON]
    hit = checked.analyses[checked.analyses[SEQ].isin(reasons.index)]
    rows = hit[ROW].to_numpy(dtype=np.int64)
    return pd.concat(
        [
            pd.DataFrame({ROW: rows, REASON: reasons.loc[hit[SEQ]].to_numpy(dtype=str)}),
            records.loc[rows].drop(columns=["_problem"], errors="ignore").reset_index(drop=True),
        ],
        axis=1,
    )


def _without(checked: ReportFile, seqs: np.ndarray) -> ReportFile:
    return ReportFile(
        n_rows=checked.n_rows,
        reports=checked.reports[~checked.reports[SEQ].isin(seqs)].reset_index(drop=True),
        analyses=checked.analyses[~checked.analyses[SEQ].isin(seqs)].reset_index(drop=True),
        rejects=checked.rejects,
    )


def import_report_file(
    engine: sa.Engine,
    path: str | Path,
    *,
    format: Format | None = None,
    skip_invalid: bool = False,
    rejects_path: str | Path | None = None,
    chunk_size: int = 50_000,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Validate a report file and write its reports (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The migrated store.
    path : str or pathlib.Path
        A GeoJSON, CSV or GeoParquet file (layout in :mod:`cleanapp_geo.io.files`).
    format : {"geojson", "csv", "parquet"}, optional
        Default: from the file's suffix.
    skip_invalid : bool, default False
        Write the valid rows even when some are invalid.
    rejects_path : str or pathlib.Path, optional
        Write the invalid rows here (always, even when there are none). With
        ``skip_invalid`` and invalid rows, defaults to :func:`default_rejects_path`.
    chunk_size : int, default 50_000
        Rows per ``COPY`` chunk.
    progress : callable, optional
        Passed to :func:`cleanapp_geo.io.write.insert_reports`.

    Returns
    -------
    ImportResult
        What was read, rejected and written.

    Raises
    ------
    InvalidReportsError
        When the file as a whole cannot be read (unknown format, not JSON, no ``seq``
        column ...).
    ReportConflictError
        When reports kept clashing with concurrent writes (after a few retries).
    """
    source = Path(path)
    records = read_report_file(source, format=format)
    checked = check_report_rows(records)
    rejects = checked.rejects
    written = False
    inserted_reports = inserted_analyses = 0

    if rejects.empty or skip_invalid:
        for _ in range(_MAX_CONFLICT_RETRIES):
            if checked.reports.empty:
                written = True
                break
            try:
                result = insert_reports(
                    checked.reports,
                    engine,
                    analyses=checked.analyses,
                    chunk_size=chunk_size,
                    progress=progress,
                )
            except ReportConflictError as exc:
                clashes = _conflict_rejects(checked, records, exc.conflicts)
                rejects = pd.concat([rejects, clashes], ignore_index=True)
                rejects = rejects.sort_values(ROW, kind="stable").reset_index(drop=True)
                if not skip_invalid:
                    break
                checked = _without(checked, exc.conflicts[SEQ].to_numpy())
                continue
            written = True
            inserted_reports = result.inserted_reports
            inserted_analyses = result.inserted_analyses
            break
        else:
            raise ReportConflictError(
                "reports kept clashing with concurrent writes; nothing more was written",
                pd.DataFrame({SEQ: pd.Series([], dtype=np.int64), REASON: []}),
            )

    target = Path(rejects_path) if rejects_path is not None else None
    if target is None and skip_invalid and not rejects.empty:
        target = default_rejects_path(source)
    if target is not None:
        rejects.to_csv(target, index=False)
    stored = checked.reports if written else checked.reports.iloc[:0]
    order = np.lexsort((stored[SEQ].to_numpy(), stored[TS].to_numpy()))
    return ImportResult(
        path=source,
        n_rows=checked.n_rows,
        n_reports=len(checked.reports),
        rejects=rejects,
        written=written,
        inserted_reports=inserted_reports,
        inserted_analyses=inserted_analyses,
        rejects_path=target,
        seqs=stored[SEQ].to_numpy(dtype=np.int64)[order],
    )
