"""Tokenizer, stop words and per-report text features.

The tokenizer follows the upstream CleanApp system (reference §4.1):

1. lowercase the text;
2. split on every character that is neither a Unicode letter nor a Unicode number
   (underscore and punctuation separate tokens);
3. drop tokens shorter than ``min_token_chars`` characters (upstream counted UTF-8 bytes,
   so a two-letter token with a non-ASCII letter survived there; we count characters);
4. drop stop words;
5. keep the set of distinct tokens.

Text features are computed once per report, for all reports at once, into a compact
sparse layout (:class:`TextFeatures`) whose token ids are ordered by document frequency
(rarest first, ties by text), so the layout does not depend on the order of the reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "DEFAULT_STOP_WORDS",
    "UPSTREAM_STOP_WORDS",
    "TextFeatures",
    "jaccard_pairs",
    "tokenize",
]

#: The upstream stop-word list, verbatim. It wrongly drops "brick", "wall" and "facade",
#: the core vocabulary of structural hazards; :data:`UPSTREAM_MODEL` keeps it for fidelity.
UPSTREAM_STOP_WORDS: Final[frozenset[str]] = frozenset(
    "the and for with from that this into onto over near under school campus building "
    "facility report issue incident hazard physical digital brick wall facade on at".split()
)

#: Our stop words: upstream's list without "brick", "wall" and "facade" (real incident
#: vocabulary), plus common English function words of three or more letters.
DEFAULT_STOP_WORDS: Final[frozenset[str]] = (
    UPSTREAM_STOP_WORDS - {"brick", "wall", "facade"}
) | frozenset(
    "are was were has have had been being its their there these those which who what "
    "when where while than then them they can could would should will not but all any "
    "some out off about you your our his her she him also just very".split()
)

TextInput = Sequence[str] | pd.Series | pd.DataFrame | np.ndarray

_TOKEN = re.compile(r"[^\W_]+")
_CHUNK_DOCS = 50_000
_SEPARATOR, _DOC_MARK = 0, 1
# ASCII bytes → lowercase letters and digits kept, the document mark kept, all else 0.
_ASCII_TABLE = bytes(
    (b | 0x20)
    if chr(b).isalpha()
    else b
    if chr(b).isdigit()
    else _DOC_MARK
    if b == _DOC_MARK
    else _SEPARATOR
    for b in range(128)
) + bytes(128)


def _split_tokens(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Split texts into tokens: owning text and code of each token, and each code's token.

    ASCII texts take a compiled byte-level path that creates no Python string per token;
    other texts use the Unicode-aware regular expression. Both give the tokens of
    :func:`tokenize`.
    """
    is_ascii = np.fromiter(
        (t.isascii() and "\x01" not in t for t in texts), dtype=bool, count=len(texts)
    )
    docs: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    vocabulary: list[str] = []
    ascii_positions = np.flatnonzero(is_ascii)
    if len(ascii_positions):
        doc, ascii_codes, ascii_vocabulary = _ascii_tokens(texts[ascii_positions])
        docs.append(ascii_positions[doc])
        codes.append(ascii_codes)
        vocabulary = ascii_vocabulary
    other_positions = np.flatnonzero(~is_ascii)
    if len(other_positions):
        index = {token: code for code, token in enumerate(vocabulary)}
        for k in other_positions:
            found = _TOKEN.findall(str(texts[k]).lower())
            docs.append(np.full(len(found), k, dtype=np.int64))
            codes.append(
                np.fromiter((index.setdefault(t, len(index)) for t in found), np.int64, len(found))
            )
        vocabulary = list(index)
    if not docs:
        return np.empty(0, np.int64), np.empty(0, np.int64), []
    return np.concatenate(docs).astype(np.int64), np.concatenate(codes), vocabulary


def _ascii_tokens(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Tokens of ASCII texts without the document mark: (owning text, code, vocabulary).

    A compiled pass finds the token spans and hashes them; equal hashes get one code, and
    a second pass checks byte for byte that every token equals the first token of its
    code, so the codes are exact (on a hash collision the tokens are keyed by text).
    """
    from cleanapp_geo import _accel

    joined = "\x01".join(texts.tolist()).encode("ascii").translate(_ASCII_TABLE)
    chars = np.frombuffer(joined, dtype=np.uint8)
    starts, lengths, doc, hashes = _accel.ascii_token_spans(chars)
    if len(starts) == 0:
        return doc, np.empty(0, np.int64), []
    codes, unique_hashes = pd.factorize(hashes)
    codes = codes.astype(np.int64)
    first = np.empty(len(unique_hashes), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    if _accel.spans_equal_representatives(chars, starts, lengths, codes, first):
        vocabulary = [
            joined[a : a + n].decode("ascii")
            for a, n in zip(starts[first].tolist(), lengths[first].tolist(), strict=True)
        ]
        return doc, codes, vocabulary
    index: dict[str, int] = {}
    tokens = (
        joined[a : a + n].decode("ascii")
        for a, n in zip(starts.tolist(), lengths.tolist(), strict=True)
    )
    codes = np.fromiter((index.setdefault(t, len(index)) for t in tokens), np.int64, len(starts))
    return doc, codes, list(index)


def tokenize(
    text: str,
    *,
    stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
    min_token_chars: int = 3,
) -> frozenset[str]:
    """Split one text into its set of incident-language tokens.

    Parameters
    ----------
    text : str
        Any text; ``None``-like values should be passed as "".
    stop_words : iterable of str, default DEFAULT_STOP_WORDS
        Lowercase tokens to drop.
    min_token_chars : int, default 3
        Tokens with fewer characters are dropped.

    Returns
    -------
    frozenset of str

    Examples
    --------
    >>> sorted(tokenize("Facade bricks falling over the school entrance!"))
    ['bricks', 'entrance', 'facade', 'falling']
    >>> sorted(tokenize("Facade bricks falling", stop_words=UPSTREAM_STOP_WORDS))
    ['bricks', 'falling']
    """
    stop = frozenset(stop_words)
    return frozenset(
        t for t in _TOKEN.findall(text.lower()) if len(t) >= min_token_chars and t not in stop
    )


@dataclass(frozen=True, slots=True, eq=False)
class TextFeatures:
    """Token sets of many reports in CSR layout.

    Token ids are ranks by ascending document frequency (ties broken by the token text),
    so the ids of one report, stored sorted, list its rarest tokens first.

    Attributes
    ----------
    indptr : numpy.ndarray
        int64, length ``n + 1``; report ``i`` owns ``indices[indptr[i]:indptr[i + 1]]``.
    indices : numpy.ndarray
        int32 token ids, sorted within each report.
    vocabulary : numpy.ndarray
        object array of tokens; ``vocabulary[id]`` is the token of ``id``.
    document_frequency : numpy.ndarray
        int64, number of reports holding each token id.
    """

    indptr: np.ndarray
    indices: np.ndarray
    vocabulary: np.ndarray
    document_frequency: np.ndarray

    @property
    def n_reports(self) -> int:
        """Number of reports."""
        return len(self.indptr) - 1

    @property
    def sizes(self) -> np.ndarray:
        """Number of distinct tokens per report (int64)."""
        return np.diff(self.indptr)

    def tokens(self, i: int) -> frozenset[str]:
        """Return the token set of report ``i`` (positional)."""
        ids = self.indices[self.indptr[i] : self.indptr[i + 1]]
        return frozenset(self.vocabulary[ids].tolist())

    def to_csr(self) -> sp.csr_array:
        """Return the binary report × token incidence matrix."""
        data = np.ones(len(self.indices), dtype=np.int32)
        shape = (self.n_reports, len(self.vocabulary))
        return sp.csr_array((data, self.indices, self.indptr), shape=shape)

    @classmethod
    def from_texts(
        cls,
        texts: TextInput,
        *,
        stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
        min_token_chars: int = 3,
    ) -> TextFeatures:
        """Tokenize many texts at once (same rules as :func:`tokenize`).

        The texts are processed in chunks of 50,000, ASCII ones at the byte level, so
        memory stays bounded for millions of reports.

        Parameters
        ----------
        texts : sequence of str, pandas.Series or pandas.DataFrame
            One text per report; a frame's columns are joined with a space per row
            (equivalent to tokenizing the joined text, since a space separates tokens).
        stop_words : iterable of str, default DEFAULT_STOP_WORDS
            Lowercase tokens to drop.
        min_token_chars : int, default 3
            Tokens with fewer characters are dropped.

        Returns
        -------
        TextFeatures
        """
        stop = frozenset(stop_words)
        n = len(texts)
        global_ids: dict[str, int] = {}
        chunks: list[tuple[np.ndarray, np.ndarray]] = []  # per chunk: unique (doc, code) pairs
        for start in range(0, n, _CHUNK_DOCS):
            values = _chunk_values(texts, start, min(n, start + _CHUNK_DOCS))
            doc, local_codes, local_uniques = _split_tokens(values)
            keep_token = np.fromiter(
                (len(t) >= min_token_chars and t not in stop for t in local_uniques),
                dtype=bool,
                count=len(local_uniques),
            )
            to_global = np.fromiter(
                (
                    global_ids.setdefault(t, len(global_ids)) if keep else -1
                    for t, keep in zip(local_uniques, keep_token, strict=True)
                ),
                dtype=np.int64,
                count=len(local_uniques),
            )
            kept = keep_token[local_codes]
            keys = np.sort(doc[kept] * (1 << 31) + to_global[local_codes[kept]])
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
            chunks.append(
                ((keys >> 31).astype(np.int32), (keys & ((1 << 31) - 1)).astype(np.int32))
            )
        n_tokens = len(global_ids)
        vocabulary = np.empty(n_tokens, dtype=object)
        vocabulary[np.fromiter(global_ids.values(), np.int64, n_tokens)] = list(global_ids)
        frequency = np.zeros(n_tokens, dtype=np.int64)
        for _, codes in chunks:
            frequency += np.bincount(codes, minlength=n_tokens)
        # Rank tokens by document frequency (ties by text): a canonical order.
        rank_order = np.lexsort((vocabulary.astype(str), frequency))
        rank = np.empty(n_tokens, dtype=np.int64)
        rank[rank_order] = np.arange(n_tokens)
        width = max(n_tokens, 1)
        counts = np.zeros(n, dtype=np.int64)
        indices_parts = []
        for k, (docs, codes) in enumerate(chunks):
            keys = docs.astype(np.int64) * width + rank[codes]
            keys.sort()
            indices_parts.append((keys % width).astype(np.int32))
            counts[k * _CHUNK_DOCS : (k + 1) * _CHUNK_DOCS] = np.bincount(
                docs, minlength=min(n, (k + 1) * _CHUNK_DOCS) - k * _CHUNK_DOCS
            )
            chunks[k] = (np.empty(0, np.int32), np.empty(0, np.int32))  # free as we go
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(
            indptr=indptr,
            indices=np.concatenate(indices_parts) if indices_parts else np.empty(0, np.int32),
            vocabulary=vocabulary[rank_order],
            document_frequency=frequency[rank_order],
        )


def _chunk_values(texts: TextInput, start: int, stop: int) -> np.ndarray:
    """Texts ``start:stop`` as an object array; a frame's columns are joined with spaces.

    Columns convert per chunk, so no full-size column of Python strings is ever built.
    """
    if isinstance(texts, pd.DataFrame):
        columns = [texts.iloc[start:stop, c].to_numpy(dtype=object) for c in range(texts.shape[1])]
        joined = columns[0]
        for column in columns[1:]:
            joined = joined + " " + column
        return np.asarray(joined, dtype=object)
    if isinstance(texts, pd.Series):
        return texts.iloc[start:stop].to_numpy(dtype=object)
    return np.asarray(texts[start:stop], dtype=object)


def jaccard_pairs(
    features: TextFeatures, i: np.ndarray, j: np.ndarray, *, chunk_pairs: int = 1_000_000
) -> np.ndarray:
    """Exact Jaccard similarity of the token sets of report pairs ``(i[k], j[k])``.

    The Jaccard similarity of two empty sets (or of any set with an empty one) is 0, as
    upstream defines it.

    Parameters
    ----------
    features : TextFeatures
        Token sets of the reports.
    i, j : numpy.ndarray
        Positional report indices of equal length.
    chunk_pairs : int, default 1,000,000
        Pairs processed per chunk (bounds memory).

    Returns
    -------
    numpy.ndarray
        float64 similarities in [0, 1].
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    out = np.zeros(len(i), dtype=np.float64)
    if len(i) == 0:
        return out
    matrix = features.to_csr()
    sizes = features.sizes
    for start in range(0, len(i), chunk_pairs):
        ci, cj = i[start : start + chunk_pairs], j[start : start + chunk_pairs]
        inter = np.asarray(matrix[ci].multiply(matrix[cj]).sum(axis=1)).ravel()
        union = sizes[ci] + sizes[cj] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + len(ci)] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out
