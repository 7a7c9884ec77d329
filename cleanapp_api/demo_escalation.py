"""A full escalation on a local database: analyse → case → draft → send to an ``.eml`` outbox.

Both services run for real in this process: the email service under uvicorn on a free
loopback port (``outbox`` provider, so nothing leaves the machine) and the case service
through its whole ASGI stack. The demo stores a few reports at a school in Adliswil, a
mapped area with a consented contact and a brand contact (all on ``example.org`` addresses),
then walks the web client's path and prints where the ``.eml`` files are.

Run it with ``python -m cleanapp_api.demo_escalation [--database-url URL] [--outbox-dir
DIR]`` (the database is migrated first) or call :func:`run_demo_escalation`. Re-running is
safe: the reports are keyed by ``seq`` and each run opens a new case.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import jwt
import shapely
import sqlalchemy as sa
import uvicorn
from litestar.testing import TestClient

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api import db
from cleanapp_api.app import create_app
from cleanapp_api.db import tables as t
from cleanapp_api.email_service.app import create_email_app
from cleanapp_api.email_service.settings import EmailSettings
from cleanapp_api.settings import Settings

__all__ = ["SCHOOL", "run_demo_escalation", "seed_school"]

SCHOOL: Final = (47.3102, 8.5236)  # lat, lon: a school in Adliswil
AREA_NAME: Final = "Schulhaus Kopfholz (demo)"
AREA_EMAIL: Final = "hausdienst@schule-adliswil.example.org"
BRAND_KEY: Final = "kopfholz facilities"
BRAND_EMAIL: Final = "service@kopfholz-facilities.example.org"
_SEQ_BASE: Final = 990_000_000
_REPORTS: Final = (
    (0.0, 0.0, 0.95, "Bricks separating from school facade above entrance"),
    (1.2e-4, 0.8e-4, 0.9, "Loose facade bricks over the school entrance"),
    (-0.9e-4, 1.1e-4, 0.85, "Facade bricks falling near school entrance walkway"),
    (0.6e-4, -1.3e-4, 0.6, "Crack in the school facade next to the entrance"),
)


def _records() -> list[dict[str, Any]]:
    lat, lon = SCHOOL
    return [
        {
            "seq": _SEQ_BASE + i,
            "public_id": f"rpt_demo{_SEQ_BASE + i:018d}",
            "ts": f"2026-03-10T{8 + i:02d}:00:00Z",
            "latitude": lat + dlat,
            "longitude": lon + dlon,
            "severity_level": severity,
            "title": title,
            "summary": f"{title}. Children use this entrance every morning.",
            "classification": "physical",
            "brand_name": BRAND_KEY,
            "brand_display_name": "Kopfholz Facilities",
            "inferred_contact_emails": "info@building-management.example.org",
            "language": "en",
        }
        for i, (dlat, dlon, severity, title) in enumerate(_REPORTS)
    ]


def seed_school(engine: sa.Engine) -> None:
    """Store the school's reports, its mapped area with a contact and its brand contact."""
    cio.write_reports(cg.reports_from_records(_records()), engine)
    lat, lon = SCHOOL
    area = shapely.MultiPolygon([shapely.box(lon - 0.002, lat - 0.0015, lon + 0.002, lat + 0.0015)])
    with engine.begin() as conn:
        area_id = conn.execute(sa.select(t.areas.c.id).where(t.areas.c.name == AREA_NAME)).scalar()
        if area_id is None:
            area_id = conn.execute(
                sa.insert(t.areas).values(name=AREA_NAME, geom=area.wkt).returning(t.areas.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(t.area_contacts).values(
                    area_id=area_id, email=AREA_EMAIL, consent_report=True
                )
            )
        known = conn.execute(
            sa.select(t.brand_contacts.c.id).where(t.brand_contacts.c.brand_key == BRAND_KEY)
        ).scalar()
        if known is None:
            conn.execute(
                sa.insert(t.brand_contacts).values(
                    brand_key=BRAND_KEY,
                    organization="Kopfholz Facilities AG",
                    role="facility_manager",
                    emails=[BRAND_EMAIL],
                    website="https://kopfholz-facilities.example.org",
                    contact_url="",
                    source="demo",
                )
            )


@contextmanager
def _email_service(settings: EmailSettings) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_email_app(settings), log_level="warning", lifespan="on", ws="none")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the email service did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _square(lat: float, lon: float, half_deg: float) -> dict[str, Any]:
    w, s, e, n = lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _check(response: Any, step: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{step} failed: HTTP {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def run_demo_escalation(
    database_url: str, outbox_dir: str | Path, *, out: Any = None
) -> list[Path]:
    """Run the demo escalation and return the ``.eml`` files it wrote.

    Parameters
    ----------
    database_url : str
        A PostGIS database (migrated here with ``db.upgrade``).
    outbox_dir : str or Path
        Folder of the outbox provider (created when missing).
    out : file, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    list of Path
        The messages written by this run.
    """
    out = out or sys.stdout
    outbox = Path(outbox_dir).resolve()
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    db.upgrade(database_url)
    engine = db.create_engine(database_url)
    try:
        seed_school(engine)
    finally:
        engine.dispose()

    token = secrets.token_urlsafe(24)
    email_settings = EmailSettings(
        database_url=database_url,
        internal_admin_token=token,
        provider="outbox",
        outbox_dir=str(outbox),
    )
    with _email_service(email_settings) as email_url:
        secret = secrets.token_hex(32)
        settings = Settings(
            database_url=database_url,
            jwt_secret=secret,
            auth_token_store="off",
            email_service_url=email_url,
            internal_admin_token=token,
            escalation_user_sends_per_h=1000,
            escalation_case_sends_per_h=1000,
        )
        bearer = jwt.encode(
            {"user_id": "demo-user", "type": "access", "exp": int(time.time()) + 3600,
             "jti": uuid.uuid4().hex},
            secret,
            algorithm="HS256",
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {bearer}"}
        with TestClient(create_app(settings)) as api:
            scope = _square(*SCHOOL, 0.003)
            analysis = _check(
                api.post("/api/v3/clusters/analyze", json={"geometry": scope, "n": 250}),
                "analysis",
            )
            hypothesis = analysis["hypotheses"][0]
            print(
                f"1. analysed {analysis['stats']['report_count']} reports: top hypothesis "
                f"{hypothesis['title']!r} ({len(hypothesis['report_seqs'])} reports)",
                file=out,
            )
            for target in analysis["suggested_targets"]:
                print(
                    f"   suggested {target['email'] or target['website']} "
                    f"({target['target_source']}, confidence {target['confidence_score']:.2f})",
                    file=out,
                )
            created = _check(
                api.post(
                    "/api/v3/cases/upsert-from-cluster",
                    json={
                        "title": "Incident cluster at Schulhaus Kopfholz",
                        "summary": "Case created from area scope around Schulhaus Kopfholz.",
                        "classification": "physical",
                        "geometry": scope,
                        "anchor_report_seq": hypothesis["representative_report_seq"],
                        "report_seqs": hypothesis["report_seqs"],
                        "force_new_case": True,
                        "cluster_source_type": "geometry",
                        "cluster_stats": analysis["stats"],
                        "cluster_analysis": {"hypotheses": analysis["hypotheses"]},
                        "escalation_targets": analysis["suggested_targets"],
                    },
                    headers=headers,
                ),
                "case creation",
            )
            case_id = created["case"]["case_id"]
            print(f"2. opened case {case_id}", file=out)
            base = f"/api/v3/cases/{case_id}/escalations"
            view = _check(api.get(base, headers=headers), "listing targets")
            ids = [x["id"] for x in view["targets"] if x["email"]]
            draft = _check(
                api.post(f"{base}/draft", json={"target_ids": ids}, headers=headers), "draft"
            )
            print(f"3. drafted ({draft['locale']}): {draft['subject']}", file=out)
            sent = _check(
                api.post(
                    f"{base}/send",
                    json={"target_ids": ids},
                    headers={**headers, "Idempotency-Key": f"demo-{case_id}"},
                ),
                "send",
            )
            print(f"4. sent ({sent['status']}):", file=out)
            for delivery in sent["deliveries"]:
                print(
                    f"   {delivery['recipient_email']}: {delivery['delivery_status']} via "
                    f"{delivery['provider']} {delivery['provider_message_id']}",
                    file=out,
                )
    written = sorted(set(outbox.glob("*.eml")) - before)
    print(f"5. {len(written)} message(s) in {outbox}:", file=out)
    for path in written:
        print(f"   {path}", file=out)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line of the demo (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--outbox-dir", default="outbox")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("error: pass --database-url or set DATABASE_URL", file=sys.stderr)
        return 1
    run_demo_escalation(args.database_url, args.outbox_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
