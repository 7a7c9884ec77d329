"""Synthetic report frames with planted incidents: the ground truth for tuning and benchmarks.

:func:`make_reports` draws a seeded, fully vectorised report frame in which a known share of
the reports belongs to planted *incidents* (several reports of one real-world problem) and
the rest is unrelated *background*. The true grouping is kept in an extra ``incident_id``
column; :func:`incident_pairs` lists the true same-incident pairs, which is what a candidate
generator must find (see :func:`cleanapp_geo.evaluation.candidate_recall`).

The ``"easy"`` mode plants tight, consistent incidents; ``"hard"`` adds the noise and the
near-miss negatives (same brand at adjacent shops, same classification nearby with a
different story, similar text kilometres apart) that a good model must keep apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from cleanapp_geo._synthetic_words import (
    _STORY_TOKENS,
    _Brands,
    _brands,
    _draw_brands,
    _draw_words,
    _public_ids,
    _take_strings,
    _texts,
    _Vocabulary,
    _vocabulary,
)
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    CLASSIFICATION,
    CRS,
    DESCRIPTION,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    PUBLIC_ID,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
    validate_reports,
)

__all__ = ["INCIDENT_ID", "incident_pairs", "make_reports"]

#: Extra column of a synthetic frame: the planted incident of a report, -1 for background.
INCIDENT_ID: Final = "incident_id"

Mode = Literal["easy", "hard"]

# --- fixed generator constants (documented in make_reports) ---------------------------------
_EARTH_RADIUS_M: Final = 6_371_008.8
_M_PER_DEG: Final = math.pi * _EARTH_RADIUS_M / 180.0
_MIN_INCIDENT_SIZE: Final = 2
_MAX_INCIDENT_SIZE: Final = 20
_SIZE_GEOMETRIC_P: Final = 0.25  # sizes are 2 + a geometric count truncated at 18 (mean ≈ 5)
_DIGITAL_SHARE: Final = 0.1
_GERMAN_SHARE: Final = 0.03
_BACKGROUND_BRAND_SHARE: Final = 0.5
_INCIDENT_BRAND_SHARE: Final = 0.6
_EMAIL_SHARE: Final = 0.3
_MIN_DURATION_H: Final = 2.0
_MAX_DURATION_H: Final = 72.0
_NEAR_MISS_TIME_SHIFT_H: Final = 12.0
_NEAR_MISS_SHARED_TOKENS: Final = 5
_NEAR_MISS_DISTANCES_M: Final = ((60.0, 150.0), (30.0, 80.0), (2_000.0, 4_000.0))
_SECONDS_PER_DAY: Final = 86_400.0
_NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class _ModeDefaults:
    jitter_m: float
    mislabel_share: float
    severity_noise: float
    brand_missing_share: float
    paraphrase_share: float
    near_miss_share: float


_MODE_DEFAULTS: Final = {
    "easy": _ModeDefaults(15.0, 0.0, 0.05, 0.0, 0.0, 0.0),
    "hard": _ModeDefaults(30.0, 0.2, 0.1, 0.3, 0.5, 0.3),
}


def make_reports(
    n: int,
    *,
    seed: int = 0,
    mode: Mode = "easy",
    center: tuple[float, float] = (8.5417, 47.3769),
    density_per_km2: float = 400.0,
    incident_share: float = 0.3,
    start: pd.Timestamp | str = "2026-03-01T00:00:00Z",
    span_days: float = 30.0,
    start_seq: int = 1,
    jitter_m: float | None = None,
    mislabel_share: float | None = None,
    severity_noise: float | None = None,
    brand_missing_share: float | None = None,
    paraphrase_share: float | None = None,
    near_miss_share: float | None = None,
) -> gpd.GeoDataFrame:
    """Generate a report frame with planted incidents (seeded and vectorised).

    The reports lie in a square centred on `center` whose side is
    ``sqrt(n / density_per_km2)`` km, so the density stays constant as `n` grows. Metres
    are turned into degrees with an equirectangular approximation around `center`
    (``cos(lat)`` of the centre for longitude). A share `incident_share` of the reports
    belongs to planted incidents of 2–20 reports (``2 +`` a geometric count with p = 0.25
    truncated at 18, so sizes are skewed small, mean ≈ 5); the others are background with
    ``incident_id == -1``.

    Background reports: uniform location in the square and uniform time over the span;
    classification ``physical`` (90%) or ``digital``; severity ~ Beta(1.5, 2.5); a brand
    on 50% of them. Titles have 6–9 words, summaries 8–12 and descriptions 0–10, drawn
    from a fixed synthetic vocabulary of 5,000 words (about 240 real litter/hazard words,
    such as "overflowing", "trash", "glass", "pothole", then generated pronounceable
    words) with a mild Zipf–Mandelbrot frequency, ``p(rank r) ∝ (r + 20) ** -0.7``: the
    most common word appears in about 2.5% of the titles. The first letter of each text
    is capitalised.

    Incidents: a centre uniform in the square; a start uniform in the span and a duration
    log-uniform between 2 h and 72 h (its reports uniform within that window); one
    classification, one severity ~ Beta(2, 2), one brand (on 60% of the incidents) and a
    *story* of 8 distinct vocabulary tokens. Each member lies at a gaussian offset of
    `jitter_m` (standard deviation per axis) from the centre; its title holds 4 of the
    story's 8 tokens plus 2–4 random words in a random order, its summary 2–3 story tokens
    plus random words (8–12 words in all) and its description random words only.

    The ``"hard"`` mode changes the defaults of the noise knobs below (30 m jitter, 20%
    mislabelled, severity σ = 0.1, brand missing on 30%, half of the titles paraphrased)
    and plants *near-miss negatives*: `near_miss_share` of the incidents are paired, and
    each pair, cyclically, is (a) the same brand at adjacent shops, 60–150 m apart; (b) the
    same classification nearby, 30–80 m apart, with a different story; or (c) similar text
    far apart: the second incident's story keeps 5 of the first one's 8 tokens and its
    centre lies 2–4 km away (possibly outside the square). The two incidents of a pair
    overlap in time (start within ±12 h) and keep separate ``incident_id`` values.

    Rows come in random order; ``seq`` runs from `start_seq` in timestamp order (ties by
    row), so seqs are unique and increase with time as upstream. ``public_id`` is
    ``"rpt_"`` plus the 22-character base64url encoding of 16 bytes hashed from
    ``(seq, seed)``. ``language`` is ``"en"`` (3% ``"de"``, same English text). About 200
    brands exist (well-known names such as "Migros" or "Coop", then "Brand 50" …
    "Brand 199"), with Zipf-like popularity; ``brand_name`` is the lowercase
    alphanumeric key (``"mcdonalds"``, ``"brand50"``). ``inferred_contact_emails`` is
    ``"info@<brand key>.ch"`` for 30% of the branded reports and "" otherwise.

    Parameters
    ----------
    n : int
        Number of reports, ``>= 0``.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; the output is a deterministic function
        of all arguments.
    mode : {"easy", "hard"}, default "easy"
        Difficulty preset for the noise knobs below.
    center : tuple of float, default (8.5417, 47.3769)
        ``(longitude, latitude)`` of the square's centre (Zurich).
    density_per_km2 : float, default 400.0
        Reports per square kilometre; sets the side of the square.
    incident_share : float, default 0.3
        Share of reports in incidents, in [0, 1]. The count is ``round(incident_share *
        n)``, less one when the last incident would have a single report.
    start : pandas.Timestamp or str, default "2026-03-01T00:00:00Z"
        Timezone-aware start of the time span.
    span_days : float, default 30.0
        Length of the time span, ``>= 0``; every ``ts`` lies in
        ``[start, start + span_days]`` (whole seconds).
    start_seq : int, default 1
        Smallest ``seq``.
    jitter_m : float, optional
        Standard deviation (metres, per axis) of a member's offset from its incident
        centre. Default 15 (easy) or 30 (hard).
    mislabel_share : float, optional
        Share of incident reports whose classification is flipped (physical ↔ digital).
        Default 0 (easy) or 0.2 (hard).
    severity_noise : float, optional
        Member severity noise around the incident severity: half-width of a uniform
        noise in easy mode (default 0.05), standard deviation of a gaussian noise in hard
        mode (default 0.1). Severities are clipped to [0, 1].
    brand_missing_share : float, optional
        Share of incident reports whose brand (and e-mail) is dropped. Default 0 (easy) or
        0.3 (hard).
    paraphrase_share : float, optional
        Share of incident reports with a paraphrased text: the title holds only 2 story
        tokens (plus 4–6 random words) and the summary 1–2. Default 0 (easy) or 0.5
        (hard).
    near_miss_share : float, optional
        Share of incidents paired into near-miss negatives (see above). Default 0 (easy)
        or 0.3 (hard).

    Returns
    -------
    geopandas.GeoDataFrame
        A frame that passes :func:`cleanapp_geo.schema.validate_reports`, with a
        ``RangeIndex``, the contract columns in wire order and ``incident_id`` (int64;
        ``-1`` for background, incidents numbered ``0 .. k-1``).

    Raises
    ------
    ValueError
        When `n` is negative, `mode` is unknown, a share is outside [0, 1], a distance,
        density or span is negative (density must be positive) or `start` is naive.

    Notes
    -----
    Incidents are numbered in the order they were drawn; in hard mode the near-miss pairs
    are incidents ``(2p, 2p + 1)`` for ``p < floor(k * near_miss_share) // 2``, of kind
    (a), (b), (c) for ``p % 3 == 0, 1, 2``. Typos and synonyms (also proposed for the
    hard benchmark) are not generated.

    Everything is vectorised over reports (texts are assembled as bytes in chunks of
    rows; with Arrow-backed pandas strings they are never turned into Python objects).
    One million reports take about 5 s of CPU and about 0.7 GB above the interpreter.

    Examples
    --------
    >>> frame = make_reports(1_000, seed=1)
    >>> len(frame), frame["seq"].is_unique
    (1000, True)
    >>> int((frame["incident_id"] >= 0).sum())
    300
    """
    preset = _MODE_DEFAULTS.get(mode)
    if preset is None:
        raise ValueError(f"mode must be one of {sorted(_MODE_DEFAULTS)}, got {mode!r}")
    jitter = preset.jitter_m if jitter_m is None else float(jitter_m)
    mislabel = preset.mislabel_share if mislabel_share is None else float(mislabel_share)
    sev_noise = preset.severity_noise if severity_noise is None else float(severity_noise)
    brand_missing = (
        preset.brand_missing_share if brand_missing_share is None else float(brand_missing_share)
    )
    paraphrase = preset.paraphrase_share if paraphrase_share is None else float(paraphrase_share)
    near_miss = preset.near_miss_share if near_miss_share is None else float(near_miss_share)
    _check_arguments(
        n,
        seed=seed,
        density_per_km2=density_per_km2,
        span_days=span_days,
        jitter_m=jitter,
        severity_noise=sev_noise,
        shares={
            "incident_share": incident_share,
            "mislabel_share": mislabel,
            "brand_missing_share": brand_missing,
            "paraphrase_share": paraphrase,
            "near_miss_share": near_miss,
        },
    )
    start_ts = pd.Timestamp(start)
    if start_ts.tzinfo is None:
        raise ValueError(
            f"start must be timezone-aware, e.g. '2026-03-01T00:00:00Z'; got {start!r}"
        )
    start_ns = int(start_ts.tz_convert("UTC").as_unit("ns").value)
    span_s = float(span_days) * _SECONDS_PER_DAY
    lon0, lat0 = float(center[0]), float(center[1])
    m_per_deg_lon = _M_PER_DEG * math.cos(math.radians(lat0))
    side_m = math.sqrt(n / density_per_km2) * 1_000.0

    rng = np.random.default_rng(seed)
    vocab = _vocabulary()
    brands = _brands()

    # --- incidents ---------------------------------------------------------------------
    sizes = _incident_sizes(rng, round(incident_share * n))
    k = len(sizes)
    inc_x = rng.uniform(-side_m / 2, side_m / 2, k)
    inc_y = rng.uniform(-side_m / 2, side_m / 2, k)
    inc_digital = rng.random(k) < _DIGITAL_SHARE
    inc_severity = rng.beta(2.0, 2.0, k)
    inc_brand = np.where(
        rng.random(k) < _INCIDENT_BRAND_SHARE, _draw_brands(rng, brands, k), -1
    ).astype(np.int64)
    duration_s = np.minimum(
        np.exp(rng.uniform(math.log(_MIN_DURATION_H), math.log(_MAX_DURATION_H), k)) * 3_600.0,
        span_s,
    )
    inc_t0 = rng.random(k) * (span_s - duration_s)
    story = _draw_words(rng, vocab, (k, _STORY_TOKENS))
    free = np.ones(story.shape, dtype=bool)
    _make_rows_distinct(rng, vocab, story, free)
    if near_miss > 0 and k >= 2:
        _plant_near_misses(
            rng,
            vocab,
            brands,
            n_pairs=int(k * near_miss) // 2,
            xy=(inc_x, inc_y),
            digital=inc_digital,
            brand=inc_brand,
            t0=inc_t0,
            duration_s=duration_s,
            span_s=span_s,
            story=story,
            free=free,
        )

    # --- rows: background first, then members; shuffled ---------------------------------
    n_inc = int(sizes.sum())
    incident_id = np.concatenate(
        [np.full(n - n_inc, -1, dtype=np.int64), np.repeat(np.arange(k, dtype=np.int64), sizes)]
    )
    incident_id = incident_id[rng.permutation(n)]
    is_inc = incident_id >= 0
    inc = np.where(is_inc, incident_id, 0)
    n_rows_inc = int(is_inc.sum())

    # location
    x = rng.uniform(-side_m / 2, side_m / 2, n)
    y = rng.uniform(-side_m / 2, side_m / 2, n)
    if k:
        x[is_inc] = inc_x[inc[is_inc]] + rng.normal(0.0, jitter, n_rows_inc)
        y[is_inc] = inc_y[inc[is_inc]] + rng.normal(0.0, jitter, n_rows_inc)
    lon = lon0 + x / m_per_deg_lon
    lat = lat0 + y / _M_PER_DEG
    del x, y

    # time (whole seconds)
    offset_s = rng.random(n) * span_s
    if k:
        offset_s[is_inc] = inc_t0[inc[is_inc]] + rng.random(n_rows_inc) * duration_s[inc[is_inc]]
    ts_ns = start_ns + np.floor(offset_s).astype(np.int64) * _NS_PER_S
    del offset_s

    # classification
    digital = rng.random(n) < _DIGITAL_SHARE
    mislabelled = rng.random(n) < mislabel
    if k:
        digital[is_inc] = inc_digital[inc[is_inc]] ^ mislabelled[is_inc]
    classification = _take_strings(("physical", "digital"), digital.astype(np.intp))
    del digital, mislabelled

    # severity
    severity = rng.beta(1.5, 2.5, n)
    if k:
        noise = (
            rng.uniform(-sev_noise, sev_noise, n_rows_inc)
            if mode == "easy"
            else rng.normal(0.0, sev_noise, n_rows_inc)
        )
        severity[is_inc] = inc_severity[inc[is_inc]] + noise
    np.clip(severity, 0.0, 1.0, out=severity)

    # brand and contact e-mail
    brand = np.where(
        rng.random(n) < _BACKGROUND_BRAND_SHARE, _draw_brands(rng, brands, n), -1
    ).astype(np.int64)
    brand_dropped = rng.random(n) < brand_missing
    if k:
        brand[is_inc] = np.where(brand_dropped[is_inc], -1, inc_brand[inc[is_inc]])
    has_email = (brand >= 0) & (rng.random(n) < _EMAIL_SHARE)
    email = _take_strings(brands.email, np.where(has_email, brand, -1))
    del brand_dropped, has_email

    language = _take_strings(("en", "de"), (rng.random(n) < _GERMAN_SHARE).astype(np.intp))
    paraphrased = is_inc & (rng.random(n) < paraphrase)
    title, summary, description = _texts(rng, vocab, incident_id, paraphrased, story)

    order = np.argsort(ts_ns, kind="stable")
    seq = np.empty(n, dtype=np.int64)
    seq[order] = start_seq + np.arange(n, dtype=np.int64)
    del order

    columns = {
        SEQ: seq,
        PUBLIC_ID: _public_ids(seq, seed),
        TS: pd.Series(ts_ns.view("datetime64[ns]")).dt.tz_localize("UTC"),
        CLASSIFICATION: classification,
        SEVERITY_LEVEL: severity,
        TITLE: title,
        SUMMARY: summary,
        DESCRIPTION: description,
        BRAND_NAME: _take_strings(brands.key, brand),
        BRAND_DISPLAY_NAME: _take_strings(brands.display, brand),
        INFERRED_CONTACT_EMAILS: email,
        LANGUAGE: language,
        INCIDENT_ID: incident_id,
    }
    frame = gpd.GeoDataFrame(
        {name: pd.Series(values, copy=False) for name, values in columns.items()},
        geometry=gpd.points_from_xy(lon, lat, crs=CRS),
        crs=CRS,
    )
    frame = frame[[*REPORT_COLUMNS, INCIDENT_ID]]
    return validate_reports(frame)


def incident_pairs(
    incident_id: npt.ArrayLike,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """List every true same-incident pair of reports.

    Parameters
    ----------
    incident_id : array-like of int
        One incident label per report (the ``incident_id`` column); ``-1`` is background
        and pairs with nothing.

    Returns
    -------
    tuple of numpy.ndarray
        ``(i, j)``: positional indices (int64) with ``i < j`` and
        ``incident_id[i] == incident_id[j] != -1``, sorted by ``i`` then ``j``. There are
        ``sum(s * (s - 1) / 2)`` pairs over the incident sizes ``s``.

    Raises
    ------
    ValueError
        When `incident_id` is not one-dimensional.

    Examples
    --------
    >>> i, j = incident_pairs([0, -1, 0, 1, 1, 0])
    >>> list(zip(i.tolist(), j.tolist()))
    [(0, 2), (0, 5), (2, 5), (3, 4)]
    """
    labels = np.asarray(incident_id)
    if labels.ndim != 1:
        raise ValueError(f"incident_id must be one-dimensional, got shape {labels.shape}")
    members = np.flatnonzero(labels != -1)
    order = members[np.argsort(labels[members], kind="stable")]  # grouped, ascending index
    sorted_labels = labels[order]
    if len(order) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    group_start = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    group_size = np.diff(np.r_[group_start, len(order)])
    group_end = np.repeat(group_start + group_size, group_size)
    later = group_end - np.arange(len(order)) - 1  # partners after each position
    total = int(later.sum())
    first = np.repeat(np.arange(len(order)), later)
    step = np.arange(total) - np.repeat(np.cumsum(later) - later, later)
    i = order[first].astype(np.int64)
    j = order[first + 1 + step].astype(np.int64)
    key = np.lexsort((j, i))
    return i[key], j[key]


# --- helpers ---------------------------------------------------------------------------------


def _check_arguments(
    n: int,
    *,
    seed: int,
    density_per_km2: float,
    span_days: float,
    jitter_m: float,
    severity_noise: float,
    shares: dict[str, float],
) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not density_per_km2 > 0:
        raise ValueError(f"density_per_km2 must be positive, got {density_per_km2!r}")
    for name, value in (
        ("span_days", span_days),
        ("jitter_m", jitter_m),
        ("severity_noise", severity_noise),
    ):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    for name, value in shares.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}")


def _incident_sizes(rng: np.random.Generator, total: int) -> npt.NDArray[np.int64]:
    """Incident sizes in [2, 20], skewed small, summing to `total` (or `total` - 1)."""
    if total < _MIN_INCIDENT_SIZE:
        return np.empty(0, dtype=np.int64)
    span = _MAX_INCIDENT_SIZE - _MIN_INCIDENT_SIZE + 1
    q = 1.0 - _SIZE_GEOMETRIC_P
    mass = 1.0 - q**span
    u = rng.random(total // _MIN_INCIDENT_SIZE + 1)  # enough even if every size were 2
    extra = np.floor(np.log1p(-u * mass) / math.log(q)).astype(np.int64)
    sizes = _MIN_INCIDENT_SIZE + np.minimum(extra, span - 1)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, total)) + 1  # first k sizes reach the total
    sizes = sizes[:k].copy()
    sizes[-1] -= int(cum[k - 1]) - total
    if sizes[-1] < _MIN_INCIDENT_SIZE:
        sizes = sizes[:-1]
    return sizes


def _make_rows_distinct(
    rng: np.random.Generator,
    vocab: _Vocabulary,
    story: npt.NDArray[np.int16],
    free: npt.NDArray[np.bool_],
) -> None:
    """Redraw the free tokens of stories that repeat a token until all rows are distinct."""
    while len(story):
        srt = np.sort(story, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if not len(bad):
            return
        redraw = _draw_words(rng, vocab, (len(bad), story.shape[1]))
        story[bad] = np.where(free[bad], redraw, story[bad])


def _plant_near_misses(
    rng: np.random.Generator,
    vocab: _Vocabulary,
    brands: _Brands,
    *,
    n_pairs: int,
    xy: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    digital: npt.NDArray[np.bool_],
    brand: npt.NDArray[np.int64],
    t0: npt.NDArray[np.float64],
    duration_s: npt.NDArray[np.float64],
    span_s: float,
    story: npt.NDArray[np.int16],
    free: npt.NDArray[np.bool_],
) -> None:
    """Turn incident pairs (2p, 2p + 1) into near-miss negatives, in place.

    Pair ``p`` is of kind ``p % 3``: 0 same brand 60–150 m apart, 1 same classification
    30–80 m apart, 2 five shared story tokens 2–4 km apart. Partners start within ±12 h.
    """
    if n_pairs == 0:
        return
    a = np.arange(n_pairs) * 2
    b = a + 1
    kind = np.arange(n_pairs) % 3
    low = np.array([d[0] for d in _NEAR_MISS_DISTANCES_M])[kind]
    high = np.array([d[1] for d in _NEAR_MISS_DISTANCES_M])[kind]
    distance = rng.uniform(low, high)
    bearing = rng.uniform(0.0, 2 * math.pi, n_pairs)
    x, y = xy
    x[b] = x[a] + distance * np.cos(bearing)
    y[b] = y[a] + distance * np.sin(bearing)
    shift = rng.uniform(-_NEAR_MISS_TIME_SHIFT_H, _NEAR_MISS_TIME_SHIFT_H, n_pairs) * 3_600.0
    t0[b] = np.clip(t0[a] + shift, 0.0, span_s - duration_s[b])
    # (a) same brand at adjacent shops
    same_brand = a[kind == 0]
    fallback = _draw_brands(rng, brands, len(same_brand))
    brand[same_brand] = np.where(brand[same_brand] >= 0, brand[same_brand], fallback)
    brand[same_brand + 1] = brand[same_brand]
    # (b) same classification nearby, different story
    same_class = a[kind == 1]
    digital[same_class + 1] = digital[same_class]
    # (c) similar text far apart: keep 5 of the partner's 8 tokens
    similar = a[kind == 2]
    if len(similar):
        keep = np.argsort(rng.random((len(similar), _STORY_TOKENS)), axis=1)
        keep = keep[:, :_NEAR_MISS_SHARED_TOKENS]
        rows = similar[:, None] + 1
        story[rows, keep] = story[similar[:, None], keep]
        free[rows, keep] = False
    _make_rows_distinct(rng, vocab, story, free)  # redraws only the 3 new tokens of (c)
