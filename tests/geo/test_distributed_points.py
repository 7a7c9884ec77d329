"""Partitions read as coordinates (no shapely point per report) equal the GeoDataFrame path.

The distributed engine reads GeoParquet point locations straight from the WKB bytes and
keeps them as two float columns; each fast step is compared here with the simple one:
``validate_reports_xy`` with ``validate_reports``, ``ParquetPart.reports`` with
``geopandas.read_parquet``, ``prepare_reports(lon_lat=...)`` with the geometry column,
and a partition task on a file with the single-machine ``analyze`` of the same reports.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import BASE_TS, models, report_frames

pytest.importorskip("distributed")

import cleanapp_geo as cg
from cleanapp_geo.arrays import prepare_reports
from cleanapp_geo.distributed import cells
from cleanapp_geo.distributed.files import ParquetPart
from cleanapp_geo.distributed.halo import cell_keys, cell_side_m, footprint
from cleanapp_geo.distributed.points import LAT, LON, coordinates, with_coordinates
from cleanapp_geo.schema import GEOMETRY, validate_reports, validate_reports_xy

NOW = BASE_TS


def _plain(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns=GEOMETRY))


def _xy(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame.geometry.x.to_numpy().copy(), frame.geometry.y.to_numpy().copy()


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(report_frames(max_size=20))
def test_validating_coordinates_equals_validating_points(reports):
    expected = _plain(validate_reports(reports))
    actual = validate_reports_xy(_plain(reports), *_xy(reports), crs=reports.crs)
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)


def _with_severity_2(frame):
    frame.loc[frame.index[1], "severity_level"] = 2.0
    return frame


def _with_repeated_seq(frame):
    frame.loc[frame.index[1], "seq"] = frame["seq"].iloc[0]
    return frame


def _with_naive_ts(frame):
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    return frame


def _with_longitude_200(frame):
    frame.loc[frame.index[1], GEOMETRY] = shapely.Point(200.0, 47.0)
    return frame


@pytest.mark.parametrize(
    "corrupt",
    [_with_severity_2, _with_repeated_seq, _with_naive_ts, _with_longitude_200],
)
def test_both_validations_refuse_the_same_frames_with_the_same_message(corrupt):
    reports = corrupt(cg.make_reports(50, seed=2).copy())
    with pytest.raises(cg.InvalidReportsError) as points:
        validate_reports(reports)
    with pytest.raises(cg.InvalidReportsError) as xy:
        validate_reports_xy(_plain(reports), *_xy(reports), crs=reports.crs)
    assert str(xy.value) == str(points.value)


def test_coordinates_without_a_point_and_a_wrong_crs_are_refused():
    reports = cg.make_reports(20, seed=3)
    lon, lat = _xy(reports)
    lon[[3, 7]] = np.nan
    seqs = reports["seq"].to_numpy()[[3, 7]].tolist()
    with pytest.raises(
        cg.InvalidReportsError, match=re.escape(f"geometry is missing for seq {seqs}")
    ):
        validate_reports_xy(_plain(reports), lon, lat, crs="EPSG:4326")
    with pytest.raises(cg.InvalidReportsError, match="CRS"):
        validate_reports_xy(_plain(reports), *_xy(reports), crs="EPSG:3857")
    with pytest.raises(cg.InvalidReportsError, match="one value per report"):
        validate_reports_xy(_plain(reports), lon[:5], lat[:5], crs="EPSG:4326")


def test_reading_a_file_as_coordinates_equals_geopandas(tmp_path):
    reports = cg.make_reports(500, seed=4)
    reports.loc[reports.index[5], GEOMETRY] = shapely.LineString([(8.5, 47.3), (8.6, 47.4)])
    reports.loc[reports.index[9], GEOMETRY] = None
    path = tmp_path / "reports.parquet"
    reports.to_parquet(path)
    expected = gpd.read_parquet(path)
    frame, lon, lat, crs = ParquetPart(str(path)).reports()
    pd.testing.assert_frame_equal(frame, _plain(expected), check_exact=True)
    points = np.ones(len(reports), dtype=bool)
    points[[5, 9]] = False
    np.testing.assert_array_equal(lon[points], shapely.get_x(expected.geometry.array[points]))
    np.testing.assert_array_equal(lat[points], shapely.get_y(expected.geometry.array[points]))
    assert np.isnan(lon[~points]).all() and np.isnan(lat[~points]).all()
    assert expected.crs.equals(crs)
    rows = np.array([400, 2, 77])
    some, lon_some, _, _ = ParquetPart(str(path)).reports(rows)
    pd.testing.assert_frame_equal(some, _plain(expected.iloc[rows]).reset_index(drop=True))
    np.testing.assert_array_equal(lon_some, lon[rows])


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(report_frames(min_size=1, max_size=20), models(), st.booleans())
def test_prepared_arrays_from_coordinates_equal_those_from_points(reports, model, spatial):
    frame = validate_reports(reports)
    expected = prepare_reports(frame, model, spatial_order=spatial)
    coords = with_coordinates(frame, *_xy(frame))
    assert not isinstance(coords, gpd.GeoDataFrame)
    assert {LON, LAT} <= set(coords.columns) and GEOMETRY not in coords.columns
    actual = prepare_reports(coords, model, spatial_order=spatial, lon_lat=coordinates(coords))
    for name in ("frame_position", "seq", "lon", "lat", "xyz", "classification", "severity"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), name)
    for name in ("classification_known", "brand", "category", "ts_ns"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), name)
    pd.testing.assert_frame_equal(actual.titles, expected.titles)


@pytest.mark.parametrize("scope", [None, shapely.box(6.996, 45.997, 7.003, 46.002)])
def test_a_partition_task_on_a_file_equals_one_machine(tmp_path, scope):
    reports = cg.make_reports(3_000, seed=5, mode="hard", center=(7.0, 46.0))
    path = tmp_path / "city.parquet"
    reports.to_parquet(path)
    area = cg.as_scope(scope) if scope is not None else None
    model = cg.DEFAULT_MODEL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cg.ExhaustiveScoringWarning)
        expected = cg.analyze(gpd.read_parquet(path), model=model, now=NOW, scope=area)
        cell = cells.cell_file(
            ParquetPart(str(path)),
            [],
            scope=area,
            classification=None,
            side_m=cell_side_m(model.radius_gate_m),
            index=0,
            model=model,
            scope_classification="physical",
            now=NOW,
        )
    assert cell.hypotheses.table.equals(expected.to_arrow())
    assert cell.costs["reports"] == len(expected.reports)
    edges = cell.edges.set_index(["focal", "neighbor"]).sort_index()
    np.testing.assert_array_equal(
        edges.index.to_frame().to_numpy(), expected.edges.index.to_frame().to_numpy()
    )
    np.testing.assert_array_equal(edges["score"].to_numpy(), expected.edges["score"].to_numpy())


def test_a_partition_with_a_bad_row_is_refused_with_the_library_error():
    reports = cg.make_reports(100, seed=6)
    reports.loc[reports.index[3], GEOMETRY] = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.parquet"
        reports.to_parquet(path)
        seq = int(reports["seq"].iloc[3])
        with pytest.raises(
            cg.InvalidReportsError, match=f"geometry is missing for seq \\[{seq}\\]"
        ):
            cells.cell_file(
                ParquetPart(str(path)),
                [],
                scope=None,
                classification=None,
                side_m=cell_side_m(150.0),
                index=0,
                model=cg.DEFAULT_MODEL,
                scope_classification="physical",
                now=NOW,
            )


def test_halos_of_a_file_in_row_groups_equal_those_of_one_row_group(tmp_path):
    city = cg.make_reports(4_000, seed=7, mode="hard", center=(7.0, 46.0))
    sorted_city = city.iloc[np.argsort(city.geometry.y.to_numpy(), kind="stable")]
    west = sorted_city.iloc[: len(city) // 2]
    one, groups = tmp_path / "one.parquet", tmp_path / "groups.parquet"
    west.to_parquet(one)
    west.to_parquet(groups, row_group_size=250)
    assert len(ParquetPart(str(groups)).row_groups()) - 1 == len(west) // 250
    side_m = cell_side_m(150.0)
    east = sorted_city.iloc[len(city) // 2 :]
    lon, lat = _xy(east)
    neighbour = footprint(cell_keys(lon, lat, side_m))
    far = footprint(cell_keys(lon + 1.0, lat, side_m))
    options = {"scope": None, "classification": None, "side_m": side_m}
    expected = cells.halo_file(ParquetPart(str(one)), [neighbour, far], **options)
    actual = cells.halo_file(ParquetPart(str(groups)), [neighbour, far], **options)
    assert 0 < len(expected[0]) < len(west) // 4 and len(expected[1]) == 0
    for want, got in zip(expected, actual, strict=True):
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    rows = np.array([999, 0, 250, 251, 1_500])
    part = ParquetPart(str(groups))
    assert part.analysed_rows(rows).equals(part.analysed_table().take(rows))
    assert part.analysed_rows(np.empty(0, np.int64)).num_rows == 0


@pytest.mark.parametrize("scope", [None, shapely.box(6.996, 45.997, 7.003, 46.002)])
def test_halos_from_the_survey_keys_equal_halos_from_the_points(tmp_path, scope):
    city = cg.make_reports(4_000, seed=11, mode="hard", center=(7.0, 46.0))
    city.loc[city.index[:3], "classification"] = "digital"
    sorted_city = city.iloc[np.argsort(city.geometry.y.to_numpy(), kind="stable")]
    west, east = sorted_city.iloc[: len(city) // 2], sorted_city.iloc[len(city) // 2 :]
    one, groups = tmp_path / "one.parquet", tmp_path / "groups.parquet"
    west.to_parquet(one)
    west.to_parquet(groups, row_group_size=250)
    side_m = cell_side_m(150.0)
    options = {"scope": scope, "classification": "physical", "side_m": side_m}
    lon, lat = _xy(east)
    neighbour = footprint(cell_keys(lon, lat, side_m))
    for path in (one, groups):
        part = ParquetPart(str(path))
        survey = cells.survey_file(part, **options, buckets=2)
        # the survey's footprint is that of the rows in scope, its keys every row's
        frame = gpd.read_parquet(path)
        kept = frame[(frame["classification"] == "physical").to_numpy()]
        if scope is not None:
            kept = kept[kept.geometry.within(scope).to_numpy()]
        want = footprint(cell_keys(*_xy(kept), side_m))
        np.testing.assert_array_equal(survey.footprint.keys, want.keys)
        assert survey.keys is not None
        np.testing.assert_array_equal(survey.keys, cell_keys(*_xy(frame), side_m))
        expected = cells.halo_file(part, [neighbour], **options)
        actual = cells.halo_file(part, [neighbour], **options, keys=survey.keys)
        assert len(expected[0]) > 0
        for want_piece, got in zip(expected, actual, strict=True):
            pd.testing.assert_frame_equal(got, want_piece, check_exact=True)
