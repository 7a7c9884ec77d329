"""cleanapp_geo.distributed on a LocalCluster: the same answers as one machine."""

from __future__ import annotations

import dataclasses
import warnings

import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from distributed import Client, LocalCluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import BASE_TS, models, report_frames

import cleanapp_geo as cg
import cleanapp_geo.distributed as cgd

NOW = BASE_TS
pytestmark = pytest.mark.filterwarnings(
    # An in-memory frame travels inside the task graph; the cluster warns from 10 MiB.
    "ignore:Sending large graph:UserWarning",
)


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


def single(reports, model, scope=None, classification=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cg.ExhaustiveScoringWarning)
        return cg.analyze(reports, model=model, now=NOW, scope=scope, classification=classification)


def assert_same(expected, actual):
    """Hypotheses (ids, order, every field), stats and the edge table, exactly."""
    want, got = expected.to_dict(), actual.to_dict()
    assert got["stats"] == want["stats"]
    assert got["hypotheses"] == want["hypotheses"]
    assert len(actual) == len(expected.table)
    pd.testing.assert_frame_equal(actual.edges, expected.edges, check_exact=True)


def partitioned(reports, npartitions, order):
    """A Dask frame whose partitions follow ``order`` (random, west-east or south-north)."""
    frame = reports
    if order == "random":
        frame = frame.sample(frac=1.0, random_state=len(frame))
    elif order in ("lon", "lat"):
        frame = frame.iloc[np.argsort(getattr(frame.geometry, "x" if order == "lon" else "y"))]
    frame = frame.reset_index(drop=True)  # partitions follow the row order
    return dask_geopandas.from_geopandas(frame, npartitions=npartitions, sort=True)


@st.composite
def gated_models(draw):
    model = draw(models())
    return dataclasses.replace(model, radius_gate_m=draw(st.sampled_from([40.0, 60.0, 200.0])))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    reports=report_frames(max_size=40),
    model=gated_models(),
    npartitions=st.integers(1, 5),
    order=st.sampled_from(["random", "lon", "lat"]),
    box=st.one_of(
        st.none(),
        st.tuples(st.floats(8.5395, 8.5425), st.floats(47.3695, 47.3715)),
    ),
)
def test_distributed_equals_single_machine(client, reports, model, npartitions, order, box):
    # Sorted by longitude or latitude, partitions are strips with reports on their
    # borders; a box scope cuts across them.
    scope = None if box is None else shapely.box(box[0], box[1], box[0] + 0.002, box[1] + 0.0015)
    expected = single(reports, model, scope=scope)
    actual = cgd.analyze(
        partitioned(reports, npartitions, order),
        model=model,
        now=NOW,
        scope=scope,
        client=client,
        spatial_shuffle=False,
    )
    assert_same(expected, actual)


@pytest.mark.slow
@pytest.mark.parametrize("grouping", ["connected", "average"])
def test_a_city_split_in_strips_equals_one_machine(client, grouping):
    city = cg.make_reports(12_000, seed=11, mode="hard")
    model = dataclasses.replace(cg.DEFAULT_MODEL, grouping=grouping)
    expected = single(city, model, classification="physical")
    actual = cgd.analyze(
        partitioned(city, 4, "lon"), model=model, now=NOW, classification="physical", client=client
    )
    assert_same(expected, actual)
    costs = actual.partition_costs
    assert len(costs) == 4
    assert sum(c["reports"] for c in costs) == expected.stats.report_count
    # Strips have halos: some reports were analysed twice, and some groups were joined
    # across partitions by the border tasks.
    assert sum(c["halo_reports"] for c in costs) > 0
    assert sum(c["border_reports"] for c in costs) > 0


def test_spatial_shuffle_of_random_partitions_keeps_the_answer(client):
    city = cg.make_reports(3_000, seed=4, mode="hard")
    expected = single(city, cg.DEFAULT_MODEL)
    actual = cgd.analyze(
        partitioned(city, 3, "random"), model=cg.DEFAULT_MODEL, now=NOW, client=client
    )  # random rows: the partitions overlap everywhere, so they are shuffled first
    assert_same(expected, actual)


def test_models_without_a_radius_gate_are_refused_with_the_reason(client):
    city = cg.make_reports(200, seed=1)
    with pytest.raises(cgd.UnboundedModelError, match="radius gate") as caught:
        cgd.analyze(partitioned(city, 2, "lon"), model=cg.UPSTREAM_MODEL, client=client)
    assert isinstance(caught.value, cg.InvalidModelError)


def test_a_seq_repeated_across_partitions_is_an_error(client):
    city = cg.make_reports(400, seed=2).reset_index(drop=True)
    city.loc[399, "seq"] = city.loc[0, "seq"]
    with pytest.raises(cg.InvalidReportsError, match="unique"):
        cgd.analyze(partitioned(city, 2, None), client=client, now=NOW)


def test_an_invalid_partition_raises_the_library_error(client):
    city = cg.make_reports(400, seed=2).reset_index(drop=True)
    city["severity_level"] = city["severity_level"].astype(object)
    city.loc[300, "severity_level"] = 7.0
    with pytest.raises(cg.InvalidReportsError, match="severity_level"):
        cgd.analyze(partitioned(city, 2, None), client=client, now=NOW)


def test_geoparquet_in_and_out(client, tmp_path):
    city = cg.make_reports(2_000, seed=8, mode="hard")
    source = tmp_path / "reports"
    source.mkdir()
    strips = city.iloc[np.argsort(city.geometry.y.to_numpy())]
    for k, rows in enumerate(np.array_split(np.arange(len(strips)), 3)):
        strips.iloc[rows].to_parquet(source / f"part.{k}.parquet")
    expected = single(city, cg.DEFAULT_MODEL)
    actual = cgd.analyze(str(source), model=cg.DEFAULT_MODEL, now=NOW, client=client)
    assert_same(expected, actual)
    files = actual.to_parquet(tmp_path / "hypotheses")
    assert len(files) == len(actual.part_sizes)
    written = gpd.read_parquet(tmp_path / "hypotheses")
    wire = expected.to_dict()["hypotheses"]
    assert written["hypothesis_id"].tolist() == [h["hypothesis_id"] for h in wire]
    assert written.crs.equals("EPSG:4326")
    with pytest.raises(cg.InvalidReportsError, match="no GeoParquet"):
        cgd.analyze(str(tmp_path / "missing-*.parquet"), client=client)


def test_geoparquet_in_spatially_sorted_row_groups(client, tmp_path):
    city = cg.make_reports(2_000, seed=10, mode="hard")
    source = tmp_path / "reports"
    source.mkdir()
    strips = city.iloc[np.argsort(city.geometry.x.to_numpy())]
    for k, rows in enumerate(np.array_split(np.arange(len(strips)), 3)):
        part = strips.iloc[rows]
        part.iloc[np.argsort(part.geometry.y.to_numpy())].to_parquet(
            source / f"part.{k}.parquet", row_group_size=100
        )
    expected = single(city, cg.DEFAULT_MODEL)
    actual = cgd.analyze(str(source), model=cg.DEFAULT_MODEL, now=NOW, client=client)
    assert_same(expected, actual)


def test_streaming_and_filters_match_the_single_machine_result(client):
    city = cg.make_reports(2_000, seed=9, mode="hard")
    expected = single(city, cg.DEFAULT_MODEL)
    actual = cgd.analyze(partitioned(city, 3, "lon"), now=NOW, client=client)
    assert actual.to_dict(limit=7, min_reports=2) == expected.to_dict(limit=7, min_reports=2)
    streamed = [h.to_dict() for h in actual.iter_hypotheses(min_reports=3)]
    assert streamed == expected.to_dict(min_reports=3)["hypotheses"]
    table = actual.to_arrow(limit=20)
    assert table.equals(expected.to_arrow(limit=20))


def test_an_empty_scope_gives_empty_answers(client):
    city = cg.make_reports(500, seed=3)
    far = shapely.box(100.0, 10.0, 100.1, 10.1)
    expected = single(city, cg.DEFAULT_MODEL, scope=far)
    stages = []
    actual = cgd.analyze(
        partitioned(city, 2, "lon"),
        scope=far,
        now=NOW,
        client=client,
        progress=lambda stage, futures: stages.append(stage),
    )
    assert_same(expected, actual)
    assert actual.to_arrow().num_rows == 0
    assert stages[0] == "survey"
