r"""Real civic reports with duplicate labels: read a labelled CSV into a report frame.

A *labelled report file* is a CSV (optionally gzip-compressed) of real service requests,
one row per request, with the city's own duplicate decision. The normalised 311 extracts
bundled with the benchmarks (``benchmarks/data/real311/``) are such files. Its columns:

================= ========================================================================
column            meaning
================= ========================================================================
``id``            the city's request id (unique, non-empty)
``ts``            when the request was made: ISO 8601 with an offset
                  (``2018-10-21T04:00:00Z``) or a date only (``2018-12-07``)
``lat``, ``lon``  WGS 84 position in degrees
``category``      the city's request type (``Pothole in Street``, ``HEAT/HOT WATER``)
``text``          the reporter's own words ("" when the city publishes none)
``is_duplicate``  label: ``true`` when the city closed the request as a duplicate
``parent_id``     label: the id of the request it duplicates ("" when not given)
================= ========================================================================

Any other column is ignored and never read, in particular ``city_status`` (the note the
label was read from) and the ``raw_*`` columns: they give the label away, so they must
never reach an engine.

:func:`read_labelled_reports` splits a file into what an engine may see, a report frame
(see :mod:`cleanapp_geo.schema`), and the labels, a plain frame in the same row order:

=========================== =================================================================
report-frame column         value
=========================== =================================================================
``seq``                     the 1-based data row number, in file order
``public_id``               ``rpt_`` + base64url (22 characters) of the first 16 bytes of
                            SHA-256(``id``): deterministic, 128 bits like CleanApp's ids
``ts``                      ``ts`` as UTC; a date-only value is 00:00 UTC of that date
``classification``          "" (unknown)
``severity_level``          NaN (unknown)
``title``                   ``text`` ("" when empty)
``summary``                 "" (none)
``description``             "" (none)
``brand_name``              "" (unknown)
``brand_display_name``      "" (unknown)
``inferred_contact_emails`` "" (none)
``language``                "" (unknown)
``geometry``                ``Point(lon, lat)``, EPSG:4326
``category``                ``category``, stripped ("" = unknown)
=========================== =================================================================

**Why the category is a category, not the classification.** A 311 request type is the
city's own fine-grained judgement of what the report is about and decides most of a 311
duplicate rule (Chicago's pothole rule, FixMyStreet's "same category nearby"): it goes to
the report frame's optional ``category`` column, a similarity feature of its own.
CleanApp's ``classification`` is a coarse physical/digital split that the photo analysis
sometimes gets wrong; every 311 request would be ``physical``, a constant that would carry
no information and inflate every pair's score, so it stays unknown.

**Why the other fields are unknown, not constants.** 311 exports publish no severity, no
brand, no language and no analysis text. A constant (say severity 0.5, language ``en``)
would make every pair agree on that feature and inflate every pair score by the feature's
weight, so a model would be judged on evidence that does not exist. NaN severity and ""
for brand and language are the report-frame contract's "unknown", which similarity treats
as no evidence.

**Day resolution.** Some cities publish the local date of a request only (Chicago's pothole
extract). Such a value becomes 00:00 UTC of that date: the date is kept, the time of day
is unknown, time differences are whole days and every report of a day ties in time. A
metric that needs an order of reports (see
:func:`cleanapp_geo.evaluation.duplicate_scores`) breaks such ties by row order.

Examples
--------
>>> import pathlib, tempfile
>>> import cleanapp_geo as cg
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.csv"
>>> _ = path.write_text(
...     "id,ts,lat,lon,category,text,is_duplicate,parent_id,city_status\n"
...     "A1,2018-12-07,41.95,-87.69,Pothole in Street,,false,,Open\n"
...     "A2,2018-12-07,41.95,-87.69,Pothole in Street,,true,A1,Open - Dup\n"
... )
>>> reports, labels = cg.realdata.read_labelled_reports(path)
>>> reports["seq"].tolist(), reports["category"].tolist()
([1, 2], ['Pothole in Street', 'Pothole in Street'])
>>> reports["ts"].astype(str).tolist()
['2018-12-07 00:00:00+00:00', '2018-12-07 00:00:00+00:00']
>>> bool(reports["severity_level"].isna().all()), "city_status" in reports.columns
(True, False)
>>> labels["is_duplicate"].tolist(), labels["parent_id"].tolist(), labels["parent_seq"].tolist()
([False, True], [nan, 'A1'], [<NA>, 1])
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.errors import InvalidLabelledDataError
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    CLASSIFICATION,
    CRS,
    DESCRIPTION,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    PUBLIC_ID,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
    validate_reports,
)

__all__ = [
    "LABEL_COLUMNS",
    "REQUIRED_COLUMNS",
    "read_labelled_reports",
]

ID: Final = "id"
LAT: Final = "lat"
LON: Final = "lon"
CATEGORY: Final = "category"
TEXT: Final = "text"
IS_DUPLICATE: Final = "is_duplicate"
PARENT_ID: Final = "parent_id"
PARENT_SEQ: Final = "parent_seq"

#: The columns a labelled report file must have; every other column is never read.
REQUIRED_COLUMNS: Final = (ID, TS, LAT, LON, CATEGORY, TEXT, IS_DUPLICATE, PARENT_ID)

#: The columns of the labels frame returned by :func:`read_labelled_reports`.
LABEL_COLUMNS: Final = (SEQ, ID, IS_DUPLICATE, PARENT_ID, PARENT_SEQ)

_SUFFIXES: Final = (".csv", ".csv.gz")
_MAX_LISTED: Final = 5
_DATE_ONLY: Final = r"\d{4}-\d{2}-\d{2}"
_WITH_OFFSET: Final = r".*\d[T ]\d.*(?:[zZ]|[+-]\d\d(?::?\d\d)?)"
_TRUE: Final = "true"
_FALSE: Final = "false"


def read_labelled_reports(
    path: str | os.PathLike[str],
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    r"""Read a labelled report file into a report frame and a labels frame.

    Only the columns ``id, ts, lat, lon, category, text, is_duplicate, parent_id`` are
    read; ``city_status``, ``raw_*`` and any other column are skipped by the CSV parser,
    so they cannot reach either frame. The mapping to report-frame columns is the table in
    :mod:`cleanapp_geo.realdata`.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv`` or ``.csv.gz`` file, UTF-8, with a header row.

    Returns
    -------
    reports : geopandas.GeoDataFrame
        A report frame (it passes :func:`cleanapp_geo.schema.validate_reports`) with
        exactly the contract columns, one row per data row in file order, ``seq`` = data
        row number (1-based), index ``0..n-1``. It holds no label.
    labels : pandas.DataFrame
        One row per report, same order and index, columns ``seq`` (int64), ``id`` (str,
        stripped), ``is_duplicate`` (bool), ``parent_id`` (str, stripped; missing when
        empty) and ``parent_seq`` (pandas ``Int64``: the parent's ``seq``; NA when no
        parent is given or the parent is not in the file).

    Raises
    ------
    InvalidLabelledDataError
        When the file is not named ``.csv``/``.csv.gz``, a required column is missing, an
        ``id`` is empty or repeated, a ``ts`` is neither an ISO 8601 timestamp with an
        offset nor a ``YYYY-MM-DD`` date, a ``lat``/``lon`` is missing, not a number or
        out of range, an ``is_duplicate`` is not ``true``/``false`` (any case) or a
        ``parent_id`` names the request itself. The message names the column and up to
        five offending data rows (1-based, header not counted, equal to ``seq``) with
        their ids and values.
    FileNotFoundError
        When the file does not exist.

    Examples
    --------
    >>> import gzip, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "two.csv.gz"
    >>> _ = path.write_bytes(gzip.compress(
    ...     b"id,ts,lat,lon,category,text,is_duplicate,parent_id\n"
    ...     b"7,2024-04-16T02:51:53Z,40.82,-73.87,HEAT/HOT WATER,,false,\n"
    ...     b"8,2024-04-16T02:55:00Z,40.82,-73.87,HEAT/HOT WATER,,TRUE,\n"
    ... ))
    >>> reports, labels = read_labelled_reports(path)
    >>> import cleanapp_geo as cg
    >>> reports.columns.tolist() == [*cg.REPORT_COLUMNS, "category"]
    True
    >>> labels["is_duplicate"].tolist(), labels["parent_id"].isna().tolist()
    ([False, True], [True, True])
    """
    path = Path(path)
    if not path.name.lower().endswith(_SUFFIXES):
        raise InvalidLabelledDataError(
            f"expected a labelled report file ending in .csv or .csv.gz, got {path.name!r}"
        )
    required = frozenset(REQUIRED_COLUMNS)
    raw = pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        usecols=lambda column: column in required,
        encoding="utf-8",
    )
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidLabelledDataError(
            f"{path.name}: missing required columns {missing}; a labelled report file needs "
            f"{list(REQUIRED_COLUMNS)}"
        )
    raw = raw[list(REQUIRED_COLUMNS)].fillna("").reset_index(drop=True)
    n = len(raw)
    seq = np.arange(1, n + 1, dtype=np.int64)
    ids = raw[ID].str.strip()

    _check(path, ID, ids == "", ids, ids, "must not be empty")
    repeated = ids.duplicated(keep=False).to_numpy()
    _check(path, ID, repeated, ids, ids, "must be unique; repeated")
    ts = _parse_ts(path, raw[TS].str.strip(), ids)
    lat = _coordinate(path, raw[LAT], ids, LAT, 90.0)
    lon = _coordinate(path, raw[LON], ids, LON, 180.0)
    is_duplicate = _parse_bool(path, raw[IS_DUPLICATE], ids)
    parent_id = raw[PARENT_ID].str.strip()
    _check(path, PARENT_ID, parent_id == ids, ids, parent_id, "must not name the request itself")

    reports = gpd.GeoDataFrame(
        {
            SEQ: seq,
            PUBLIC_ID: [_public_id(i) for i in ids],
            TS: ts,
            CLASSIFICATION: "",
            SEVERITY_LEVEL: np.full(n, np.nan),
            TITLE: raw[TEXT],
            SUMMARY: "",
            DESCRIPTION: "",
            BRAND_NAME: "",
            BRAND_DISPLAY_NAME: "",
            INFERRED_CONTACT_EMAILS: "",
            LANGUAGE: "",
            CATEGORY: raw[CATEGORY].str.strip(),
        },
        geometry=shapely.points(lon, lat),
        crs=CRS,
    )
    parent_pos = pd.Index(ids).get_indexer(pd.Index(parent_id))  # -1: no parent or not in the file
    parent_seq = pd.Series(parent_pos + 1, dtype="Int64").where(parent_pos >= 0)
    labels = pd.DataFrame(
        {
            SEQ: seq,
            ID: ids,
            IS_DUPLICATE: is_duplicate,
            PARENT_ID: parent_id.where(parent_id != ""),
            PARENT_SEQ: parent_seq,
        }
    )
    return validate_reports(reports[[*REPORT_COLUMNS, CATEGORY]]), labels


# --- parsing -----------------------------------------------------------------------------


def _public_id(city_id: str) -> str:
    digest = hashlib.sha256(city_id.encode("utf-8")).digest()[:16]
    return "rpt_" + base64.urlsafe_b64encode(digest).decode("ascii")[:22]


def _check(
    path: Path,
    column: str,
    bad: pd.Series | np.ndarray,
    ids: pd.Series,
    values: pd.Series,
    expected: str,
) -> None:
    """Raise when ``bad`` marks a row, listing up to five rows with their ids and values."""
    mask = np.asarray(bad, dtype=bool)
    if not mask.any():
        return
    rows = np.flatnonzero(mask)
    shown = ", ".join(
        f"data row {r + 1} (id {ids.iat[r]!r}): {values.iat[r]!r}" for r in rows[:_MAX_LISTED]
    )
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    raise InvalidLabelledDataError(f"{path.name}: column {column!r} {expected}; {shown}{more}")


def _parse_ts(path: Path, text: pd.Series, ids: pd.Series) -> pd.Series:
    date_only = text.str.fullmatch(_DATE_ONLY).to_numpy(dtype=bool)
    with_offset = text.str.fullmatch(_WITH_OFFSET).to_numpy(dtype=bool) & ~date_only
    ts = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if date_only.any():
        ts[date_only] = pd.to_datetime(
            text[date_only], format="%Y-%m-%d", utc=True, errors="coerce"
        )
    if with_offset.any():
        ts[with_offset] = pd.to_datetime(
            text[with_offset], format="ISO8601", utc=True, errors="coerce"
        )
    _check(
        path,
        TS,
        ts.isna(),
        ids,
        text,
        "must hold ISO 8601 timestamps with an offset (2018-10-21T04:00:00Z) or dates (2018-12-07)",
    )
    return ts


def _coordinate(
    path: Path, text: pd.Series, ids: pd.Series, column: str, limit: float
) -> np.ndarray:
    values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(values) & (values >= -limit) & (values <= limit))
    _check(path, column, bad, ids, text, f"must hold a number in [-{limit:g}, {limit:g}]")
    return values


def _parse_bool(path: Path, text: pd.Series, ids: pd.Series) -> np.ndarray:
    lowered = text.str.strip().str.lower()
    bad = ~lowered.isin((_TRUE, _FALSE)).to_numpy()
    _check(path, IS_DUPLICATE, bad, ids, text, "must be true or false")
    return (lowered == _TRUE).to_numpy()
