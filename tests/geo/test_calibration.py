"""Tests for cleanapp_geo.calibration: fitting, bands, the bundled calibrations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import cleanapp_geo as cg
from cleanapp_geo.calibrate import case_probe
from cleanapp_geo.calibration import (
    AUTO_PRECISION,
    MatchCalibration,
    case_calibration,
    fit_calibration,
    load_calibrations,
    match_band,
    pair_calibration,
)


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    p = 1 / (1 + np.exp(-(score - 0.6) * 25))
    return score, rng.random(n) < p


@pytest.fixture(scope="module")
def fitted() -> MatchCalibration:
    return fit_calibration(
        *_sample(20_000, 1), *_sample(20_000, 2), kind="pair", fitted_on={"note": "test"}
    )


def test_probability_is_a_monotone_step_function(fitted: MatchCalibration) -> None:
    grid = np.linspace(-0.5, 1.5, 401)
    p = fitted.probability(grid)
    assert (np.diff(p) >= 0).all()
    assert p.min() >= 0.0 and p.max() <= 1.0
    assert fitted.probability(0.0) < 0.05 < 0.95 < fitted.probability(1.0)


def test_auto_band_reaches_its_precision_on_held_out_data(fitted: MatchCalibration) -> None:
    assert fitted.metrics["cut_auto_precision"] >= AUTO_PRECISION
    assert fitted.metrics["auto_precision"] >= AUTO_PRECISION - 0.01  # third sample
    assert fitted.auto_min_probability >= fitted.review_min_probability >= 0.1
    assert fitted.auto_min_score >= fitted.review_min_score


def test_bands_agree_with_band_and_match_band(fitted: MatchCalibration) -> None:
    scores = np.linspace(0, 1, 101)
    bands = fitted.bands(scores)
    assert [fitted.band(s) for s in scores] == bands.tolist()
    assert bands[0] == "new" and bands[-1] == "auto"
    order = {"new": 0, "review": 1, "auto": 2}
    assert all(order[a] <= order[b] for a, b in itertools.pairwise(bands))
    assert fitted.band(fitted.auto_min_score) == "auto"
    assert fitted.band(np.nextafter(fitted.auto_min_score, -1)) != "auto"
    assert match_band(fitted.auto_min_probability, calibration=fitted) == "auto"


def test_round_trip(fitted: MatchCalibration) -> None:
    assert MatchCalibration.from_dict(fitted.to_dict()) == fitted


def test_unreachable_precision_is_an_error() -> None:
    rng = np.random.default_rng(0)
    score, label = rng.random(5_000), rng.random(5_000) < 0.5  # no signal
    with pytest.raises(ValueError, match="precision"):
        fit_calibration(score, label, score, label, kind="pair")


def test_bundled_calibrations_load() -> None:
    both = load_calibrations()
    assert set(both) == {"pair", "case"}
    for kind, cal in both.items():
        assert cal.kind == kind
        assert cal.metrics["cut_auto_precision"] >= AUTO_PRECISION
        assert cal.band(1.0) == "auto"
        assert cal.band(0.0) == "new"
    assert match_band(0.0) == "new"
    assert match_band(1.0) == "auto"


def test_pair_calibration_is_for_the_current_default_model() -> None:
    """Changing DEFAULT_MODEL needs `python -m benchmarks calibrate` (see datasets/README)."""
    fitted = cg.SimilarityModel.from_dict(pair_calibration().fitted_on["model"])
    assert fitted == cg.DEFAULT_MODEL


def test_case_calibration_matches_the_current_matching_score() -> None:
    """Changing the case-match score needs `python -m benchmarks calibrate`."""
    stored = case_calibration().fitted_on["probe"]
    assert stored, "the bundled calibration has no probe"
    assert case_probe() == stored


def test_matching_uses_the_calibrated_band() -> None:
    from cleanapp_geo import matching

    cal = case_calibration()
    assert matching.match_band(cal.auto_min_score) == "auto"
    assert matching.match_band(min(cal.review_min_score, cal.auto_min_score) - 1e-9) != "auto"
