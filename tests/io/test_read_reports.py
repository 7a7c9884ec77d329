"""read_reports: visibility, preferred analysis, filters, order."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from io_support import frame_of, record

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_geo.io import tables as t
from cleanapp_geo.scope import RadiusScope

pytestmark = pytest.mark.postgis


def _write(
    engine: sa.Engine, *records: dict[str, Any], analyses: pd.DataFrame | None = None
) -> None:
    cio.write_reports(frame_of(*records), engine, analyses=analyses)


def _seqs(frame: pd.DataFrame) -> list[int]:
    return frame["seq"].tolist()


# ----------------------------------------------------------------------- visibility


@pytest.mark.parametrize(
    ("columns", "visible"),
    [
        ({}, True),
        ({"status": "active"}, True),
        ({"status": "resolved"}, False),  # rule 1
        ({"visibility": "public"}, True),
        ({"visibility": "shadow"}, False),  # rule 2
        ({"visibility": "quarantine"}, False),
        ({"owner": ""}, True),  # rule 3
        ({"owner": "acme", "owner_is_public": False}, False),
        ({"owner": "acme", "owner_is_public": True}, True),
        ({"is_valid": False}, False),  # rule 4
    ],
)
def test_visibility_rules(store: sa.Engine, columns: dict[str, Any], visible: bool) -> None:
    _write(store, record(1, **columns), record(2))
    assert _seqs(cio.read_reports(store)) == ([2, 1] if visible else [2])
    assert _seqs(cio.read_reports(store, visible_only=False)) == [2, 1]


def test_one_valid_analysis_among_invalid_ones_is_enough(store: sa.Engine) -> None:
    analyses = pd.DataFrame(
        {
            "seq": [1, 1],
            "language": ["en", "de"],
            "severity_level": [0.2, 0.4],
            "is_valid": [False, True],
            "title": ["English", "Deutsch"],
        }
    )
    _write(store, record(1), analyses=analyses)
    frame = cio.read_reports(store)
    # Visible thanks to the valid German analysis; the preferred (English) one is shown.
    assert _seqs(frame) == [1]
    assert frame.loc[0, "title"] == "English"


def test_report_without_analyses(store: sa.Engine) -> None:
    _write(store, record(1), record(2))
    with store.begin() as conn:
        conn.execute(sa.delete(t.report_analysis).where(t.report_analysis.c.seq == 1))
    assert _seqs(cio.read_reports(store)) == [2]
    everything = cio.read_reports(store, visible_only=False)
    assert _seqs(everything) == [2, 1]
    row = everything.set_index("seq").loc[1]
    assert row["severity_level"] == 0.0
    assert row["title"] == "" and row["classification"] == "" and row["language"] == ""


# ------------------------------------------------------------- preferred analysis


@pytest.mark.parametrize(
    ("languages", "preferred"),
    [
        (["de", "en"], "en"),
        (["en", "de"], "en"),
        (["fr", "de"], "de"),
        (["de", "EN"], "EN"),  # case-insensitive
        (["it", "fr", "es"], "es"),
        (["Fr", "de"], "de"),
    ],
)
def test_preferred_analysis(store: sa.Engine, languages: list[str], preferred: str) -> None:
    analyses = pd.DataFrame(
        {
            "seq": [1] * len(languages),
            "language": languages,
            "title": [f"title {lang}" for lang in languages],
            "severity_level": np.linspace(0.1, 0.9, len(languages)),
        }
    )
    _write(store, record(1), analyses=analyses)
    frame = cio.read_reports(store)
    assert frame.loc[0, "language"] == preferred
    assert frame.loc[0, "title"] == f"title {preferred}"
    # Same choice as the library's rule on the stored rows.
    reference = cg.select_preferred_analysis(cio.read_analyses(store, [1]))
    assert reference["language"].tolist() == [preferred]
    assert reference["severity_level"].tolist() == frame["severity_level"].tolist()


def test_read_analyses_returns_every_row_in_seq_language_order(store: sa.Engine) -> None:
    analyses = pd.DataFrame(
        {"seq": [2, 1, 1], "language": ["en", "fr", "de"], "severity_level": [0.3, 0.2, 0.1]}
    )
    _write(store, record(1), record(2), analyses=analyses)
    rows = cio.read_analyses(store, [2, 1, 99])
    assert list(rows.columns) == list(cio.read.ANALYSIS_COLUMNS)
    assert list(zip(rows["seq"], rows["language"], strict=True)) == [
        (1, "de"),
        (1, "fr"),
        (2, "en"),
    ]
    assert str(rows["created_at"].dtype) == "datetime64[ns, UTC]"
    assert cio.read_analyses(store, []).empty


# --------------------------------------------------------------------------- filters


def test_classification_filter(store: sa.Engine) -> None:
    analyses = pd.DataFrame(
        {
            "seq": [1, 2, 3, 3],
            "language": ["en", "en", "en", "de"],
            "classification": ["physical", "digital", "digital", "physical"],
            "is_valid": [True, True, False, True],
            "severity_level": [0.5, 0.5, 0.5, 0.5],
        }
    )
    _write(store, record(1), record(2), record(3), analyses=analyses)
    assert _seqs(cio.read_reports(store, classification="physical")) == [3, 1]
    assert _seqs(cio.read_reports(store, classification="DIGITAL")) == [2]
    # Report 3: its only digital analysis is invalid; without the visibility rules it counts.
    assert _seqs(cio.read_reports(store, classification="digital", visible_only=False)) == [3, 2]
    both = cio.read_reports(store, classification="physical").set_index("seq")
    assert both.loc[3, "classification"] == "digital"  # the preferred (English) analysis
    with pytest.raises(cio.InvalidQueryError, match="classification must be one of"):
        cio.read_reports(store, classification="chemical")


def test_since_until_limit_and_order(store: sa.Engine) -> None:
    times = {
        1: "2026-03-10T08:00:00Z",
        2: "2026-03-10T09:00:00Z",
        3: "2026-03-10T09:00:00Z",  # same ts as 2: seq breaks the tie (descending)
        4: "2026-03-10T10:00:00.000001Z",
        5: "2026-03-11T00:00:00+02:00",
    }
    _write(store, *(record(seq, ts=ts) for seq, ts in times.items()))
    assert _seqs(cio.read_reports(store)) == [5, 4, 3, 2, 1]
    assert _seqs(cio.read_reports(store, limit=2)) == [5, 4]
    assert _seqs(cio.read_reports(store, since="2026-03-10T09:00:00Z")) == [5, 4, 3, 2]
    assert _seqs(cio.read_reports(store, until="2026-03-10T09:00:00Z")) == [1]
    window = cio.read_reports(
        store, since=pd.Timestamp("2026-03-10T09:00:00Z"), until="2026-03-10T10:00:00.000001Z"
    )
    assert _seqs(window) == [3, 2]
    assert _seqs(cio.read_reports(store, since="2026-03-10T22:00:00Z")) == [5]
    with pytest.raises(cio.InvalidQueryError, match="timezone-aware"):
        cio.read_reports(store, since="2026-03-10T09:00:00")
    with pytest.raises(cio.InvalidQueryError, match="limit"):
        cio.read_reports(store, limit=0)


def test_seqs_filter(store: sa.Engine) -> None:
    _write(store, record(1), record(2), record(3, visibility="shadow"))
    assert _seqs(cio.read_reports(store, seqs=[3, 1, 99])) == [1]
    assert _seqs(cio.read_reports(store, seqs=np.array([2, 3]), visible_only=False)) == [3, 2]
    empty = cio.read_reports(store, seqs=[])
    assert empty.empty and list(empty.columns) == list(cg.REPORT_COLUMNS)


def test_frame_contract_and_exact_round_trip(store: sa.Engine) -> None:
    written = frame_of(
        record(
            7,
            ts="2026-03-10T10:11:12.345678Z",
            latitude=-33.868820123456789,
            longitude=151.20929012345678,
            severity_level=0.123456789,
            title='Quote " comma , newline \n tab \t unicode é 漢字',
            brand_name="migros",
            brand_display_name="Migros",
            inferred_contact_emails="a@b.ch; c@d.ch",
            public_id="rpt_" + "A1b2-_" * 3 + "Zz9_",
        )
    )
    cio.write_reports(written, store)
    read = cio.read_reports(store)
    assert list(read.columns) == list(cg.REPORT_COLUMNS)
    assert read.crs == "EPSG:4326"
    assert read.dtypes.equals(cg.validate_reports(read).dtypes)
    pd.testing.assert_frame_equal(
        pd.DataFrame(read.drop(columns="geometry")),
        pd.DataFrame(written[list(cg.REPORT_COLUMNS)].drop(columns="geometry")),
        check_dtype=False,
    )
    assert shapely.equals_exact(read.geometry.array, written.geometry.array, tolerance=0).all()


# ---------------------------------------------------------------------------- scopes


def test_polygon_and_radius_scopes(store: sa.Engine) -> None:
    _write(
        store,
        record(1, latitude=47.0, longitude=8.0),
        record(2, latitude=47.0, longitude=8.002),  # ~152 m east of 1
        record(3, latitude=47.01, longitude=8.0),  # ~1.1 km north of 1
    )
    square = shapely.box(7.999, 46.999, 8.001, 47.011)
    assert _seqs(cio.read_reports(store, scope=square)) == [3, 1]
    assert _seqs(cio.read_reports(store, scope=shapely.to_geojson(square))) == [3, 1]
    assert _seqs(cio.read_reports(store, scope=RadiusScope(8.0, 47.0, 200))) == [2, 1]
    assert _seqs(cio.read_reports(store, scope=RadiusScope(8.0, 47.0, 100))) == [1]
    with pytest.raises(cg.InvalidScopeError):
        cio.read_reports(store, scope=shapely.Point(8, 47))


def test_polygon_boundary_is_included(store: sa.Engine) -> None:
    _write(store, record(1, latitude=47.0, longitude=8.0), record(2, latitude=47.5, longitude=8.0))
    square = shapely.box(8.0, 47.0, 8.5, 47.5)  # both points lie on its boundary
    assert _seqs(cio.read_reports(store, scope=square)) == [2, 1]


@pytest.mark.parametrize(
    "scope", [shapely.box(8.0, 47.0, 8.1, 47.1), RadiusScope(8.0, 47.0, 250.0)], ids=str
)
def test_scopes_can_use_the_gist_index(store: sa.Engine, scope: cg.scope.Scope) -> None:
    compiled = cio.select_reports(scope=scope).compile(dialect=store.dialect)
    with store.connect() as conn, conn.begin() as transaction:
        # 5,000 reports over the whole globe (rolled back), analysed: the plan then follows
        # the data, not whatever statistics earlier tests left behind.
        conn.execute(
            sa.text(
                "INSERT INTO reports (seq, ts, latitude, longitude) "
                "SELECT g, now(), (g % 170) - 85, (g % 359) - 179.5 "
                "FROM generate_series(1, 5000) AS g"
            )
        )
        conn.execute(sa.text("ANALYZE reports"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars()
        plan = "\n".join(rows)
        transaction.rollback()
    assert "ix_reports_geom" in plan


# ----------------------------------------------------------------------------- areas


def test_read_areas_with_consented_contacts(store: sa.Engine) -> None:
    inside = shapely.MultiPolygon([shapely.box(8.0, 47.0, 8.1, 47.1)])
    far = shapely.MultiPolygon([shapely.box(9.0, 47.0, 9.1, 47.1)])
    with store.begin() as conn:
        ids = (
            conn.execute(
                sa.insert(t.areas)
                .values(
                    [
                        {"name": "Zone B", "geom": inside.wkt},
                        {"name": "Zone A", "geom": inside.wkt},
                        {"name": "Far", "geom": far.wkt},
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
                {"area_id": ids[0], "email": "z@city.ch", "consent_report": True},
                {"area_id": ids[0], "email": "a@city.ch", "consent_report": True},
                {"area_id": ids[0], "email": "no@city.ch", "consent_report": False},
            ],
        )
    areas = cio.read_areas(store, shapely.Point(8.05, 47.05))
    assert areas["name"].tolist() == ["Zone A", "Zone B"]
    assert areas["emails"].tolist() == [[], ["a@city.ch", "z@city.ch"]]
    assert areas.geometry.iloc[0].equals(inside) and areas.crs == "EPSG:4326"
    assert cio.read_areas(store, RadiusScope(8.2, 47.05, 20_000))["name"].tolist() == [
        "Zone A",
        "Zone B",
    ]
    assert cio.read_areas(store, RadiusScope(8.2, 47.05, 1_000)).empty
    assert cio.read_areas(store, shapely.box(8.95, 46.9, 9.05, 47.0))["name"].tolist() == ["Far"]
    # The contacts-only read (what target suggestion uses) is read_areas without shapes.
    for scope in (
        shapely.Point(8.05, 47.05),
        RadiusScope(8.2, 47.05, 20_000),
        RadiusScope(8.2, 47.05, 1_000),
        {"type": "Polygon", "coordinates": [[[8.9, 46.9], [9.2, 46.9], [9.2, 47.2], [8.9, 46.9]]]},
    ):
        expected = pd.DataFrame(cio.read_areas(store, scope).drop(columns="geometry"))
        pd.testing.assert_frame_equal(cio.read_area_contacts(store, scope), expected)


def test_reads_leave_the_garbage_collector_as_they_found_it(store: sa.Engine) -> None:
    _write(store, record(1), record(2))
    assert gc.isenabled()
    assert _seqs(cio.read_reports(store)) == [2, 1]
    assert gc.isenabled()
    gc.disable()
    try:
        assert _seqs(cio.read_reports(store)) == [2, 1]
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("visible_only", [True, False])
def test_frame_builder_reads_the_statement_columns_in_order(visible_only: bool) -> None:
    stmt = cio.select_reports(classification="physical", visible_only=visible_only)
    assert [c.name for c in stmt.selected_columns] == list(cio.read._ROW_TYPE.names)
