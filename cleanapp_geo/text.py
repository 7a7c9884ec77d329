"""Tokenizer, stop words and per-report text features.

The tokenizer follows the upstream CleanApp system (its `tokenize` helper of the cluster
analysis), with one documented difference in step 3:

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
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    import pyarrow as pa

    from cleanapp_geo import _text_accel

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
_NO_MARK: Final = np.empty(0, dtype=np.int64)


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

    def take(self, rows: np.ndarray) -> TextFeatures:
        """Return the token sets of reports ``rows`` (positional), in that order.

        The vocabulary and document frequencies are kept as they are.
        """
        from cleanapp_geo import _text_accel

        rows = np.asarray(rows, dtype=np.int64)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(self.sizes[rows], out=indptr[1:])
        return TextFeatures(
            indptr=indptr,
            indices=_text_accel.take_segments(self.indptr, self.indices, rows, indptr),
            vocabulary=self.vocabulary,
            document_frequency=self.document_frequency,
        )

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
        order: np.ndarray | None = None,
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
        order : numpy.ndarray, optional
            A permutation: row ``p`` of the result holds the tokens of text ``order[p]``
            (the same as ``from_texts(texts).take(order)``, without the copy).

        Returns
        -------
        TextFeatures
        """
        from cleanapp_geo import _text_accel

        # A stop word that is empty or holds NUL can never equal a token.
        stop = sorted(w for w in frozenset(stop_words) if w and "\x00" not in w)
        columns = _utf8_columns(texts)
        n = len(texts)
        vocabulary = _text_accel.Vocabulary()
        n_stop = len(_insert_tokens(vocabulary, stop))
        sizes = np.zeros(n, dtype=np.int64)
        parts: list[np.ndarray] = []  # per chunk: token ids grouped by text
        for first in range(0, n, _CHUNK_DOCS):
            stop_doc = min(n, first + _CHUNK_DOCS)
            docs, codes = _chunk_tokens(
                columns, first, stop_doc, vocabulary, n_stop, min_token_chars
            )
            sizes[first:stop_doc] = np.bincount(docs - first, minlength=stop_doc - first)
            parts.append(codes)
        n_tokens = vocabulary.n_codes - n_stop
        tokens = np.empty(n_tokens, dtype=object)
        tokens[:] = vocabulary.tokens(n_stop, n_stop + n_tokens)
        frequency = np.zeros(vocabulary.n_codes, dtype=np.int64)
        for codes in parts:
            frequency += np.bincount(codes, minlength=vocabulary.n_codes)
        frequency = frequency[n_stop:]
        # Rank tokens by document frequency (ties by text): a canonical order.
        rank_order = np.lexsort((tokens.astype(str), frequency))
        rank = np.full(vocabulary.n_codes, -1, dtype=np.int32)
        rank[n_stop + rank_order] = np.arange(n_tokens, dtype=np.int32)
        rows = np.arange(n) if order is None else _permutation(order, n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes[rows], out=indptr[1:])
        destination = np.empty(n, dtype=np.int64)
        destination[rows] = indptr[:-1]  # where each text's tokens go
        indices = np.empty(indptr[-1], dtype=np.int32)
        for k in range(len(parts)):
            first = k * _CHUNK_DOCS
            chunk_sizes = sizes[first : first + _CHUNK_DOCS]
            _text_accel.place_sorted(parts[k], chunk_sizes, rank, destination[first:], indices)
            parts[k] = parts[k][:0]  # free as we go
        return cls(
            indptr=indptr,
            indices=indices,
            vocabulary=tokens[rank_order],
            document_frequency=frequency[rank_order],
        )


def _permutation(order: np.ndarray, n: int) -> np.ndarray:
    rows = np.asarray(order, dtype=np.int64)
    if (
        rows.shape != (n,)
        or (n and (rows.min() < 0 or rows.max() >= n))
        or (n and np.bincount(rows, minlength=n).max() > 1)
    ):
        raise ValueError(f"order must be a permutation of the {n} texts")
    return rows


def _utf8_columns(texts: TextInput) -> list[pa.Array | pa.ChunkedArray]:
    """Each text column as an Arrow ``large_string`` array without missing values.

    A frame gives one column per frame column (a report's text is its cells joined with a
    space); anything else is one column. Missing values count as empty text. Arrow-backed
    pandas strings are not copied.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(texts, pd.DataFrame):
        # items() yields the columns by position as iloc[:, c] does, at half its cost.
        sources: list[object] = [column for _, column in texts.items()]
    elif isinstance(texts, pd.Series):
        sources = [texts]
    else:
        sources = [np.asarray(texts, dtype=object)]
    columns = []
    for source in sources:
        try:
            array = pa.array(source, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise TypeError(f"texts must be strings: {error}") from None
        columns.append(pc.fill_null(array, "") if array.null_count else array)
    return columns


def _utf8_buffers(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes and int64 offsets of a ``large_string`` column (chunks are joined)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    _, offsets, data = column.buffers()
    start = column.offset
    return (
        np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8),
        np.frombuffer(offsets, np.int64)[start : start + len(column) + 1],
    )


def _token_ids(
    vocabulary: _text_accel.Vocabulary,
    data: np.ndarray,
    offsets: np.ndarray,
    *,
    doc_base: int = 0,
    min_chars: int = 1,
    n_stop: int = 0,
    ascii: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run :func:`~cleanapp_geo._text_accel.token_ids`, growing the vocabulary as needed.

    With ``ascii``, cells are tokenized as ASCII text (ids de-duplicated per document,
    cells with other bytes returned for the Unicode path); otherwise every cell is one
    token, already lowercased, and every id is returned in cell order.
    """
    from cleanapp_geo import _text_accel

    n_docs = offsets.shape[1] - 1
    n_cells = offsets.shape[0] * n_docs
    bound = (len(data) + n_cells) // (min_chars + 1) + n_cells
    out_docs = np.empty(bound, np.int32)
    out_codes = np.empty(bound, np.int32)
    non_ascii = np.empty(n_cells if ascii else 0, np.int64)
    counters = vocabulary.counters
    counters[[_text_accel.C_OUT, _text_accel.C_NON_ASCII]] = 0
    kind = _text_accel.ASCII_KIND if ascii else _text_accel.TOKEN_BYTES
    done = 0
    while True:
        done = _text_accel.token_ids(
            data, offsets, done, doc_base, min_chars, n_stop, kind, ascii, vocabulary.slots,
            vocabulary.code_hash, vocabulary.arena, vocabulary.arena_start,
            vocabulary.arena_length, vocabulary.mark if ascii else _NO_MARK, counters,
            out_docs, out_codes, non_ascii,
        )  # fmt: skip
        if done == n_docs:
            break
        vocabulary.grow()
    n_out = int(counters[_text_accel.C_OUT])
    n_non_ascii = int(counters[_text_accel.C_NON_ASCII])
    return out_docs[:n_out].copy(), out_codes[:n_out].copy(), non_ascii[:n_non_ascii].copy()


def _insert_tokens(vocabulary: _text_accel.Vocabulary, tokens: Sequence[str]) -> np.ndarray:
    """Ids of lowercased, non-empty tokens in ``vocabulary`` (inserted when new; int32)."""
    encoded = [t.encode("utf-8") for t in tokens]
    offsets = np.zeros((1, len(encoded) + 1), dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[0, 1:])
    data = np.frombuffer(b"".join(encoded), np.uint8)
    _, codes, _ = _token_ids(vocabulary, data, offsets)
    if len(codes) != len(tokens):
        raise ValueError("tokens must be non-empty and hold no NUL character")
    return codes


def _chunk_tokens(
    columns: list[pa.Array | pa.ChunkedArray],
    first: int,
    stop: int,
    vocabulary: _text_accel.Vocabulary,
    n_stop: int,
    min_token_chars: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(document, token id)`` pairs of documents ``first:stop``, by document.

    ASCII cells are tokenized by the compiled pass; cells with other characters by the
    Unicode-aware expression of :func:`tokenize`. Stop words (ids below ``n_stop``) are
    dropped.
    """
    from cleanapp_geo import _text_accel

    pieces, offsets, base = [], [], 0
    for column in columns:
        data, column_offsets = _utf8_buffers(column.slice(first, stop - first))
        lo, hi = int(column_offsets[0]), int(column_offsets[-1])
        pieces.append(data[lo:hi])
        offsets.append(column_offsets - lo + base)
        base += hi - lo
    data = np.concatenate(pieces)
    cell_offsets = np.stack(offsets)
    docs, codes, cells = _token_ids(
        vocabulary, data, cell_offsets, doc_base=first, min_chars=min_token_chars,
        n_stop=n_stop, ascii=True,
    )  # fmt: skip
    if len(cells):
        extra_docs, extra_tokens = [], []
        n_columns = cell_offsets.shape[0]
        for cell in cells.tolist():
            d, c = divmod(cell, n_columns)
            text = bytes(data[cell_offsets[c, d] : cell_offsets[c, d + 1]]).decode("utf-8")
            found = [t for t in _TOKEN.findall(text.lower()) if len(t) >= min_token_chars]
            extra_docs.extend([first + d] * len(found))
            extra_tokens.extend(found)
        docs = np.concatenate((docs, np.asarray(extra_docs, np.int32)))
        codes = np.concatenate((codes, _insert_tokens(vocabulary, extra_tokens)))
        order = np.argsort(docs, kind="stable")
        docs, codes = docs[order], codes[order]
        keep = codes >= n_stop
        return _text_accel.distinct_per_document(docs[keep], codes[keep], vocabulary.n_codes)
    return docs, codes


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
