"""Compiled joins (numba): report pairs with similar token sets, or within a radius.

Imported lazily by :mod:`cleanapp_geo.blocking` on first use.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cleanapp_geo._text_accel import resized

__all__ = ["jaccard_join", "pairs_to_csr", "postings", "radius_pairs"]


def postings(
    indptr: np.ndarray, indices: np.ndarray, n_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverted index of a CSR token layout: ``(token_ptr, rows)``, rows ascending per token."""
    rows_of_entries = np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    token_ptr = np.zeros(n_tokens + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_tokens), out=token_ptr[1:])
    return token_ptr, rows_of_entries[order]


def jaccard_join(
    indptr: np.ndarray,
    indices: np.ndarray,
    token_ptr: np.ndarray,
    token_rows: np.ndarray,
    min_jaccard: float,
    first_row: int = 0,
    row_step: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(y, x)``, ``y < x``, whose token sets have ``Jaccard >= min_jaccard``.

    Rows ``x = first_row, first_row + row_step, …`` are probed (so two threads can share
    the rows). For each, the exact overlap with every earlier row sharing a token is
    counted in a dense accumulator from the inverted index (:func:`postings`), then
    tested as ``overlap · (1 + t) >= t · (|x| + |y|)``, which is ``Jaccard >= t`` without
    a division. ``min_jaccard`` must be positive (a pair sharing no token is never found).
    """
    left = np.empty(1 << 16, np.int64)
    right = np.empty(1 << 16, np.int64)
    row, n_pairs = first_row, 0
    while True:
        row, n_pairs = _join_rows(
            indptr, indices, token_ptr, token_rows, min_jaccard, row, row_step, left, right,
            n_pairs,
        )  # fmt: skip
        if row >= len(indptr) - 1:
            return left[:n_pairs], right[:n_pairs]
        left = np.concatenate((left, np.empty_like(left)))
        right = np.concatenate((right, np.empty_like(right)))


@numba.njit(cache=True, nogil=True)
def _join_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    token_ptr: np.ndarray,
    token_rows: np.ndarray,
    t: float,
    first_row: int,
    row_step: int,
    left: np.ndarray,
    right: np.ndarray,
    n_pairs: int,
) -> tuple[int, int]:
    """Probe rows from ``first_row`` on, appending pairs at ``n_pairs``.

    Returns the row to resume at (past the last row when done) and the new pair count.
    Stops before a row whose pairs might not fit (the caller grows ``left``/``right``).
    """
    n = len(indptr) - 1
    overlap = np.zeros(n, np.int32)
    touched = np.empty(n, np.int64)
    for x in range(first_row, n, row_step):
        size_x = indptr[x + 1] - indptr[x]
        # Jaccard >= t needs overlap >= t·|x| (as |y| >= overlap): only rows reaching that
        # count are listed, which keeps the hot loop free of an unpredictable branch.
        needed = max(1, math.ceil(t * size_x - 1e-9))
        n_touched = 0
        for p in range(indptr[x], indptr[x + 1]):
            token = indices[p]
            for q in range(token_ptr[token], token_ptr[token + 1]):
                y = token_rows[q]
                if y >= x:
                    break
                count = overlap[y] + 1
                overlap[y] = count
                if count == needed:
                    touched[n_touched] = y
                    n_touched += 1
        fits = n_pairs + n_touched <= len(left)
        if fits:
            for k in range(n_touched):
                y = touched[k]
                if overlap[y] * (1 + t) >= t * (size_x + indptr[y + 1] - indptr[y]):
                    left[n_pairs] = y
                    right[n_pairs] = x
                    n_pairs += 1
        for p in range(indptr[x], indptr[x + 1]):  # reset every count of this row
            token = indices[p]
            for q in range(token_ptr[token], token_ptr[token + 1]):
                y = token_rows[q]
                if y >= x:
                    break
                overlap[y] = 0
        if not fits:
            return x, n_pairs
    return n, n_pairs


#: The 13 neighbour cells that follow a cell in key order (half of the 26 around it).
_OFFSETS = np.array(
    [
        (dx, dy, dz)
        for dz in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dz, dy, dx) > (0, 0, 0)
    ],
    dtype=np.int64,
)


def radius_pairs(
    xyz: np.ndarray, radius: float, *, expected_pairs: int = 0, threads: int = 1
) -> tuple[np.ndarray, np.ndarray] | None:
    """All point pairs within ``radius`` (Euclidean) as int32 ``(lower, higher)`` indices.

    A uniform grid of cubes with side ``radius``: each point is compared with the points
    of its own cube and of the 26 around it (each pair of cubes once), so no pair within
    ``radius`` is missed. ``expected_pairs`` sizes the output (it grows when short).
    Returns None when the grid would not fit in 64-bit cell keys (the caller then uses a
    k-d tree).
    """
    n = len(xyz)
    if n < 2 or not radius > 0:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)
    low = xyz.min(axis=0)
    extent = np.floor((xyz.max(axis=0) - low) / radius).astype(np.int64) + 3
    if float(np.prod(extent.astype(np.float64))) >= 2.0**62:
        return None
    cell = np.floor((xyz - low) / radius).astype(np.int64) + 1
    keys = cell[:, 0] + extent[0] * (cell[:, 1] + extent[1] * cell[:, 2])
    del cell
    order = np.argsort(keys, kind="stable").astype(np.int32)
    sorted_keys = keys[order]
    del keys
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    cell_keys = sorted_keys[starts]
    cell_ptr = np.append(starts, n).astype(np.int64)
    steps = _OFFSETS[:, 0] + extent[0] * (_OFFSETS[:, 1] + extent[1] * _OFFSETS[:, 2])
    points = np.ascontiguousarray(xyz[order])

    def run(first_cell: int) -> tuple[np.ndarray, np.ndarray]:
        capacity = max(1 << 16, int(1.05 * expected_pairs / threads))
        lower = np.empty(capacity, np.int32)
        higher = np.empty(capacity, np.int32)
        cell_at, n_out = first_cell, 0
        while True:
            cell_at, n_out = _radius_cells(
                points, order, cell_keys, cell_ptr, steps, radius * radius, cell_at, threads,
                lower, higher, n_out,
            )  # fmt: skip
            if cell_at >= len(cell_keys):
                return lower[:n_out], higher[:n_out]
            capacity = capacity + capacity // 2
            lower = resized(lower, capacity, 0)
            higher = resized(higher, capacity, 0)

    if threads == 1:
        return run(0)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(run, range(threads)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@numba.njit(cache=True, nogil=True)
def _radius_cells(
    points: np.ndarray,
    order: np.ndarray,
    cell_keys: np.ndarray,
    cell_ptr: np.ndarray,
    steps: np.ndarray,
    radius_sq: float,
    first_cell: int,
    cell_step: int,
    lower: np.ndarray,
    higher: np.ndarray,
    n_out: int,
) -> tuple[int, int]:
    """Pairs of cells ``first_cell, first_cell + cell_step, …`` and their later neighbours.

    Returns the cell to resume at and the pair count (stops before a cell whose pairs
    might not fit in ``lower``/``higher``).
    """
    n_cells = len(cell_keys)
    neighbours = np.empty(len(steps), np.int64)
    for c in range(first_cell, n_cells, cell_step):
        lo = cell_ptr[c]
        hi = cell_ptr[c + 1]
        # The most pairs this cell can add: its own pairs and one per point of each
        # neighbour cell per point of this cell.
        bound = (hi - lo) * (hi - lo - 1) // 2
        for s in range(len(steps)):
            b = np.searchsorted(cell_keys, cell_keys[c] + steps[s])
            if b < n_cells and cell_keys[b] == cell_keys[c] + steps[s]:
                neighbours[s] = b
                bound += (hi - lo) * (cell_ptr[b + 1] - cell_ptr[b])
            else:
                neighbours[s] = -1
        if n_out + bound > len(lower):
            return c, n_out
        for p in range(lo, hi):
            px = points[p, 0]
            py = points[p, 1]
            pz = points[p, 2]
            a = order[p]
            for s in range(-1, len(steps)):  # -1: the later points of this cell
                if s < 0:
                    q_lo, q_hi = p + 1, hi
                elif neighbours[s] >= 0:
                    q_lo, q_hi = cell_ptr[neighbours[s]], cell_ptr[neighbours[s] + 1]
                else:
                    continue
                for q in range(q_lo, q_hi):
                    dx = points[q, 0] - px
                    dy = points[q, 1] - py
                    dz = points[q, 2] - pz
                    if dx * dx + dy * dy + dz * dz <= radius_sq:
                        b = order[q]
                        lower[n_out] = min(a, b)
                        higher[n_out] = max(a, b)
                        n_out += 1
    return n_cells, n_out


@numba.njit(cache=True, nogil=True)
def pairs_to_csr(lower: np.ndarray, higher: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency of pairs ``lower[k] < higher[k]``: row ``i`` lists its ``j > i``.

    Returns ``(indptr, neighbours)``, each row's neighbours sorted, repeated pairs kept
    once.
    """
    counts = np.zeros(n + 1, np.int64)
    for k in range(len(lower)):
        counts[lower[k] + 1] += 1
    indptr = np.cumsum(counts)
    cursor = indptr[:-1].copy()
    neighbours = np.empty(len(lower), np.int32)
    for k in range(len(lower)):
        row = lower[k]
        neighbours[cursor[row]] = higher[k]
        cursor[row] += 1
    # Sort each row (insertion sort for short rows) and drop repeats, compacting.
    out = 0
    start = 0
    for i in range(n):
        stop = indptr[i + 1]
        if stop - start > 32:
            neighbours[start:stop] = np.sort(neighbours[start:stop])
        else:
            for k in range(start + 1, stop):
                v = neighbours[k]
                p = k - 1
                while p >= start and neighbours[p] > v:
                    neighbours[p + 1] = neighbours[p]
                    p -= 1
                neighbours[p + 1] = v
        row_start = out
        for k in range(start, stop):
            if out == row_start or neighbours[out - 1] != neighbours[k]:
                neighbours[out] = neighbours[k]
                out += 1
        indptr[i] = row_start
        start = stop
    indptr[n] = out
    return indptr, neighbours[:out]
