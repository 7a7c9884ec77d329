"""``python -m benchmarks realdata``: exact baselines and a smoke run on bundled files.

The baselines are checked against brute-force all-pairs haversine on a bundled file; the
CLI runs in a subprocess on Chicago (dates only, one category) and the NYC 2024 window,
with an extra model given as JSON, and its JSON document is checked.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cleanapp_geo as cg  # noqa: E402
from benchmarks import realdata  # noqa: E402
from cleanapp_geo.arrays import haversine_m  # noqa: E402
from cleanapp_geo.evaluation import adjusted_rand  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "real311"
SMOKE_FILES = ("chicago_potholes_2018-12.csv.gz", "nyc311_2024-04-15_window.csv.gz")
BUILT_IN = ("dbscan_50m", "same_category_250m", "same_category_50m_7d", "upstream", "default")


@pytest.fixture(scope="module")
def nyc() -> tuple:
    return cg.realdata.read_labelled_reports(DATA / "nyc311_2024-04-15_window.csv.gz")


def brute_force_pairs(reports, radius_m: float, *, same_category: bool, max_dt_s=None) -> set:
    lon, lat = reports.geometry.x.to_numpy(), reports.geometry.y.to_numpy()
    distance = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    ok = distance <= radius_m
    if same_category:
        category = reports["category"].to_numpy(dtype=object)
        ok &= (category[:, None] == category[None, :]) & (category[:, None] != "")
    if max_dt_s is not None:
        ts = reports["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        ok &= np.abs(ts[:, None] - ts[None, :]) <= max_dt_s * 1e9
    i, j = np.nonzero(np.triu(ok, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


@pytest.mark.parametrize(
    ("radius_m", "same_category", "max_dt_s"),
    [(50.0, False, None), (250.0, True, None), (50.0, True, 7 * 86_400.0), (50.0, True, 3_600)],
)
def test_pairs_within_equal_brute_force(nyc, radius_m, same_category, max_dt_s) -> None:
    reports, _ = nyc
    i, j = realdata.pairs_within(
        reports, radius_m=radius_m, same_category=same_category, max_dt_s=max_dt_s
    )
    assert np.all(i < j)
    got = set(zip(i.tolist(), j.tolist(), strict=True))
    assert len(got) == len(i)  # each pair once
    assert got == brute_force_pairs(
        reports, radius_m, same_category=same_category, max_dt_s=max_dt_s
    )
    assert got  # the case is not vacuous


def test_dbscan_with_two_samples_is_single_linkage(nyc) -> None:
    # min_samples 2: every point with a neighbour is a core point, so DBSCAN's clusters are
    # the connected components of the 50 m graph and its noise the isolated points.
    reports, _ = nyc
    labels = realdata.dbscan_labels(reports, eps_m=50.0)
    i, j = realdata.pairs_within(reports, radius_m=50.0)
    assert adjusted_rand(labels, realdata.components(len(reports), i, j)) == 1.0
    isolated = np.ones(len(reports), dtype=bool)
    isolated[i] = isolated[j] = False
    assert np.array_equal(labels == -1, isolated)


def test_evaluate_method_on_a_hand_made_labeller(nyc) -> None:
    reports, labels = nyc
    alone = realdata.evaluate_method(
        reports, labels, lambda r: np.full(len(r), -1, dtype=np.int64), repeats=2
    )
    assert (alone["dup_recall"], alone["false_dup_rate"], alone["multi_report_groups"]) == (
        0.0,
        0.0,
        0,
    )
    assert alone["deterministic"] is True
    assert len(alone["seconds_all"]) == 2
    one = realdata.evaluate_method(reports, labels, lambda r: np.zeros(len(r), dtype=np.int64))
    # One group of all: every report but the earliest has an earlier groupmate.
    assert one["duplicates_found"] + one["false_dups"] == len(reports) - 1
    assert one["dup_recall"] == 1.0


def test_methods_registry_takes_extra_models_but_not_built_in_names() -> None:
    registry = realdata.methods({"tuned": cg.DEFAULT_MODEL})
    assert list(registry) == [*BUILT_IN, "tuned"]
    with pytest.raises(ValueError, match="taken by a built-in method"):
        realdata.methods({"default": cg.DEFAULT_MODEL})
    with pytest.raises(ValueError, match=r"NAME=path\.json"):
        realdata.parse_model_arg("no-equals-sign")


@pytest.mark.slow
def test_cli_smoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in SMOKE_FILES:
        shutil.copy(DATA / name, data / name)
    model_path = tmp_path / "alt.json"
    model_path.write_text(json.dumps(cg.DEFAULT_MODEL.with_weights(time=0.5).to_dict()))
    out = tmp_path / "realdata.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "realdata",
            "--data",
            str(data),
            "--json",
            str(out),
            "--model",
            f"alt={model_path}",
            "--repeats",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| method | dup recall | false-dup rate | parent recall |" in proc.stdout
    assert out.with_suffix(".md").read_text().strip() == proc.stdout.strip()
    document = json.loads(out.read_text())  # strict JSON: NaN became null
    assert {"date_utc", "nproc", "cpu_model", "versions", "git_commit"} <= set(document["hardware"])
    assert set(document["settings"]["methods"]) == {*BUILT_IN, "alt"}
    assert set(document["results"]) == {"chicago_potholes_2018-12", "nyc311_2024-04-15_window"}
    chicago = document["results"]["chicago_potholes_2018-12"]
    assert (chicago["n"], chicago["n_duplicates"], chicago["n_parent_pairs"]) == (999, 347, 0)
    for entry in document["results"].values():
        assert list(entry["methods"]) == [*BUILT_IN, "alt"]
        for name, m in entry["methods"].items():
            assert "error" not in m, (name, m)
            assert m["parent_recall"] is None  # no parent in these files
            for key in ("dup_recall", "false_dup_rate"):
                assert 0.0 <= m[key] <= 1.0, (name, key)
            assert 0 <= m["multi_report_groups"] <= m["reports_grouped"] <= entry["n"]
            assert m["seconds"] >= 0 and math.isfinite(m["seconds"])
            assert m["deterministic"] is True
        # The baselines group something on every file (they see place, time, category).
        for name in ("dbscan_50m", "same_category_250m", "same_category_50m_7d"):
            assert entry["methods"][name]["reports_grouped"] > 0
            assert entry["methods"][name]["dup_recall"] > 0
