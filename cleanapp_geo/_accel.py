"""Compiled inner loops (numba) for tokenization and pair scoring.

Imported lazily by :mod:`cleanapp_geo.text` and :mod:`cleanapp_geo.similarity` on first
use, so ``import cleanapp_geo`` stays light. Each kernel mirrors a documented formula; the
tests compare them with plain-Python references.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Indices into the ``params`` vector of :func:`pair_kernels`.
P_W_CLS, P_W_SEV, P_W_TEXT, P_W_LOC, P_W_BRAND, P_W_TIME = 0, 1, 2, 3, 4, 5
P_THRESHOLD, P_SEV_MAX, P_TEXT_MIN, P_TEXT_SAT = 6, 7, 8, 9
P_LOC_MAX, P_LOC_SCALE, P_TIME_MAX, P_TIME_SCALE, P_MARGIN, P_EARTH = 10, 11, 12, 13, 14, 15
P_GATE = 16
N_PARAMS = 17
# Indices into ``flags``: 1 when the feature uses its step kernel.
F_SEV_STEP, F_TEXT_STEP, F_LOC_STEP, F_TIME_STEP = 0, 1, 2, 3
# Columns of the kernel matrix, in summation order.
K_CLS, K_SEV, K_TEXT, K_LOC, K_BRAND, K_TIME = 0, 1, 2, 3, 4, 5
# ``mode`` of :func:`pair_kernels`.
MODE_FULL, MODE_FORCE_TEXT, MODE_EDGES_ONLY, MODE_POSSIBLE = 0, 1, 2, 3


@numba.njit(cache=True, nogil=True)
def pair_kernels(
    i: np.ndarray,
    j: np.ndarray,
    xyz: np.ndarray,
    severity: np.ndarray,
    classification: np.ndarray,
    brand: np.ndarray,
    ts_ns: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    params: np.ndarray,
    flags: np.ndarray,
    mode: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kernel values and edge decisions of report pairs, fused in one pass.

    Returns ``(kernels (m, 6), distance_m, severity_diff, time_diff_s, jaccard,
    needs_text, is_edge)``. The text kernel is computed only where the other features
    plus a perfect text match could reach the threshold (``needs_text``), or everywhere
    with ``MODE_FORCE_TEXT``; ``jaccard`` is NaN where it was not computed and the text
    kernel is then 0. The score sums ``weight × kernel`` in column order from 0 (as
    :func:`~cleanapp_geo.similarity.score_pairs` does, so both agree to the bit);
    ``is_edge`` is ``score >= threshold`` within the radius gate. With
    ``MODE_EDGES_ONLY`` every output but ``is_edge`` is empty (nothing else is written);
    ``MODE_POSSIBLE`` reads no text at all and sets ``is_edge`` where the pair could be an
    edge with a perfect text match (within the gate), the pairs to pass to
    ``MODE_EDGES_ONLY`` once the token sets are ready.
    """
    m = i.shape[0]
    full = mode < MODE_EDGES_ONLY  # MODE_FULL or MODE_FORCE_TEXT
    size = m if full else 0
    kernels = np.zeros((size, 6), np.float64)
    distance = np.empty(size, np.float64)
    severity_diff = np.empty(size, np.float64)
    time_diff = np.empty(size, np.float64)
    jaccard = np.full(size, np.nan, np.float64)
    needs_text = np.zeros(size, np.bool_)
    is_edge = np.zeros(m, np.bool_)
    radius = params[P_EARTH]
    for k in range(m):
        a = i[k]
        b = j[k]
        ds = abs(severity[a] - severity[b])
        dt = abs(ts_ns[a] - ts_ns[b]) / 1e9
        k_cls = 1.0 if classification[a] == classification[b] else 0.0
        k_sev = (1.0 if ds <= params[P_SEV_MAX] else 0.0) if flags[F_SEV_STEP] else 1.0 - ds
        k_brand = 1.0 if (brand[a] >= 0 and brand[a] == brand[b]) else 0.0
        if flags[F_TIME_STEP]:
            k_time = 1.0 if dt <= params[P_TIME_MAX] else 0.0
        else:
            k_time = math.exp(-dt / params[P_TIME_SCALE])
        if not full and (
            params[P_W_CLS] * k_cls
            + params[P_W_SEV] * k_sev
            + params[P_W_BRAND] * k_brand
            + params[P_W_TIME] * k_time
            + params[P_W_LOC]
            + params[P_W_TEXT]
            < params[P_THRESHOLD] - params[P_MARGIN]
        ):
            continue  # not an edge even at zero distance with identical text
        # Haversine from the chord: h = sin²(θ/2) = (chord / 2R)², d = 2R·atan2(√h, √(1-h)).
        dx = xyz[a, 0] - xyz[b, 0]
        dy = xyz[a, 1] - xyz[b, 1]
        dz = xyz[a, 2] - xyz[b, 2]
        h = min((dx * dx + dy * dy + dz * dz) / (4 * radius * radius), 1.0)
        d = 2 * radius * math.atan2(math.sqrt(h), math.sqrt(1 - h))
        if flags[F_LOC_STEP]:
            k_loc = 1.0 if d < params[P_LOC_MAX] else 0.0
        else:
            k_loc = math.exp(-d / params[P_LOC_SCALE])
        best = (
            params[P_W_CLS] * k_cls
            + params[P_W_SEV] * k_sev
            + params[P_W_LOC] * k_loc
            + params[P_W_BRAND] * k_brand
            + params[P_W_TIME] * k_time
            + params[P_W_TEXT]
        )
        possible = best >= params[P_THRESHOLD] - params[P_MARGIN]
        need = params[P_W_TEXT] > 0 and possible
        if mode == MODE_POSSIBLE:
            is_edge[k] = possible and d <= params[P_GATE]
            continue
        if not full and not (possible and d <= params[P_GATE]):
            continue  # cannot be an edge even with a perfect text match
        k_text = 0.0
        jac = np.nan
        if need or mode == MODE_FORCE_TEXT:
            # Overlap of the two sorted token-id runs: a branch-free merge (the branches
            # of the usual one mispredict about every other step), inlined (a compiled
            # call with array arguments costs more than the merge).
            p, p_end = indptr[a], indptr[a + 1]
            q, q_end = indptr[b], indptr[b + 1]
            size_a, size_b = p_end - p, q_end - q
            overlap = 0
            while p < p_end and q < q_end:
                x = indices[p]
                y = indices[q]
                overlap += x == y
                p += x <= y
                q += y <= x
            union = size_a + size_b - overlap
            jac = overlap / union if (size_a > 0 and size_b > 0 and union > 0) else 0.0
            if flags[F_TEXT_STEP]:
                k_text = 1.0 if jac > params[P_TEXT_MIN] else 0.0
            else:
                k_text = min(1.0, jac / params[P_TEXT_SAT])
        score = 0.0
        score += params[P_W_CLS] * k_cls
        score += params[P_W_SEV] * k_sev
        score += params[P_W_TEXT] * k_text
        score += params[P_W_LOC] * k_loc
        score += params[P_W_BRAND] * k_brand
        score += params[P_W_TIME] * k_time
        is_edge[k] = score >= params[P_THRESHOLD] and d <= params[P_GATE]
        if full:
            kernels[k, K_CLS] = k_cls
            kernels[k, K_SEV] = k_sev
            kernels[k, K_TEXT] = k_text
            kernels[k, K_LOC] = k_loc
            kernels[k, K_BRAND] = k_brand
            kernels[k, K_TIME] = k_time
            distance[k] = d
            severity_diff[k] = ds
            time_diff[k] = dt
            jaccard[k] = jac
            needs_text[k] = need
    return kernels, distance, severity_diff, time_diff, jaccard, needs_text, is_edge
