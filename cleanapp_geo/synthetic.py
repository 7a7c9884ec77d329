"""Synthetic report frames with planted incidents: the ground truth for tuning and benchmarks.

:func:`make_reports` draws a seeded, fully vectorised report frame in which a known share of
the reports belongs to planted *incidents* (several reports of one real-world problem) and
the rest is unrelated *background*. The true grouping is kept in an extra ``incident_id``
column; :func:`incident_pairs` lists the true same-incident pairs, which is what a candidate
generator must find (see :func:`cleanapp_geo.evaluation.candidate_recall`).

The ``"easy"`` mode plants tight, consistent incidents; ``"hard"`` adds the noise and the
near-miss negatives of the benchmark plan (``docs/performance.md`` §5.1).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

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
_VOCABULARY_SIZE: Final = 5_000
_ZIPF_EXPONENT: Final = 0.7
_ZIPF_OFFSET: Final = 20.0  # Zipf–Mandelbrot offset: keeps the top word below ~3% of titles
_WORD_TABLE_BITS: Final = 20  # inverse-CDF lookup table with 2**20 entries
_N_BRANDS: Final = 200
_BRAND_EXPONENT: Final = 0.8
_STORY_TOKENS: Final = 8
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
_TITLE_WIDTH: Final = 9
_SUMMARY_WIDTH: Final = 12
_DESCRIPTION_WIDTH: Final = 10
_CHUNK_ROWS: Final = 1 << 17  # text is built in row chunks to keep memory flat
_SECONDS_PER_DAY: Final = 86_400.0
_NS_PER_S: Final = 1_000_000_000
_ALPHABET: Final = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)
_NEWLINE: Final = ord("\n")


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

_REAL_WORDS: Final = """
overflowing trash bin bins litter garbage rubbish waste glass broken bottle
bottles can cans plastic bag bags pothole potholes graffiti tag sidewalk pavement street
road lane park bench playground slide swing dumped illegal dumping mattress furniture sofa
couch fridge tire tires cigarette butts needle needles syringe dog poop mess spill oil
leak leaking water pipe burst flooding flooded puddle drain blocked clogged sewer smell
stench rotten food leftovers packaging cardboard boxes paper flyers container recycling
compost dumpster skip construction debris rubble bricks concrete gravel nails scaffolding
fence damaged collapsed fallen tree branch branches leaves overgrown weeds hedge
streetlight lamp light flickering dark sign traffic signal crossing bridge tunnel stairs
railing loose cable wires exposed hazard dangerous sharp shards rusty metal scrap bike
abandoned scooter car vehicle parked wreck battery batteries chemical paint barrel
asbestos smoke fire burning ash ashtray vomit urine toilet public shelter bus stop tram
station platform parking lot entrance corner square river lake shore beach riverbank
canal fountain cup cups straw straws wrapper wrappers takeaway pizza coffee lid lids
mask masks gloves diaper clothes shoes pile heap lots many again still since yesterday
week weeks days morning night weekend near next behind outside front shop store market
restaurant cafe kiosk school church hospital office blocking path wet slippery ice snow
crack cracked uneven hole missing cover manhole rats pigeons flies insects website app
login error outage checkout crash page payment password phishing spam link timeout
""".split()

_BRANDS: Final = (
    "Migros",
    "Coop",
    "Denner",
    "Lidl",
    "Aldi",
    "Spar",
    "Volg",
    "Manor",
    "Globus",
    "Jelmoli",
    "Landi",
    "Migrolino",
    "Coop Pronto",
    "Valora",
    "k kiosk",
    "Avec",
    "McDonald's",
    "Burger King",
    "Starbucks",
    "Subway",
    "KFC",
    "Domino's",
    "Holy Cow",
    "Tibits",
    "Spruengli",
    "Lindt",
    "Nespresso",
    "Rivella",
    "Coca-Cola",
    "Red Bull",
    "Feldschloesschen",
    "Valser",
    "Henniez",
    "Ricola",
    "Kambly",
    "SBB",
    "Swisscom",
    "Salt",
    "Sunrise",
    "Die Post",
    "IKEA",
    "H&M",
    "Zara",
    "Decathlon",
    "Ochsner Sport",
    "Interdiscount",
    "Fust",
    "Shell",
    "BP",
    "Avia",
)


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """Words in rank order, their zero-padded bytes and an inverse-CDF sampling table."""

    words: tuple[str, ...]
    #: (2V + 1, width) uint8, zero-padded: row w is " word" (a later word), row V + w is
    #: "Word" (the first word of a text) and row 2V is empty (padding).
    glyphs: npt.NDArray[np.uint8]
    lengths: npt.NDArray[np.int64]  # (2V + 1,) byte lengths of the glyph rows
    table: npt.NDArray[np.int16]  # (2**_WORD_TABLE_BITS,) word ids, Zipf–Mandelbrot

    @property
    def pad(self) -> int:
        return 2 * len(self.words)


@dataclass(frozen=True, slots=True)
class _Brands:
    """Brand strings with "" appended, so that index -1 means "no brand"."""

    display: tuple[str, ...]
    key: tuple[str, ...]
    email: tuple[str, ...]
    cdf: npt.NDArray[np.float64]  # (B - 1,) popularity CDF without its final 1.0


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


def _draw_words(
    rng: np.random.Generator, vocab: _Vocabulary, shape: tuple[int, ...]
) -> npt.NDArray[np.int16]:
    return vocab.table[rng.integers(0, len(vocab.table), size=shape, dtype=np.uint32)]


def _draw_brands(rng: np.random.Generator, brands: _Brands, size: int) -> npt.NDArray[np.int64]:
    return np.searchsorted(brands.cdf, rng.random(size), side="right").astype(np.int64)


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


def _texts(
    rng: np.random.Generator,
    vocab: _Vocabulary,
    incident_id: npt.NDArray[np.int64],
    paraphrased: npt.NDArray[np.bool_],
    story: npt.NDArray[np.int16],
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Title, summary and description of every row, built in chunks of rows."""
    n = len(incident_id)
    parts = (_StringColumn(), _StringColumn(), _StringColumn())
    for lo in range(0, n, _CHUNK_ROWS):
        inc = incident_id[lo : lo + _CHUNK_ROWS]
        para = paraphrased[lo : lo + _CHUNK_ROWS]
        c = len(inc)
        member = inc >= 0
        n_story = np.where(member, np.where(para, 2, 4), 0)
        n_random = np.where(
            member,
            np.where(para, rng.integers(4, 7, c), rng.integers(2, 5, c)),
            rng.integers(6, 10, c),
        )
        parts[0].add_words(vocab, _compose(rng, vocab, story, inc, n_story, n_random, _TITLE_WIDTH))
        n_story = np.where(member, np.where(para, rng.integers(1, 3, c), rng.integers(2, 4, c)), 0)
        n_random = rng.integers(8, 13, c) - n_story
        parts[1].add_words(
            vocab, _compose(rng, vocab, story, inc, n_story, n_random, _SUMMARY_WIDTH)
        )
        parts[2].add_words(
            vocab, _left_aligned(rng, vocab, rng.integers(0, 11, c), _DESCRIPTION_WIDTH)
        )
    title, summary, description = (p.series() for p in parts)
    return title, summary, description


def _left_aligned(
    rng: np.random.Generator, vocab: _Vocabulary, count: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.int16]:
    """Rows of `count` random words, padded with -1 on the right."""
    tokens = _draw_words(rng, vocab, (len(count), width))
    tokens[np.arange(width) >= count[:, None]] = -1
    return tokens


def _compose(
    rng: np.random.Generator,
    vocab: _Vocabulary,
    story: npt.NDArray[np.int16],
    inc: npt.NDArray[np.int64],
    n_story: npt.NDArray[np.int64],
    n_random: npt.NDArray[np.int64],
    width: int,
) -> npt.NDArray[np.int16]:
    """Token rows: ``n_random`` random words, plus ``n_story`` story tokens for members.

    Members pick their story tokens at random among the 8 and get all their tokens in a
    random order; ``-1`` pads the rows on the right.
    """
    tokens = _left_aligned(rng, vocab, n_random, width)
    rows = np.flatnonzero(inc >= 0)
    if not len(rows):
        return tokens
    m = len(rows)
    pick = np.argsort(rng.random((m, _STORY_TOKENS)), axis=1)
    picked = np.take_along_axis(story[inc[rows]], pick, axis=1)
    candidates = np.concatenate([picked, tokens[rows]], axis=1)
    valid = np.concatenate(
        [np.arange(_STORY_TOKENS) < n_story[rows, None], tokens[rows] >= 0], axis=1
    )
    keys = np.where(valid, rng.random(candidates.shape), 2.0)
    order = np.argsort(keys, axis=1)[:, :width]
    mixed = np.take_along_axis(candidates, order, axis=1)
    mixed[~np.take_along_axis(valid, order, axis=1)] = -1
    tokens[rows] = mixed
    return tokens


class _StringColumn:
    """Builds a string column chunk by chunk from ASCII bytes, without Python loops.

    With Arrow-backed pandas strings (pandas >= 3 with pyarrow) each chunk becomes an Arrow
    array over the bytes as they are, and the column is a zero-copy chunked array;
    otherwise the chunk is decoded once and split into Python strings.
    """

    __slots__ = ("arrow", "chunks")

    def __init__(self) -> None:
        self.arrow = _arrow_strings()
        self.chunks: list[Any] = []

    def add_bytes(self, data: npt.NDArray[np.uint8], lengths: npt.NDArray[np.int64]) -> None:
        """Append ``len(lengths)`` strings stored back to back in `data`."""
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if self.arrow:
            import pyarrow as pa

            self.chunks.append(
                pa.LargeStringArray.from_buffers(
                    len(lengths), pa.py_buffer(offsets), pa.py_buffer(data)
                )
            )
        elif len(lengths):
            text = np.insert(data, offsets[1:-1], _NEWLINE).tobytes().decode("ascii")
            self.chunks.append(text.split("\n"))

    def add_words(self, vocab: _Vocabulary, tokens: npt.NDArray[np.int16]) -> None:
        """Append left-aligned token rows (``-1`` padded) as "First second third" texts."""
        valid = tokens >= 0
        ids = tokens.astype(np.intp)
        ids[:, 0] += len(vocab.words)  # the first word: capitalised, no leading space
        ids[~valid] = vocab.pad
        glyphs = vocab.glyphs[ids[valid]]
        self.add_bytes(glyphs[glyphs != 0], vocab.lengths[ids].sum(axis=1))

    def series(self) -> pd.Series:
        """Return the column built so far."""
        if self.arrow:
            import pyarrow as pa

            chunked = pa.chunked_array(self.chunks, type=pa.large_string())
            return pd.Series(chunked, dtype=pd.Series([""]).dtype, copy=False)
        empty = np.empty(0, dtype=object)
        return pd.Series(np.concatenate([empty, *(np.array(c, dtype=object) for c in self.chunks)]))


def _arrow_strings() -> bool:
    """Whether pandas stores ``str`` columns in Arrow (pandas >= 3 with pyarrow)."""
    dtype = pd.Series([""]).dtype
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _take_strings(values: tuple[str, ...], index: npt.NDArray[np.intp | np.int64]) -> pd.Series:
    """``values[index]`` as a string Series; index -1 picks the last value."""
    index = np.where(index < 0, len(values) + index, index)
    if _arrow_strings():
        import pyarrow as pa

        array = pa.array(values, type=pa.large_string()).take(pa.array(index))
        return pd.Series(array, dtype=pd.Series([""]).dtype, copy=False)
    return pd.Series(np.array(values, dtype=object)[index])


def _public_ids(seq: npt.NDArray[np.int64], seed: int) -> pd.Series:
    """``"rpt_"`` + base64url (no padding) of 16 bytes hashed from ``(seq, seed)``."""
    salt = _splitmix64(np.array([seed % (1 << 64)], dtype=np.uint64))
    column = _StringColumn()
    for lo in range(0, len(seq), _CHUNK_ROWS):
        x = seq[lo : lo + _CHUNK_ROWS].view(np.uint64) ^ salt
        c = len(x)
        words = np.stack([_splitmix64(x), _splitmix64(x ^ np.uint64(0xA0761D6478BD642F))], 1)
        raw = np.zeros((c, 18), dtype=np.uint8)  # 16 bytes + 2 zero bytes = 6 triples
        raw[:, :16] = words.astype(">u8").view(np.uint8).reshape(c, 16)
        triple = raw.reshape(c, 6, 3).astype(np.uint32)
        value = (triple[:, :, 0] << 16) | (triple[:, :, 1] << 8) | triple[:, :, 2]
        sextets = np.stack([(value >> s) & 0x3F for s in (18, 12, 6, 0)], axis=2)
        chars = np.empty((c, 26), dtype=np.uint8)
        chars[:, :4] = np.frombuffer(b"rpt_", dtype=np.uint8)
        chars[:, 4:] = _ALPHABET[sextets.reshape(c, 24)[:, :22]]
        column.add_bytes(chars.reshape(-1), np.full(c, 26, dtype=np.int64))
    return column.series()


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@functools.cache
def _vocabulary() -> _Vocabulary:
    """Build the fixed 5,000-word vocabulary: real words first, then generated ones."""
    real = list(dict.fromkeys(_REAL_WORDS))
    rng = np.random.default_rng(20_260_301)  # fixed: the vocabulary never depends on seed
    onsets = np.array("b c d f g h j k l m n p r s t v w z br dr fl gr kl pl st tr".split())
    vowels = np.array("a e i o u ai ou".split())
    codas = np.array(["", "", "", "n", "r", "s", "l", "t"])
    known = set(real)
    generated: list[str] = []
    while len(real) + len(generated) < _VOCABULARY_SIZE:
        m = 4 * _VOCABULARY_SIZE
        syllables = rng.integers(2, 4, m)
        parts = [
            np.char.add(
                np.char.add(
                    onsets[rng.integers(0, len(onsets), m)], vowels[rng.integers(0, len(vowels), m)]
                ),
                codas[rng.integers(0, len(codas), m)],
            )
            for _ in range(3)
        ]
        words = np.char.add(np.char.add(parts[0], parts[1]), np.where(syllables == 3, parts[2], ""))
        for word in words.tolist():
            if len(word) <= 10 and word not in known:
                known.add(word)
                generated.append(word)
    words_ = tuple((real + generated)[:_VOCABULARY_SIZE])
    encoded = [b" " + w.encode("ascii") for w in words_]
    encoded += [w.capitalize().encode("ascii") for w in words_]
    encoded += [b""]
    width = max(len(e) for e in encoded)
    matrix = np.zeros((len(encoded), width), dtype=np.uint8)
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    for row, e in enumerate(encoded):  # 10,000 glyphs once per process
        matrix[row, : len(e)] = np.frombuffer(e, dtype=np.uint8)
    weights = (np.arange(_VOCABULARY_SIZE) + 1.0 + _ZIPF_OFFSET) ** -_ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    grid = (np.arange(1 << _WORD_TABLE_BITS) + 0.5) / (1 << _WORD_TABLE_BITS)
    table = np.minimum(np.searchsorted(cdf, grid), _VOCABULARY_SIZE - 1).astype(np.int16)
    for array in (matrix, lengths, table):
        array.flags.writeable = False
    return _Vocabulary(words=words_, glyphs=matrix, lengths=lengths, table=table)


@functools.cache
def _brands() -> _Brands:
    """About 200 brands: well-known names, then "Brand 50" … "Brand 199"."""
    display = list(_BRANDS) + [f"Brand {i}" for i in range(len(_BRANDS), _N_BRANDS)]
    key = [re.sub(r"[^a-z0-9]+", "", d.lower()) for d in display]
    email = [f"info@{k}.ch" for k in key]
    weights = (np.arange(_N_BRANDS) + 1.0) ** -_BRAND_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    cdf = cdf[:-1].copy()
    cdf.flags.writeable = False
    return _Brands(display=(*display, ""), key=(*key, ""), email=(*email, ""), cdf=cdf)
