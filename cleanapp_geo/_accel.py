"""Compiled inner loops (numba) for tokenization and pair scoring.

Imported lazily by :mod:`cleanapp_geo.text` and :mod:`cleanapp_geo.similarity` on first
use, so ``import cleanapp_geo`` stays light. Each kernel mirrors a documented formula; the
tests compare them with plain-Python references.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@numba.njit(cache=True, nogil=True)
def ascii_token_spans(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Token spans of translated ASCII bytes (0 separator, 1 document mark, else a char).

    Returns start, length, owning document and FNV-1a hash of every token.
    """
    n = chars.shape[0]
    count = 0
    inside = False
    for k in range(n):
        c = chars[k]
        if c > 1:
            if not inside:
                count += 1
                inside = True
        else:
            inside = False
    starts = np.empty(count, np.int64)
    lengths = np.empty(count, np.int64)
    docs = np.empty(count, np.int64)
    hashes = np.empty(count, np.uint64)
    t = -1
    doc = 0
    inside = False
    h = _FNV_OFFSET
    for k in range(n):
        c = chars[k]
        if c > 1:
            if not inside:
                t += 1
                starts[t] = k
                docs[t] = doc
                h = _FNV_OFFSET
                inside = True
            h = (h ^ np.uint64(c)) * _FNV_PRIME
        else:
            if inside:
                lengths[t] = k - starts[t]
                hashes[t] = h
                inside = False
            if c == 1:
                doc += 1
    if inside:
        lengths[t] = n - starts[t]
        hashes[t] = h
    return starts, lengths, docs, hashes


@numba.njit(cache=True, nogil=True)
def spans_equal_representatives(
    chars: np.ndarray, starts: np.ndarray, lengths: np.ndarray, codes: np.ndarray, first: np.ndarray
) -> bool:
    """Check that every token equals, byte for byte, the first token of its code."""
    for t in range(starts.shape[0]):
        r = first[codes[t]]
        if lengths[t] != lengths[r]:
            return False
        a = starts[t]
        b = starts[r]
        for k in range(lengths[t]):
            if chars[a + k] != chars[b + k]:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def sorted_overlap(
    indptr: np.ndarray, indices: np.ndarray, a: np.int64, b: np.int64
) -> tuple[int, int, int]:
    """Overlap and sizes of two sorted token-id runs of a CSR layout."""
    p, p_end = indptr[a], indptr[a + 1]
    q, q_end = indptr[b], indptr[b + 1]
    overlap = 0
    while p < p_end and q < q_end:
        x = indices[p]
        y = indices[q]
        if x == y:
            overlap += 1
            p += 1
            q += 1
        elif x < y:
            p += 1
        else:
            q += 1
    return overlap, indptr[a + 1] - indptr[a], indptr[b + 1] - indptr[b]


# Indices into the ``params`` vector of :func:`pair_kernels`.
P_W_CLS, P_W_SEV, P_W_TEXT, P_W_LOC, P_W_BRAND, P_W_TIME = 0, 1, 2, 3, 4, 5
P_THRESHOLD, P_SEV_MAX, P_TEXT_MIN, P_TEXT_SAT = 6, 7, 8, 9
P_LOC_MAX, P_LOC_SCALE, P_TIME_MAX, P_TIME_SCALE, P_MARGIN, P_EARTH = 10, 11, 12, 13, 14, 15
N_PARAMS = 16
# Indices into ``flags``: 1 when the feature uses its step kernel.
F_SEV_STEP, F_TEXT_STEP, F_LOC_STEP, F_TIME_STEP = 0, 1, 2, 3
# Columns of the kernel matrix, in summation order.
K_CLS, K_SEV, K_TEXT, K_LOC, K_BRAND, K_TIME = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True, nogil=True)
def pair_kernels(
    i: np.ndarray,
    j: np.ndarray,
    xyz: np.ndarray,
    severity: np.ndarray,
    classification: np.ndarray,
    brand: np.ndarray,
    ts_ns: np.ndarray,
    text_row: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    params: np.ndarray,
    flags: np.ndarray,
    force_text: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kernel values of report pairs, fused in one pass.

    Returns ``(kernels (m, 6), distance_m, severity_diff, time_diff_s, jaccard,
    needs_text)``. The text kernel is computed only where the other features plus a
    perfect text match could reach the threshold (``needs_text``), or everywhere with
    ``force_text``; ``jaccard`` is NaN where it was not computed or where a report has no
    text row (``text_row`` -1), and the text kernel is then 0.
    """
    m = i.shape[0]
    kernels = np.zeros((m, 6), np.float64)
    distance = np.empty(m, np.float64)
    severity_diff = np.empty(m, np.float64)
    time_diff = np.empty(m, np.float64)
    jaccard = np.full(m, np.nan, np.float64)
    needs_text = np.zeros(m, np.bool_)
    radius = params[P_EARTH]
    for k in range(m):
        a = i[k]
        b = j[k]
        # Haversine from the chord: h = sin²(θ/2) = (chord / 2R)², d = 2R·atan2(√h, √(1-h)).
        dx = xyz[a, 0] - xyz[b, 0]
        dy = xyz[a, 1] - xyz[b, 1]
        dz = xyz[a, 2] - xyz[b, 2]
        h = min((dx * dx + dy * dy + dz * dz) / (4 * radius * radius), 1.0)
        d = 2 * radius * math.atan2(math.sqrt(h), math.sqrt(1 - h))
        distance[k] = d
        ds = abs(severity[a] - severity[b])
        severity_diff[k] = ds
        dt = abs(ts_ns[a] - ts_ns[b]) / 1e9
        time_diff[k] = dt
        kernels[k, K_CLS] = 1.0 if classification[a] == classification[b] else 0.0
        if flags[F_SEV_STEP]:
            kernels[k, K_SEV] = 1.0 if ds <= params[P_SEV_MAX] else 0.0
        else:
            kernels[k, K_SEV] = 1.0 - ds
        if flags[F_LOC_STEP]:
            kernels[k, K_LOC] = 1.0 if d < params[P_LOC_MAX] else 0.0
        else:
            kernels[k, K_LOC] = math.exp(-d / params[P_LOC_SCALE])
        kernels[k, K_BRAND] = 1.0 if (brand[a] >= 0 and brand[a] == brand[b]) else 0.0
        if flags[F_TIME_STEP]:
            kernels[k, K_TIME] = 1.0 if dt <= params[P_TIME_MAX] else 0.0
        else:
            kernels[k, K_TIME] = math.exp(-dt / params[P_TIME_SCALE])
        best = (
            params[P_W_CLS] * kernels[k, K_CLS]
            + params[P_W_SEV] * kernels[k, K_SEV]
            + params[P_W_LOC] * kernels[k, K_LOC]
            + params[P_W_BRAND] * kernels[k, K_BRAND]
            + params[P_W_TIME] * kernels[k, K_TIME]
            + params[P_W_TEXT]
        )
        need = params[P_W_TEXT] > 0 and best >= params[P_THRESHOLD] - params[P_MARGIN]
        needs_text[k] = need
        if not (need or force_text):
            continue
        ra = text_row[a]
        rb = text_row[b]
        if ra < 0 or rb < 0:
            continue
        overlap, size_a, size_b = sorted_overlap(indptr, indices, ra, rb)
        union = size_a + size_b - overlap
        jac = overlap / union if (size_a > 0 and size_b > 0 and union > 0) else 0.0
        jaccard[k] = jac
        if flags[F_TEXT_STEP]:
            kernels[k, K_TEXT] = 1.0 if jac > params[P_TEXT_MIN] else 0.0
        else:
            kernels[k, K_TEXT] = min(1.0, jac / params[P_TEXT_SAT])
    return kernels, distance, severity_diff, time_diff, jaccard, needs_text
