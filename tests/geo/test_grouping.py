"""Grouping of scored edges: connected components and average linkage."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import BASE_TS, report_frames

import cleanapp_geo as cg
from cleanapp_geo.grouping import SCORE_RESOLUTION, group_labels


def reference_average_linkage(n, edges, keys, min_mean_score):
    """Greedy average linkage written from its definition, in exact rational arithmetic.

    Repeatedly merge the two groups with at least one edge between them whose mean cross
    weight (sum of the rounded edge scores over the product of the sizes) is highest,
    ties to the smallest pair of group keys, while that mean reaches the cut.
    """
    weight = {
        frozenset((i, j)): math.floor(score * SCORE_RESOLUTION + 0.5) for i, j, score in edges
    }
    cut = max(1, math.floor(min_mean_score * SCORE_RESOLUTION))
    groups = [frozenset([x]) for x in range(n)]
    while True:
        best = None
        for a, b in itertools.combinations(groups, 2):
            cross = [frozenset((x, y)) for x in a for y in b]
            if not any(pair in weight for pair in cross):
                continue
            mean = Fraction(sum(weight.get(pair, 0) for pair in cross), len(a) * len(b))
            if mean < cut:
                continue
            key_a, key_b = min(keys[x] for x in a), min(keys[x] for x in b)
            rank = (mean, -min(key_a, key_b), -max(key_a, key_b))
            if best is None or rank > best[0]:
                best = (rank, a, b)
        if best is None:
            return groups
        _, a, b = best
        groups = [g for g in groups if g not in (a, b)] + [a | b]


def partition(labels, keys):
    """The groups as a set of frozensets of keys (independent of label numbering)."""
    by_label = {}
    for label, key in zip(labels, keys, strict=True):
        by_label.setdefault(int(label), set()).add(int(key))
    return {frozenset(g) for g in by_label.values()}


@st.composite
def edge_graphs(draw, max_nodes=9):
    n = draw(st.integers(1, max_nodes))
    keys = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    pairs = list(itertools.combinations(range(n), 2))
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    scores = draw(
        st.lists(
            st.sampled_from([0.55, 0.6, 0.6, 0.7, 0.75, 0.9, 1.0]),
            min_size=len(chosen),
            max_size=len(chosen),
        )
    )
    edges = [(i, j, s) for (i, j), s in zip(chosen, scores, strict=True)]
    return n, edges, np.array(keys, dtype=np.int64)


def run(n, edges, keys, grouping, min_mean_score=None):
    i = np.array([e[0] for e in edges], dtype=np.int64)
    j = np.array([e[1] for e in edges], dtype=np.int64)
    score = np.array([e[2] for e in edges], dtype=np.float64)
    return group_labels(n, i, j, score, keys, grouping=grouping, min_mean_score=min_mean_score)


def components(n, edges):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j, _ in edges:
        parent[find(i)] = find(j)
    return [find(x) for x in range(n)]


@given(graph=edge_graphs(), cut=st.sampled_from([0.6, 0.5, 0.3, 0.15, 0.05]))
def test_average_linkage_equals_the_reference(graph, cut):
    n, edges, keys = graph
    expected = {
        frozenset(int(keys[x]) for x in g) for g in reference_average_linkage(n, edges, keys, cut)
    }
    assert partition(run(n, edges, keys, "average", cut), keys) == expected


@given(
    graph=edge_graphs(max_nodes=14),
    cut=st.sampled_from([0.6, 0.3, 0.05]),
    seed=st.integers(0, 2**16),
)
def test_average_linkage_does_not_depend_on_node_or_edge_order(graph, cut, seed):
    n, edges, keys = graph
    rng = np.random.default_rng(seed)
    relabel = rng.permutation(n)
    shuffled = [(int(relabel[i]), int(relabel[j]), s) for i, j, s in edges]
    shuffled = [shuffled[k] for k in rng.permutation(len(shuffled))]
    shuffled = [(j, i, s) if rng.random() < 0.5 else (i, j, s) for i, j, s in shuffled]
    new_keys = np.empty(n, dtype=np.int64)
    new_keys[relabel] = keys
    first = partition(run(n, edges, keys, "average", cut), keys)
    again = partition(run(n, edges, keys, "average", cut), keys)
    assert first == again == partition(run(n, shuffled, new_keys, "average", cut), new_keys)


@given(graph=edge_graphs(max_nodes=14), cut=st.sampled_from([1.0, 0.5, 0.01, 1e-12]))
def test_groups_never_join_reports_without_a_path_of_edges(graph, cut):
    n, edges, keys = graph
    component = components(n, edges)
    for grouping in ("connected", "average"):
        labels = run(n, edges, keys, grouping, cut)
        for a, b in itertools.combinations(range(n), 2):
            if labels[a] == labels[b]:
                assert component[a] == component[b]
    # Connected components are exactly the components; average linkage refines them.
    assert partition(run(n, edges, keys, "connected"), keys) == partition(component, keys)


def test_a_chain_along_a_street_is_not_one_group():
    # 1-2-3-4-5 each 0.9 to the next only: single linkage chains all five.
    n, keys = 5, np.arange(1, 6)
    edges = [(k, k + 1, 0.9) for k in range(4)]
    assert len(partition(run(n, edges, keys, "connected"), keys)) == 1
    groups = partition(run(n, edges, keys, "average", 0.6), keys)
    assert groups == {frozenset({1, 2}), frozenset({3, 4}), frozenset({5})}


def test_a_clique_is_one_group_and_a_weak_bridge_does_not_join_two():
    # Two triangles (all pairs 0.9) joined by one edge 2-3 of 0.7.
    keys = np.arange(1, 7)
    tri = [(0, 1, 0.9), (0, 2, 0.9), (1, 2, 0.9), (3, 4, 0.9), (3, 5, 0.9), (4, 5, 0.9)]
    groups = partition(run(6, [*tri, (2, 3, 0.7)], keys, "average", 0.3), keys)
    assert groups == {frozenset({1, 2, 3}), frozenset({4, 5, 6})}


def test_group_labels_refuses_unknown_grouping_and_bad_cut():
    one = np.array([0])
    with pytest.raises(cg.InvalidModelError, match="grouping must be"):
        group_labels(2, one, one + 1, np.array([0.9]), np.arange(2), grouping="ward")
    with pytest.raises(cg.InvalidModelError, match=r"min_mean_score in \(0, 1\]"):
        group_labels(2, one, one + 1, np.array([0.9]), np.arange(2), grouping="average")


@given(reports=report_frames(), seed=st.integers(0, 2**16))
def test_analysis_with_average_linkage_does_not_depend_on_row_order(reports, seed):
    model = cg.SimilarityModel(
        weight_classification=0.2,
        weight_severity=0.1,
        weight_text=0.3,
        weight_location=0.3,
        weight_brand=0.0,
        weight_time=0.1,
        location_kernel="exp",
        text_kernel="jaccard",
        text_saturation=0.5,
        threshold=0.6,
        radius_gate_m=200.0,
        missing="ignore",
        grouping="average",
        linkage_cut=0.5,
    )
    shuffled = reports.sample(frac=1.0, random_state=seed)
    first = cg.analyze(reports, model=model, now=BASE_TS)
    second = cg.analyze(shuffled, model=model, now=BASE_TS)
    assert [h.report_seqs for h in first.hypotheses] == [h.report_seqs for h in second.hypotheses]
    edges = first.edges
    linked = set(edges.index.tolist())
    for h in first.hypotheses:
        # every member has an edge inside its group, and rationale comes from inside edges
        seqs = set(h.report_seqs)
        if len(seqs) > 1:
            for s in seqs:
                assert any((min(s, t), max(s, t)) in linked for t in seqs - {s})
