"""Load the demo city for the case workspace and print its sign-in link.

``python -m cleanapp_api.demo_workspace`` (the last step of ``make demo``) migrates the
database, stores a generated city of reports around Zurich (:func:`cleanapp_geo.make_reports`,
hard mode: planted incidents among background reports; seqs from :data:`CITY_SEQ_BASE`, away
from the seqs the report pipeline sends to ``POST /reports``) plus the Adliswil school of
:mod:`cleanapp_api.demo_escalation` with its area and brand contacts, opens a few cases
from the city's top hypotheses through the service's own routes, sends one more report by
the school through ``POST /reports`` (another problem at the same place: a match suggestion
to accept or reject on the school's case), and prints the
workspace URL with a fresh sign-in token (``make serve`` runs the service it points at).
Re-running is safe: reports are keyed by ``seq`` and the demo cases are opened once.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Final

import sqlalchemy as sa
from litestar.testing import TestClient

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api import db
from cleanapp_api.app import create_app
from cleanapp_api.auth import issue_access_token
from cleanapp_api.db import tables as t
from cleanapp_api.demo_escalation import SCHOOL, seed_school
from cleanapp_api.settings import Settings

__all__ = [
    "CITY_CENTRE",
    "CITY_SEQ_BASE",
    "DEMO_USER",
    "open_demo_cases",
    "run_demo_workspace",
    "seed_demo_city",
    "send_demo_report",
]

CITY_CENTRE: Final = (47.3769, 8.5417)  # lat, lon: where make_reports puts its city
# The city's seqs start here (the school's at 990,000,000): reports ingested later through
# POST /reports carry upstream seqs counted from 1, which would collide with a city counted
# from 1 (a re-sent seq with another place or time is refused with 409).
CITY_SEQ_BASE: Final = 980_000_000
DEMO_USER: Final = "case-manager"
PIPELINE_USER: Final = "report-pipeline"
# The report by the school that automatic matching suggests for the school's case (in the
# school's seq range, as the demo's other reports, not the pipeline's).
_SUGGESTED_SEQ: Final = 990_000_100
_DEMO_CASES: Final = 3
_HALF_DEG: Final = 0.004  # the demo cases' scope: about 900 m by 600 m around the centre


def seed_demo_city(engine: sa.Engine, *, n_reports: int = 3_000, seed: int = 7) -> int:
    """Store the demo city (once) and return how many city reports it has.

    The city's seqs run from :data:`CITY_SEQ_BASE`. A database that an earlier ``make demo``
    loaded with the same city at seqs from 1 keeps that copy: a second one would double every
    incident (reset the database to move the city to its own range).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        A migrated PostGIS database.
    n_reports : int, default 3,000
        Size of the generated city.
    seed : int, default 7
        Generator seed.

    Returns
    -------
    int
        ``n_reports``.
    """
    reports = cg.make_reports(n_reports, seed=seed, mode="hard", start_seq=CITY_SEQ_BASE)
    seqs = reports["seq"].to_numpy()
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.reports)
            .where(t.reports.c.seq.between(int(seqs.min()), int(seqs.max())))
        ).scalar_one()
        if stored < n_reports and _legacy_city_stored(conn, n_reports, seed):
            stored = n_reports
    if stored < n_reports:  # loaded once, with the city's latest report about now
        reports["ts"] = reports["ts"] + (_now() - reports["ts"].max())
        cio.write_reports(reports, engine)
    seed_school(engine)
    return n_reports


def _legacy_city_stored(conn: sa.Connection, n_reports: int, seed: int) -> bool:
    """Whether the same city is stored at seqs from 1 (``make demo`` before its own range)."""
    legacy = cg.make_reports(n_reports, seed=seed, mode="hard")
    ids = [str(x) for x in legacy["public_id"]]
    found = conn.execute(
        sa.select(sa.func.count()).select_from(t.reports).where(t.reports.c.public_id.in_(ids))
    ).scalar_one()
    return int(found) == n_reports


def _now() -> Any:
    import pandas as pd

    return pd.Timestamp.now(tz="UTC").floor("min")


def _square(lat: float, lon: float, half_deg: float) -> dict[str, Any]:
    w, s, e, n = lon - half_deg, lat - half_deg * 0.7, lon + half_deg, lat + half_deg * 0.7
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _check(response: Any, step: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{step} failed: HTTP {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def open_demo_cases(api: Any, headers: dict[str, str], *, school: bool = True) -> list[str]:
    """Open cases from the school's cluster and the city's top hypotheses (once).

    Parameters
    ----------
    api : litestar.testing.TestClient or httpx.Client
        A client of the case service.
    headers : dict
        The demo user's bearer header.
    school : bool, default True
        Also open the school's case.

    Returns
    -------
    list of str
        The case ids opened by this call (empty when the demo cases exist already).
    """
    mine = _check(api.get("/api/v4/cases", params={"mine": "true"}, headers=headers), "list")
    if mine["cases"]:
        return []
    opened = []
    places = [(*SCHOOL, 0.003, 1)] if school else []
    for lat, lon, half, count in (*places, (*CITY_CENTRE, _HALF_DEG, _DEMO_CASES)):
        scope = _square(lat, lon, half)
        analysis = _check(
            api.post("/api/v4/clusters/analyze", json={"geometry": scope, "n": 2_000}), "analysis"
        )
        grouped = [h for h in analysis["hypotheses"] if h["report_count"] >= 2][:count]
        for hypothesis in grouped:
            created = _check(
                api.post(
                    "/api/v4/cases",
                    json={
                        "title": hypothesis["title"],
                        "summary": f"{hypothesis['report_count']} reports: "
                        + ", ".join(hypothesis["rationale"]),
                        "classification": "physical",
                        "geometry": scope,
                        "anchor_report_seq": hypothesis["representative_report_seq"],
                        "report_seqs": hypothesis["report_seqs"],
                        "force_new_case": True,
                        "cluster_source_type": "geometry",
                        "cluster_stats": analysis["stats"],
                        "cluster_analysis": {"hypotheses": [hypothesis]},
                        "escalation_targets": analysis["suggested_targets"],
                    },
                    headers=headers,
                ),
                "case creation",
            )
            opened.append(created["case"]["case_id"])
    return opened


def send_demo_report(api: Any, headers: dict[str, str]) -> dict[str, Any]:
    """Send the school's extra report through ``POST /reports`` as the report pipeline does.

    Broken glass on the pavement 40 m from the school's entrance, the afternoon of the facade
    reports: the same place, another problem, so matching suggests it to the school's case
    (the ``review`` band) instead of linking it. Sending it again changes nothing.

    Parameters
    ----------
    api : litestar.testing.TestClient or httpx.Client
        A client of the case service.
    headers : dict
        A ``service`` token's bearer header.

    Returns
    -------
    dict
        The route's answer (``case.action`` is ``suggested`` when the school's case exists).
    """
    lat, lon = SCHOOL
    body = {
        "report": {
            "seq": _SUGGESTED_SEQ,
            "timestamp": "2026-03-10T14:00:00Z",
            "latitude": lat + 40 / 111_195.0,
            "longitude": lon,
            "id": "demo-reporter",
        },
        "analysis": [
            {
                "language": "en",
                "title": "Broken glass on the pavement",
                "summary": "Shards of a bottle near the kerb.",
                "severity_level": 0.6,
                "classification": "physical",
            }
        ],
    }
    return _check(api.post("/api/v4/reports", json=body, headers=headers), "report ingest")


def run_demo_workspace(
    settings: Settings, *, base_url: str, n_reports: int = 3_000, out: Any = None
) -> str:
    """Load the demo data and return the workspace's sign-in URL (also printed).

    Parameters
    ----------
    settings : Settings
        The service configuration ``make serve`` uses (same database and JWT secret).
    base_url : str
        Where the service runs, e.g. ``http://127.0.0.1:8080``.
    n_reports : int, default 3,000
        Size of the generated city.
    out : file, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    str
        ``<base_url>/app/#signin=<token>``.
    """
    out = out or sys.stdout
    db.upgrade(settings.database_url)
    engine = db.create_engine(settings.database_url)
    try:
        seed_demo_city(engine, n_reports=n_reports)
        store = engine if settings.auth_token_store == "db" else None
        token = issue_access_token(settings.jwt_secret, DEMO_USER, engine=store)
        pipeline = issue_access_token(
            settings.jwt_secret, PIPELINE_USER, roles=("service",), engine=store
        )
        with TestClient(create_app(settings)) as api:
            opened = open_demo_cases(api, {"Authorization": f"Bearer {token}"})
            sent = send_demo_report(api, {"Authorization": f"Bearer {pipeline}"})
        with engine.connect() as conn:
            n_cases = conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one()
    finally:
        engine.dispose()
    url = f"{base_url.rstrip('/')}/app/#signin={token}"
    print(
        f"Workspace demo: {n_reports:,} reports around Zurich and a school in Adliswil; "
        f"{n_cases} cases ({len(opened)} opened now); report {sent['seq']} by the school: "
        f"{sent['case']['action']}. Start the service with `make serve`, then open:",
        file=out,
    )
    print(url, file=out)
    return url


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("WORKSPACE_BASE_URL", "http://127.0.0.1:8080")
    )
    parser.add_argument("--reports", type=int, default=3_000)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    run_demo_workspace(settings, base_url=args.base_url, n_reports=args.reports)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
