"""Helpers shared by the PostGIS store tests (imported by module name, like api_support)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import sqlalchemy as sa

import cleanapp_geo as cg
from cleanapp_api.db import tables


def clear(engine: sa.Engine) -> None:
    """Empty every table of the store (DELETE, children first: much faster than TRUNCATE
    on the few rows a test writes) but the migration's seeded authority directory rules."""
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            if table is not tables.authority_directory_rules:
                conn.execute(sa.delete(table))


def record(seq: int, **overrides: Any) -> dict[str, Any]:
    """One report record for :func:`cleanapp_geo.reports_from_records`."""
    base: dict[str, Any] = {
        "seq": seq,
        "ts": f"2026-03-10T{10 + seq % 10:02d}:00:00Z",
        "latitude": 47.37 + seq * 1e-4,
        "longitude": 8.54 + seq * 1e-4,
        "severity_level": 0.5,
        "title": f"Report {seq}",
        "summary": f"Summary {seq}",
        "classification": "physical",
        "language": "en",
    }
    base.update(overrides)
    return base


def frame_of(*records: dict[str, Any]) -> gpd.GeoDataFrame:
    """A validated report frame of the given records."""
    return cg.reports_from_records(records)
