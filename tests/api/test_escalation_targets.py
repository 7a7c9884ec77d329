"""Suggested targets in cluster analyses (area contacts with consent, brands, inferred)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from api_support import client_for
from case_support import ZURICH, create_body, square, user_headers, write
from litestar.testing import TestClient
from upstream_examples import zurich_records

from cleanapp_api.db import tables as t
from cleanapp_api.services.targets import target_rows
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

ANALYZE = "/api/v3/clusters/analyze"
FROM_REPORT = "/api/v3/clusters/from-report"
LAT, LON = ZURICH


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


def seed_contacts(engine: sa.Engine) -> None:
    """Two areas around the Zurich school (one consented contact each, one not), one far
    away, and brand contacts for 'Zurich School'."""
    near = shapely.MultiPolygon([shapely.box(LON - 0.001, LAT - 0.001, LON + 0.001, LAT + 0.001)])
    big = shapely.MultiPolygon([shapely.box(LON - 0.05, LAT - 0.05, LON + 0.05, LAT + 0.05)])
    far = shapely.MultiPolygon([shapely.box(9.0, 46.0, 9.1, 46.1)])
    with engine.begin() as conn:
        school, city, elsewhere = (
            conn.execute(
                sa.insert(t.areas)
                .values(
                    [
                        {"name": "Schulhaus Zürich", "geom": near.wkt},
                        {"name": "Stadt Zürich", "geom": big.wkt},
                        {"name": "Ticino", "geom": far.wkt},
                    ]
                )
                .returning(t.areas.c.id)
            )
            .scalars()
            .all()
        )
        conn.execute(
            sa.insert(t.area_contacts),
            [
                {"area_id": school, "email": "hausdienst@schule-zh.ch", "consent_report": True},
                {"area_id": school, "email": "rektor@schule-zh.ch", "consent_report": False},
                {"area_id": city, "email": "bau@stadt-zuerich.ch", "consent_report": True},
                {"area_id": elsewhere, "email": "info@ti.ch", "consent_report": True},
            ],
        )
        conn.execute(
            sa.insert(t.brand_contacts).values(
                brand_key="zurich school",
                organization="Zurich School Foundation",
                role="operator",
                emails=["facilities@zurich-school.ch"],
                website="https://www.zurich-school.ch",
                contact_url="",
                source="curated",
            )
        )


def test_analysis_suggests_area_and_brand_contacts(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("s")
    records = zurich_records(now)
    records[0]["inferred_contact_emails"] = "support@buildingmanagement.com"
    write(clean_db, records)
    seed_contacts(clean_db)
    body = api.post(ANALYZE, json={"geometry": square(LAT, LON, 3_000)}).json()
    targets = body["suggested_targets"]
    assert [(x["email"], x["target_source"]) for x in targets] == [
        ("hausdienst@schule-zh.ch", "area_contact"),  # organisation order: Schulhaus, Stadt
        ("bau@stadt-zuerich.ch", "area_contact"),
        ("facilities@zurich-school.ch", "brand_contact"),
    ]
    area = targets[0]
    assert area["organization"] == area["display_name"] == "Schulhaus Zürich"
    assert area["confidence_score"] == 0.9
    assert area["rationale"] == "Area contact mapped from selected geometry."
    assert area["verification_level"] == "mapped_area_contact"
    assert area["endpoint_key"] == "email:hausdienst@schule-zh.ch"
    assert "Schulhaus Zürich" in area["evidence_text"]
    brand = targets[2]
    assert brand["role_type"] == "operator"
    assert brand["decision_scope"] == "site_ops"
    assert brand["confidence_score"] == pytest.approx(0.85)
    assert brand["website"] == "https://www.zurich-school.ch/"
    assert "brand key 'zurich school'" in brand["evidence_text"]
    # A seed-report radius scope finds the area contacts too (upstream never did).
    near = api.post(FROM_REPORT, json={"seq": 101, "radius_m": 50}).json()
    assert [x["email"] for x in near["suggested_targets"]][:2] == [
        "hausdienst@schule-zh.ch",
        "bau@stadt-zuerich.ch",
    ]


def test_inferred_contacts_are_the_fallback(api: TestClient[Any], clean_db: sa.Engine) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("s")
    records = [dict(r, brand_display_name="") for r in zurich_records(now)]
    records[0]["inferred_contact_emails"] = "support@buildingmanagement.com, contest@x.com"
    records[1]["inferred_contact_emails"] = "support@buildingmanagement.com; noreply@x.com"
    write(clean_db, records)
    body = api.post(ANALYZE, json={"geometry": square(LAT, LON, 3_000)}).json()
    assert [
        (x["email"], x["target_source"], x["confidence_score"]) for x in body["suggested_targets"]
    ] == [
        ("contest@x.com", "inferred_contact", 0.6),  # equal confidence: by key
        ("support@buildingmanagement.com", "inferred_contact", 0.6),
    ]


def test_target_rows_normalise_and_merge() -> None:
    rows = target_rows(
        [
            {"email": "HAUSDIENST@schule-zh.ch", "confidence_score": 0.5, "cooldown_until": None},
            {"email": "hausdienst@schule-zh.ch", "target_source": "area_contact",
             "confidence_score": 0.9, "cooldown_until": "2026-03-20T00:00:00Z"},
            {"phone": "1048513395"},  # rejected
            {"email": "https://www.schule-zh.ch"},  # repaired into a website target
        ]
    )  # fmt: skip
    assert [(r["channel"], r["endpoint_key"]) for r in rows] == [
        ("email", "email:hausdienst@schule-zh.ch"),
        ("website", "website:www.schule-zh.ch"),
    ]
    assert rows[0]["target_source"] == "area_contact"
    assert rows[0]["cooldown_until"] == "2026-03-20T00:00:00Z"


def test_new_case_without_targets_gets_suggested_ones(
    api: TestClient[Any], clean_db: sa.Engine, token_rows: Any
) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("s")
    write(clean_db, zurich_records(now))
    seed_contacts(clean_db)
    body = create_body([101, 102], geometry=square(LAT, LON, 3_000), escalation_targets=[])
    response = api.post("/api/v3/cases", json=body, headers=user_headers(token_rows, "u1"))
    assert response.status_code == 201, response.text
    stored = response.json()["escalation_targets"]
    assert {(x["email"], x["target_source"]) for x in stored} == {
        ("hausdienst@schule-zh.ch", "area_contact"),
        ("bau@stadt-zuerich.ch", "area_contact"),
        ("facilities@zurich-school.ch", "brand_contact"),
    }
    assert all(x["id"] > 0 and x["evidence_text"] for x in stored)
