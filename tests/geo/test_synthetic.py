"""The planted-incident generator: contract, determinism, planted structure, modes."""

from __future__ import annotations

import base64
import math
import re
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cleanapp_geo._synthetic_words as _synthetic_words
import cleanapp_geo.synthetic as synthetic
from cleanapp_geo.schema import REPORT_COLUMNS, validate_reports
from cleanapp_geo.synthetic import INCIDENT_ID, incident_pairs, make_reports
from cleanapp_geo.text import DEFAULT_STOP_WORDS, UPSTREAM_STOP_WORDS, tokenize

N = 20_000
LOCAL_CRS = "EPSG:2056"  # Swiss LV95, metres


@pytest.fixture(scope="module")
def easy():
    return make_reports(N, seed=7)


@pytest.fixture(scope="module")
def hard():
    return make_reports(N, seed=7, mode="hard")


def members(frame):
    return frame[frame[INCIDENT_ID] >= 0]


def local_xy(frame):
    projected = frame.geometry.to_crs(LOCAL_CRS)
    return pd.DataFrame(
        {"x": projected.x, "y": projected.y, INCIDENT_ID: frame[INCIDENT_ID]}, index=frame.index
    )


def member_offsets_m(frame):
    xy = local_xy(members(frame))
    centre = xy.groupby(INCIDENT_ID)[["x", "y"]].transform("mean")
    return np.hypot(xy.x - centre.x, xy.y - centre.y)


def majority_class(frame):
    """Each member's incident majority classification."""
    inc = members(frame)
    counts = inc.groupby([INCIDENT_ID, "classification"]).size().rename("count").reset_index()
    top = counts.sort_values(["count", "classification"]).drop_duplicates(INCIDENT_ID, keep="last")
    return inc[INCIDENT_ID].map(top.set_index(INCIDENT_ID)["classification"])


def incident_brand(frame):
    """Each member's incident brand: the first non-empty brand of its members."""
    inc = members(frame)
    brands = inc[inc["brand_name"] != ""].groupby(INCIDENT_ID)["brand_name"].first()
    return inc[INCIDENT_ID].map(brands).fillna("")


def word_sets(texts):
    """The words drawn for each text: its tokens (the glue words are stop words)."""
    return [set(tokenize(t)) for t in texts]


# --- contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_frame_meets_the_report_contract(mode, easy, hard):
    frame = easy if mode == "easy" else hard
    assert list(frame.columns) == [*REPORT_COLUMNS, INCIDENT_ID]
    assert isinstance(frame.index, pd.RangeIndex) and len(frame) == N
    pd.testing.assert_frame_equal(validate_reports(frame), frame)
    assert frame.crs.to_string() == "EPSG:4326"
    assert frame[INCIDENT_ID].dtype == np.int64
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["severity_level"].between(0.0, 1.0).all()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_tiny_sizes_work(n, mode):
    frame = make_reports(n, seed=1, mode=mode)
    assert len(frame) == n
    assert list(frame.columns) == [*REPORT_COLUMNS, INCIDENT_ID]
    assert frame[INCIDENT_ID].dtype == np.int64
    assert sorted(frame["seq"]) == list(range(1, n + 1))
    sizes = members(frame)[INCIDENT_ID].value_counts()
    assert (sizes >= 2).all()


def test_empty_frame_has_the_contract_dtypes():
    frame = make_reports(0)
    assert frame["seq"].dtype == np.int64
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["severity_level"].dtype == np.float64


def test_same_seed_same_frame():
    for mode in ("easy", "hard"):
        pd.testing.assert_frame_equal(
            make_reports(3_000, seed=3, mode=mode), make_reports(3_000, seed=3, mode=mode)
        )


def test_different_seeds_differ():
    a, b = make_reports(3_000, seed=3), make_reports(3_000, seed=4)
    assert not a["title"].equals(b["title"])
    assert not np.allclose(a.geometry.x, b.geometry.x)
    assert set(a["public_id"]).isdisjoint(b["public_id"])
    assert not a[INCIDENT_ID].equals(b[INCIDENT_ID])


def test_modes_differ():
    assert not make_reports(3_000, seed=3)["title"].equals(
        make_reports(3_000, seed=3, mode="hard")["title"]
    )


def test_seq_unique_from_start_seq_and_increasing_with_time(easy):
    assert sorted(easy["seq"]) == list(range(1, N + 1))
    by_seq = easy.sort_values("seq")
    assert by_seq["ts"].is_monotonic_increasing
    assert not easy["seq"].is_monotonic_increasing  # rows come in random order
    shifted = make_reports(100, seed=7, start_seq=1_000)
    assert sorted(shifted["seq"]) == list(range(1_000, 1_100))


def test_public_id_is_base64url_of_16_bytes_from_seq_and_seed(easy):
    ids = easy["public_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"rpt_[A-Za-z0-9_-]{22}").all()
    for public_id in ids.head(20):
        raw = base64.urlsafe_b64decode(public_id[4:] + "==")
        assert len(raw) == 16
        assert base64.urlsafe_b64encode(raw).decode()[:22] == public_id[4:]
    # the same (seq, seed) gives the same id, whatever the rest of the frame
    small = make_reports(50, seed=7)
    lookup = dict(zip(easy["seq"], easy["public_id"], strict=True))
    assert all(lookup[s] == p for s, p in zip(small["seq"], small["public_id"], strict=True))


def test_timestamps_lie_in_the_span(easy):
    start = pd.Timestamp("2026-03-01T00:00:00Z")
    assert easy["ts"].min() >= start
    assert easy["ts"].max() <= start + pd.Timedelta(days=30)
    assert (easy["ts"].dt.nanosecond == 0).all() and (easy["ts"].dt.microsecond == 0).all()
    other = make_reports(500, start="2025-01-01T12:00:00+02:00", span_days=2)
    assert other["ts"].min() >= pd.Timestamp("2025-01-01T10:00:00Z")
    assert other["ts"].max() <= pd.Timestamp("2025-01-03T10:00:00Z")


@pytest.mark.parametrize(("n", "density"), [(N, 400.0), (2_000, 400.0), (2_000, 50.0)])
def test_background_fills_a_square_of_constant_density(n, density):
    frame = make_reports(n, seed=2, density_per_km2=density, center=(-73.98, 40.75))
    background = frame[frame[INCIDENT_ID] < 0].geometry
    m_per_deg = math.pi * 6_371_008.8 / 180
    width_m = np.ptp(background.x) * m_per_deg * math.cos(math.radians(40.75))
    height_m = np.ptp(background.y) * m_per_deg
    side_m = math.sqrt(n / density) * 1_000.0
    assert side_m * 0.97 < width_m <= side_m
    assert side_m * 0.97 < height_m <= side_m
    assert abs(background.x.mean() + 73.98) < 0.01 * side_m / 1_000
    assert abs(background.y.mean() - 40.75) < 0.01 * side_m / 1_000


# --- planted incidents --------------------------------------------------------------------


def test_incident_share_and_sizes(easy, hard):
    for frame in (easy, hard):
        ids = frame[INCIDENT_ID]
        n_members = int((ids >= 0).sum())
        assert n_members in (round(0.3 * N), round(0.3 * N) - 1)
        sizes = ids[ids >= 0].value_counts()
        assert sizes.between(2, 20).all()
        assert sorted(sizes.index) == list(range(len(sizes)))  # numbered 0..k-1
        assert sizes.median() <= 5  # skewed small
        assert sizes.max() >= 15
    assert set(make_reports(1_000, incident_share=0.0)[INCIDENT_ID]) == {-1}
    assert (make_reports(1_000, incident_share=1.0)[INCIDENT_ID] >= 0).sum() >= 999


def test_easy_incidents_are_consistent(easy):
    grouped = members(easy).groupby(INCIDENT_ID)
    assert (grouped["classification"].nunique() == 1).all()
    assert (grouped["brand_name"].nunique() == 1).all()
    severity_range = grouped["severity_level"].max() - grouped["severity_level"].min()
    assert (severity_range <= 0.1 + 1e-12).all()
    duration_h = (grouped["ts"].max() - grouped["ts"].min()).dt.total_seconds() / 3_600
    assert duration_h.max() <= 72.0
    branded = grouped["brand_name"].first() != ""
    assert 0.5 < branded.mean() < 0.7
    offsets = member_offsets_m(easy)
    assert 12 < offsets.median() < 22  # gaussian 15 m per axis: median radius ≈ 17.7 m
    assert offsets.max() < 120


def test_members_share_story_tokens(easy):
    inc = members(easy)
    titles = word_sets(inc["title"])
    ids = inc[INCIDENT_ID].to_numpy()
    i, j = incident_pairs(ids)
    shared_in = np.mean(
        [len(titles[a] & titles[b]) for a, b in zip(i[:2_000], j[:2_000], strict=True)]
    )
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(inc), (2, 2_000))
    different = ids[a] != ids[b]
    shared_out = np.mean(
        [len(titles[x] & titles[y]) for x, y in zip(a[different], b[different], strict=True)]
    )
    assert shared_in > 1.8  # 4 of 8 story tokens each: 2 shared on average
    assert shared_out < 0.2
    summaries = word_sets(inc["summary"])
    assert (
        np.mean(
            [len(summaries[a] & summaries[b]) for a, b in zip(i[:2_000], j[:2_000], strict=True)]
        )
        > 0.6
    )


def drawn(texts):
    """Number of words drawn per text: its words less the glue ("and", "with", "near the")."""
    words = texts.str.split().str.len().fillna(0)
    glue = texts.str.count(" and ") + texts.str.count(" with ") + 2 * texts.str.count(" near the ")
    return words - glue


def test_text_lengths_vocabulary_and_mild_zipf(easy):
    assert drawn(easy["title"]).between(6, 9).all()
    assert drawn(easy["summary"]).between(8, 12).all()
    assert drawn(easy["description"]).between(0, 10).all() and (easy["description"] == "").any()
    assert easy["title"].str.match(r"[A-Z]").all()
    assert easy["title"].str.fullmatch(r"[A-Z][a-z]*(,? [a-z]+)*").all()
    vocabulary = synthetic._vocabulary().words
    assert len(vocabulary) == len(set(vocabulary)) == 5_000
    for word in ("overflowing", "trash", "bin", "glass", "pothole", "graffiti"):
        assert word in vocabulary
    used = set().union(*word_sets(easy["title"]))
    assert used <= set(vocabulary)
    document_frequency = pd.Series([w for s in word_sets(easy["title"]) for w in s]).value_counts()
    assert document_frequency.iloc[0] / N < 0.035
    assert len(document_frequency) > 3_000


def test_classification_brand_email_language(easy):
    assert 0.87 < (easy["classification"] == "physical").mean() < 0.93
    assert set(easy["classification"]) == {"physical", "digital"}
    assert 0.01 < (easy["language"] == "de").mean() < 0.06
    assert set(easy["language"]) == {"en", "de"}
    background = easy[easy[INCIDENT_ID] < 0]
    assert 0.45 < (background["brand_name"] != "").mean() < 0.55
    assert 150 <= easy["brand_name"].nunique() <= 201
    assert {"Migros", "Coop"} <= set(easy["brand_display_name"])
    keys = easy["brand_display_name"].str.lower().str.replace(r"[^a-z0-9]+", "", regex=True)
    assert (keys == easy["brand_name"]).all()
    assert easy.loc[easy["brand_display_name"] == "Brand 17", "brand_name"].eq("brand17").all()
    emails = easy["inferred_contact_emails"]
    with_email = emails != ""
    assert 0.1 < with_email.mean() < 0.25
    assert (emails[with_email] == "info@" + easy.loc[with_email, "brand_name"] + ".ch").all()
    assert (easy.loc[easy["brand_name"] == "", "inferred_contact_emails"] == "").all()


# --- hard mode ----------------------------------------------------------------------------


def test_hard_mode_is_noisier(easy, hard):
    assert member_offsets_m(hard).median() > 1.7 * member_offsets_m(easy).median()
    grouped = members(hard).groupby(INCIDENT_ID)
    mislabelled = (members(hard)["classification"] != majority_class(hard)).mean()
    assert 0.1 < mislabelled < 0.25
    branded = incident_brand(hard) != ""
    missing = (members(hard)["brand_name"][branded] == "").mean()
    assert 0.25 < missing < 0.35
    spread = grouped["severity_level"].std().mean()
    assert spread > 2 * members(easy).groupby(INCIDENT_ID)["severity_level"].std().mean()


def test_hard_mode_paraphrases_half_of_the_titles(easy, hard):
    def mean_shared(frame):
        inc = members(frame)
        titles = word_sets(inc["title"])
        i, j = incident_pairs(inc[INCIDENT_ID].to_numpy())
        return np.mean(
            [len(titles[a] & titles[b]) for a, b in zip(i[:3_000], j[:3_000], strict=True)]
        )

    assert mean_shared(hard) < 0.75 * mean_shared(easy)


def incident_centres_m(frame):
    """Centre of each incident in the generator's equirectangular metres, and a check."""
    inc = members(frame)
    lonlat = pd.DataFrame({"lon": inc.geometry.x, "lat": inc.geometry.y}).groupby(inc[INCIDENT_ID])
    m_per_deg = math.pi * 6_371_008.8 / 180
    x = lonlat["lon"].mean().to_numpy() * m_per_deg * math.cos(math.radians(47.3769))
    y = lonlat["lat"].mean().to_numpy() * m_per_deg
    return x, y


def test_hard_mode_plants_near_miss_pairs():
    # Without jitter and label noise the planted geometry and attributes are exact.
    frame = make_reports(
        N,
        seed=11,
        mode="hard",
        jitter_m=0.0,
        mislabel_share=0.0,
        brand_missing_share=0.0,
        paraphrase_share=0.0,
    )
    grouped = members(frame).groupby(INCIDENT_ID)
    first = grouped[["brand_name", "classification"]].first()
    x, y = incident_centres_m(frame)
    n_pairs = int(len(first) * 0.3) // 2
    assert n_pairs > 100
    a = np.arange(n_pairs) * 2  # pairs are incidents (2p, 2p + 1), kinds cycling a, b, c
    b = a + 1
    kind = np.arange(n_pairs) % 3
    distance = np.hypot(x[a] - x[b], y[a] - y[b])
    tolerance = 1e-6
    assert 60 - tolerance <= distance[kind == 0].min() <= distance[kind == 0].max() <= 150.001
    assert 30 - tolerance <= distance[kind == 1].min() <= distance[kind == 1].max() <= 80.001
    assert 2_000 - tolerance <= distance[kind == 2].min() <= distance[kind == 2].max() <= 4_000.001
    brand = first["brand_name"].to_numpy()
    assert (brand[a[kind == 0]] == brand[b[kind == 0]]).all()
    assert (brand[a[kind == 0]] != "").all()
    cls = first["classification"].to_numpy()
    assert (cls[a[kind == 1]] == cls[b[kind == 1]]).all()
    words = grouped["title"].agg(lambda s: set(tokenize(" ".join(s)))).to_numpy()

    def mean_shared(k):
        pairs = zip(a[kind == k], b[kind == k], strict=True)
        return np.mean([len(words[i] & words[j]) for i, j in pairs])

    assert mean_shared(2) > mean_shared(1) + 2  # 5 of 8 story tokens vs an unrelated story
    # the two incidents of a pair overlap in time (starts within 12 h, lasting up to 72 h)
    first_day = (grouped["ts"].min() - grouped["ts"].min().min()).dt.total_seconds() / 86_400
    gap_days = np.abs(first_day.to_numpy()[a] - first_day.to_numpy()[b])
    assert gap_days.max() <= 3.5
    assert np.median(gap_days) < 1.0


def test_easy_mode_plants_no_near_misses(easy):
    x, y = incident_centres_m(easy)
    a = np.arange(0, len(x) - 1, 2)
    assert (np.hypot(x[a] - x[a + 1], y[a] - y[a + 1]) < 200).mean() < 0.05


def test_knobs_override_the_mode():
    still = make_reports(2_000, seed=1, mode="hard", jitter_m=0.0, near_miss_share=0.0)
    xy = local_xy(members(still)).round(3)
    assert (xy.groupby(INCIDENT_ID)[["x", "y"]].nunique() == 1).all().all()
    clean = make_reports(
        2_000, seed=1, mode="hard", mislabel_share=0.0, brand_missing_share=0.0
    ).pipe(members)
    grouped = clean.groupby(INCIDENT_ID)
    assert (grouped["classification"].nunique() == 1).all()
    assert (grouped["brand_name"].nunique() == 1).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be"),
        ({"n": 10, "mode": "medium"}, "mode must be one of"),
        ({"n": 10, "incident_share": 1.5}, "incident_share"),
        ({"n": 10, "density_per_km2": 0.0}, "density_per_km2"),
        ({"n": 10, "span_days": -1.0}, "span_days"),
        ({"n": 10, "seed": -3}, "seed"),
        ({"n": 10, "start": "2026-03-01T00:00:00"}, "timezone-aware"),
        ({"n": 10, "jitter_m": -1.0}, "jitter_m"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_reports(**kwargs)


def test_python_string_fallback_gives_the_same_frame(monkeypatch):
    arrow = make_reports(3_000, seed=5, mode="hard")
    monkeypatch.setattr(_synthetic_words, "_arrow_strings", lambda: False)
    python = make_reports(3_000, seed=5, mode="hard")
    pd.testing.assert_frame_equal(arrow, python)
    pd.testing.assert_frame_equal(make_reports(0), make_reports(0))


# --- incident_pairs -----------------------------------------------------------------------


@given(st.lists(st.integers(-1, 4), max_size=40))
def test_incident_pairs_equal_brute_force(labels):
    i, j = incident_pairs(np.array(labels, dtype=np.int64))
    expected = [
        (a, b) for a, b in combinations(range(len(labels)), 2) if labels[a] == labels[b] != -1
    ]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert i.dtype == j.dtype == np.int64


def test_incident_pairs_count_on_a_frame(hard):
    i, j = incident_pairs(hard[INCIDENT_ID].to_numpy())
    sizes = hard[INCIDENT_ID][hard[INCIDENT_ID] >= 0].value_counts().to_numpy()
    assert len(i) == int((sizes * (sizes - 1) // 2).sum())
    ids = hard[INCIDENT_ID].to_numpy()
    assert (ids[i] == ids[j]).all() and (i < j).all()


def test_incident_pairs_rejects_2d():
    with pytest.raises(ValueError, match="one-dimensional"):
        incident_pairs(np.zeros((2, 2), dtype=np.int64))


# --- real words written as sentences ----------------------------------------------------


def test_every_bundled_word_is_one_token_of_both_models():
    vocab = synthetic._vocabulary()
    bundled = vocab.words[len(dict.fromkeys(_synthetic_words._REAL_WORDS)) :]
    assert len(bundled) > 4_700
    for word in bundled:
        assert tokenize(word) == {word}
        assert tokenize(word, stop_words=UPSTREAM_STOP_WORDS) == {word}
    assert set(vocab.roles.tolist()) == set(range(len(_synthetic_words._ROLES)))


@given(st.lists(st.lists(st.integers(-1, 4_999), min_size=9, max_size=9), min_size=1, max_size=20))
def test_sentences_add_no_token(rows):
    """The glue never becomes a token: a sentence has the tokens of its words, both models."""
    vocab = synthetic._vocabulary()
    tokens = np.array(rows, dtype=np.int16)
    tokens = -np.sort(-tokens, axis=1)  # left-aligned: -1 padding on the right
    column = _synthetic_words._StringColumn()
    column.add_words(vocab, tokens)
    for text, row in zip(column.series(), tokens, strict=True):
        plain = " ".join(vocab.words[t] for t in row if t >= 0)
        for stop in (DEFAULT_STOP_WORDS, UPSTREAM_STOP_WORDS):
            assert tokenize(text, stop_words=stop) == tokenize(plain, stop_words=stop)
        if (row >= 0).any():
            assert text[0].isupper()


def test_titles_read_as_sentences(easy):
    titles = easy["title"]
    assert titles.str.contains(" near the ").mean() > 0.3
    assert titles.str.contains(" and ").mean() > 0.5
    assert not titles.str.contains(
        r"\b(?:and|with|the) (?:and|with|the)\b"
    ).any()  # no doubled glue
    for word in ("overflowing", "bins", "litter", "pothole"):
        assert titles.str.lower().str.contains(rf"\b{word}\b").any()
