"""MD5 of many short messages at once, vectorised with numpy (bytes in, hashes out).

The dataset fingerprint hashes every row, and PostgreSQL's cheapest built-in hash is
``md5()``. Hashing row by row with :mod:`hashlib` costs a Python call per row; here one
numpy operation advances the MD5 state of every row, so the cost per row is a few
nanoseconds per step of the 64-step compression function (RFC 1321).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from pgbulk.generate import U8, U64

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


# Messages longer than this many blocks are hashed one by one with hashlib: laying them
# out in a matrix as wide as the longest would cost more than the vectorised rounds save.
_MAX_VECTOR_BLOCKS = 8


def digest64(data: U8, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> U64:
    """The first 8 bytes of the MD5 digest of each message ``data[starts[i] : starts[i] + lengths[i]]``,
    read as a big-endian integer.

    Messages with the same number of blocks are laid out side by side in a matrix, padded
    as RFC 1321 says, and hashed together.
    """
    out = np.empty(len(lengths), dtype=np.uint64)
    blocks = (lengths + _LENGTH_FIELD) // BLOCK + 1
    # Zeros after the data, so that a window of the widest vectorised matrix fits from
    # any start: a message's row is then one slice of ``data``, copied whole.
    tail = np.zeros(BLOCK * _MAX_VECTOR_BLOCKS, dtype=np.uint8)
    source = np.concatenate([data, tail])
    for count in np.flatnonzero(np.bincount(blocks)):  # np.unique would sort them
        rows = np.flatnonzero(blocks == count)
        if count > _MAX_VECTOR_BLOCKS:
            for r in rows:
                start = int(starts[r])
                digest = hashlib.md5(data[start : start + int(lengths[r])].tobytes()).digest()
                out[r] = int.from_bytes(digest[:8], "big")
            continue
        out[rows] = _first_8_bytes(_padded(source, starts[rows], lengths[rows], int(count)))
    return out


def _padded(
    source: U8, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], blocks: int
) -> U32:
    """The messages as (n, 16 * blocks) little-endian words, padded with 0x80, zeros and the bit length.

    ``source`` holds the data and at least ``BLOCK * blocks`` more bytes. Each row is
    copied whole from a sliding window over it, then what follows the message is zeroed:
    a gather of one index per byte, through an (n, width) int64 index matrix and a mask
    as wide, took two thirds of the generator fingerprint's CPU.
    """
    width = BLOCK * blocks
    n = len(starts)
    out = sliding_window_view(source, width)[starts]
    # Zero what follows each message: only the columns between the shortest and the
    # longest message need a mask (a table's rows often share one length).
    shortest, longest = int(lengths.min()), int(lengths.max())
    out[:, longest:] = 0
    if shortest < longest:
        columns = np.arange(shortest, longest, dtype=np.int64)
        out[:, shortest:longest] *= columns[None, :] < lengths[:, None]
    out[np.arange(n), lengths] = 0x80
    out[:, width - _LENGTH_FIELD :] = (
        (lengths * 8).astype("<u8").view(np.uint8).reshape(n, _LENGTH_FIELD)
    )
    return out.view("<u4")


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
