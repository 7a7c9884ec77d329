"""Reading labelled real-city report files: the report frame, the labels and every error."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cleanapp_geo as cg
from cleanapp_geo.errors import CleanAppGeoError, InvalidLabelledDataError
from cleanapp_geo.realdata import LABEL_COLUMNS, REQUIRED_COLUMNS, read_labelled_reports

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "benchmarks" / "data" / "real311"
HEADER = "id,ts,lat,lon,category,text,is_duplicate,parent_id,city_status,raw_note"
#: A marker that only the label-revealing columns hold; it must reach no frame.
SECRET = "SECRET-duplicate-of-earlier"


def write(tmp_path: Path, rows: list[str], *, header: str = HEADER, name: str = "f.csv") -> Path:
    path = tmp_path / name
    text = "\n".join([header, *rows]) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def row(
    id_: str,
    ts: str = "2018-10-21T04:00:00Z",
    lat: str = "40.7",
    lon: str = "-73.9",
    category: str = "Rodent",
    text: str = "",
    dup: str = "false",
    parent: str = "",
) -> str:
    return f"{id_},{ts},{lat},{lon},{category},{text},{dup},{parent},{SECRET},{SECRET}"


def error_message(path: Path) -> str:
    with pytest.raises(InvalidLabelledDataError) as info:
        read_labelled_reports(path)
    return str(info.value)


# --- the report frame ------------------------------------------------------------------------


def test_reads_iso_and_date_only_timestamps_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            row("b", ts="2018-10-21T12:30:00Z"),
            row("a", ts="2018-12-07"),
            row("c", ts="2018-10-21T08:30:00-04:00"),
            row("d", ts="2018-10-21"),
        ],
    )
    reports, labels = read_labelled_reports(path)
    assert reports["seq"].tolist() == [1, 2, 3, 4]
    assert labels["id"].tolist() == ["b", "a", "c", "d"]
    assert reports["ts"].tolist() == [
        pd.Timestamp("2018-10-21T12:30:00Z"),
        pd.Timestamp("2018-12-07T00:00:00Z"),  # date only: 00:00 UTC of that date
        pd.Timestamp("2018-10-21T12:30:00Z"),  # offset converted to UTC
        pd.Timestamp("2018-10-21T00:00:00Z"),
    ]
    assert str(reports["ts"].dtype) == "datetime64[ns, UTC]"
    assert reports.index.tolist() == labels.index.tolist() == [0, 1, 2, 3]


def test_report_frame_holds_exactly_the_contract_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            row("1", category="  Pothole in Street ", text="Deep hole at the corner"),
            row("2", category="", text=""),
        ],
    )
    reports, _ = read_labelled_reports(path)
    assert reports.columns.tolist() == [*cg.REPORT_COLUMNS, "category"]
    pd.testing.assert_frame_equal(cg.validate_reports(reports), reports)
    assert reports.crs.to_string() == "EPSG:4326"
    assert reports["category"].tolist() == ["Pothole in Street", ""]
    assert (reports["classification"] == "").all()  # physical/digital: unknown
    assert reports["title"].tolist() == ["Deep hole at the corner", ""]
    assert reports["severity_level"].dtype == np.float64
    assert reports["severity_level"].isna().all()
    for column in (
        "summary",
        "description",
        "brand_name",
        "brand_display_name",
        "inferred_contact_emails",
        "language",
    ):
        assert reports[column].tolist() == ["", ""], column
    assert reports.geometry.x.tolist() == [-73.9, -73.9]
    assert reports.geometry.y.tolist() == [40.7, 40.7]


def test_public_id_is_rpt_plus_base64url_of_16_bytes_of_the_sha256_of_the_id(
    tmp_path: Path,
) -> None:
    first = write(tmp_path, [row("40605234"), row("18-03305295")], name="a.csv")
    second = write(tmp_path, [row("other"), row("40605234")], name="b.csv")
    a, _ = read_labelled_reports(first)
    b, _ = read_labelled_reports(second)
    expected = (
        "rpt_" + base64.urlsafe_b64encode(hashlib.sha256(b"40605234").digest()[:16]).decode()[:22]
    )
    assert a["public_id"].iat[0] == expected == b["public_id"].iat[1]
    assert all(re.fullmatch(r"rpt_[A-Za-z0-9_-]{22}", p) for p in a["public_id"])
    assert a["public_id"].is_unique


def test_label_and_raw_columns_reach_no_frame(tmp_path: Path) -> None:
    path = write(tmp_path, [row("1"), row("2", dup="true", parent="1")])
    reports, labels = read_labelled_reports(path)
    assert labels.columns.tolist() == list(LABEL_COLUMNS)
    assert not {"id", "is_duplicate", "parent_id", "city_status", "raw_note"} & set(reports.columns)
    for frame in (reports, labels):
        cells = frame.drop(columns="geometry", errors="ignore").astype(str).to_numpy().ravel()
        assert not any(SECRET in str(cell) for cell in cells)


def test_gzip_file_reads_like_the_plain_one(tmp_path: Path) -> None:
    rows = [row("1", ts="2018-12-07"), row("2", ts="2018-12-08", dup="TRUE")]
    plain = read_labelled_reports(write(tmp_path, rows, name="x.csv"))
    packed = read_labelled_reports(write(tmp_path, rows, name="x.csv.gz"))
    pd.testing.assert_frame_equal(plain[0], packed[0])
    pd.testing.assert_frame_equal(plain[1], packed[1])


def test_only_the_required_columns_are_needed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ["1,2018-12-07,41.9,-87.6,Pothole in Street,,false,"],
        header=",".join(REQUIRED_COLUMNS),
    )
    reports, labels = read_labelled_reports(str(path))
    assert len(reports) == len(labels) == 1


def test_header_only_file_gives_empty_frames(tmp_path: Path) -> None:
    reports, labels = read_labelled_reports(write(tmp_path, []))
    assert len(reports) == len(labels) == 0
    assert reports.columns.tolist() == [*cg.REPORT_COLUMNS, "category"]
    assert labels.columns.tolist() == list(LABEL_COLUMNS)


# --- the labels frame ------------------------------------------------------------------------


def test_labels_frame_resolves_parents_in_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            row("p1"),
            row("c1", dup="true", parent="p1"),
            row("c2", dup="true", parent="gone"),  # parent not in the file
            row("c3", dup="true"),  # duplicate without a named parent
            row("c4", dup="True", parent="p2"),  # parent later in the file
            row("p2", dup="false"),
        ],
    )
    _, labels = read_labelled_reports(path)
    assert labels["seq"].dtype == np.int64
    assert labels["is_duplicate"].dtype == bool
    assert str(labels["parent_seq"].dtype) == "Int64"
    assert labels["seq"].tolist() == [1, 2, 3, 4, 5, 6]
    assert labels["is_duplicate"].tolist() == [False, True, True, True, True, False]
    assert labels["parent_id"].isna().tolist() == [True, False, False, True, False, True]
    assert labels["parent_id"].dropna().tolist() == ["p1", "gone", "p2"]
    assert labels["parent_seq"].isna().tolist() == [True, False, True, True, False, True]
    assert labels["parent_seq"].dropna().tolist() == [1, 6]


# --- errors ----------------------------------------------------------------------------------


def test_errors_are_typed_value_errors() -> None:
    assert issubclass(InvalidLabelledDataError, ValueError)
    assert issubclass(InvalidLabelledDataError, CleanAppGeoError)
    assert cg.InvalidLabelledDataError is InvalidLabelledDataError


def test_wrong_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, [row("1")], name="f.txt")
    assert error_message(path) == (
        "expected a labelled report file ending in .csv or .csv.gz, got 'f.txt'"
    )


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_labelled_reports(tmp_path / "absent.csv")


def test_missing_required_columns(tmp_path: Path) -> None:
    path = write(tmp_path, ["1,2018-12-07,41.9,-87.6,Pothole,false"], header="id,ts,lat,lon,x,y")
    message = error_message(path)
    assert message.startswith(
        "f.csv: missing required columns ['category', 'text', 'is_duplicate', 'parent_id']"
    )
    assert "needs ['id', 'ts', 'lat', 'lon', 'category', 'text', 'is_duplicate'" in message


def test_repeated_id_lists_every_occurrence(tmp_path: Path) -> None:
    path = write(tmp_path, [row("a"), row("b"), row("a"), row("c"), row("b")])
    assert error_message(path) == (
        "f.csv: column 'id' must be unique; repeated; data row 1 (id 'a'): 'a', "
        "data row 2 (id 'b'): 'b', data row 3 (id 'a'): 'a', data row 5 (id 'b'): 'b'"
    )


def test_empty_id(tmp_path: Path) -> None:
    path = write(tmp_path, [row("a"), row(" ")])
    assert error_message(path) == "f.csv: column 'id' must not be empty; data row 2 (id ''): ''"


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "2018-10-21T04:00:00", "2018-13-45", "21/10/2018", "", "2018-02-30T01:00Z"],
)
def test_unparsable_ts(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, [row("a"), row("b", ts=bad)])
    assert error_message(path) == (
        "f.csv: column 'ts' must hold ISO 8601 timestamps with an offset "
        f"(2018-10-21T04:00:00Z) or dates (2018-12-07); data row 2 (id 'b'): {bad!r}"
    )


@pytest.mark.parametrize(
    ("column", "values", "limit"),
    [
        ("lat", {"lat": ""}, "90"),
        ("lat", {"lat": "90.5"}, "90"),
        ("lat", {"lat": "north"}, "90"),
        ("lon", {"lon": "-180.01"}, "180"),
        ("lon", {"lon": "nan"}, "180"),
        ("lon", {"lon": ""}, "180"),
    ],
)
def test_missing_or_out_of_range_coordinates(
    tmp_path: Path, column: str, values: dict[str, str], limit: str
) -> None:
    path = write(tmp_path, [row("a"), row("b", **values)])
    given = next(iter(values.values()))
    assert error_message(path) == (
        f"f.csv: column {column!r} must hold a number in [-{limit}, {limit}]; "
        f"data row 2 (id 'b'): {given!r}"
    )


@pytest.mark.parametrize("bad", ["yes", "1", "", "t"])
def test_is_duplicate_must_be_true_or_false(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, [row("a", dup="TRUE"), row("b", dup=bad)])
    assert error_message(path) == (
        f"f.csv: column 'is_duplicate' must be true or false; data row 2 (id 'b'): {bad!r}"
    )


def test_own_parent(tmp_path: Path) -> None:
    path = write(tmp_path, [row("a"), row("b", dup="true", parent="b")])
    assert error_message(path) == (
        "f.csv: column 'parent_id' must not name the request itself; data row 2 (id 'b'): 'b'"
    )


def test_at_most_five_offending_rows_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, [row(str(i), lat="95") for i in range(1, 9)])
    message = error_message(path)
    assert message.count("data row") == 5
    assert message.endswith("data row 5 (id '5'): '95' and 3 more")


# --- the bundled files -----------------------------------------------------------------------

#: rows, duplicates, parent ids given, parents in the file: the shared README's table.
BUNDLED_COUNTS = {
    "chicago_potholes_2018-12.csv.gz": (999, 347, 0, 0),
    "nyc311_2018-10-21_fullday.csv.gz": (6_648, 1_053, 0, 0),
    "nyc311_2024-04-15_window.csv.gz": (975, 67, 0, 0),
    "sf311_random_sample.csv.gz": (9_995, 253, 83, 3),
}


def test_bundled_files_are_the_four_of_the_table() -> None:
    assert sorted(p.name for p in BUNDLED.glob("*.csv.gz")) == sorted(BUNDLED_COUNTS)


@pytest.mark.parametrize("name", sorted(BUNDLED_COUNTS))
def test_bundled_file_counts_and_no_label_leak(name: str) -> None:
    path = BUNDLED / name
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == list(REQUIRED_COLUMNS)  # city_status and raw_* were dropped
    reports, labels = read_labelled_reports(path)
    rows, duplicates, parents_given, parents_in_file = BUNDLED_COUNTS[name]
    assert len(reports) == len(labels) == rows
    assert int(labels["is_duplicate"].sum()) == duplicates
    assert int(labels["parent_id"].notna().sum()) == parents_given
    assert int(labels["parent_seq"].notna().sum()) == parents_in_file
    assert reports.columns.tolist() == [*cg.REPORT_COLUMNS, "category"]
    assert (reports["title"] == "").all()  # no source publishes the reporter's words
    assert reports["severity_level"].isna().all()
    assert (reports["category"] != "").all()
    # Nothing of the labels in the report frame: its text columns hold no id or status.
    ids = set(labels["id"])
    assert not set(reports["public_id"]) & ids
    for column in ("category", "title", "summary", "description"):
        values = set(reports[column])
        assert not values & ids, column
        assert not any("dup" in v.lower() for v in values), column
