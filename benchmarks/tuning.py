"""``python -m benchmarks tune``: select DEFAULT_MODEL on real and synthetic data.

Runs :func:`cleanapp_geo.model_selection.select_model` on the bundled real 311 files and
synthetic hard frames, then puts each held-out real file's figures beside the baselines
of ``python -m benchmarks realdata`` on the same file, and states the issue's floors:

* on every real file *with groups* (the consecutive extracts whose duplicates mostly have
  their original in the file: Chicago and New York 2018; New York 2024 has one original
  in its window and San Francisco is a random sample over eleven years), the held-out
  false-dup rate at most 0.8 × the lowest false-dup rate of a baseline that finds
  duplicates (dup recall > 0), at a dup recall no lower than the "50 m and 7 days" rule's
  and DBSCAN's;
* parent recall ≥ 0.95 where a file has parent pairs;
* synthetic held-out pairwise F1 ≥ 0.95 and candidate recall ≥ 0.99.

Writes ``model.json``, ``report.json`` (with the baselines and floors) and ``report.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cleanapp_geo as cg
from cleanapp_geo.model_selection import SelectionReport, SelectionSpace, select_model
from cleanapp_geo.realdata import read_labelled_reports

from .realdata import DATA_DIR, data_files, dataset_name, evaluate_method, json_safe, methods

#: Real files whose duplicates mostly have their original in the file.
FILES_WITH_GROUPS = ("chicago_potholes_2018-12", "nyc311_2018-10-21_fullday")
BASELINES = ("dbscan_50m", "same_category_250m", "same_category_50m_7d", "upstream")
QUICK_SPACE = SelectionSpace(
    location_scale_m=(20.0, 40.0),
    time_scale_s=(86_400.0, 4 * 86_400.0),
    groupings=(("connected", 0.5), ("average", 0.5)),
    category_weight=(0.0, 0.2, 0.3, 0.4),
    stricter_thresholds=1,
)


def baselines(real: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Figures of every baseline on every file (one run each: only quality is used)."""
    registry = methods()
    return {
        name: {
            method: evaluate_method(reports, labels, registry[method], repeats=1)
            for method in BASELINES
        }
        for name, (reports, labels) in real.items()
    }


def floors(report: SelectionReport, base: dict[str, dict[str, dict[str, float]]]) -> list[dict]:
    """The issue's floors, each with its measured value and status."""
    out = []
    for fold in report.folds:
        name, held = fold["name"], fold["heldout"]
        if name in FILES_WITH_GROUPS:
            finding = [b for b in base[name].values() if b["dup_recall"] > 0]
            lowest = min(b["false_dup_rate"] for b in finding)
            need_recall = max(
                base[name]["same_category_50m_7d"]["dup_recall"],
                base[name]["dbscan_50m"]["dup_recall"],
            )
            out.append(
                {
                    "floor": f"{name}: held-out false-dup ≤ 0.8 × {lowest:.3f} = "
                    f"{0.8 * lowest:.3f} at dup recall ≥ {need_recall:.3f}",
                    "measured": f"false-dup {held['false_dup_rate']:.3f} at dup recall "
                    f"{held['dup_recall']:.3f}",
                    "status": "met"
                    if held["false_dup_rate"] <= 0.8 * lowest and held["dup_recall"] >= need_recall
                    else "MISSED",
                }
            )
        parent = held["parent_recall"]
        if parent == parent:  # not NaN: the file has parent pairs
            out.append(
                {
                    "floor": f"{name}: held-out parent recall ≥ 0.95",
                    "measured": f"{parent:.3f}",
                    "status": "met" if parent >= 0.95 else "MISSED",
                }
            )
    final = report.synthetic["selected"]
    out.append(
        {
            "floor": "synthetic held-out pairwise F1 ≥ 0.95",
            "measured": f"{final['pairwise_f1']:.3f}",
            "status": "met" if final["pairwise_f1"] >= 0.95 else "MISSED",
        }
    )
    out.append(
        {
            "floor": "synthetic candidate recall ≥ 0.99",
            "measured": f"{final['candidate_recall']:.4f}",
            "status": "met" if final["candidate_recall"] >= 0.99 else "MISSED",
        }
    )
    return out


def markdown(report: SelectionReport, base: dict, floor_rows: list[dict]) -> str:
    """The selection report with each held-out file beside its baselines, and the floors."""
    lines = [report.to_markdown(), "", "## Held-out figures beside the baselines", ""]
    lines += [
        "| file | method | dup recall | false-dup rate | parent recall |",
        "|---|---|---|---|---|",
    ]
    for fold in report.folds:
        name = fold["name"]
        rows = [("selected without this file (held out)", fold["heldout"])]
        rows += [(method, base[name][method]) for method in BASELINES]
        for method, row in rows:
            parent = row["parent_recall"]
            lines.append(
                f"| {name} | {method} | {row['dup_recall']:.3f} | {row['false_dup_rate']:.3f} "
                f"| {'—' if parent != parent or parent is None else f'{parent:.3f}'} |"
            )
    lines += ["", "## Floors", "", "| floor | measured | status |", "|---|---|---|"]
    lines += [f"| {f['floor']} | {f['measured']} | {f['status']} |" for f in floor_rows]
    return "\n".join(lines)


def run(
    out: Path,
    *,
    data: Path = DATA_DIR,
    quick: bool = False,
    train_seeds: tuple[int, ...] = (11, 12),
    test_seeds: tuple[int, ...] = (101, 102, 103),
    n_reports: int = 10_000,
    test_reports: int = 20_000,
) -> SelectionReport:
    """Select the model, write the report files into ``out``, print the Markdown."""
    real = {dataset_name(p): read_labelled_reports(p) for p in data_files(data)}
    report = select_model(
        real,
        synthetic_train_seeds=train_seeds,
        synthetic_test_seeds=test_seeds,
        n_reports=n_reports,
        test_reports=test_reports,
        space=QUICK_SPACE if quick else None,
        log=print,
    )
    base = baselines(real)
    floor_rows = floors(report, base)
    paths = report.write(out)
    document = json.loads(paths["report"].read_text())
    document["baselines"] = base
    document["floors"] = floor_rows
    document["previous_default"] = cg.DEFAULT_MODEL.to_dict()
    paths["report"].write_text(json.dumps(json_safe(document), indent=2) + "\n")
    text = markdown(report, base, floor_rows)
    paths["markdown"].write_text(text + "\n")
    print(text)
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return report
