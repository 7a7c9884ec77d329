"""Contact sources of escalation targets: brand contacts, areas, analyses, suggestion."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from io_support import frame_of, record

import cleanapp_geo.io as cio
from cleanapp_geo.io import tables as t
from cleanapp_geo.io.contacts import (
    BRAND_CONTACT_COLUMNS,
    read_area_contact_rows,
    read_brand_contact_records,
    read_brand_contacts,
    read_target_sources,
    suggest_stored_targets,
)
from cleanapp_geo.scope import RadiusScope

pytestmark = pytest.mark.postgis

SCHOOL = shapely.MultiPolygon([shapely.box(8.52, 47.30, 8.53, 47.31)])
TOWN = shapely.MultiPolygon([shapely.box(8.50, 47.29, 8.56, 47.33)])
FAR = shapely.MultiPolygon([shapely.box(9.0, 47.0, 9.1, 47.1)])


def _seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        school, town, far = (
            conn.execute(
                sa.insert(t.areas)
                .values(
                    [
                        {"name": "Schulhaus Kopfholz", "geom": SCHOOL.wkt},
                        {"name": "Adliswil", "geom": TOWN.wkt},
                        {"name": "Far", "geom": FAR.wkt},
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
                {
                    "area_id": school,
                    "email": "hausdienst@schule-adliswil.ch",
                    "consent_report": True,
                },
                {"area_id": school, "email": "private@schule-adliswil.ch", "consent_report": False},
                {"area_id": town, "email": "bau@adliswil.ch", "consent_report": True},
                {"area_id": town, "email": "hausdienst@schule-adliswil.ch", "consent_report": True},
                {"area_id": far, "email": "far@elsewhere.ch", "consent_report": True},
            ],
        )
        conn.execute(
            sa.insert(t.brand_contacts),
            [
                {
                    "brand_key": "migros",
                    "organization": "Migros Genossenschaft",
                    "role": "operator",
                    "emails": ["kundendienst@migros.ch", "not-an-email"],
                    "website": "https://www.migros.ch",
                    "source": "curated",
                },
                {
                    "brand_key": "coop",
                    "organization": "",
                    "role": "contact",
                    "emails": ["info@coop.ch"],
                    "website": "",
                    "source": "",
                },
            ],
        )
    analyses = pd.DataFrame(
        {
            "seq": [1, 1, 2, 3],
            "language": ["en", "de", "en", "en"],
            "severity_level": [0.9, 0.9, 0.5, 0.4],
            "brand_name": ["", "migros", "migros", ""],
            "brand_display_name": ["", "Migros", "Migros", ""],
            "inferred_contact_emails": [
                "support@buildingmanagement.com",
                "support@buildingmanagement.com; contest@x.com",
                "",
                "ops@far.ch contest@x.com",
            ],
        }
    )
    cio.write_reports(
        frame_of(
            record(1, latitude=47.305, longitude=8.525),
            record(2, latitude=47.306, longitude=8.526),
            record(3, latitude=47.0, longitude=9.05),
        ),
        engine,
        analyses=analyses,
    )


def test_read_brand_contacts(store: sa.Engine) -> None:
    _seed(store)
    frame = read_brand_contacts(store, ["  MIGROS ", "unknown", ""])
    assert list(frame.columns) == list(BRAND_CONTACT_COLUMNS)
    assert frame["brand_key"].tolist() == ["migros"]
    assert frame.loc[0, "emails"] == ["kundendienst@migros.ch", "not-an-email"]
    assert read_brand_contacts(store, []).empty


def test_read_target_sources(store: sa.Engine) -> None:
    _seed(store)
    sources = read_target_sources(store, shapely.box(8.524, 47.304, 8.527, 47.307), [1, 2, 99])
    assert sources.areas is not None
    assert sources.areas["name"].tolist() == ["Adliswil", "Schulhaus Kopfholz"]
    assert sources.areas["emails"].tolist() == [
        ["bau@adliswil.ch", "hausdienst@schule-adliswil.ch"],
        ["hausdienst@schule-adliswil.ch"],
    ]
    assert sorted(set(sources.analyses["seq"])) == [1, 2]
    assert sources.brand_contacts["brand_key"].tolist() == ["migros"]
    assert read_target_sources(store, None, [3]).areas is None


def test_suggest_stored_targets(store: sa.Engine) -> None:
    _seed(store)
    scope = RadiusScope(8.525, 47.305, 200)
    out = suggest_stored_targets(store, scope, [1, 2])
    assert [(x.email, x.target_source) for x in out] == [
        ("bau@adliswil.ch", "area_contact"),
        ("hausdienst@schule-adliswil.ch", "area_contact"),
        ("kundendienst@migros.ch", "brand_contact"),
    ]
    hausdienst = out[1]
    assert hausdienst.organization == "Adliswil"  # first area by name; evidence names both
    assert "Schulhaus Kopfholz" in hausdienst.evidence_text
    migros = out[2]
    assert migros.role_type == "operator"
    assert migros.website == "https://www.migros.ch/"
    assert migros.confidence_score == pytest.approx(0.85)
    assert migros.rationale == "Contact of brand Migros, named in 2 of 2 linked reports."
    # Report 1 names Migros in its German analysis only: still a brand target.
    assert [x.email for x in suggest_stored_targets(store, None, [1])] == ["kundendienst@migros.ch"]
    # Without area or brand contacts the inferred ones (all languages) are the fallback.
    assert [x.email for x in suggest_stored_targets(store, None, [3])] == [
        "contest@x.com",
        "ops@far.ch",
    ]
    assert [x.email for x in suggest_stored_targets(store, FAR, [3])] == ["far@elsewhere.ch"]
    assert suggest_stored_targets(store, None, []) == ()


def test_contact_rows_equal_the_frames(store: sa.Engine) -> None:
    """The row readers of the lean target path give the frames' values, in their order."""
    _seed(store)
    brands = ["  MIGROS ", "coop", "unknown", ""]
    records = read_brand_contact_records(store, brands)
    assert records == read_brand_contacts(store, brands).to_dict("records")
    assert [r["brand_key"] for r in records] == ["coop", "migros"]
    assert read_brand_contact_records(store, [""]) == []
    for scope in (shapely.box(8.524, 47.304, 8.527, 47.307), RadiusScope(8.525, 47.305, 500.0)):
        rows = read_area_contact_rows(store, scope)
        frame = cio.read_area_contacts(store, scope)
        assert rows == list(frame.itertuples(index=False, name=None))
        assert [r[1] for r in rows] == ["Adliswil", "Schulhaus Kopfholz"]
