"""PostGIS read in spatial partitions (cleanapp_geo.io.read_reports_dask) and analysed on Dask."""

from __future__ import annotations

import dask
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from distributed import Client, LocalCluster

import cleanapp_geo as cg
import cleanapp_geo.distributed as cgd
import cleanapp_geo.io as cio
from cleanapp_geo.io.errors import InvalidQueryError

pytestmark = pytest.mark.postgis

NOW = pd.Timestamp("2026-04-01T00:00:00Z")


@pytest.fixture
def city(store: sa.Engine) -> pd.DataFrame:
    frame = cg.make_reports(1_500, seed=13, mode="hard")
    cio.write_reports(frame, store)
    return frame


def test_tiles_split_the_reports_into_disjoint_partitions(
    store: sa.Engine, store_url: str, city: pd.DataFrame
) -> None:
    frame = cio.read_reports_dask(store_url, tiles=(3, 2))
    assert frame.npartitions == 6
    with dask.config.set(scheduler="synchronous"):
        parts = [p.compute() for p in frame.to_delayed()]
    seqs = pd.concat([p["seq"] for p in parts])
    assert seqs.is_unique
    assert sorted(seqs) == sorted(city["seq"])
    assert sum(len(p) > 0 for p in parts) >= 4  # the grid really splits the city


def test_a_scope_read_in_tiles_is_the_scope(
    store: sa.Engine, store_url: str, city: pd.DataFrame
) -> None:
    x, y = city.geometry.x.median(), city.geometry.y.median()
    scope = shapely.box(x - 0.01, y - 0.005, x + 0.01, y + 0.005)
    whole = cio.read_reports(store, scope=scope)
    frame = cio.read_reports_dask(store_url, scope=scope, tiles=(2, 2))
    with dask.config.set(scheduler="synchronous"):
        tiled = frame.compute()
    assert 0 < len(tiled) < len(city)
    assert sorted(tiled["seq"]) == sorted(whole["seq"])


def test_postgis_partitions_analysed_on_dask_equal_one_machine(
    store: sa.Engine, store_url: str, city: pd.DataFrame
) -> None:
    expected = cg.analyze(cio.read_reports(store), now=NOW)
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        result = cgd.analyze(cio.read_reports_dask(store_url, tiles=(2, 2)), now=NOW, client=client)
        assert result.to_dict() == expected.to_dict()
        pd.testing.assert_frame_equal(result.edges, expected.edges)


def test_bad_tiles() -> None:
    with pytest.raises(InvalidQueryError, match="tiles"):
        cio.tile_grid((0.0, 0.0, 1.0, 1.0), 0, 1)
    with pytest.raises(InvalidQueryError, match="tile"):
        cio.select_reports(tile=(1.0, 2.0))  # type: ignore[arg-type]
