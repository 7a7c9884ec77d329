"""Bulk import (``cleanapp-api reports load``) of GeoJSON, CSV and GeoParquet files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api import cli
from cleanapp_geo.io import tables as t

pytestmark = pytest.mark.postgis

FORMATS = ("csv", "geojson", "parquet")
SUFFIX = {"csv": ".csv", "geojson": ".geojson", "parquet": ".parquet"}
LINE = shapely.LineString([(8.5, 47.3), (8.6, 47.4)])


def row(seq: Any, **values: Any) -> dict[str, Any]:
    base = {
        "seq": seq,
        "ts": f"2026-03-10T1{seq if isinstance(seq, int) else 0}:00:00Z",
        "longitude": 8.54 + 0.001 * (seq if isinstance(seq, int) else 0),
        "latitude": 47.37,
        "severity_level": 0.5,
        "title": f"Report {seq}",
        "language": "en",
        "classification": "physical",
    }
    base.update(values)
    return base


VALID = [
    row(1, title='Bin, "overflowing"'),
    row(2, classification="digital"),
    row(3, language="de", title="Deutsch"),
    row(3, language="en", title="English"),
]
INVALID = [
    row(1),
    row(2, severity_level=1.5, ts="2026-03-10 10:00:00"),  # two problems in one row
    row(3),
    row(4, geometry=LINE, latitude="abc"),  # bad location (format-specific)
    row("x"),
]


def write(tmp_path: Path, fmt: str, rows: list[dict[str, Any]], name: str = "reports") -> Path:
    path = tmp_path / f"{name}{SUFFIX[fmt]}"
    if fmt == "csv":
        frame = pd.DataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows])
        frame.to_csv(path, index=False)
        return path
    geometries = [
        r.get("geometry") or shapely.Point(float(r["longitude"]), float(r["latitude"]))
        for r in rows
    ]
    props = [
        {k: v for k, v in r.items() if k not in ("geometry", "longitude", "latitude")} for r in rows
    ]
    if fmt == "geojson":
        features = [
            {"type": "Feature", "geometry": json.loads(shapely.to_geojson(g)), "properties": p}
            for g, p in zip(geometries, props, strict=True)
        ]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        return path
    frame = pd.DataFrame(props)
    frame["seq"] = frame["seq"].astype(str)  # mixed valid/invalid values
    gpd.GeoDataFrame(frame, geometry=geometries, crs="EPSG:4326").to_parquet(path)
    return path


def load(engine: sa.Engine, path: Path, *args: str) -> int:
    url = engine.url.render_as_string(hide_password=False)
    return cli.main(["reports", "load", str(path), "--database-url", url, "--no-progress", *args])


def stored(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        reports = conn.execute(sa.select(sa.func.count()).select_from(t.reports)).scalar_one()
        analyses = conn.execute(
            sa.select(sa.func.count()).select_from(t.report_analysis)
        ).scalar_one()
    return int(reports), int(analyses)


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_file_then_the_same_file_again(
    store: sa.Engine, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, fmt, VALID)
    assert load(store, path) == 0
    assert "stored 3 new reports and 4 new analyses" in capsys.readouterr().out
    assert stored(store) == (3, 4)
    frame = cio.read_reports(store).set_index("seq")
    assert frame.loc[1, "title"] == 'Bin, "overflowing"'
    assert frame.loc[2, "classification"] == "digital"
    assert frame.loc[3, "title"] == "English"  # preferred analysis of a two-language report
    assert frame.loc[3, "language"] == "en"

    assert load(store, path) == 0
    out = capsys.readouterr().out
    assert "stored 0 new reports and 0 new analyses (3 reports were already stored)" in out
    assert stored(store) == (3, 4)


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_file_writes_nothing_and_lists_rows(
    store: sa.Engine, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, fmt, INVALID)
    assert load(store, path) == 1
    assert stored(store) == (0, 0)
    err = capsys.readouterr().err.splitlines()
    listed = {int(line.split(":")[0].split()[1]): line for line in err if line.startswith("row ")}
    assert sorted(listed) == [2, 4, 5]
    assert "severity_level '1.5' is outside [0, 1]" in listed[2]
    assert "ts '2026-03-10 10:00:00' has no UTC offset" in listed[2]
    assert "seq 'x' is not a finite number" in listed[5]
    location = {
        "csv": "latitude 'abc' is not a finite number",
        "geojson": "geometry must be a Point, got 'LineString'",
        "parquet": "geometry must be a Point, got Linestring",
    }[fmt]
    assert location in listed[4]
    assert err[-1].startswith("error: 3 of 5 rows are invalid, nothing was written")


@pytest.mark.parametrize("fmt", FORMATS)
def test_skip_invalid_writes_good_rows_and_a_rejects_file(
    store: sa.Engine, tmp_path: Path, fmt: str
) -> None:
    path = write(tmp_path, fmt, INVALID)
    assert load(store, path, "--skip-invalid") == 0
    assert stored(store) == (2, 2)
    assert sorted(cio.read_reports(store)["seq"].tolist()) == [1, 3]
    rejects = pd.read_csv(tmp_path / "reports.rejects.csv", dtype=str, keep_default_na=False)
    assert rejects["row"].tolist() == ["2", "4", "5"]
    assert rejects.columns[:2].tolist() == ["row", "reason"]
    assert {"seq", "ts", "severity_level", "title"} <= set(rejects.columns)
    assert rejects["seq"].tolist() == ["2", "4", "x"]  # the original fields
    assert "has no UTC offset" in rejects.loc[0, "reason"]

    # Re-running adds nothing, and an explicit rejects path is honoured.
    explicit = tmp_path / "out" / "bad.csv"
    explicit.parent.mkdir()
    assert load(store, path, "--skip-invalid", "--rejects", str(explicit)) == 0
    assert stored(store) == (2, 2)
    assert pd.read_csv(explicit)["row"].tolist() == [2, 4, 5]


def test_rejects_path_without_skip_invalid(store: sa.Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "csv", INVALID)
    target = tmp_path / "rejects.csv"
    assert load(store, path, "--rejects", str(target)) == 1
    assert pd.read_csv(target)["row"].tolist() == [2, 4, 5]
    assert stored(store) == (0, 0)


def test_rows_clashing_with_stored_reports_are_invalid(
    store: sa.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load(store, write(tmp_path, "csv", VALID)) == 0
    moved = [row(2, latitude=10.0), row(7)]
    path = write(tmp_path, "csv", moved, name="moved")
    assert load(store, path) == 1
    assert "row 1: seq 2 is already stored with a different location" in capsys.readouterr().err
    assert stored(store) == (3, 4)
    assert load(store, path, "--skip-invalid") == 0
    assert stored(store) == (4, 5)
    rejects = pd.read_csv(tmp_path / "moved.rejects.csv")
    assert rejects["row"].tolist() == [1]


def test_rows_of_one_report_must_agree(store: sa.Engine, tmp_path: Path) -> None:
    rows = [
        row(1, language="en"),
        row(1, language="de", latitude=1.0),  # same seq, another location
        row(2, language="en"),
        row(2, language="en", title="twice"),  # same seq and language
        row(3, public_id="rpt_" + "p" * 22),
        row(4, public_id="rpt_" + "p" * 22),  # one public_id, two seqs
        row(5),
    ]
    checked = cio.check_report_rows(cio.read_report_file(write(tmp_path, "csv", rows)))
    reasons = dict(zip(checked.rejects["row"], checked.rejects["reason"], strict=True))
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "disagree on the report fields" in reasons[1]
    assert "appear in more than one row" in reasons[3]
    assert "is used by more than one seq" in reasons[6]
    assert checked.reports["seq"].tolist() == [5]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (
            "seq,latitude\n1,2\n",
            ".csv",
            "the file has no column(s) ['ts', 'longitude', 'severity_level']",
        ),
        ("{not json", ".geojson", "is not valid JSON"),
        ('{"type": "Feature"}', ".geojson", "expected a GeoJSON FeatureCollection"),
        ("x", ".txt", "cannot tell the format"),
    ],
)
def test_file_level_problems(
    store: sa.Engine,
    tmp_path: Path,
    content: str,
    suffix: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / f"file{suffix}"
    path.write_text(content)
    assert load(store, path) == 1
    assert message in capsys.readouterr().err


def test_all_problems_of_a_row_are_reported(tmp_path: Path) -> None:
    rows = [
        row(
            1,
            ts="",
            severity_level="high",
            classification="chemical",
            language="",
            public_id="rpt_x",
            status="gone",
            visibility="secret",
            is_valid="perhaps",
            team="1.5",
            litter_probability="2",
        ),
        row(2, ts="yesterday", longitude="200", latitude="-91"),
        row("", severity_level=""),
    ]
    checked = cio.check_report_rows(cio.read_report_file(write(tmp_path, "csv", rows)))
    reasons = dict(zip(checked.rejects["row"], checked.rejects["reason"], strict=True))
    first = reasons[1]
    for expected in (
        "ts is missing",
        "severity_level 'high' is not a finite number",
        "classification 'chemical' is not one of",
        "public_id 'rpt_x' is not",
        "status 'gone' is not one of",
        "visibility 'secret' is not one of",
        "is_valid 'perhaps' is not a boolean",
        "team '1.5' is not a 32-bit integer",
        "litter_probability '2' is outside [0, 1]",
    ):
        assert expected in first
    assert "language" not in first  # empty language defaults to en
    assert "ts 'yesterday' is not an ISO 8601 timestamp" in reasons[2]
    assert "longitude '200' is outside [-180, 180]" in reasons[2]
    assert "latitude '-91' is outside [-90, 90]" in reasons[2]
    assert "seq is missing" in reasons[3] and "severity_level is missing" in reasons[3]
    assert checked.reports.empty and checked.n_rows == 3


def test_plain_parquet_with_latitude_longitude(store: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame(VALID).to_parquet(path)
    assert load(store, path) == 0
    assert stored(store) == (3, 4)


def test_geoparquet_in_another_crs_is_reprojected(store: sa.Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        pd.DataFrame(
            [{k: v for k, v in r.items() if k not in ("longitude", "latitude")} for r in VALID]
        ),
        geometry=[shapely.Point(r["longitude"], r["latitude"]) for r in VALID],
        crs="EPSG:4326",
    ).to_crs("EPSG:2056")
    path = tmp_path / "swiss.parquet"
    frame.to_parquet(path)
    assert load(store, path) == 0
    read = cio.read_reports(store).set_index("seq")
    assert read.loc[1].geometry.x == pytest.approx(8.541, abs=1e-6)
    assert read.loc[1].geometry.y == pytest.approx(47.37, abs=1e-6)


def test_progress_is_shown_on_a_terminal(
    store: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, "csv", VALID)
    url = store.url.render_as_string(hide_password=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = ["reports", "load", str(path), "--database-url", url, "--chunk-size", "2"]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "staging" in err and "7/7" in err and "inserting..." in err  # 3 reports + 4 analyses


def test_unreachable_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "csv", VALID)
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nowhere?connect_timeout=2"
    assert cli.main(["reports", "load", str(path), "--database-url", url, "--no-progress"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
