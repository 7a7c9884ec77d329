"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import strategies as st

import cleanapp_geo as cg

WORDS = [
    "bricks", "falling", "entrance", "loose", "glass", "broken", "bin", "overflowing",
    "trash", "pothole", "graffiti", "bench", "light", "fence", "sign", "leak",
]  # fmt: skip
BRANDS = ["", "", "Migros", "migros", "Coop", "Zurich School"]
CLASSES = ["physical", "physical", "digital", ""]
CATEGORIES = ["", "", "Pothole in Street", "pothole in street", "Noise - Residential"]
BASE_TS = pd.Timestamp("2026-03-10T12:00:00Z")


@st.composite
def report_frames(draw: st.DrawFn, min_size: int = 0, max_size: int = 30) -> gpd.GeoDataFrame:
    """Small report frames packed into ~300 m so that every route matters."""
    n = draw(st.integers(min_size, max_size))
    seqs = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    rows = []
    for seq in seqs:
        words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=6))
        rows.append(
            {
                "seq": seq,
                "ts": BASE_TS - pd.Timedelta(hours=draw(st.integers(-24, 24 * 12))),
                "longitude": 8.54 + draw(st.integers(0, 40)) * 1e-4,
                "latitude": 47.37 + draw(st.integers(0, 25)) * 1e-4,
                "severity_level": draw(
                    st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.55, 0.7, 0.9, 1.0, None])
                ),
                "title": " ".join(words),
                "summary": draw(st.sampled_from(["", "near the entrance", "same school walkway"])),
                "brand_display_name": draw(st.sampled_from(BRANDS)),
                "classification": draw(st.sampled_from(CLASSES)),
                "category": draw(st.sampled_from(CATEGORIES)),
            }
        )
    return cg.reports_from_records(rows)


@st.composite
def models(draw: st.DrawFn) -> cg.SimilarityModel:
    """Random but valid similarity models, including ones that defeat blocking."""
    raw = [draw(st.floats(0, 1)) for _ in range(7)]
    if sum(raw) == 0:
        raw[2] = 1.0
    names = ["classification", "severity", "text", "location", "brand", "time", "category"]
    base = cg.SimilarityModel(
        severity_kernel=draw(st.sampled_from(["step", "linear"])),
        text_kernel=draw(st.sampled_from(["step", "jaccard"])),
        text_saturation=draw(st.sampled_from([1.0, 0.5, 0.3])),
        location_kernel=draw(st.sampled_from(["step", "exp"])),
        location_scale_m=draw(st.sampled_from([20.0, 50.0, 150.0])),
        time_kernel=draw(st.sampled_from(["step", "exp"])),
        time_max_s=draw(st.sampled_from([3600.0, 86_400.0 * 3])),
        threshold=draw(st.floats(0.2, 0.95)),
        radius_gate_m=draw(st.sampled_from([None, None, 60.0, 200.0])),
        vocabulary=draw(st.sampled_from(["default", "upstream"])),
        missing=draw(st.sampled_from(["no_match", "ignore"])),
        grouping=draw(st.sampled_from(["connected", "average"])),
        linkage_cut=draw(st.sampled_from([1.0, 0.5, 0.25])),
    )
    return base.with_weights(**dict(zip(names, raw, strict=True)))


def brute_force_edges(
    reports: gpd.GeoDataFrame, model: cg.SimilarityModel, classification: str | None = None
) -> set[tuple[int, int]]:
    """Every pair scored with the vectorised scorer: the all-pairs reference."""
    from cleanapp_geo.arrays import prepare_reports
    from cleanapp_geo.similarity import score_pairs

    arrays = prepare_reports(reports, model, classification=classification)
    i, j = np.triu_indices(len(arrays), k=1)
    scored = score_pairs(arrays, i, j, model)
    seq = arrays.seq
    return {
        (min(int(seq[a]), int(seq[b])), max(int(seq[a]), int(seq[b])))
        for a, b in zip(i[scored["is_edge"]], j[scored["is_edge"]], strict=True)
    }
