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
P_GATE, P_W_CAT = 16, 17
N_PARAMS = 18
# Indices into ``flags``: 1 when the feature uses its step kernel; F_IGNORE_MISSING is 1
# when a feature unknown on either side leaves the total weight (``missing="ignore"``).
F_SEV_STEP, F_TEXT_STEP, F_LOC_STEP, F_TIME_STEP, F_IGNORE_MISSING = 0, 1, 2, 3, 4
N_FLAGS = 5
# Columns of the kernel matrix, in summation order.
K_CLS, K_SEV, K_TEXT, K_LOC, K_BRAND, K_TIME, K_CAT = 0, 1, 2, 3, 4, 5, 6
N_KERNELS = 7
# ``mode`` of :func:`pair_kernels`.
MODE_FULL, MODE_FORCE_TEXT, MODE_EDGES_ONLY, MODE_POSSIBLE = 0, 1, 2, 3


@numba.njit(cache=True, nogil=True, inline="always")
def _ratio(raw: float, total: float) -> float:
    """``raw / total``; 0 when no weight is known (a pair with nothing to compare)."""
    return raw / total if total > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def pair_kernels(
    i: np.ndarray,
    j: np.ndarray,
    xyz: np.ndarray,
    severity: np.ndarray,
    classification: np.ndarray,
    classification_known: np.ndarray,
    brand: np.ndarray,
    category: np.ndarray,
    ts_ns: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    params: np.ndarray,
    flags: np.ndarray,
    mode: int,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:
    """Kernel values and edge decisions of report pairs, fused in one pass.

    Returns ``(kernels (m, 7), distance_m, severity_diff, time_diff_s, jaccard,
    needs_text, known_weight, is_edge)``. The text kernel is computed only where the
    other features plus a perfect text match could reach the threshold (``needs_text``),
    or everywhere with ``MODE_FORCE_TEXT``; ``jaccard`` is NaN where it was not computed
    and the text kernel is then 0.

    A feature unknown on either side (severity NaN, an empty token set, brand or
    category code -1; under ``F_IGNORE_MISSING`` also a classification the report's own
    analysis lacks) has kernel 0. ``known_weight`` is the total weight of the pair's known features
    under ``F_IGNORE_MISSING`` and 1 otherwise; the score is ``raw / known_weight`` where
    ``raw`` sums ``weight × kernel`` in column order from 0 (as
    :func:`~cleanapp_geo.similarity.score_pairs` does, so both agree to the bit), and
    ``is_edge`` is ``score >= threshold`` within the radius gate. When no token sets are
    passed (``indptr`` of length 1), text counts as known.

    With ``MODE_EDGES_ONLY`` every output but ``is_edge`` is empty (nothing else is
    written); ``MODE_POSSIBLE`` reads no text at all and sets ``is_edge`` where the pair
    could be an edge with a perfect text match (within the gate), the pairs to pass to
    ``MODE_EDGES_ONLY`` once the token sets are ready. (Adding a feature at kernel 1 never
    lowers ``raw / known_weight``, so a perfect, known text is the upper bound in both
    ``missing`` modes.)
    """
    m = i.shape[0]
    full = mode < MODE_EDGES_ONLY  # MODE_FULL or MODE_FORCE_TEXT
    size = m if full else 0
    kernels = np.zeros((size, N_KERNELS), np.float64)
    distance = np.empty(size, np.float64)
    severity_diff = np.empty(size, np.float64)
    time_diff = np.empty(size, np.float64)
    jaccard = np.full(size, np.nan, np.float64)
    needs_text = np.zeros(size, np.bool_)
    known_weight = np.ones(size, np.float64)
    is_edge = np.zeros(m, np.bool_)
    radius = params[P_EARTH]
    ignore = flags[F_IGNORE_MISSING] != 0
    have_text = indptr.shape[0] > 1
    w_cls, w_sev, w_text = params[P_W_CLS], params[P_W_SEV], params[P_W_TEXT]
    w_loc, w_brand, w_time = params[P_W_LOC], params[P_W_BRAND], params[P_W_TIME]
    w_cat = params[P_W_CAT]
    bound = params[P_THRESHOLD] - params[P_MARGIN]
    for k in range(m):
        a = i[k]
        b = j[k]
        ds = abs(severity[a] - severity[b])  # NaN when either is unknown
        sev_known = not math.isnan(ds)
        brand_known = brand[a] >= 0 and brand[b] >= 0
        cat_known = category[a] >= 0 and category[b] >= 0
        cls_known = not ignore or (classification_known[a] and classification_known[b])
        dt = abs(ts_ns[a] - ts_ns[b]) / 1e9
        k_cls = 1.0 if (cls_known and classification[a] == classification[b]) else 0.0
        k_cat = 1.0 if (cat_known and category[a] == category[b]) else 0.0
        if not sev_known:
            k_sev = 0.0
        elif flags[F_SEV_STEP]:
            k_sev = 1.0 if ds <= params[P_SEV_MAX] else 0.0
        else:
            k_sev = 1.0 - ds
        k_brand = 1.0 if (brand_known and brand[a] == brand[b]) else 0.0
        if flags[F_TIME_STEP]:
            k_time = 1.0 if dt <= params[P_TIME_MAX] else 0.0
        else:
            k_time = math.exp(-dt / params[P_TIME_SCALE])
        # Weights of the known features other than text and location (ignore mode).
        known_rest = 1.0
        if ignore:
            known_rest = (w_cls if cls_known else 0.0) + (w_sev if sev_known else 0.0)
            known_rest += (w_brand if brand_known else 0.0) + w_time
            known_rest += w_cat if cat_known else 0.0
        rest = w_cls * k_cls + w_sev * k_sev + w_brand * k_brand + w_time * k_time + w_cat * k_cat
        if not full:
            best = rest + w_loc + w_text
            if ignore:
                best = _ratio(best, known_rest + w_loc + w_text)
            if best < bound:
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
        best = rest + w_loc * k_loc + w_text
        if ignore:
            best = _ratio(best, known_rest + w_loc + w_text)
        possible = best >= bound
        need = w_text > 0 and possible
        if mode == MODE_POSSIBLE:
            is_edge[k] = possible and d <= params[P_GATE]
            continue
        if not full and not (possible and d <= params[P_GATE]):
            continue  # cannot be an edge even with a perfect text match
        text_known = True
        size_a = 0
        size_b = 0
        if have_text:
            size_a = indptr[a + 1] - indptr[a]
            size_b = indptr[b + 1] - indptr[b]
            text_known = size_a > 0 and size_b > 0
        k_text = 0.0
        jac = np.nan
        if need or mode == MODE_FORCE_TEXT:
            # Overlap of the two sorted token-id runs: a branch-free merge (the branches
            # of the usual one mispredict about every other step), inlined (a compiled
            # call with array arguments costs more than the merge).
            overlap = 0
            if have_text:
                p, p_end = indptr[a], indptr[a + 1]
                q, q_end = indptr[b], indptr[b + 1]
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
        raw = 0.0
        raw += w_cls * k_cls
        raw += w_sev * k_sev
        raw += w_text * k_text
        raw += w_loc * k_loc
        raw += w_brand * k_brand
        raw += w_time * k_time
        raw += w_cat * k_cat
        total = 1.0
        if ignore:
            # Summed in column order, as score_pairs does.
            total = 0.0
            total += w_cls if cls_known else 0.0
            total += w_sev if sev_known else 0.0
            total += w_text if text_known else 0.0
            total += w_loc
            total += w_brand if brand_known else 0.0
            total += w_time
            total += w_cat if cat_known else 0.0
        score = _ratio(raw, total) if ignore else raw
        is_edge[k] = score >= params[P_THRESHOLD] and d <= params[P_GATE]
        if full:
            kernels[k, K_CLS] = k_cls
            kernels[k, K_SEV] = k_sev
            kernels[k, K_TEXT] = k_text
            kernels[k, K_LOC] = k_loc
            kernels[k, K_BRAND] = k_brand
            kernels[k, K_TIME] = k_time
            kernels[k, K_CAT] = k_cat
            distance[k] = d
            severity_diff[k] = ds
            time_diff[k] = dt
            jaccard[k] = jac
            needs_text[k] = need
            known_weight[k] = total
    return kernels, distance, severity_diff, time_diff, jaccard, needs_text, known_weight, is_edge
