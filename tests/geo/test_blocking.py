"""The compiled set-similarity join and the equality blocks of the text route."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cleanapp_geo as cg
from cleanapp_geo import _join_accel
from cleanapp_geo.arrays import prepare_reports
from cleanapp_geo.blocking import _jaccard_join, _text_blocks, _text_pairs, plan_candidates
from cleanapp_geo.synthetic import make_reports
from cleanapp_geo.text import TextFeatures

TOKEN_SETS = st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=7), max_size=30)


def _reference_pairs(sets: list[set[str]], min_jaccard: float) -> set[tuple[int, int]]:
    return {
        (a, b)
        for a, b in itertools.combinations(range(len(sets)), 2)
        if sets[a] and sets[b] and len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= min_jaccard
    }


@given(texts=TOKEN_SETS, min_jaccard=st.sampled_from([0.01, 0.15, 0.34, 0.5, 1.0]))
def test_jaccard_join_equals_all_pairs_reference(texts, min_jaccard):
    features = TextFeatures.from_texts(
        [" ".join(t) for t in texts], stop_words=(), min_token_chars=1
    )
    pairs = _jaccard_join(features, min_jaccard)
    assert {(int(a), int(b)) for a, b in pairs} == _reference_pairs(
        [set(t) for t in texts], min_jaccard - 1e-9
    )
    assert len(pairs) == len({tuple(p) for p in pairs.tolist()})  # each pair once
    assert np.all(pairs[:, 0] < pairs[:, 1]) if len(pairs) else True


@pytest.fixture(scope="module")
def city_arrays():
    reports = make_reports(6_000, seed=3)
    return prepare_reports(reports, cg.UPSTREAM_MODEL, spatial_order=True)


def test_threaded_join_equals_one_thread(city_arrays):
    text = city_arrays.text
    token_ptr, token_rows = _join_accel.postings(text.indptr, text.indices, len(text.vocabulary))
    one = _join_accel.jaccard_join(text.indptr, text.indices, token_ptr, token_rows, 0.15)
    threaded = _jaccard_join(text, 0.15 + 1e-9)  # 6,000 reports: above the thread cut-off
    assert len(one[0]) > 100
    assert set(zip(*one, strict=True)) == {tuple(p) for p in threaded.tolist()}


def test_blocked_text_join_keeps_exactly_the_pairs_sharing_a_block(city_arrays):
    arrays = city_arrays
    everything = _text_pairs(arrays, 0.15)
    i, j = everything[:, 0], everything[:, 1]
    same_class = arrays.classification[i] == arrays.classification[j]
    same_brand = (arrays.brand[i] >= 0) & (arrays.brand[i] == arrays.brand[j])
    expected = {tuple(p) for p in everything[same_class | same_brand].tolist()}
    blocked = _text_pairs(arrays, 0.15, (("classification",), ("brand",)))
    assert {tuple(p) for p in blocked.tolist()} == expected
    both = _text_pairs(arrays, 0.15, (("classification", "brand"),))
    assert {tuple(p) for p in both.tolist()} == {
        tuple(p) for p in everything[same_class & same_brand].tolist()
    }


def test_text_blocks_follow_the_weights():
    # Upstream: text + classification or text + severity + brand reach 0.55.
    assert _text_blocks(cg.UPSTREAM_MODEL, 0.0) == (("classification",), ("brand",))
    needs_class = cg.UPSTREAM_MODEL.with_weights(brand=0.0, severity=0.0)  # 0.25/0.5/0.25
    assert _text_blocks(needs_class, 0.0) == (("classification",),)
    # With a location budget large enough, nothing is required.
    assert _text_blocks(cg.UPSTREAM_MODEL, 0.2) == ((),)
    assert plan_candidates(
        prepare_reports(make_reports(50, seed=1), cg.UPSTREAM_MODEL), cg.UPSTREAM_MODEL
    ).text_blocks == (("classification",), ("brand",))


@given(
    points=st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 3)), max_size=60
    ),
    radius=st.sampled_from([1.0, 5.0, 7.5, 30.0]),
    threads=st.sampled_from([1, 2]),
)
def test_grid_radius_join_equals_kdtree(points, radius, threads):
    # Integer coordinates put many points exactly on cell faces and at distance radius.
    from scipy.spatial import cKDTree

    xyz = np.array(points, dtype=np.float64).reshape(-1, 3)
    lower, higher = _join_accel.radius_pairs(xyz, radius, threads=threads)
    expected = cKDTree(xyz).query_pairs(radius) if len(xyz) else set()
    assert sorted(zip(lower.tolist(), higher.tolist(), strict=True)) == sorted(expected)


def test_grid_radius_join_declines_grids_too_fine_for_64_bit_keys():
    xyz = np.array([[-6.4e6, -6.4e6, -6.4e6], [6.4e6, 6.4e6, 6.4e6], [0.0, 0.0, 0.0]])
    assert _join_accel.radius_pairs(xyz, 1e-3) is None


@given(
    pairs=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=80),
)
def test_candidate_graph_holds_each_pair_once_in_order(pairs):
    from cleanapp_geo.blocking import CandidateGraph

    pairs = [(a, b) for a, b in pairs if a < b]
    lower = np.array([a for a, _ in pairs], dtype=np.int32)
    higher = np.array([b for _, b in pairs], dtype=np.int32)
    graph = CandidateGraph.from_pairs(lower, higher, 13)
    expected = sorted(set(pairs))
    assert [tuple(p) for p in graph.pairs().tolist()] == expected
    assert len(graph) == len(expected)
    chunked = [p for i, j in graph.chunks(3) for p in zip(i.tolist(), j.tolist(), strict=True)]
    assert chunked == expected
