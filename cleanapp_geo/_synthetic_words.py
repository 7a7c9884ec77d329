"""The words, brands and strings of synthetic reports (see :mod:`cleanapp_geo.synthetic`).

A fixed 5,000-word vocabulary of real words (about 240 hand-picked litter and hazard words
first, then the WordNet words of ``datasets/synthetic_words.tsv``, made by
``scripts/make_synthetic_words.py``) sampled by a Zipf–Mandelbrot law through an
inverse-CDF table; about 200 brands with a popularity law; texts composed from a
per-incident story of 8 tokens and random words; and string columns built straight from
ASCII bytes (zero-copy Arrow arrays where pandas stores strings in Arrow), so that a million
texts cost no Python loop.

A text's tokens are *written* as a sentence: each word has a role (a state such as
"overflowing", a thing, a problem, a place, a time) and the words are ordered by role and
joined with glue words that are stop words of both models ("and", "with", "near the"), e.g.
"Overflowing, rusty bins and bottles with leak near the kiosk, morning". The glue never
becomes a token, so the token sets, and with them every similarity, are exactly those of
the words drawn.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

_VOCABULARY_SIZE: Final = 5_000
_ZIPF_EXPONENT: Final = 0.7
_ZIPF_OFFSET: Final = 20.0  # Zipf–Mandelbrot offset: keeps the top word below ~3% of titles
_WORD_TABLE_BITS: Final = 20  # inverse-CDF lookup table with 2**20 entries
_N_BRANDS: Final = 200
_BRAND_EXPONENT: Final = 0.8
_STORY_TOKENS: Final = 8
_TITLE_WIDTH: Final = 9
_SUMMARY_WIDTH: Final = 12
_DESCRIPTION_WIDTH: Final = 10
_CHUNK_ROWS: Final = 1 << 17  # text is built in row chunks to keep memory flat
_ALPHABET: Final = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)
_NEWLINE: Final = ord("\n")
#: Roles of the words, in the order a text writes them.
_ROLES: Final = ("state", "thing", "problem", "place", "time")
_STATE, _THING, _PROBLEM, _PLACE, _TIME = range(len(_ROLES))
_NO_ROLE: Final = len(_ROLES)  # padding sorts last
#: Glue between words (rows after the padding row of the glyph table). Every glue word is a
#: stop word of both models (or shorter than three letters), so it is never a token.
_GLUE: Final = (", ", " and ", " ", " with ", " near the ")
_COMMA, _AND, _SPACE, _WITH, _NEAR = range(len(_GLUE))
#: Roles of the hand-picked words that are not things.
_REAL_ROLES: Final = {
    **dict.fromkeys(
        """overflowing broken dumped illegal leaking burst flooded blocked clogged rotten
        damaged collapsed fallen overgrown flickering dark loose exposed dangerous sharp rusty
        abandoned parked burning public wet slippery cracked uneven missing many lots""".split(),
        _STATE,
    ),
    **dict.fromkeys(
        """litter garbage rubbish waste dumping mess spill leak flooding smell stench hazard
        smoke fire vomit urine crack hole error outage crash timeout phishing spam""".split(),
        _PROBLEM,
    ),
    **dict.fromkeys(
        """sidewalk pavement street road lane park playground bridge tunnel stairs crossing
        station platform parking lot entrance corner square river lake shore beach riverbank
        canal fountain shelter bus stop tram shop store market restaurant cafe kiosk school
        church hospital office path website app page login checkout near next behind outside
        front""".split(),
        _PLACE,
    ),
    **dict.fromkeys(
        "again still since yesterday week weeks days morning night weekend".split(), _TIME
    ),
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
    """Words in rank order with their roles, their bytes and an inverse-CDF sampling table."""

    words: tuple[str, ...]
    roles: npt.NDArray[np.int8]  # (V,) role of each word (index into _ROLES)
    #: (2V + 1 + G, width) uint8, zero-padded: row w is "word", row V + w is "Word" (the
    #: first word of a text), row 2V is empty (padding) and rows 2V + 1 + g are _GLUE[g].
    glyphs: npt.NDArray[np.uint8]
    lengths: npt.NDArray[np.int64]  # (2V + 1 + G,) byte lengths of the glyph rows
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


def _draw_words(
    rng: np.random.Generator, vocab: _Vocabulary, shape: tuple[int, ...]
) -> npt.NDArray[np.int16]:
    return vocab.table[rng.integers(0, len(vocab.table), size=shape, dtype=np.uint32)]


def _draw_brands(rng: np.random.Generator, brands: _Brands, size: int) -> npt.NDArray[np.int64]:
    return np.searchsorted(brands.cdf, rng.random(size), side="right").astype(np.int64)


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
        """Append left-aligned token rows (``-1`` padded) as sentences (:func:`_sentences`)."""
        ids = _sentences(vocab, tokens)
        glyphs = vocab.glyphs[ids[ids != vocab.pad]]
        self.add_bytes(glyphs[glyphs != 0], vocab.lengths[ids].sum(axis=1))

    def series(self) -> pd.Series:
        """Return the column built so far."""
        if self.arrow:
            import pyarrow as pa

            chunked = pa.chunked_array(self.chunks, type=pa.large_string())
            return pd.Series(chunked, dtype=pd.Series([""]).dtype, copy=False)
        empty = np.empty(0, dtype=object)
        return pd.Series(np.concatenate([empty, *(np.array(c, dtype=object) for c in self.chunks)]))


def _sentences(vocab: _Vocabulary, tokens: npt.NDArray[np.int16]) -> npt.NDArray[np.intp]:
    """Glyph ids writing each row of tokens as a sentence: words by role, glue between.

    The words of a row are ordered by role (states, things, problems, places, times; drawn
    order within a role) and joined: states by commas and a space before the things, a list
    of things, problems or places by commas and a final "and", " with " before the problems
    (after things), " near the " before the places, a comma before the times. Rows of
    ``-1`` only stay empty.
    """
    n, width = tokens.shape
    valid = tokens >= 0
    role = np.where(valid, vocab.roles[np.maximum(tokens, 0)], _NO_ROLE).astype(np.int64)
    order = np.argsort(role * width + np.arange(width), axis=1, kind="stable")
    words = np.take_along_axis(tokens, order, axis=1).astype(np.intp)
    role = np.take_along_axis(role, order, axis=1)
    valid = words >= 0
    glue_base = vocab.pad + 1
    prev, cur = role[:, :-1], role[:, 1:]
    nxt = np.concatenate([role[:, 2:], np.full((n, 1), _NO_ROLE)], axis=1)
    into = np.select(
        [cur == _THING, (cur == _PROBLEM) & (prev == _THING), cur == _PROBLEM, cur == _PLACE],
        [_SPACE, _WITH, _SPACE, _NEAR],
        _COMMA,
    )
    within = np.select([cur == _STATE, cur == _TIME, nxt != cur], [_COMMA, _SPACE, _AND], _COMMA)
    glue = np.where(cur == prev, within, into) + glue_base
    glue[~valid[:, 1:]] = vocab.pad
    words[:, 0] += len(vocab.words)  # the first word: capitalised
    words[~valid] = vocab.pad
    ids = np.empty((n, 2 * width - 1), dtype=np.intp)
    ids[:, 0::2] = words
    ids[:, 1::2] = glue
    return ids


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


def _word_list() -> list[tuple[str, int]]:
    """Read the bundled words (after the hand-picked ones) in rank order, with their roles."""
    text = resources.files("cleanapp_geo").joinpath("datasets/synthetic_words.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [(word, _ROLES.index(role)) for word, role in rows]


@functools.cache
def _vocabulary() -> _Vocabulary:
    """Build the fixed 5,000-word vocabulary: the hand-picked words, then the bundled ones."""
    real = [(w, _REAL_ROLES.get(w, _THING)) for w in dict.fromkeys(_REAL_WORDS)]
    ranked = (real + _word_list())[:_VOCABULARY_SIZE]
    if len(ranked) != _VOCABULARY_SIZE or len({w for w, _ in ranked}) != _VOCABULARY_SIZE:
        raise RuntimeError("datasets/synthetic_words.tsv must complete 5,000 distinct words")
    words_ = tuple(w for w, _ in ranked)
    roles = np.array([r for _, r in ranked], dtype=np.int8)
    encoded = [w.encode("ascii") for w in words_]
    encoded += [w.capitalize().encode("ascii") for w in words_]
    encoded += [b""]
    encoded += [g.encode("ascii") for g in _GLUE]
    width = max(len(e) for e in encoded)
    matrix = np.zeros((len(encoded), width), dtype=np.uint8)
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    for row, e in enumerate(encoded):  # 10,000 glyphs once per process
        matrix[row, : len(e)] = np.frombuffer(e, dtype=np.uint8)
    weights = (np.arange(_VOCABULARY_SIZE) + 1.0 + _ZIPF_OFFSET) ** -_ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    grid = (np.arange(1 << _WORD_TABLE_BITS) + 0.5) / (1 << _WORD_TABLE_BITS)
    table = np.minimum(np.searchsorted(cdf, grid), _VOCABULARY_SIZE - 1).astype(np.int16)
    for array in (matrix, lengths, table, roles):
        array.flags.writeable = False
    return _Vocabulary(words=words_, roles=roles, glyphs=matrix, lengths=lengths, table=table)


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
