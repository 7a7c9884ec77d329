"""Tokenizer and batch text features against the one-text reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanapp_geo.text import (
    DEFAULT_STOP_WORDS,
    UPSTREAM_STOP_WORDS,
    TextFeatures,
    jaccard_pairs,
    tokenize,
)

PIECES = st.sampled_from([*"abcXYZ019 _-.,!\t\n\x01\x00äÖß字", "the ", "brick ", "wall "])
TEXTS = st.lists(PIECES, max_size=40).map("".join)


def test_upstream_rules():
    text = "Facade bricks falling over the SCHOOL entrance; brick_wall! a1 ab"
    assert tokenize(text, stop_words=UPSTREAM_STOP_WORDS) == {"bricks", "falling", "entrance"}
    assert tokenize(text) == {"facade", "bricks", "falling", "entrance", "brick", "wall"}


def test_token_length_counts_characters_not_bytes():
    # Upstream measured UTF-8 bytes, so "ßa" (3 bytes) survived; we count two characters.
    assert tokenize("ßa öüx") == {"öüx"}


@given(texts=st.lists(TEXTS, max_size=25), min_chars=st.integers(1, 4), upstream=st.booleans())
def test_batch_features_equal_the_reference_tokenizer(texts, min_chars, upstream):
    stop = UPSTREAM_STOP_WORDS if upstream else DEFAULT_STOP_WORDS
    features = TextFeatures.from_texts(texts, stop_words=stop, min_token_chars=min_chars)
    assert features.n_reports == len(texts)
    for k, text in enumerate(texts):
        assert features.tokens(k) == tokenize(text, stop_words=stop, min_token_chars=min_chars)
    for token_id, token in enumerate(features.vocabulary):
        holders = sum(token in features.tokens(k) for k in range(len(texts)))
        assert features.document_frequency[token_id] == holders


@given(texts=st.lists(TEXTS, min_size=2, max_size=12))
def test_jaccard_pairs_equal_set_jaccard(texts):
    features = TextFeatures.from_texts(texts)
    i, j = np.triu_indices(len(texts), k=1)
    got = jaccard_pairs(features, i, j, chunk_pairs=7)
    for k, (a, b) in enumerate(zip(i, j, strict=True)):
        ta, tb = tokenize(texts[a]), tokenize(texts[b])
        expected = len(ta & tb) / len(ta | tb) if ta and tb else 0.0
        assert got[k] == pytest.approx(expected)


def test_long_and_repeated_tokens_take_the_exact_path():
    long_word = "abcdefghijklmnopqrstuvwxyz" * 2
    texts = [f"{long_word} {long_word} abcdefghabcdefgh", "abcdefghabcdefghi abcdefghabcdefgh"]
    features = TextFeatures.from_texts(texts)
    assert features.tokens(0) == {long_word, "abcdefghabcdefgh"}
    assert features.tokens(1) == {"abcdefghabcdefghi", "abcdefghabcdefgh"}


def test_chunked_arrow_strings_and_missing_values_are_tokenized():
    # Large frames hold their strings in several Arrow chunks; missing text is empty.
    import pandas as pd
    import pyarrow as pa

    texts = ["Loose brick wall", None, "Überfall café ok", "overflowing trash bin"] * 3
    chunked = pa.chunked_array(
        [pa.array(texts[:5], pa.large_string()), pa.array(texts[5:], pa.large_string())]
    )
    features = TextFeatures.from_texts(pd.Series(pd.arrays.ArrowExtensionArray(chunked)))
    assert [features.tokens(k) for k in range(len(texts))] == [tokenize(t or "") for t in texts]


@given(texts=st.lists(TEXTS, max_size=20), seed=st.integers(0, 1000))
def test_ordered_features_equal_take_of_the_permutation(texts, seed):
    order = np.random.default_rng(seed).permutation(len(texts))
    ordered = TextFeatures.from_texts(texts, order=order)
    taken = TextFeatures.from_texts(texts).take(order)
    assert np.array_equal(ordered.indptr, taken.indptr)
    assert np.array_equal(ordered.indices, taken.indices)
    assert [ordered.tokens(p) for p in range(len(texts))] == [tokenize(texts[k]) for k in order]


def test_order_must_be_a_permutation():
    with pytest.raises(ValueError, match="permutation of the 3 texts"):
        TextFeatures.from_texts(["a b", "c", "d"], order=np.array([0, 0, 1]))


@given(rows=st.lists(st.tuples(TEXTS, TEXTS | st.none(), TEXTS), max_size=15))
def test_a_frame_is_tokenized_as_its_cells_joined_per_row(rows):
    import pandas as pd

    # Two columns share a name: each column is read by position.
    frame = pd.DataFrame(rows, columns=["title", "summary", "title"], dtype=object)
    features = TextFeatures.from_texts(frame)
    joined = [" ".join(cell or "" for cell in row) for row in rows]
    assert features.n_reports == len(rows)
    for k, text in enumerate(joined):
        assert features.tokens(k) == tokenize(text)
