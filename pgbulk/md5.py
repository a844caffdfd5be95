"""MD5 of many short messages at once, vectorised with numpy (bytes in, hashes out).

The dataset fingerprint hashes every row, and PostgreSQL's cheapest built-in hash is
``md5()``. Hashing row by row with :mod:`hashlib` costs a Python call per row; here one
numpy operation advances the MD5 state of every row, so the cost per row is a few
nanoseconds per step of the 64-step compression function (RFC 1321).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from pgbulk.generate import U8, U64, Text

U32 = npt.NDArray[np.uint32]

BLOCK = 64  # bytes per MD5 block
_LENGTH_FIELD = 8  # the message length in bits, little-endian, ends the last block

_INIT = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_SHIFTS = (7, 12, 17, 22) * 4 + (5, 9, 14, 20) * 4 + (4, 11, 16, 23) * 4 + (6, 10, 15, 21) * 4
_CONSTANTS = tuple(int(abs(math.sin(i + 1)) * 2**32) & 0xFFFFFFFF for i in range(64))
_WORD = tuple(
    i if i < 16 else (5 * i + 1) % 16 if i < 32 else (3 * i + 5) % 16 if i < 48 else (7 * i) % 16
    for i in range(64)
)

# Rows per pass: the working set (16 message words + state, 4 bytes per row each) stays
# in the L2 cache, which is about twice as fast as streaming whole arrays through it.
_SLICE_ROWS = 16_384


def blocks_for(length: int) -> int:
    """MD5 blocks of a message of ``length`` bytes, padding and length field included."""
    return (length + _LENGTH_FIELD) // BLOCK + 1


def pad(parts: list[U8 | Text]) -> tuple[U8, npt.NDArray[np.int64]]:
    """The MD5-padded messages ``part0 || part1 || ...`` row by row, and their lengths.

    Fixed-width parts are (n, w) byte matrices; only the last part may be a Text of
    varying length. Returns (n, 64 * blocks) bytes where ``blocks`` fits the longest
    message: rows that need fewer blocks are for the caller to hash separately.
    """
    n = parts[0].shape[0] if not isinstance(parts[0], Text) else parts[0].chars.shape[0]
    fixed = sum(p.shape[1] for p in parts if not isinstance(p, Text))
    last = parts[-1]
    tail = last.row_lengths().astype(np.int64) if isinstance(last, Text) else np.zeros(n, np.int64)
    lengths = fixed + tail
    width = BLOCK * blocks_for(int(lengths.max()) if n else 0)
    out = np.zeros((n, width), dtype=np.uint8)
    col = 0
    for p in parts:
        if isinstance(p, Text):
            if p.lengths is None:
                out[:, col : col + p.width] = p.chars
            else:  # zero what lies beyond each value's length
                within = np.arange(p.width, dtype=np.int32)[None, :] < p.lengths[:, None]
                np.multiply(p.chars, within, out=out[:, col : col + p.width])
            col += p.width
        else:
            out[:, col : col + p.shape[1]] = p
            col += p.shape[1]
    rows = np.arange(n)
    if isinstance(last, Text) and last.lengths is not None:
        out[rows, lengths] = 0x80
    elif n:
        out[:, int(lengths[0])] = 0x80
    bits = (lengths * 8).astype("<u8").view(np.uint8).reshape(n, _LENGTH_FIELD)
    ends = BLOCK * ((lengths + _LENGTH_FIELD) // BLOCK + 1)
    if n and bool((ends == width).all()):  # the usual case: every row has the same blocks
        out[:, width - _LENGTH_FIELD :] = bits
    else:
        for i in range(_LENGTH_FIELD):
            out[rows, ends - _LENGTH_FIELD + i] = bits[:, i]
    return out, lengths


def digest64(parts: list[U8 | Text]) -> U64:
    """The first 8 bytes of each row's MD5 digest, read as a big-endian integer."""
    padded, lengths = pad(parts)
    blocks = (lengths + _LENGTH_FIELD) // BLOCK + 1
    out = np.empty(len(lengths), dtype=np.uint64)
    for count in np.unique(blocks):
        rows = np.flatnonzero(blocks == count)
        words = padded[rows, : BLOCK * int(count)].view("<u4")
        out[rows] = _first_8_bytes(words)
    return out


def _first_8_bytes(words: U32) -> U64:
    out = np.empty(words.shape[0], dtype=np.uint64)
    for start in range(0, words.shape[0], _SLICE_ROWS):
        a, b = _compress(words[start : start + _SLICE_ROWS])
        # The digest is A then B, each little-endian: byte-swap to read it big-endian.
        high = a.byteswap().astype(np.uint64)
        low = b.byteswap().astype(np.uint64)
        out[start : start + _SLICE_ROWS] = (high << np.uint64(32)) | low
    return out


def _compress(words: U32) -> tuple[U32, U32]:
    """Run MD5 over (n, 16 * blocks) little-endian message words; return state words A, B."""
    n = words.shape[0]
    state = [np.full(n, v, dtype=np.uint32) for v in _INIT]
    f = np.empty(n, dtype=np.uint32)
    spare = np.empty(n, dtype=np.uint32)
    for block in range(words.shape[1] // 16):
        m = [np.ascontiguousarray(words[:, 16 * block + j]) for j in range(16)]
        a, b, c, d = (s.copy() for s in state)
        for i in range(64):
            if i < 16:  # F = (b & c) | (~b & d), written with one temporary
                np.bitwise_xor(c, d, out=f)
                f &= b
                f ^= d
            elif i < 32:  # G = (d & b) | (~d & c)
                np.bitwise_xor(b, c, out=f)
                f &= d
                f ^= c
            elif i < 48:  # H = b ^ c ^ d
                np.bitwise_xor(b, c, out=f)
                f ^= d
            else:  # I = c ^ (b | ~d)
                np.bitwise_not(d, out=f)
                f |= b
                f ^= c
            f += a
            f += np.uint32(_CONSTANTS[i])
            f += m[_WORD[i]]
            shift = _SHIFTS[i]
            np.left_shift(f, np.uint32(shift), out=spare)
            f >>= np.uint32(32 - shift)
            spare |= f
            spare += b
            # b takes the new value; a's array is free and becomes the next spare.
            a, b, c, d, spare = d, spare, b, c, a
        for s, v in zip(state, (a, b, c, d), strict=True):
            s += v
    return state[0], state[1]
