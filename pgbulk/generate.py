"""Pure, vectorised generators: numbers, UUIDs and text as numpy arrays.

Nothing here does I/O or keeps state. Text is carried as a ``uint8`` matrix of
characters (one row per value, left-aligned) plus, where widths vary, a vector of
lengths: the COPY encoder and the Parquet export both consume that form without a
Python loop per value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.random  # numpy imports it on first use; here, that is before workers fork
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

# Two hex characters for each byte value, read as one 16-bit word.
_HEX_PAIRS = np.array(
    [int.from_bytes(f"{b:02x}".encode(), "little") for b in range(256)], dtype="<u2"
)
# Four hex characters for each 16-bit word of two bytes (the first byte's pair first):
# one lookup per two bytes, and the 256 KiB table stays in cache.
_HEX_QUADS = _HEX_PAIRS[np.arange(65_536) & 0xFF].astype("<u4") | (
    _HEX_PAIRS[np.arange(65_536) >> 8].astype("<u4") << 16
)
# Four decimal digits for each value 0..9999, read as one 32-bit word.
_DIGIT_QUADS = np.array(
    [int.from_bytes(f"{v:04d}".encode(), "little") for v in range(10_000)], dtype="<u4"
)
_UUID_GROUPS = (
    (0, 8),
    (8, 12),
    (12, 16),
    (16, 20),
    (20, 32),
)  # hex digits of each dash-separated group


def stream(seed: int, *key: int) -> np.random.Generator:
    """The random stream named by ``key`` under ``seed``.

    Each (chunk, column) gets its own stream, so a column's draws for the first n rows
    of a chunk do not depend on how many rows the chunk has or on any other column.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def raw_u64(rng: np.random.Generator, n: int) -> U64:
    """n raw 64-bit outputs: exactly n steps of the stream, so prefixes are stable."""
    return rng.bit_generator.random_raw(n).astype(np.uint64, copy=False)


# SplitMix64's increment (2^64 / golden ratio, odd): successive counters land far apart.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def keyed_u64(seed: int, key: int, counters: U64 | I64, words: int = 1) -> U64:
    """``words`` random 64-bit words per counter, each a function of (seed, key, counter) alone.

    Counter-based: any row's draws are computed from its number, in any order, on any
    machine, without the rows before it. SplitMix64 (Steele et al., 2014) with a keyed
    start and a keyed second mix: within one key, distinct (counter, word) pairs below
    2^64 / words give distinct words, since both steps are bijections of 64-bit words.
    """
    k0, k1 = np.random.SeedSequence(seed, spawn_key=(0x6B6579, key)).generate_state(
        2, dtype=np.uint64
    )
    if words == 1:
        z = counters.astype(np.uint64)  # a copy, worked on in place from here
    else:
        firsts = counters.astype(np.uint64)[:, None] * np.uint64(words)
        z = np.add(firsts, np.arange(words, dtype=np.uint64), dtype=np.uint64).reshape(-1)
    with np.errstate(over="ignore"):
        z *= _GAMMA
        z += k0
        z = _mix(z)
        z ^= k1
        return _mix(z)


def unit_interval(words: U64) -> npt.NDArray[np.float64]:
    """Uniform doubles in [0, 1) from random 64-bit words (their top 53 bits)."""
    return (words >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


# ---------------------------------------------------------------- counts


def truncated_zipf_pmf(a: float, kmax: int) -> npt.NDArray[np.float64]:
    """P(k) for k = 1..kmax of a Zipf law with exponent ``a`` truncated to 1..kmax."""
    weights = np.arange(1, kmax + 1, dtype=np.float64) ** -a
    return weights / weights.sum()  # type: ignore[no-any-return]


def truncated_zipf(
    rng: np.random.Generator, n: int, a: float, kmax: int
) -> U8 | npt.NDArray[np.uint16]:
    """n draws of the truncated Zipf law, by inverting its CDF.

    The original redrew ``numpy.random.zipf`` until the value was in range; that is the
    same law (the conditional distribution), drawn here with one uniform per value.
    """
    return inverse_cdf(truncated_zipf_pmf(a, kmax), rng.random(n))


def inverse_cdf(
    pmf: npt.NDArray[np.float64], uniforms: npt.NDArray[np.float64]
) -> U8 | npt.NDArray[np.uint16]:
    """Draws k = 1..len(pmf) with probabilities ``pmf``, one uniform in [0, 1) each."""
    cdf = np.cumsum(pmf)
    cdf[-1] = 1.0  # so rounding can never put a uniform past the last bucket
    k = search_cdf(cdf, uniforms) + 1
    if len(pmf) < 256:
        return k.astype(np.uint8)
    return k.astype(np.uint16)


#: Up to this many buckets, counting comparisons beats a search (uint8 counts).
_COMPARED_BUCKETS = 32
#: Guide-table cells per bucket beyond that: a uniform's cell starts its scan at most a
#: few buckets short of its own.
_GUIDE_CELLS = 4


def search_cdf(cdf: npt.NDArray[np.float64], u: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """``min(numpy.searchsorted(cdf, u, side="right"), len(cdf) - 1)``, exactly, faster.

    The bucket of each uniform: how many entries of the non-decreasing ``cdf`` are <= it,
    at most the last bucket. numpy's binary search costs ~50 ns a uniform in random
    order (branch misses); a few buckets are counted by comparisons instead (a pass of
    1 byte per value each), many by a guide table (Chen & Asau, 1974): the cell of u
    gives a bucket no later than u's, from which the few entries still <= u are stepped
    over, for the uniforms that need it only.
    """
    k = len(cdf)
    if k <= _COMPARED_BUCKETS:
        count = np.zeros(u.shape, dtype=np.uint8)
        for edge in cdf[:-1]:
            count += (u >= edge).view(np.uint8)
        return count.astype(np.intp)
    cells = _GUIDE_CELLS * k
    # The cell below a uniform's own: rounding in u * cells can never start a scan past it.
    start = np.searchsorted(cdf, np.arange(-1, cells) / cells, side="right")
    padded = np.append(cdf, np.inf)  # a uniform >= the last entry stops past it, then clipped
    idx = start[np.minimum((u * cells).astype(np.intp), cells - 1)]
    todo = np.flatnonzero(padded[idx] <= u)
    while todo.size:
        idx[todo] += 1
        todo = todo[padded[idx[todo]] <= u[todo]]
    return np.minimum(idx, k - 1)


# ---------------------------------------------------------------- UUIDs


def uuid4(raw: U64) -> U8:
    """UUIDv4 bytes, one row of 16 per pair of raw 64-bit draws."""
    b = raw.astype("<u8", copy=False).view(np.uint8).reshape(-1, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    return b


def uuid7(unix_ms: I64 | U64, raw: U64) -> U8:
    """UUIDv7 bytes (RFC 9562): 48-bit big-endian milliseconds, then random bits."""
    b = uuid4(raw)
    ts = unix_ms.astype(">u8").view(np.uint8).reshape(-1, 8)
    b[:, 0:6] = ts[:, 2:8]
    b[:, 6] = (b[:, 6] & 0x0F) | 0x70
    return b


def uuid_hex(b: U8) -> U8:
    """The 32 lower-case hex digits of UUID bytes: an (n, 32) character matrix."""
    # np.take, not fancy indexing: the same lookup through a faster loop (about 3x here).
    return np.take(_HEX_QUADS, np.ascontiguousarray(b).view("<u2")).view(np.uint8)


def uuid_text_parts(hex_digits: U8) -> list[Text | bytes]:
    """The canonical 8-4-4-4-12 form as parts for :func:`concat` or the COPY encoder."""
    parts: list[Text | bytes] = []
    for start, stop in _UUID_GROUPS:
        if parts:
            parts.append(b"-")
        parts.append(Text(hex_digits[:, start:stop]))
    return parts


def uuid_text(b: U8) -> U8:
    """Canonical lower-case text of UUID bytes: an (n, 36) character matrix."""
    return concat(*uuid_text_parts(uuid_hex(b))).chars


def take_rows(matrix: U8, rows: npt.NDArray[np.intp]) -> U8:
    """matrix[rows] for a C-contiguous byte matrix, moving each row as one element."""
    width = matrix.shape[1]
    # np.take rather than matrix[rows]: 2-3x faster for these row sizes.
    return np.take(matrix.view(f"V{width}")[:, 0], rows).view(np.uint8).reshape(-1, width)


# ---------------------------------------------------------------- text


@dataclass(frozen=True)
class Text:
    """Values as a left-aligned character matrix; ``lengths`` is None when all are full width."""

    chars: U8
    lengths: npt.NDArray[np.int32] | None = None

    @property
    def width(self) -> int:
        return int(self.chars.shape[1])

    @property
    def rows(self) -> int:
        return int(self.chars.shape[0])

    def row_lengths(self) -> npt.NDArray[np.int32]:
        if self.lengths is None:
            return np.full(self.chars.shape[0], self.width, dtype=np.int32)
        return self.lengths

    def to_list(self) -> list[str]:
        """Python strings, for tests and small outputs (this one loops)."""
        lens = self.row_lengths()
        return [bytes(row[:k]).decode() for row, k in zip(self.chars, lens, strict=True)]


class Chosen(Text):
    """Text whose row i is ``words[picked[i]]``: what the COPY encoder gathers straight
    from the vocabulary (Arrow's take). The padded rows (``chars``) are made only if
    something reads them: the encoder does not."""

    words: tuple[str, ...]
    picked: npt.NDArray[np.int64]
    _matrix: U8

    def __init__(
        self,
        matrix: U8,
        lengths: npt.NDArray[np.int32],
        words: tuple[str, ...],
        picked: npt.NDArray[np.int64],
    ) -> None:
        """``matrix``: the vocabulary's padded rows; ``lengths``: the picked words' lengths."""
        for name, value in (("lengths", lengths), ("words", words), ("picked", picked)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_matrix", matrix)

    @property  # a field of Text, made on first use here
    def chars(self) -> U8:
        made: U8 | None = self.__dict__.get("_chars")
        if made is None:
            made = take_rows(self._matrix, self.picked)
            object.__setattr__(self, "_chars", made)
        return made

    @property
    def width(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def rows(self) -> int:
        return len(self.picked)


def fixed_digits(values: U64 | I64, width: int) -> U8:
    """Exactly ``width`` decimal digits per value, leading zeros kept: (n, width)."""
    quads = -(-width // 4)
    out = np.empty((values.shape[0], quads), dtype="<u4")
    rest = values.astype(np.uint64)
    for q in range(quads - 1, -1, -1):
        out[:, q] = np.take(_DIGIT_QUADS, rest % np.uint64(10_000))
        rest //= np.uint64(10_000)
    return out.view(np.uint8)[:, 4 * quads - width :]


def decimal(values: U64 | I64) -> Text:
    """Decimal text of non-negative integers, without leading zeros."""
    n = values.shape[0]
    width = len(str(int(values.max()))) if n else 1
    lengths = np.ones(n, dtype=np.int32)
    for p in range(1, width):
        lengths += values >= 10**p
    padded = fixed_digits(values, width)
    if bool((lengths == width).all()):
        return Text(np.ascontiguousarray(padded))
    # Shift each row left by its count of leading zeros.
    shift = (width - lengths)[:, None] + np.arange(width)[None, :]
    chars = np.take_along_axis(padded, np.minimum(shift, width - 1), axis=1)
    return Text(chars, lengths)


def put_columns(rows: U8, offset: int, chars: U8) -> None:
    """rows[:, offset:offset+w] = chars, one w-byte element per row instead of w one-byte ones."""
    width = chars.shape[1]
    if chars.strides[1] != 1 or not rows.flags.c_contiguous:
        rows[:, offset : offset + width] = chars
        return
    field = np.dtype(
        {"names": ["v"], "formats": [f"V{width}"], "offsets": [offset], "itemsize": rows.shape[1]}
    )
    rows.view(field)[:, 0]["v"] = chars.view(f"V{width}")[:, 0]


def concat(*parts: Text | bytes) -> Text:
    """Concatenate text parts row by row; constants are given as bytes."""
    texts = [
        Text(np.frombuffer(p, dtype=np.uint8)[None, :]) if isinstance(p, bytes) else p
        for p in parts
    ]
    n = max(t.chars.shape[0] for t in texts)
    if all(t.lengths is None for t in texts):
        out = np.empty((n, sum(t.width for t in texts)), dtype=np.uint8)
        col = 0
        for t in texts:
            if t.chars.shape[0] == 1:
                out[:, col : col + t.width] = t.chars
            else:
                put_columns(out, col, t.chars)
            col += t.width
        return Text(out)
    padded = np.concatenate([np.broadcast_to(t.chars, (n, t.width)) for t in texts], axis=1)
    mask = np.concatenate(
        [
            np.arange(t.width)[None, :] < t.row_lengths()[:, None]
            if t.lengths is not None
            else np.ones((1, t.width), dtype=bool).repeat(n, axis=0)
            for t in texts
        ],
        axis=1,
    )
    lengths = mask.sum(axis=1, dtype=np.int32)
    width = int(lengths.max())
    out = np.zeros((n, width), dtype=np.uint8)
    out[np.arange(width)[None, :] < lengths[:, None]] = padded[mask]
    return Text(out, lengths)


# ---------------------------------------------------------------- unique by construction

_ROUNDS = 6
#: The largest domain a keyed permutation covers: its halves must stay below 2^32 so the
#: round function's multiply-shift fits in 64 bits.
MAX_DOMAIN = (2**32 - 1) ** 2


def _mix(z: U64) -> U64:
    """splitmix64's finaliser, a fast bijective scrambler of 64-bit words, in place: ``z``
    is the caller's own temporary (a new array per step would cost a pass each)."""
    shifted = z >> np.uint64(30)
    z ^= shifted
    z *= np.uint64(0xBF58476D1CE4E5B9)
    np.right_shift(z, np.uint64(27), out=shifted)
    z ^= shifted
    z *= np.uint64(0x94D049BB133111EB)
    np.right_shift(z, np.uint64(31), out=shifted)
    z ^= shifted
    return z


def permutation_keys(seed: int, key: int) -> U64:
    """The round keys of a keyed permutation: a function of the dataset seed and ``key``."""
    state = np.random.SeedSequence(seed, spawn_key=(key,)).generate_state(_ROUNDS, dtype=np.uint64)
    return state.astype(np.uint64)


def permute_halves(slots: U64, half: int, keys: U64) -> tuple[U64, U64]:
    """A keyed bijection of ``0..half^2-1`` (a balanced numeric Feistel network), as halves.

    Distinct slots give distinct values, so values are unique by construction with no
    coordination between chunks or machines, and still look uniformly random. The result
    is (high, low) with value = high * half + low, which is how decimal text is printed.
    """
    m = np.uint64(half)
    with np.errstate(over="ignore"):
        left, right = slots // m, slots % m
        for k in keys:
            # The round function maps mix(right ^ k) into 0..half-1 by multiply-shift of its
            # top 32 bits (no division); the sum is reduced by one conditional subtraction.
            f = ((_mix(right ^ k) >> np.uint64(32)) * m) >> np.uint64(32)
            total = left + f
            total -= (total >= m).astype(np.uint64) * m
            left, right = right, total
    return left, right


def permute(slots: U64, domain: int, keys: U64) -> U64:
    """A keyed bijection of ``0..domain-1`` (``domain <= MAX_DOMAIN``).

    A balanced network on halves of ceil(sqrt(domain)) covers a square at least as large
    as the domain; a value that lands outside is permuted again until it is inside
    (cycle walking), which keeps the map a bijection of the domain. Square domains (10^16
    for 16 digits) never walk.
    """
    half = math.isqrt(domain - 1) + 1
    high, low = permute_halves(slots, half, keys)
    values = high * np.uint64(half) + low
    outside = np.flatnonzero(values >= np.uint64(domain))
    while len(outside):
        high, low = permute_halves(values[outside], half, keys)
        values[outside] = high * np.uint64(half) + low
        outside = outside[values[outside] >= np.uint64(domain)]
    return values


def alphabet_digits(values: U64, alphabet: bytes, length: int) -> U8:
    """``length`` characters of ``alphabet`` per value, most significant first: (n, length)."""
    out = np.empty((values.shape[0], length), dtype=np.uint8)
    table = np.frombuffer(alphabet, dtype=np.uint8)
    base = np.uint64(len(alphabet))
    rest = values.copy()
    for i in range(length - 1, -1, -1):
        out[:, i] = np.take(table, rest % base)
        rest //= base
    return out


def digits_of_halves(high: U64, low: U64) -> U8:
    """16 digits (leading zeros kept) of high * 10^8 + low, both below 10^8: (n, 16)."""
    out = np.empty((high.shape[0], 4), dtype="<u4")
    for col, half in ((0, high), (2, low)):
        h = half.astype(np.uint32)
        out[:, col] = np.take(_DIGIT_QUADS, h // np.uint32(10_000))
        out[:, col + 1] = np.take(_DIGIT_QUADS, h % np.uint32(10_000))
    return out.view(np.uint8)
