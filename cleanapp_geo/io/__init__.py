"""The PostGIS store: tables, loaders that return the library's frames, a bulk writer.

Import it explicitly (``import cleanapp_geo.io as cio``); ``import cleanapp_geo`` never
imports SQLAlchemy. Needs the ``postgis`` extra (SQLAlchemy, GeoAlchemy2, psycopg 3,
pyarrow) and a database migrated with ``cleanapp-api db upgrade``.

* :mod:`cleanapp_geo.io.tables` -- the SQLAlchemy Core tables (one ``metadata``).
* :mod:`cleanapp_geo.io.connect` -- what ``con`` may be; connections and write transactions.
* :mod:`cleanapp_geo.io.read` -- :func:`read_reports`, :func:`read_analyses`, :func:`read_areas`,
  :func:`read_area_contacts`.
* :mod:`cleanapp_geo.io.write` -- :func:`write_reports` / :func:`insert_reports` (bulk
  ``COPY`` of rows encoded by :mod:`cleanapp_geo.io.encode`).
* :mod:`cleanapp_geo.io.contacts` -- escalation-target sources (areas, brands, analyses).
* :mod:`cleanapp_geo.io.files` -- reading report files (GeoJSON, CSV, GeoParquet) with
  per-row validation, for bulk imports.
"""

from __future__ import annotations

from cleanapp_geo.io.contacts import (
    read_brand_contacts,
    read_target_sources,
    suggest_stored_targets,
)
from cleanapp_geo.io.errors import InvalidQueryError, ReportConflictError, StoreError
from cleanapp_geo.io.files import ReportFile, check_report_rows, read_report_file
from cleanapp_geo.io.partitions import read_reports_dask, tile_grid
from cleanapp_geo.io.read import (
    read_analyses,
    read_area_contacts,
    read_areas,
    read_reports,
    select_reports,
)
from cleanapp_geo.io.tables import metadata
from cleanapp_geo.io.write import WriteResult, insert_reports, write_reports
from cleanapp_geo.scope import radius_bounding_boxes

__all__ = [
    "InvalidQueryError",
    "ReportConflictError",
    "ReportFile",
    "StoreError",
    "WriteResult",
    "check_report_rows",
    "insert_reports",
    "metadata",
    "radius_bounding_boxes",
    "read_analyses",
    "read_area_contacts",
    "read_areas",
    "read_brand_contacts",
    "read_report_file",
    "read_reports",
    "read_reports_dask",
    "read_target_sources",
    "select_reports",
    "suggest_stored_targets",
    "tile_grid",
    "write_reports",
]
