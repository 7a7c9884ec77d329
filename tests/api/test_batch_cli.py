"""``cleanapp-api analyze``: a GeoParquet file in, ordered GeoParquet parts out (on Dask)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

import cleanapp_geo as cg
from cleanapp_api import cli

NOW = "2026-03-31T00:00:00Z"


@pytest.fixture(scope="module")
def reports_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, gpd.GeoDataFrame]:
    frame = cg.make_reports(1_500, seed=21, mode="hard")
    path = tmp_path_factory.mktemp("batch") / "reports.parquet"
    frame.to_parquet(path)
    return path, frame


def run(*args: str) -> int:
    return cli.main(["analyze", *args, "--no-progress", "--workers", "1", "--now", NOW])


def test_analyze_writes_the_single_machine_hypotheses_in_order(
    reports_file: tuple[Path, gpd.GeoDataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, frame = reports_file
    out = tmp_path / "hypotheses.parquet"
    assert run("--input", str(path), "--output", str(out)) == 0
    expected = cg.analyze(frame, model=cg.DEFAULT_MODEL, now=NOW)
    written = gpd.read_parquet(out)
    wire = expected.to_dict()["hypotheses"]
    assert written["hypothesis_id"].tolist() == [h["hypothesis_id"] for h in wire]
    assert written["report_count"].tolist() == [h["report_count"] for h in wire]
    assert f"{len(frame)} reports, {len(wire)} hypotheses" in capsys.readouterr().out
    # Again into the same directory: refused without --overwrite, nothing lost.
    before = sorted(p.name for p in out.iterdir())
    assert run("--input", str(path), "--output", str(out)) == 1
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before
    assert run("--input", str(path), "--output", str(out), "--overwrite") == 0


def test_a_model_without_radius_gate_is_refused_with_the_reason(
    reports_file: tuple[Path, gpd.GeoDataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = reports_file
    out = tmp_path / "upstream"
    assert run("--input", str(path), "--output", str(out), "--model", "upstream") == 1
    assert "radius gate" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_missing_input_and_bad_scope(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--input", str(tmp_path / "nothing.parquet"), "--output", str(tmp_path / "o")) == 1
    assert "no GeoParquet" in capsys.readouterr().err
    scope = tmp_path / "scope.geojson"
    scope.write_text("{not json")
    args = ("--input", "x.parquet", "--output", str(tmp_path / "o2"), "--scope", str(scope))
    assert run(*args) == 1
    assert "not a readable GeoJSON" in capsys.readouterr().err
