"""Compiled hypothesis ids (numba): SHA-1 of ``"<title>:[s1 s2 ...]"`` for many groups.

Imported lazily by :mod:`cleanapp_geo.export`. :func:`hypothesis_ids` writes, for each
hypothesis, the 16 ASCII bytes of ``hyp_`` + the first 12 hex digits of the SHA-1 of its
UTF-8 payload, exactly as :func:`cleanapp_geo.hypotheses.hypothesis_id` does one at a time
with :mod:`hashlib` (the tests compare the two).

Two digests back it. Where the process can load OpenSSL's ``libcrypto`` (the library
:mod:`hashlib` itself uses) with its low-level ``SHA1_Init/Update/Final``,
:func:`hypothesis_ids_openssl` calls them from the compiled loop: they dispatch to the
CPU's SHA extensions where it has them, about four times faster than the portable loop
(:func:`openssl_sha1` checks them against :mod:`hashlib` once). The one-shot ``SHA1()``
of OpenSSL 3 is not used: it looks the algorithm up on every call and is slower than the
portable loop. Elsewhere :func:`hypothesis_ids` computes SHA-1 in numba.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
from typing import Any, NamedTuple

import numba
import numpy as np

__all__ = ["ID_BYTES", "OpenSSLSha1", "hypothesis_ids", "hypothesis_ids_openssl", "openssl_sha1"]

#: Bytes of one id: ``hyp_`` and 12 hex digits.
ID_BYTES = 16
_U32 = np.uint32
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
_PREFIX = np.frombuffer(b"hyp_", dtype=np.uint8).copy()
#: Bytes reserved for OpenSSL's ``SHA_CTX`` (96 on every platform it supports).
CONTEXT_BYTES = 256
_DIGEST_BYTES = 20


@numba.njit(cache=True, nogil=True, inline="always")
def _rotl(x: np.uint32, n: int) -> np.uint32:
    return _U32((x << _U32(n)) | (x >> _U32(32 - n)))


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
def _longest_payload(offsets: np.ndarray, title_offsets: np.ndarray, start: int, stop: int) -> int:
    """Return an upper bound of the payload bytes of hypotheses ``start .. stop - 1``.

    Each seq takes at most 21 bytes (a sign, 19 digits and a separator).
    """
    longest = 0
    for h in range(start, stop):
        length = title_offsets[h + 1] - title_offsets[h] + 3 + 21 * (offsets[h + 1] - offsets[h])
        longest = max(longest, length)
    return longest


@numba.njit(cache=True, nogil=True)
def _payload(
    title_data: np.ndarray,
    title_offsets: np.ndarray,
    member_seqs: np.ndarray,
    offsets: np.ndarray,
    h: int,
    message: np.ndarray,
) -> int:
    """Write hypothesis ``h``'s ``"<title>:[s1 s2 ...]"`` into ``message``; return its length."""
    at = title_offsets[h + 1] - title_offsets[h]
    message[:at] = title_data[title_offsets[h] : title_offsets[h + 1]]
    message[at] = 58  # ":"
    message[at + 1] = 91  # "["
    at += 2
    for k in range(offsets[h], offsets[h + 1]):
        if k > offsets[h]:
            message[at] = 32  # " "
            at += 1
        at = _write_int(message, at, member_seqs[k])
    message[at] = 93  # "]"
    return at + 1


@numba.njit(cache=True, nogil=True)
def _write_id(out: np.ndarray, h: int, h0: np.uint32, h1: np.uint32) -> None:
    """Write ``hyp_`` and the 12 hex digits of the digest's first 48 bits into ``out[h]``."""
    for k in range(4):
        out[h, k] = _PREFIX[k]
    digest = (np.uint64(h0) << np.uint64(16)) | (np.uint64(h1) >> np.uint64(16))
    for k in range(12):
        nibble = (digest >> np.uint64(4 * (11 - k))) & np.uint64(0xF)
        out[h, 4 + k] = _HEX[nibble]


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
    longest = _longest_payload(offsets, title_offsets, start, stop)
    message = np.empty(longest + 72, np.uint8)
    words = np.empty(80, np.uint32)
    for h in range(start, stop):
        length = _payload(title_data, title_offsets, member_seqs, offsets, h, message)
        h0, h1 = _sha1_prefix(message, length, words)
        _write_id(out, h, h0, h1)


@numba.njit(cache=True, nogil=True)
def hypothesis_ids_openssl(
    title_data: np.ndarray,
    title_offsets: np.ndarray,
    member_seqs: np.ndarray,
    offsets: np.ndarray,
    start: int,
    stop: int,
    out: np.ndarray,
    init: Any,
    update: Any,
    final: Any,
) -> None:
    """:func:`hypothesis_ids` with OpenSSL's SHA-1 (the functions of :func:`openssl_sha1`)."""
    longest = _longest_payload(offsets, title_offsets, start, stop)
    message = np.empty(longest, np.uint8)
    context = np.zeros(CONTEXT_BYTES, np.uint8)
    digest = np.zeros(_DIGEST_BYTES, np.uint8)
    for h in range(start, stop):
        length = _payload(title_data, title_offsets, member_seqs, offsets, h, message)
        init(context.ctypes.data)
        update(context.ctypes.data, message.ctypes.data, length)
        final(digest.ctypes.data, context.ctypes.data)
        h0 = (
            (np.uint32(digest[0]) << np.uint32(24))
            | (np.uint32(digest[1]) << np.uint32(16))
            | (np.uint32(digest[2]) << np.uint32(8))
            | np.uint32(digest[3])
        )
        h1 = (np.uint32(digest[4]) << np.uint32(24)) | (np.uint32(digest[5]) << np.uint32(16))
        _write_id(out, h, h0, h1)


class OpenSSLSha1(NamedTuple):
    """OpenSSL's low-level SHA-1 functions, as ctypes function pointers."""

    init: Any
    update: Any
    final: Any


@functools.cache
def openssl_sha1() -> OpenSSLSha1 | None:
    """Load ``SHA1_Init/Update/Final`` from ``libcrypto``; None where they are not usable.

    They are usable when the library loads, exports the three functions, and the compiled
    loop gives :mod:`hashlib`'s ids for a few payloads (checked once per process).
    """
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
        functions = OpenSSLSha1(library.SHA1_Init, library.SHA1_Update, library.SHA1_Final)
    except (OSError, AttributeError):
        return None
    functions.init.restype = ctypes.c_int
    functions.init.argtypes = [ctypes.c_void_p]
    functions.update.restype = ctypes.c_int
    functions.update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    functions.final.restype = ctypes.c_int
    functions.final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    titles = ["", "Overflowing bin ü", "x" * 200]
    data = np.frombuffer("".join(titles).encode(), dtype=np.uint8).copy()
    title_offsets = np.zeros(len(titles) + 1, dtype=np.int64)
    np.cumsum([len(t.encode()) for t in titles], out=title_offsets[1:])
    seqs = np.array([1, -(2**63), 2**63 - 1, 42], dtype=np.int64)
    offsets = np.array([0, 1, 3, 4], dtype=np.int64)
    out = np.zeros((len(titles), ID_BYTES), dtype=np.uint8)
    hypothesis_ids_openssl(data, title_offsets, seqs, offsets, 0, len(titles), out, *functions)
    for h, title in enumerate(titles):
        text = " ".join(str(s) for s in seqs[offsets[h] : offsets[h + 1]].tolist())
        expected = "hyp_" + hashlib.sha1(f"{title}:[{text}]".encode()).hexdigest()[:12]
        if bytes(out[h]).decode() != expected:
            return None
    return functions
