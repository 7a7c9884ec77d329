"""Helpers for the case and cluster API tests: report fixtures written through the library's
store writer, GeoJSON scopes and registered bearer tokens."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa
from api_support import bearer, mint_token

import cleanapp_geo as cg
import cleanapp_geo.io as cio

M_PER_DEG_LAT = 111_195.0
ZURICH = (47.3769, 8.5417)


def record(seq: int, **overrides: Any) -> dict[str, Any]:
    """A report near Zurich (seq-dependent offsets of about 10 m)."""
    base: dict[str, Any] = {
        "seq": seq,
        "ts": pd.Timestamp("2026-03-10T08:00:00Z") + pd.Timedelta(minutes=seq % 600),
        "latitude": ZURICH[0] + (seq % 50) * 1e-4,
        "longitude": ZURICH[1] + (seq % 50) * 1e-4,
        "severity_level": 0.5,
        "title": f"Report {seq}",
        "summary": f"Summary {seq}",
        "classification": "physical",
        "language": "en",
    }
    base.update(overrides)
    return base


def write(
    engine: sa.Engine,
    records: Iterable[dict[str, Any]],
    *,
    analyses: pd.DataFrame | None = None,
) -> None:
    """Store reports with :func:`cleanapp_geo.io.write_reports`."""
    frame = cg.reports_from_records(list(records))
    cio.write_reports(frame, engine, analyses=analyses)


def square(lat: float, lon: float, half_m: float) -> dict[str, Any]:
    """A GeoJSON Polygon: a square of ``2 · half_m`` metres around a point."""
    dlat = half_m / M_PER_DEG_LAT
    dlon = half_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    w, s, e, n = lon - dlon, lat - dlat, lon + dlon, lat + dlat
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def feature(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"name": "scope"}, "geometry": geometry}


Register = Callable[..., None]


def user_headers(token_rows: Register, user_id: str, roles: Any = None) -> dict[str, str]:
    """Mint a real access token, register it in ``auth_tokens``; return the header."""
    token = mint_token(user_id, roles=roles)
    token_rows(token, user_id)
    return bearer(token)


def create_body(seqs: list[int], **overrides: Any) -> dict[str, Any]:
    """A create request as the web client sends it."""
    body: dict[str, Any] = {
        "title": "Facade bricks falling over school entrance",
        "type": "incident",
        "status": "open",
        "classification": "physical",
        "summary": "Loose facade bricks above the main school entrance.",
        "geometry": square(*ZURICH, 150),
        "anchor_report_seq": seqs[0] if seqs else 0,
        "report_seqs": seqs,
        "force_new_case": False,
        "cluster_summary": "Cluster analyzed from geometry scope test.",
        "cluster_source_type": "geometry",
        "cluster_stats": {"report_count": len(seqs)},
        "cluster_analysis": {"hypotheses": []},
        "escalation_targets": [],
    }
    body.update(overrides)
    return body
