"""Compiled tokenizer (numba): token ids of UTF-8 text cells in one pass.

Imported lazily by :mod:`cleanapp_geo.text` on first use. A vocabulary lives in plain
arrays that the caller keeps between calls (:class:`Vocabulary`): an open-addressing hash
table from token to id, keyed by the FNV-1a hash of the token's lowercased bytes and
*checked byte for byte* against a copy of every token (the arena), so ids are exact even
when two tokens share a hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

__all__ = [
    "ASCII_KIND",
    "IDENTITY",
    "Vocabulary",
    "ascii_spans",
    "distinct_per_document",
    "place_sorted",
    "span_codes",
    "take_segments",
]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)

#: ASCII byte → its lowercase letter or digit; 0 for every separator byte (bytes of 128
#: and above never reach this table: such cells take the Unicode path).
ASCII_KIND = np.array(
    [(b | 0x20) if chr(b).isalpha() else b if chr(b).isdigit() else 0 for b in range(128)]
    + [0] * 128,
    dtype=np.uint8,
)
#: Bytes compared as they are (tokens already lowercased by Python).
IDENTITY = np.arange(256, dtype=np.uint8)

# Indices into the ``counters`` vector.
C_CODES, C_ARENA = 0, 1


@dataclass(slots=True)
class Vocabulary:
    """Growable token → id table (arrays owned by the caller, filled by the kernels)."""

    slots: np.ndarray = field(default_factory=lambda: np.full(1 << 12, -1, np.int32))
    code_hash: np.ndarray = field(default_factory=lambda: np.zeros(1 << 11, np.uint64))
    arena_start: np.ndarray = field(default_factory=lambda: np.zeros(1 << 11, np.int64))
    arena_length: np.ndarray = field(default_factory=lambda: np.zeros(1 << 11, np.int64))
    arena: np.ndarray = field(default_factory=lambda: np.zeros(1 << 16, np.uint8))
    counters: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))

    @property
    def n_codes(self) -> int:
        """Number of distinct tokens so far."""
        return int(self.counters[C_CODES])

    def token(self, code: int) -> str:
        """Return the text of token ``code``."""
        start = int(self.arena_start[code])
        return bytes(self.arena[start : start + int(self.arena_length[code])]).decode("utf-8")

    def grow(self) -> None:
        """Double the table (re-placing every token) and the arena."""
        capacity = 2 * len(self.slots)
        self.slots = _rehash(self.code_hash, self.n_codes, capacity)
        max_codes = capacity // 2
        self.code_hash = _resized(self.code_hash, max_codes, 0)
        self.arena_start = _resized(self.arena_start, max_codes, 0)
        self.arena_length = _resized(self.arena_length, max_codes, 0)
        self.arena = _resized(self.arena, 2 * len(self.arena), 0)


def _resized(values: np.ndarray, size: int, fill: int) -> np.ndarray:
    out = np.full(size, fill, dtype=values.dtype)
    out[: min(size, len(values))] = values[:size]
    return out


@numba.njit(cache=True, nogil=True)
def _rehash(code_hash: np.ndarray, n_codes: int, capacity: int) -> np.ndarray:
    slots = np.full(capacity, -1, np.int32)
    mask = np.uint64(capacity - 1)
    for code in range(n_codes):
        slot = code_hash[code] & mask
        while slots[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = code
    return slots


@numba.njit(cache=True, nogil=True)
def span_codes(
    data: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    table: np.ndarray,
    first: int,
    slots: np.ndarray,
    code_hash: np.ndarray,
    arena: np.ndarray,
    arena_start: np.ndarray,
    arena_length: np.ndarray,
    counters: np.ndarray,
    out_codes: np.ndarray,
) -> int:
    """Ids of the tokens ``table[data[starts[k]:stops[k]]]``, inserting new ones.

    Writes ``out_codes[k]`` from span ``first`` on and returns the span it stopped
    before: ``len(starts)`` when done, earlier when the table or the arena must grow
    (:meth:`Vocabulary.grow`) before the next insertion.
    """
    mask = np.uint64(len(slots) - 1)
    for t in range(first, len(starts)):
        start = starts[t]
        length = stops[t] - start
        h = _FNV_OFFSET
        for k in range(start, start + length):
            h = (h ^ np.uint64(table[data[k]])) * _FNV_PRIME
        slot = h & mask
        while True:
            code = slots[slot]
            if code < 0:
                if 2 * (counters[C_CODES] + 1) > len(slots) or (
                    counters[C_ARENA] + length > len(arena)
                ):
                    return t
                code = counters[C_CODES]
                counters[C_CODES] = code + 1
                slots[slot] = code
                code_hash[code] = h
                at = counters[C_ARENA]
                for k in range(length):
                    arena[at + k] = table[data[start + k]]
                arena_start[code] = at
                arena_length[code] = length
                counters[C_ARENA] = at + length
                break
            if code_hash[code] == h and arena_length[code] == length:
                at = arena_start[code]
                same = True
                for k in range(length):
                    if arena[at + k] != table[data[start + k]]:
                        same = False
                        break
                if same:
                    break
            slot = (slot + np.uint64(1)) & mask
        out_codes[t] = code
    return len(starts)


@numba.njit(cache=True, nogil=True)
def ascii_spans(
    data: np.ndarray, offsets: np.ndarray, min_chars: int, kind: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Token spans of documents made of text cells whose bytes are all ASCII.

    Document ``d`` is the cells ``data[offsets[c, d]:offsets[c, d + 1]]`` of every
    column ``c`` (cells are joined by a separator). Tokens are maximal runs of bytes
    whose ``kind`` is not 0, at least ``min_chars`` long. Returns the document, start and
    stop of every token, document by document, and ``d * n_columns + c`` of every cell
    holding a byte of 128 or more (skipped here: the caller tokenizes it as Unicode).
    """
    n_columns = offsets.shape[0]
    n_docs = offsets.shape[1] - 1
    n_bytes = offsets[n_columns - 1, n_docs] if n_columns else 0
    n_cells = n_columns * n_docs
    bound = (n_bytes + n_cells) // (min_chars + 1) + n_cells
    docs = np.empty(bound, np.int32)
    starts = np.empty(bound, np.int64)
    stops = np.empty(bound, np.int64)
    non_ascii = np.empty(n_cells, np.int64)
    n_tokens = 0
    n_non_ascii = 0
    for d in range(n_docs):
        for c in range(n_columns):
            lo = offsets[c, d]
            hi = offsets[c, d + 1]
            ascii_only = True
            for k in range(lo, hi):
                if data[k] >= 128:
                    ascii_only = False
                    break
            if not ascii_only:
                non_ascii[n_non_ascii] = d * n_columns + c
                n_non_ascii += 1
                continue
            start = -1
            for k in range(lo, hi + 1):
                if k < hi and kind[data[k]] != 0:
                    if start < 0:
                        start = k
                elif start >= 0:
                    if k - start >= min_chars:
                        docs[n_tokens] = d
                        starts[n_tokens] = start
                        stops[n_tokens] = k
                        n_tokens += 1
                    start = -1
    return docs[:n_tokens], starts[:n_tokens], stops[:n_tokens], non_ascii[:n_non_ascii]


@numba.njit(cache=True, nogil=True)
def distinct_per_document(
    docs: np.ndarray, codes: np.ndarray, n_codes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated ``(doc, code)`` pairs; ``docs`` must be grouped by document."""
    mark = np.full(n_codes, -1, np.int64)
    keep = np.zeros(len(docs), np.bool_)
    for k in range(len(docs)):
        if mark[codes[k]] != docs[k]:
            mark[codes[k]] = docs[k]
            keep[k] = True
    return docs[keep], codes[keep]


@numba.njit(cache=True, nogil=True)
def take_segments(
    indptr: np.ndarray, values: np.ndarray, rows: np.ndarray, new_indptr: np.ndarray
) -> np.ndarray:
    """Concatenate ``values[indptr[r]:indptr[r + 1]]`` for ``r`` in ``rows``."""
    out = np.empty(new_indptr[-1], values.dtype)
    for k in range(len(rows)):
        start = indptr[rows[k]]
        at = new_indptr[k]
        for t in range(new_indptr[k + 1] - at):
            out[at + t] = values[start + t]
    return out


@numba.njit(cache=True, nogil=True)
def place_sorted(
    codes: np.ndarray,
    sizes: np.ndarray,
    rank: np.ndarray,
    destination: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write each text's ``rank[codes]``, sorted, at ``out[destination[d]:]``.

    ``codes`` holds the ids of consecutive texts, ``sizes[d]`` of them for text ``d``.
    """
    at = 0
    for d in range(len(sizes)):
        start = destination[d]
        size = sizes[d]
        for k in range(size):
            out[start + k] = rank[codes[at + k]]
        at += size
        if size > 32:
            out[start : start + size] = np.sort(out[start : start + size])
            continue
        for k in range(start + 1, start + size):
            v = out[k]
            p = k - 1
            while p >= start and out[p] > v:
                out[p + 1] = out[p]
                p -= 1
            out[p + 1] = v
