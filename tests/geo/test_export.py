"""Streaming results: Arrow, GeoParquet, iteration and filtered wire JSON of an analysis."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from strategies import BASE_TS, models, report_frames

import cleanapp_geo as cg
from cleanapp_geo.export import HYPOTHESIS_COLUMNS, hypothesis_id_array, wkb_points

NOW = BASE_TS


def analysed(reports, model=cg.DEFAULT_MODEL):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cg.ExhaustiveScoringWarning)
        return cg.analyze(reports, model=model, now=NOW)


@pytest.fixture(scope="module")
def city():
    return cg.make_reports(3_000, seed=5, mode="hard")


def _title_groups(max_title_chars):
    """Hypotheses as (title, member seqs) pairs."""
    return st.lists(
        st.tuples(
            st.text(max_size=max_title_chars),
            st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=6),
        ),
        max_size=20,
    )


def _members(groups):
    """The int64 member offsets and seqs of ``groups`` (the ids' member layout)."""
    offsets = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum([len(s) for _, s in groups], out=offsets[1:])
    seqs = np.array([s for _, ss in groups for s in ss], dtype=np.int64)
    return offsets, seqs


@given(groups=_title_groups(40))
def test_compiled_ids_equal_hashlib_ids(groups):
    titles = pa.array([t for t, _ in groups], pa.large_string())
    offsets, seqs = _members(groups)
    ids = hypothesis_id_array(titles, offsets, seqs).to_pylist()
    assert ids == [cg.hypothesis_id(t, s) for t, s in groups]


@given(groups=_title_groups(80))
def test_portable_and_openssl_ids_agree(groups):
    # Both digests of the compiled ids, on the same payloads: OpenSSL's where libcrypto
    # loads (the export's default), the portable numba loop everywhere.
    from cleanapp_geo import _hash_accel

    openssl = _hash_accel.openssl_sha1()
    if openssl is None:
        pytest.skip("libcrypto with SHA1_Init/Update/Final is not loadable here")
    data = np.frombuffer("".join(t for t, _ in groups).encode() or b"\0", dtype=np.uint8)
    title_offsets = np.zeros(len(groups) + 1, dtype=np.int32)
    np.cumsum([len(t.encode()) for t, _ in groups], out=title_offsets[1:])
    offsets, seqs = _members(groups)
    portable = np.zeros((len(groups), _hash_accel.ID_BYTES), dtype=np.uint8)
    fast = np.ones_like(portable)
    _hash_accel.hypothesis_ids(data, title_offsets, seqs, offsets, 0, len(groups), portable)
    _hash_accel.hypothesis_ids_openssl(
        data, title_offsets, seqs, offsets, 0, len(groups), fast, *openssl
    )
    assert [bytes(row).decode() for row in fast] == [cg.hypothesis_id(t, s) for t, s in groups]
    assert np.array_equal(portable, fast)


@given(st.lists(st.text(alphabet=st.sampled_from(" \t\n\x0b\x1c\u00a0\u2003\u3000\u200bab"))))
def test_blank_titles_are_those_arrow_trims_to_nothing(texts):
    # The export checks only strings that may be blank (empty, or starting with a space or
    # a non-ASCII byte); the answer is Arrow's trim of every string.
    import pyarrow.compute as pc

    from cleanapp_geo.export import _blank

    values = pa.array(["x", *texts], pa.string()).slice(1)
    expected = [s == "" for s in pc.utf8_trim_whitespace(values).to_pylist()]
    assert _blank(values).tolist() == expected


def test_compiled_ids_split_over_two_threads_equal_hashlib_ids():
    rng = np.random.default_rng(3)
    n = 250_000  # above the threaded size
    titles = [f"Overflowing bin {k % 97} ü" for k in range(n)]
    offsets = np.arange(n + 1, dtype=np.int64) * 2
    seqs = rng.integers(1, 10**12, 2 * n)
    ids = hypothesis_id_array(pa.array(titles, pa.large_string()), offsets, seqs).to_pylist()
    for h in (0, 1, n // 2 - 1, n // 2, n - 1):
        assert ids[h] == cg.hypothesis_id(titles[h], seqs[2 * h : 2 * h + 2].tolist())


@given(
    reports=report_frames(),
    model=models(),
    limit=st.one_of(st.none(), st.integers(0, 40)),
    min_reports=st.one_of(st.none(), st.integers(0, 4)),
)
def test_arrow_rows_equal_the_wire_hypotheses(reports, model, limit, min_reports):
    # Titles may be blank or whitespace only: the Arrow path must fall back exactly as
    # the Python one (summary, description, then the top tokens).
    reports = reports.assign(title=reports["title"].where(reports["seq"] % 3 != 0, "  \t"))
    result = analysed(reports, model)
    wire = result.to_dict(limit=limit, min_reports=min_reports)["hypotheses"]
    table = result.to_arrow(limit=limit, min_reports=min_reports)
    assert table.column_names == [*HYPOTHESIS_COLUMNS, "geometry"]
    assert table.drop_columns(["geometry"]).to_pylist() == wire
    everything = [h.to_dict() for h in result.hypotheses]
    expected = [h for h in everything if h["report_count"] >= (min_reports or 0)][:limit]
    assert wire == expected


def test_arrow_rows_follow_the_positions_given(city):
    # Any positions, in any order: a permutation that starts at 0 and ends at the last
    # hypothesis is not the table's prefix.
    from cleanapp_geo.export import hypotheses_arrow

    result = analysed(city)
    everything = hypotheses_arrow(result.table).to_pylist()
    n = len(everything)
    swapped = np.arange(n)
    swapped[[1, 2]] = [2, 1]
    for positions in (swapped, np.arange(n)[::-1].copy(), np.array([0, 5, n - 1])):
        rows = hypotheses_arrow(result.table, positions).to_pylist()
        assert rows == [everything[p] for p in positions]


def test_large_exports_built_in_halves_on_threads_equal_the_serial_table(city, monkeypatch):
    # From _THREADED_MIN_HYPOTHESES on, the titles and ids of each half are built on a
    # thread of their own (two chunks per text column): same rows as the serial path.
    from cleanapp_geo import export

    result = analysed(city)
    serial = export.hypotheses_arrow(result.table)
    rows = serial.to_pylist()
    n = len(result.table)
    monkeypatch.setattr(export, "_THREADED_MIN_HYPOTHESES", 10)
    for positions in (np.arange(n), np.arange(n)[::-1].copy(), np.arange(1, n, 3)):
        threaded = export.hypotheses_arrow(result.table, positions)
        assert threaded.column("title").num_chunks == 2
        assert threaded.to_pylist() == [rows[p] for p in positions]
    assert export.hypotheses_arrow(result.table).equals(serial)


def test_filters_pick_the_first_hypotheses_of_enough_reports(city):
    result = analysed(city)
    counts = result.table.report_count
    assert (counts >= 3).sum() > 10
    wire = result.to_dict(limit=10, min_reports=3)["hypotheses"]
    first_big = [h.to_dict() for h in result.hypotheses if h.report_count >= 3][:10]
    assert wire == first_big
    assert result.to_dict(limit=0)["hypotheses"] == []
    assert len(result.to_dict(limit=5)["hypotheses"]) == 5
    with pytest.raises(ValueError, match="limit"):
        result.to_dict(limit=-1)
    with pytest.raises(ValueError, match="min_reports"):
        result.to_arrow(min_reports=-2)


def test_iter_hypotheses_streams_the_same_hypotheses_in_order(city):
    result = analysed(city)
    iterator = result.iter_hypotheses()
    assert next(iterator) == result.hypotheses[0]
    assert [result.hypotheses[0], *iterator] == result.hypotheses
    big = list(result.iter_hypotheses(min_reports=2))
    assert big == [h for h in result.hypotheses if h.report_count >= 2]


def test_geometry_is_the_representative_location(city):
    result = analysed(city)
    table = result.to_arrow(limit=50)
    points = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    by_seq = result.reports.set_index("seq").geometry
    expected = by_seq.loc[table.column("representative_report_seq").to_numpy()].array
    assert shapely.equals(points, np.asarray(expected)).all()
    assert "geometry" not in result.to_arrow(limit=5, geometry=False).column_names


def test_to_parquet_is_geoparquet_that_geopandas_reads(city, tmp_path):
    result = analysed(city)
    path = result.to_parquet(tmp_path / "out" / "hypotheses.parquet", min_reports=2)
    frame = gpd.read_parquet(path)
    assert frame.crs.equals("EPSG:4326")
    wire = result.to_dict(min_reports=2)["hypotheses"]
    assert frame["hypothesis_id"].tolist() == [h["hypothesis_id"] for h in wire]
    assert [list(s) for s in frame["report_seqs"]] == [h["report_seqs"] for h in wire]
    assert frame.geometry.geom_type.eq("Point").all()
    assert pq.read_table(path).drop_columns(["geometry"]).to_pylist() == wire


def test_empty_result_exports_an_empty_table(tmp_path):
    empty = cg.reports_from_records([])
    result = cg.analyze(empty, now=NOW)
    table = result.to_arrow()
    assert table.num_rows == 0
    assert table.column_names == [*HYPOTHESIS_COLUMNS, "geometry"]
    assert gpd.read_parquet(result.to_parquet(tmp_path / "empty.parquet")).empty
    assert list(result.iter_hypotheses()) == []


def test_wkb_points_equal_shapely_wkb():
    lon, lat = np.array([8.5, -179.99, 0.0]), np.array([47.3, -89.5, 0.0])
    ours = wkb_points(lon, lat).to_pylist()
    assert ours == shapely.to_wkb(shapely.points(lon, lat)).tolist()


def test_severity_unknown_is_null_in_arrow():
    reports = cg.reports_from_records(
        [
            {"seq": 1, "ts": NOW - pd.Timedelta(hours=1), "latitude": 47.37, "longitude": 8.54},
        ]
    )
    reports["severity_level"] = np.nan
    table = cg.analyze(reports, now=NOW).to_arrow()
    assert table.column("severity_score").to_pylist() == [None]
