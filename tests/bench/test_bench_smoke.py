"""Smoke test of the benchmark suite at its 10k size: behaviour and quality floors, not timing.

Runs the suite's own case functions in-process (the real suite runs each case in a fresh
subprocess for peak RSS) on 10k synthetic reports in easy and hard mode and checks the
floors of issue 6: candidate-generator recall >= 0.99, pairwise F1 floors, DEFAULT at least
0.05 F1 above UPSTREAM and location-only DBSCAN on hard data, the brute-force scorer finds
exactly the edges of the fast path, and the table and floors render.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import cases  # noqa: E402
from benchmarks.suite import (  # noqa: E402
    DBSCAN_EPS_M,
    DBSCAN_MIN_SAMPLES,
    check_floors,
    format_table,
    parse_size,
    size_label,
)
from cleanapp_geo.synthetic import make_reports  # noqa: E402

N = 10_000
#: Floors at 10k (the 100k/1M results live in benchmarks/README.md).
F1_FLOOR = {"easy": 0.95, "hard": 0.90}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quality() -> dict[str, dict]:
    out = {}
    for mode in ("easy", "hard"):
        frame = make_reports(N, seed=1, mode=mode)
        out[mode] = cases.case_quality(
            frame,
            upstream=True,
            upstream_recall_max=N,
            dbscan_eps_m=DBSCAN_EPS_M,
            dbscan_min_samples=DBSCAN_MIN_SAMPLES,
        )
    return out


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_candidate_recall(quality, mode: str) -> None:
    assert quality[mode]["default"]["candidate_recall"] >= 0.99


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_quality_floors(quality, mode: str) -> None:
    default = quality[mode]["default"]
    assert default["overall"]["pairwise_f1"] >= F1_FLOOR[mode]
    assert default["incident_only"]["pairwise_f1"] >= F1_FLOOR[mode]
    assert default["overall"]["ari"] >= F1_FLOOR[mode] - 0.01


def test_default_beats_baselines_on_hard(quality) -> None:
    hard = quality["hard"]
    f1 = hard["default"]["overall"]["pairwise_f1"]
    assert f1 - hard["upstream"]["overall"]["pairwise_f1"] >= 0.05
    assert f1 - hard["dbscan"]["overall"]["pairwise_f1"] >= 0.05


def test_timing_case_and_brute_force_agree() -> None:
    frame = make_reports(2_000, seed=3, mode="hard")
    timing = cases.case_timing(
        frame,
        repeats=1,
        upstream=True,
        dbscan_eps_m=DBSCAN_EPS_M,
        dbscan_min_samples=DBSCAN_MIN_SAMPLES,
    )
    brute = timing["brute_force"]
    assert brute["slice_edges_equal"], brute
    assert brute["extrapolated"] is False
    assert timing["default"]["candidate_pairs"] > 0
    assert set(timing["default"]["phases_s"]) >= {"scoring", "serialisation"}
    assert timing["upstream"]["ratio_vs_default"] > 0


def test_floors_and_table_render(quality) -> None:
    results = {"10k": {"n": N, "quality": quality, "timing": {}, "memory": {}, "postgis": {}}}
    floors = check_floors(results)
    assert all(f["status"] == "met" for f in floors), floors
    document = {
        "hardware": {
            "date_utc": "2026-01-01T00:00:00Z",
            "cpu_model": "cpu",
            "nproc": 2,
            "mem_total_gb": 1.0,
            "os": "Linux",
            "python": "3.11",
            "versions": {},
            "blas": [],
            "git_commit": "0" * 40,
            "git_dirty": False,
        },
        "settings": {"timing_mode": "hard"},
        "results": results,
        "floors": floors,
    }
    table = format_table(document)
    assert "| 10k | hard | default |" in table


def test_sizes_parse() -> None:
    assert [parse_size(s) for s in ("10k", "100k", "1m", "2500")] == [10_000, 100_000, 10**6, 2500]
    assert [size_label(n) for n in (10_000, 10**6, 2500)] == ["10k", "1m", "2500"]


def test_peak_rss_probe() -> None:
    before = cases.rss_mb()
    assert before["ru_maxrss_mb"] > 0
    cases.reset_peak_rss()
    assert cases.rss_mb()["ru_maxrss_mb"] > 0
