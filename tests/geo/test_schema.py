"""The report-frame contract: constructors, validation errors, preferred analysis."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import cleanapp_geo as cg

BASE = {"ts": "2026-03-10T10:00:00Z", "latitude": 47.37, "longitude": 8.54, "severity_level": 0.5}


def frame(*overrides):
    return cg.reports_from_records([{**BASE, "seq": k + 1, **o} for k, o in enumerate(overrides)])


def test_constructor_fills_defaults_and_validates():
    reports = frame({}, {"title": "x", "classification": "digital"})
    assert list(reports.columns) == list(cg.REPORT_COLUMNS)
    assert reports.crs.to_string() == "EPSG:4326"
    assert reports.loc[0, "classification"] == "physical"
    assert reports.loc[0, "language"] == "en"
    assert str(reports["ts"].dtype) == "datetime64[ns, UTC]"


def test_offsets_are_converted_to_utc():
    reports = frame({"ts": "2026-03-10T12:00:00+02:00"})
    assert reports.loc[0, "ts"] == pd.Timestamp("2026-03-10T10:00:00Z")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["summary"]), r"missing required columns \['summary'\]"),
        (lambda f: f.set_crs("EPSG:3857", allow_override=True), "CRS EPSG:4326"),
        (lambda f: f.assign(severity_level=[1.5, 0.2]), r"\[0, 1\].*seq \[1\]"),
        (lambda f: f.assign(seq=[1, 1]), r"unique; repeated \[1\]"),
        (lambda f: f.assign(ts=f["ts"].dt.tz_localize(None)), "naive timestamps"),
        (lambda f: f.assign(ts=["2026-03-10T10:00:00", "2026-03-10T10:00:00Z"]), "naive"),
        (
            lambda f: f.assign(ts=f["ts"].where(f["seq"] != 2)),  # UTC dtype with a NaT
            r"'ts' has missing values at seq \[2\]",
        ),
        (lambda f: f.set_crs(None, allow_override=True), "CRS EPSG:4326, got None"),
        (
            lambda f: f.set_geometry(gpd.GeoSeries([shapely.box(0, 0, 1, 1)] * 2, crs=4326)),
            r"must be a Point.*seq \[1, 2\]",
        ),
        (
            lambda f: f.set_geometry(
                gpd.GeoSeries([shapely.Point(), shapely.Point(1, 1)], crs=4326)
            ),
            r"empty Point for seq \[1\]",
        ),
        (
            lambda f: f.set_geometry(gpd.GeoSeries([None, shapely.Point(1, 1)], crs=4326)),
            r"missing for seq \[1\]",
        ),
        (
            lambda f: f.set_geometry(gpd.GeoSeries(shapely.points([[200, 1], [1, 1]]), crs=4326)),
            r"longitude must lie in \[-180, 180\] for seq \[1\]",
        ),
        (
            lambda f: f.set_geometry(gpd.GeoSeries(shapely.points([[1, 1], [1, -95]]), crs=4326)),
            r"latitude must lie in \[-90, 90\] for seq \[2\]",
        ),
        (lambda f: pd.DataFrame(f), "must be a geopandas.GeoDataFrame"),
    ],
)
def test_invalid_frames_raise_precise_errors(mutate, message):
    with pytest.raises(cg.InvalidReportsError, match=message):
        cg.validate_reports(mutate(frame({}, {})))


def test_invalid_records_raise_precise_errors():
    with pytest.raises(cg.InvalidReportsError, match="needs 'latitude' and 'longitude'"):
        cg.reports_from_records([{"seq": 1, "ts": "2026-03-10T10:00:00Z", "severity_level": 0}])
    with pytest.raises(cg.InvalidReportsError, match="latitude/longitude must be numbers"):
        cg.reports_from_records([{**BASE, "seq": 1, "latitude": "north"}])


def test_preferred_analysis_english_first_else_smallest_language():
    rows = pd.DataFrame(
        {
            "seq": [1, 1, 2, 2, 3],
            "language": ["de", "EN", "fr", "de", "it"],
            "title": ["de1", "en1", "fr2", "de2", "it3"],
        }
    )
    assert cg.select_preferred_analysis(rows)["title"].tolist() == ["en1", "de2", "it3"]


def test_records_with_several_languages_are_reduced():
    reports = frame(
        {"language": "de", "title": "Deutscher Titel"}, {"language": "fr", "title": "Titre"}
    ).assign(seq=[7, 8])
    both = cg.reports_from_records(
        [
            {**BASE, "seq": 7, "language": "de", "title": "Deutscher Titel"},
            {**BASE, "seq": 7, "language": "en", "title": "English Title"},
        ]
    )
    assert both["title"].tolist() == ["English Title"]
    assert len(reports) == 2


def test_from_features():
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [8.54, 47.37]},
                "properties": {"seq": 5, "ts": "2026-03-10T10:00:00Z", "severity_level": 0.3},
            }
        ],
    }
    reports = cg.reports_from_features(collection)
    assert reports.loc[0, "seq"] == 5
    assert reports.geometry.iloc[0].equals(shapely.Point(8.54, 47.37))
    bad = {**collection, "features": [{**collection["features"][0], "geometry": None}]}
    with pytest.raises(cg.InvalidReportsError, match="Point geometry"):
        cg.reports_from_features(bad)
    with pytest.raises(cg.InvalidReportsError, match="FeatureCollection"):
        cg.reports_from_features({"type": "Feature"})


def test_validation_keeps_index_and_does_not_mutate():
    reports = frame({}, {}).set_index(pd.Index([10, 20]))
    before = reports.copy()
    out = cg.validate_reports(reports)
    assert list(out.index) == [10, 20]
    pd.testing.assert_frame_equal(reports, before)


def test_unknown_severity_is_kept_as_nan():
    frame = cg.reports_from_records(
        [
            {"seq": 1, "ts": "2026-03-10T10:00:00Z", "latitude": 47.37, "longitude": 8.54},
            {**BASE, "seq": 2, "severity_level": None},
            {**BASE, "seq": 3},
        ]
    )
    severity = cg.validate_reports(frame)["severity_level"].to_numpy()
    assert np.isnan(severity[:2]).all()
    assert severity[2] == 0.5


def test_missing_values_in_normalised_columns_are_still_caught():
    """A frame already in the normalised dtypes is checked, not trusted (the fast path)."""
    reports = frame({"title": "kept"}, {"title": "gone"})
    reports["title"] = pd.Series(["kept", None], dtype=str)  # the "str" dtype, with a NaN
    assert cg.validate_reports(reports)["title"].tolist() == ["kept", ""]
    with_nat = frame({}, {})
    with_nat["ts"] = pd.Series([pd.Timestamp("2026-03-10T10:00:00Z"), pd.NaT]).astype(
        "datetime64[ns, UTC]"
    )
    with pytest.raises(cg.InvalidReportsError, match=r"'ts' has missing values at seq \[2\]"):
        cg.validate_reports(with_nat)
    with pytest.raises(cg.InvalidReportsError, match=r"unique; repeated \[4\]"):
        cg.validate_reports(frame({}, {}, {}).assign(seq=np.array([4, 5, 4], dtype=np.int64)))
