"""The similarity model: presets, validation, weights and round trips."""

from __future__ import annotations

import math

import pytest

import cleanapp_geo as cg
from cleanapp_geo.model import FEATURES, OPTIONAL_FEATURES, REASONS


def test_upstream_preset_is_the_go_system():
    m = cg.UPSTREAM_MODEL
    assert [m.weights[f] for f in FEATURES] == [0.2, 0.1, 0.4, 0.2, 0.1, 0.0, 0.0]
    assert (m.threshold, m.radius_gate_m, m.vocabulary) == (0.55, None, "upstream")
    assert (m.severity_kernel, m.text_kernel, m.location_kernel) == ("step", "step", "step")
    assert (m.missing, m.grouping) == ("no_match", "connected")


@pytest.mark.parametrize("model", [cg.UPSTREAM_MODEL, cg.DEFAULT_MODEL])
def test_presets_weights_sum_to_one_and_round_trip(model):
    assert math.fsum(model.weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert cg.SimilarityModel.from_dict(model.to_dict()) == model
    assert set(model.weights) == set(FEATURES) == set(REASONS)


def test_default_keeps_two_311_requests_of_different_categories_apart():
    # Location and time are all a 311 request has besides its category: their weights
    # together stay below the threshold, so only a shared category can make an edge.
    m = cg.DEFAULT_MODEL
    assert m.weights["location"] + m.weights["time"] < m.threshold
    assert m.weights["location"] + m.weights["time"] + m.weights["category"] >= m.threshold
    assert m.radius_gate_m is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight_text": -0.1, "weight_location": 0.7}, "weight_text must be a finite number >= 0"),
        ({"weight_text": 0.9}, r"weights must sum to 1 .* got 1\.5"),
        ({"text_kernel": "cosine"}, r"text_kernel must be one of \['step', 'jaccard'\]"),
        ({"missing": "zero"}, r"missing must be one of \['no_match', 'ignore'\]"),
        ({"grouping": "ward"}, r"grouping must be one of \['connected', 'average'\]"),
        ({"linkage_cut": 0.0}, r"linkage_cut must lie in \(0, 1\], got 0\.0"),
        ({"threshold": 1.5}, r"threshold must lie in \(0, 1\], got 1\.5"),
        ({"radius_gate_m": -5.0}, "radius_gate_m must be None or a number > 0"),
        ({"location_scale_m": math.inf}, "location_scale_m must be a finite number > 0"),
        ({"severity_max_diff": 2.0}, r"severity_max_diff must lie in \[0, 1\]"),
        ({"min_token_chars": 0}, "min_token_chars must be an integer >= 1"),
    ],
)
def test_invalid_models_say_what_was_expected(changes, message):
    with pytest.raises(cg.InvalidModelError, match=message):
        cg.SimilarityModel(**changes)


def test_with_weights_normalises_and_keeps_the_rest():
    m = cg.UPSTREAM_MODEL.with_weights(category=1.0)
    assert m.weights["category"] == pytest.approx(0.5)
    assert m.weights["text"] == pytest.approx(0.2)
    assert m.threshold == cg.UPSTREAM_MODEL.threshold
    with pytest.raises(cg.InvalidModelError, match=r"unknown features \['colour'\]"):
        cg.UPSTREAM_MODEL.with_weights(colour=1.0)
    with pytest.raises(cg.InvalidModelError, match="at least one weight must be positive"):
        cg.UPSTREAM_MODEL.with_weights(**dict.fromkeys(FEATURES, 0.0))


def test_from_dict_refuses_unknown_parameters():
    with pytest.raises(cg.InvalidModelError, match=r"unknown model parameters \['colour'\]"):
        cg.SimilarityModel.from_dict({**cg.DEFAULT_MODEL.to_dict(), "colour": "red"})


def test_optional_features_are_those_that_may_be_unknown():
    assert set(OPTIONAL_FEATURES) == set(FEATURES) - {"location", "time"}
