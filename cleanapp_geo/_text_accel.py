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
    "TOKEN_BYTES",
    "Vocabulary",
    "distinct_per_document",
    "place_sorted",
    "resized",
    "take_segments",
    "token_ids",
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
#: Every byte but 0 is a token byte, taken as it is (for tokens already split and
#: lowercased by Python, one per cell).
TOKEN_BYTES = np.arange(256, dtype=np.uint8)

# Indices into the ``counters`` vector.
C_CODES, C_ARENA, C_OUT, C_NON_ASCII = 0, 1, 2, 3


@dataclass(slots=True)
class Vocabulary:
    """Growable token → id table (arrays owned by the caller, filled by the kernels)."""

    slots: np.ndarray = field(default_factory=lambda: np.full(1 << 12, -1, np.int32))
    code_hash: np.ndarray = field(default_factory=lambda: np.zeros(1 << 11, np.uint64))
    arena_start: np.ndarray = field(default_factory=lambda: np.zeros(1 << 11, np.int64))
    arena_length: np.ndarray = field(default_factory=lambda: np.zeros(1 << 11, np.int64))
    mark: np.ndarray = field(default_factory=lambda: np.full(1 << 11, -1, np.int64))
    arena: np.ndarray = field(default_factory=lambda: np.zeros(1 << 16, np.uint8))
    counters: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))

    @property
    def n_codes(self) -> int:
        """Number of distinct tokens so far."""
        return int(self.counters[C_CODES])

    def token(self, code: int) -> str:
        """Return the text of token ``code``."""
        start = int(self.arena_start[code])
        return bytes(self.arena[start : start + int(self.arena_length[code])]).decode("utf-8")

    def tokens(self, first: int, stop: int) -> list[str]:
        """Return the texts of tokens ``first`` to ``stop - 1`` (one copy of the arena)."""
        if stop <= first:
            return []
        starts = self.arena_start[first:stop]
        ends = starts + self.arena_length[first:stop]
        low = int(starts.min())
        arena = self.arena[low : int(ends.max())].tobytes()
        return [
            arena[start:end].decode("utf-8")
            for start, end in zip((starts - low).tolist(), (ends - low).tolist(), strict=True)
        ]

    def grow(self) -> None:
        """Double the table (re-placing every token) and the arena."""
        capacity = 2 * len(self.slots)
        self.slots = _rehash(self.code_hash, self.n_codes, capacity)
        max_codes = capacity // 2
        self.code_hash = resized(self.code_hash, max_codes, 0)
        self.arena_start = resized(self.arena_start, max_codes, 0)
        self.arena_length = resized(self.arena_length, max_codes, 0)
        self.mark = resized(self.mark, max_codes, -1)
        self.arena = resized(self.arena, 2 * len(self.arena), 0)


def resized(values: np.ndarray, size: int, fill: int) -> np.ndarray:
    """Return ``values`` copied into a new array of ``size``, padded with ``fill``."""
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
def token_ids(
    data: np.ndarray,
    offsets: np.ndarray,
    first_doc: int,
    doc_base: int,
    min_chars: int,
    n_stop: int,
    kind: np.ndarray,
    ascii_cells_only: bool,
    slots: np.ndarray,
    code_hash: np.ndarray,
    arena: np.ndarray,
    arena_start: np.ndarray,
    arena_length: np.ndarray,
    mark: np.ndarray,
    counters: np.ndarray,
    out_docs: np.ndarray,
    out_codes: np.ndarray,
    non_ascii: np.ndarray,
) -> int:
    """Distinct token ids of documents made of text cells, in one pass.

    Document ``d`` is the cells ``data[offsets[c, d]:offsets[c, d + 1]]`` of every column
    ``c`` (cells are joined by a separator). Tokens are maximal runs of bytes whose
    ``kind`` is not 0, taken as ``kind[byte]`` (lowercased), of at least ``min_chars``
    bytes. Each token is looked up in the vocabulary table (FNV-1a hash, then byte for
    byte against the arena copy) and inserted when new. Ids below ``n_stop`` (stop
    words) are dropped; with a non-empty ``mark`` (one slot per id) each id is written
    once per document. ``(doc_base + d, id)`` goes to ``out_docs``/``out_codes`` at
    ``counters[C_OUT]``.

    With ``ascii_cells_only``, a cell holding a byte of 128 or more is skipped and
    ``d * n_columns + c`` appended to ``non_ascii`` (the caller tokenizes it as Unicode).

    Starts at document ``first_doc`` and returns the document it stopped before: the
    number of documents when done, earlier when the table or the arena must grow
    (:meth:`Vocabulary.grow`).
    """
    n_columns = offsets.shape[0]
    n_docs = offsets.shape[1] - 1
    mask = np.uint64(len(slots) - 1)
    dedupe = len(mark) > 0
    # The counters live in locals during the pass (stored back at the end): kept in
    # registers, not re-read from memory at every token.
    n_codes = counters[C_CODES]
    arena_used = counters[C_ARENA]
    n_out = counters[C_OUT]
    n_non_ascii = counters[C_NON_ASCII]
    stopped = n_docs
    for d in range(first_doc, n_docs):
        doc_bytes = 0
        for c in range(n_columns):
            doc_bytes += offsets[c, d + 1] - offsets[c, d]
        if 2 * (n_codes + doc_bytes + 1) > len(slots) or arena_used + doc_bytes > len(arena):
            stopped = d
            break
        doc = doc_base + d
        for c in range(n_columns):
            lo = offsets[c, d]
            hi = offsets[c, d + 1]
            if ascii_cells_only:
                high = np.uint8(0)
                for k in range(lo, hi):  # no early exit: the loop is vectorised
                    high |= data[k]
                if high >= 128:
                    non_ascii[n_non_ascii] = d * n_columns + c
                    n_non_ascii += 1
                    continue
            k = lo
            while k < hi:
                ch = kind[data[k]]
                if ch == 0:
                    k += 1
                    continue
                start = k
                h = _FNV_OFFSET
                while True:  # the token's bytes, hashed as they are read
                    h = (h ^ np.uint64(ch)) * _FNV_PRIME
                    k += 1
                    if k >= hi:
                        break
                    ch = kind[data[k]]
                    if ch == 0:
                        break
                length = k - start
                if length < min_chars:
                    continue
                # The token's id (inlined: a compiled call with array arguments costs
                # more than the lookup).
                slot = h & mask
                while True:
                    code = slots[slot]
                    if code < 0:
                        code = n_codes
                        n_codes += 1
                        slots[slot] = code
                        code_hash[code] = h
                        for t in range(length):
                            arena[arena_used + t] = kind[data[start + t]]
                        arena_start[code] = arena_used
                        arena_length[code] = length
                        arena_used += length
                        break
                    if code_hash[code] == h and arena_length[code] == length:
                        at = arena_start[code]
                        same = True
                        for t in range(length):
                            if arena[at + t] != kind[data[start + t]]:
                                same = False
                                break
                        if same:
                            break
                    slot = (slot + np.uint64(1)) & mask
                if code >= n_stop and not (dedupe and mark[code] == doc):
                    if dedupe:
                        mark[code] = doc
                    out_docs[n_out] = doc
                    out_codes[n_out] = code
                    n_out += 1
    counters[C_CODES] = n_codes
    counters[C_ARENA] = arena_used
    counters[C_OUT] = n_out
    counters[C_NON_ASCII] = n_non_ascii
    return stopped


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
