"""The upstream worked example, shared by library and API tests."""

from __future__ import annotations

from typing import Any

import pandas as pd


def zurich_records(now: pd.Timestamp) -> list[dict[str, Any]]:
    """Upstream test T1: three physical reports of the 'Zurich School'."""
    brand = {"brand_display_name": "Zurich School", "classification": "physical", "language": "en"}
    return [
        {
            "seq": 101, "ts": now - pd.Timedelta(hours=2), "latitude": 47.3769,
            "longitude": 8.5417, "severity_level": 0.92,
            "title": "Facade bricks falling over school entrance",
            "summary": "Loose facade bricks above the main school entrance.",
            "description": "Several facade bricks are unstable over a walkway used by children.",
            **brand,
        },
        {
            "seq": 102, "ts": now - pd.Timedelta(minutes=90), "latitude": 47.3770,
            "longitude": 8.5418, "severity_level": 0.88,
            "title": "Masonry risk above school facade",
            "summary": "Facade bricks look loose above the same school walkway.",
            "description": "Potential brick fall risk near the school entrance.",
            **brand,
        },
        {
            "seq": 103, "ts": now - pd.Timedelta(minutes=30), "latitude": 47.39,
            "longitude": 8.55, "severity_level": 0.55,
            "title": "Broken playground fence",
            "summary": "Fence panel detached near sports field.",
            "description": "Separate hazard away from the facade issue.",
            **brand,
        },
    ]  # fmt: skip
