"""Compiled average linkage over a sparse edge graph (numba).

Imported lazily by :mod:`cleanapp_geo.grouping`. The tests compare it with a plain-Python
reference that merges the best pair of groups by exact rational means.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def average_linkage(
    n: int,
    edge_i: np.ndarray,
    edge_j: np.ndarray,
    edge_weight: np.ndarray,
    key: np.ndarray,
    cut: int,
) -> np.ndarray:
    """Average-linkage groups of ``n`` nodes joined by weighted edges.

    Starting from single nodes, the two groups with the highest mean cross weight (the
    sum of the weights of the edges between them over the product of their sizes; a pair
    without an edge weighs 0) merge, while that mean is at least ``cut``. Ties go to the
    pair of groups with the smallest ``key`` (a group's key is its members' least key),
    then the next smallest, so the result depends on the keys and weights only, never on
    the order of nodes or edges.

    Parameters
    ----------
    n : int
        Number of nodes.
    edge_i, edge_j : numpy.ndarray
        int64 endpoints of each edge (each unordered pair at most once, no loops).
    edge_weight : numpy.ndarray
        int64 edge weights (scores rounded to integers, so sums are exact).
    key : numpy.ndarray
        Distinct int64 keys of the nodes (report seqs).
    cut : int
        Least mean cross weight of a merge.

    Returns
    -------
    numpy.ndarray
        int64 group of each node: the node index of one of its members.
    """
    m = edge_i.shape[0]
    parent = np.arange(n).astype(np.int32)
    size = np.ones(n, np.int64)
    version = np.zeros(n, np.int64)
    group_key = key.copy()
    # Adjacency lists as linked entries: each edge appears once per endpoint.
    head = np.full(n, -1, np.int32)
    next_entry = np.empty(2 * m, np.int32)
    neighbour = np.empty(2 * m, np.int32)
    weight = np.empty(2 * m, np.int64)
    for e in range(m):
        a, b = edge_i[e], edge_j[e]
        for slot, x, y in ((2 * e, a, b), (2 * e + 1, b, a)):
            neighbour[slot] = y
            weight[slot] = edge_weight[e]
            next_entry[slot] = head[x]
            head[x] = slot
    cut_f = float(cut)
    heap = [(0.0, np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()
    for e in range(m):
        a, b = edge_i[e], edge_j[e]
        if float(edge_weight[e]) >= cut_f:
            low, high = min(key[a], key[b]), max(key[a], key[b])
            heap.append(
                (-float(edge_weight[e]), low, high, np.int64(a), np.int64(b), np.int64(0),
                 np.int64(0))
            )  # fmt: skip
    heapq.heapify(heap)
    # Scratch space for summing a merged group's weights per neighbouring group.
    total = np.zeros(n, np.int64)
    stamp = np.full(n, -1, np.int64)
    touched = np.empty(n, np.int32)
    slots = np.empty(2 * m, np.int32)
    merges = 0
    while heap:
        _, _, _, a, b, version_a, version_b = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b:
            continue
        if version[a] != version_a or version[b] != version_b:
            continue
        # Merge b into a.
        parent[b] = a
        size[a] += size[b]
        group_key[a] = min(group_key[a], group_key[b])
        version[a] += 1
        merges += 1
        n_touched = 0
        n_slots = 0
        for start in (head[a], head[b]):
            slot = start
            while slot != -1:
                slots[n_slots] = slot
                n_slots += 1
                c = _find(parent, neighbour[slot])
                if c != a:
                    if stamp[c] != merges:
                        stamp[c] = merges
                        total[c] = 0
                        touched[n_touched] = c
                        n_touched += 1
                    total[c] += weight[slot]
                slot = next_entry[slot]
        # The merged group's list: one entry per neighbouring group, in recycled slots.
        head[a] = -1
        head[b] = -1
        for t in range(n_touched):
            c = touched[t]
            slot = slots[t]
            neighbour[slot] = c
            weight[slot] = total[c]
            next_entry[slot] = head[a]
            head[a] = slot
            pairs = float(size[a]) * float(size[c])
            if float(total[c]) >= cut_f * pairs:
                low, high = min(group_key[a], group_key[c]), max(group_key[a], group_key[c])
                heapq.heappush(
                    heap,
                    (-float(total[c]) / pairs, low, high, np.int64(a), np.int64(c),
                     version[a], version[c]),
                )  # fmt: skip
    groups = np.empty(n, np.int64)
    for x in range(n):
        groups[x] = _find(parent, x)
    return groups
