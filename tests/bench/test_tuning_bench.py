"""Smoke tests of ``python -m benchmarks tune``, ``frontier`` and ``model-cost``: behaviour only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cleanapp_geo as cg  # noqa: E402
from benchmarks import frontier, model_cost  # noqa: E402
from benchmarks.realdata import DATA_DIR, evaluate_method, methods  # noqa: E402

CHICAGO = DATA_DIR / "chicago_potholes_2018-12.csv.gz"

pytestmark = pytest.mark.slow


def test_frontier_finds_the_rule_baseline_and_the_floor_targets() -> None:
    reports, labels = cg.realdata.read_labelled_reports(CHICAGO)
    rules = frontier.frontier(reports, labels)
    by_name = {r["rule"]: r for r in rules}
    # The family holds the "same category within 50 m and 7 days" rule. Judged on pairs it
    # groups a subset of what the baseline's connected components group (chains add more).
    rule = by_name["same ≤50 m | any ≤None m, ≤168 h"]
    baseline = evaluate_method(reports, labels, methods()["same_category_50m_7d"])
    assert 0.9 * baseline["dup_recall"] <= rule["dup_recall"] <= baseline["dup_recall"]
    assert rule["false_dup_rate"] <= baseline["false_dup_rate"]
    assert all(0 <= r["dup_recall"] <= 1 and 0 <= r["false_dup_rate"] <= 1 for r in rules)
    document = frontier.run(CHICAGO)
    (row,) = document.values()
    assert row["need_recall"] == pytest.approx(0.499, abs=0.001)
    assert row["max_false_dup_rate"] == pytest.approx(0.8 * 0.0414, abs=0.001)
    assert "| chicago_potholes_2018-12 |" in frontier.format_table(document)


def test_model_cost_times_both_models_on_one_frame() -> None:
    document = model_cost.run(2_000, repeats=1)
    assert set(document["median_s"]) == {"previous_default", "default", "default_average_linkage"}
    assert document["ratio_to_previous"]["previous_default"] == 1.0
    assert document["status"] in {"met", "MISSED"}
    assert "× previous DEFAULT" in model_cost.format_table(document)


def test_tune_cli_quick_writes_the_report_with_baselines_and_floors(tmp_path: Path) -> None:
    data = tmp_path / "real"
    data.mkdir()
    for name in ("chicago_potholes_2018-12", "nyc311_2024-04-15_window"):
        (data / f"{name}.csv.gz").write_bytes((DATA_DIR / f"{name}.csv.gz").read_bytes())
    out = tmp_path / "tuning"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "tune", "--quick", "--out", str(out),
         "--data", str(data), "--n-reports", "3000", "--test-reports", "3000",
         "--test-seeds", "101"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    document = json.loads((out / "report.json").read_text())
    assert [f["name"] for f in document["folds"]] == [
        "chicago_potholes_2018-12",
        "nyc311_2024-04-15_window",
    ]
    assert set(document["baselines"]["chicago_potholes_2018-12"]) >= {"dbscan_50m", "upstream"}
    statuses = {f["floor"].split(":")[0]: f["status"] for f in document["floors"]}
    assert statuses["synthetic held-out pairwise F1 ≥ 0.95"] in {"met", "MISSED"}
    assert "## Floors" in (out / "report.md").read_text()
    assert cg.SimilarityModel.from_dict(json.loads((out / "model.json").read_text()))
