"""``python -m benchmarks model-cost``: the current DEFAULT_MODEL's time against the previous.

Issue 10 changed ``DEFAULT_MODEL`` (a seventh feature, unknown-feature handling, new
weights, scales and threshold) and allowed average linkage; its floor is that a 100k
analysis stays within 10% of the time of the model it replaced. Both models analyse the
same synthetic hard frame in this one process, interleaved (previous, current, previous,
...), after a warm-up of each, so machine load falls on both alike; the figure is the
ratio of the medians. The same is measured for the current model with average linkage.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import cleanapp_geo as cg

#: DEFAULT_MODEL before issue 10 (tuned on synthetic data only).
PREVIOUS_DEFAULT = cg.SimilarityModel(
    weight_classification=0.0,
    weight_severity=0.219,
    weight_text=0.291,
    weight_location=0.168,
    weight_brand=0.074,
    weight_time=0.248,
    severity_kernel="linear",
    text_kernel="jaccard",
    text_saturation=0.1,
    location_kernel="exp",
    location_scale_m=80.0,
    time_kernel="exp",
    time_scale_s=2 * 86_400.0,
    threshold=0.632,
    radius_gate_m=150.0,
)


def run(n: int = 100_000, *, repeats: int = 7, seed: int = 1) -> dict[str, Any]:
    """Median analysis time of each model on one frame, and the ratios to the previous."""
    frame = cg.make_reports(n, seed=seed, mode="hard")
    now = frame["ts"].max()
    models = {
        "previous_default": PREVIOUS_DEFAULT,
        "default": cg.DEFAULT_MODEL,
        "default_average_linkage": cg.SimilarityModel.from_dict(
            {**cg.DEFAULT_MODEL.to_dict(), "grouping": "average"}
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        cg.analyze(frame, model=model, now=now)  # warm-up: compiled kernels, caches
    for _ in range(repeats):
        for name, model in models.items():
            clock = time.perf_counter()
            cg.analyze(frame, model=model, now=now)
            times[name].append(time.perf_counter() - clock)
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["previous_default"]
    return {
        "n": n,
        "repeats": repeats,
        "load_average": os.getloadavg(),
        "median_s": medians,
        "ratio_to_previous": {name: value / base for name, value in medians.items()},
        "all_s": times,
        "floor": "default within 10% of previous_default (ratio <= 1.10)",
        "status": "met" if medians["default"] <= 1.10 * base else "MISSED",
    }


def format_table(document: dict[str, Any]) -> str:
    """A readable table of the medians and ratios."""
    lines = [
        f"analyze {document['n']:,} hard synthetic reports, median of {document['repeats']} "
        f"interleaved runs (load average {document['load_average'][0]:.2f})",
        "",
        "| model | median s | × previous DEFAULT |",
        "|---|---|---|",
    ]
    for name, value in document["median_s"].items():
        ratio = document["ratio_to_previous"][name]
        lines.append(f"| {name} | {value:.3f} | {ratio:.3f} |")
    lines += ["", f"floor: {document['floor']}: {document['status']}"]
    return "\n".join(lines)
