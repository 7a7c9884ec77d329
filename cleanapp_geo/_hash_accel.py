"""Compiled hypothesis ids (numba): SHA-1 of ``"<title>:[s1 s2 ...]"`` for many groups.

Imported lazily by :mod:`cleanapp_geo.export`. :func:`hypothesis_ids` writes, for each
hypothesis, the 16 ASCII bytes of ``hyp_`` + the first 12 hex digits of the SHA-1 of its
UTF-8 payload, exactly as :func:`cleanapp_geo.hypotheses.hypothesis_id` does one at a time
with :mod:`hashlib` (the tests compare the two).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["ID_BYTES", "hypothesis_ids"]

#: Bytes of one id: ``hyp_`` and 12 hex digits.
ID_BYTES = 16
_U32 = np.uint32
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
_PREFIX = np.frombuffer(b"hyp_", dtype=np.uint8).copy()


@numba.njit(cache=True, nogil=True, inline="always")
def _rotl(x: np.uint32, n: int) -> np.uint32:
    return _U32((x << _U32(n)) | (x >> _U32(32 - n)))


@numba.njit(cache=True, nogil=True, inline="always")
def _digits(value: np.int64) -> int:
    """Characters of ``str(value)``."""
    count = 1 if value < 0 else 0
    u = np.uint64(-(value + 1)) + np.uint64(1) if value < 0 else np.uint64(value)
    count += 1
    while u >= np.uint64(10):
        u //= np.uint64(10)
        count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _write_int(buffer: np.ndarray, at: int, value: np.int64) -> int:
    """Write ``str(value)`` at ``buffer[at:]``; return the position after it."""
    if value < 0:
        buffer[at] = 45  # "-"
        at += 1
        u = np.uint64(-(value + 1)) + np.uint64(1)
    else:
        u = np.uint64(value)
    start = at
    while True:
        buffer[at] = 48 + np.uint8(u % np.uint64(10))
        at += 1
        u //= np.uint64(10)
        if u == np.uint64(0):
            break
    # The digits were written least significant first: reverse them.
    lo, hi = start, at - 1
    while lo < hi:
        buffer[lo], buffer[hi] = buffer[hi], buffer[lo]
        lo += 1
        hi -= 1
    return at


@numba.njit(cache=True, nogil=True)
def _sha1_prefix(
    message: np.ndarray, length: int, words: np.ndarray
) -> tuple[np.uint32, np.uint32]:
    """SHA-1 of ``message[:length]`` (the buffer has room for the padding): ``h0, h1``."""
    bits = np.uint64(length) * np.uint64(8)
    message[length] = 0x80
    padded = ((length + 8) // 64 + 1) * 64
    for k in range(length + 1, padded - 8):
        message[k] = 0
    for k in range(8):
        message[padded - 1 - k] = np.uint8((bits >> np.uint64(8 * k)) & np.uint64(0xFF))
    h0, h1, h2 = _U32(0x67452301), _U32(0xEFCDAB89), _U32(0x98BADCFE)
    h3, h4 = _U32(0x10325476), _U32(0xC3D2E1F0)
    for block in range(0, padded, 64):
        for t in range(16):
            k = block + 4 * t
            words[t] = (
                (_U32(message[k]) << _U32(24))
                | (_U32(message[k + 1]) << _U32(16))
                | (_U32(message[k + 2]) << _U32(8))
                | _U32(message[k + 3])
            )
        for t in range(16, 80):
            words[t] = _rotl(words[t - 3] ^ words[t - 8] ^ words[t - 14] ^ words[t - 16], 1)
        a, b, c, d, e = h0, h1, h2, h3, h4
        # The four rounds of 20 steps, each with its own function and constant.
        for t in range(20):
            f = _U32((b & c) | (~b & d))
            temp = _U32(_rotl(a, 5) + f + e + _U32(0x5A827999) + words[t])
            e, d, c, b, a = d, c, _rotl(b, 30), a, temp
        for t in range(20, 40):
            temp = _U32(_rotl(a, 5) + _U32(b ^ c ^ d) + e + _U32(0x6ED9EBA1) + words[t])
            e, d, c, b, a = d, c, _rotl(b, 30), a, temp
        for t in range(40, 60):
            f = _U32((b & c) | (b & d) | (c & d))
            temp = _U32(_rotl(a, 5) + f + e + _U32(0x8F1BBCDC) + words[t])
            e, d, c, b, a = d, c, _rotl(b, 30), a, temp
        for t in range(60, 80):
            temp = _U32(_rotl(a, 5) + _U32(b ^ c ^ d) + e + _U32(0xCA62C1D6) + words[t])
            e, d, c, b, a = d, c, _rotl(b, 30), a, temp
        h0, h1, h2 = _U32(h0 + a), _U32(h1 + b), _U32(h2 + c)
        h3, h4 = _U32(h3 + d), _U32(h4 + e)
    return h0, h1


@numba.njit(cache=True, nogil=True)
def hypothesis_ids(
    title_data: np.ndarray,
    title_offsets: np.ndarray,
    member_seqs: np.ndarray,
    offsets: np.ndarray,
    start: int,
    stop: int,
    out: np.ndarray,
) -> None:
    """Write the ids of hypotheses ``start .. stop - 1`` into ``out[h]`` (16 bytes each).

    Parameters
    ----------
    title_data, title_offsets : numpy.ndarray
        UTF-8 bytes of the titles and their int64 offsets (Arrow string layout).
    member_seqs, offsets : numpy.ndarray
        int64 seqs of each hypothesis, ``member_seqs[offsets[h]:offsets[h + 1]]``.
    start, stop : int
        The hypotheses to hash.
    out : numpy.ndarray
        (n, 16) uint8 output.
    """
    longest = 0
    for h in range(start, stop):
        length = title_offsets[h + 1] - title_offsets[h] + 3
        for k in range(offsets[h], offsets[h + 1]):
            length += _digits(member_seqs[k]) + 1
        longest = max(longest, length)
    message = np.empty(longest + 72, np.uint8)
    words = np.empty(80, np.uint32)
    for h in range(start, stop):
        at = 0
        for k in range(title_offsets[h], title_offsets[h + 1]):
            message[at] = title_data[k]
            at += 1
        message[at] = 58  # ":"
        message[at + 1] = 91  # "["
        at += 2
        for k in range(offsets[h], offsets[h + 1]):
            if k > offsets[h]:
                message[at] = 32  # " "
                at += 1
            at = _write_int(message, at, member_seqs[k])
        message[at] = 93  # "]"
        at += 1
        h0, h1 = _sha1_prefix(message, at, words)
        for k in range(4):
            out[h, k] = _PREFIX[k]
        digest = (np.uint64(h0) << np.uint64(16)) | (np.uint64(h1) >> np.uint64(16))
        for k in range(12):
            nibble = (digest >> np.uint64(4 * (11 - k))) & np.uint64(0xF)
            out[h, 4 + k] = _HEX[nibble]
