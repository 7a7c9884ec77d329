"""Compiled set-similarity join (numba): all report pairs whose token sets are similar.

Imported lazily by :mod:`cleanapp_geo.blocking` on first use.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["jaccard_join", "postings"]


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
