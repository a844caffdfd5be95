"""text, varchar(n), char(n), json, jsonb and bytea: variable-width bytes, sent as Arrow holds them.

``textsend`` and ``byteasend`` send the bytes as they are (text in the server encoding,
UTF-8 here); ``jsonb_send`` prefixes a version byte, 1. Values stay offsets + bytes
(:class:`~pgbulk.copy_format.Packed`): a 1 MB value costs 1 MB, whatever the others are.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.copy_format import Packed
from pgbulk.errors import ValueRejected
from pgbulk.types._wire import (
    I64,
    U8,
    Bools,
    Values,
    binary_parts,
    large_binary,
    live,
    reject,
    wrong_input,
)
from pgbulk.types.jsontext import is_nested, to_json
from pgbulk.types.pgtype import PgType

JSONB_VERSION = 1


def packed_bytes(pgtype: PgType, values: Values, *, text: bool) -> tuple[I64, U8]:
    """Offsets and bytes of strings (or, for bytea and text from numpy 'S', any bytes)."""
    if isinstance(values, pa.Array):
        if isinstance(values.type, pa.BaseExtensionType):  # arrow.json: strings underneath
            values = values.storage
        t = values.type
        strings = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
        binary = (
            pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
            or pa.types.is_binary_view(t)
            or pa.types.is_fixed_size_binary(t)
        )
        if not (strings or binary):
            raise wrong_input(pgtype, values, "Arrow strings or binary")
        return binary_parts(values)
    kind = values.dtype.kind
    if kind == "U" or (kind == "O" and text):
        return binary_parts(pa.array(values, type=pa.large_string(), from_pandas=False))
    if kind in "SO":
        return binary_parts(pa.array(values, type=pa.large_binary(), from_pandas=False))
    if kind == "T":  # numpy's StringDType
        return binary_parts(pa.array(values.astype(object), type=pa.large_string()))
    raise wrong_input(pgtype, values, "numpy str or bytes")


def _row_of(offsets: I64, positions: I64) -> I64:
    """The row that holds each byte position of the data buffer."""
    return np.searchsorted(offsets, positions, side="right") - 1


def _check_no_nul(pgtype: PgType, offsets: I64, data: U8, nulls: Bools | None) -> None:
    """PostgreSQL text cannot hold a NUL byte (``invalid byte sequence ... 0x00``)."""
    start, stop = int(offsets[0]), int(offsets[-1])
    at = np.flatnonzero(data[start:stop] == 0)
    if len(at) == 0:
        return
    bad = np.zeros(len(offsets) - 1, dtype=bool)
    bad[_row_of(offsets, at + start)] = True
    reject(bad, nulls, lambda row: f"{pgtype.sql} cannot hold a NUL byte (0x00)")


def char_lengths(offsets: I64, data: U8) -> I64:
    """Characters per UTF-8 value: the bytes that do not continue a character."""
    start, stop = int(offsets[0]), int(offsets[-1])
    starts_char = (data[start:stop] & 0xC0) != 0x80
    counts = np.zeros(stop - start + 1, dtype=np.int64)
    np.cumsum(starts_char, out=counts[1:])
    return counts[offsets[1:] - start] - counts[offsets[:-1] - start]


def _check_length(pgtype: PgType, offsets: I64, data: U8, nulls: Bools | None) -> None:
    """varchar(n) / char(n): at most n characters, but (as the server does) a longer value
    whose excess is all spaces is accepted and cut to n there."""
    limit = pgtype.modifiers[0]
    lengths = np.diff(offsets)
    if not live(lengths > limit, nulls).any():  # bytes >= characters: nothing can be too long
        return
    chars = char_lengths(offsets, data)
    long_rows = np.flatnonzero(live(chars > limit, nulls))
    if len(long_rows) == 0:
        return
    values = large_binary(offsets, data).cast(pa.large_string()).take(long_rows)
    trimmed = pc.utf8_length(pc.utf8_rtrim(values, characters=" ")).to_numpy()
    bad = np.zeros(len(lengths), dtype=bool)
    bad[long_rows[trimmed > limit]] = True
    reject(bad, nulls, lambda row: f"value too long for {pgtype.sql} ({chars[row]} characters)")


def _bytes_input(values: Values) -> bool:
    """Bytes that claim no encoding (Arrow strings are UTF-8 by Arrow's own contract)."""
    if isinstance(values, pa.Array):
        t = values.type
        return bool(
            pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
            or pa.types.is_binary_view(t)
            or pa.types.is_fixed_size_binary(t)
        )
    return values.dtype.kind == "S"


def _check_utf8(pgtype: PgType, offsets: I64, data: U8, nulls: Bools | None) -> None:
    """Text must be valid UTF-8 (the server's encoding here). Arrow validates the whole
    array in C++; only when it fails are halves validated, to name the first bad row."""
    n = len(offsets) - 1
    validity = None if nulls is None else pa.py_buffer(np.packbits(~nulls, bitorder="little"))
    rebased = np.ascontiguousarray(offsets - offsets[0], dtype=np.int64)
    used = data[int(offsets[0]) : int(offsets[-1])]
    text = pa.Array.from_buffers(
        pa.large_string(), n, [validity, pa.py_buffer(rebased), pa.py_buffer(used)]
    )
    if _valid(text):
        return
    lo, hi = 0, n  # the first bad row is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _valid(text.slice(lo, mid - lo)):
            lo = mid
        else:
            hi = mid
    raise ValueRejected(f"{pgtype.sql} must be valid UTF-8; this value is not", row=lo)


def _valid(text: pa.Array) -> bool:
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def encode_text(pgtype: PgType, values: Values, nulls: Bools | None) -> Packed:
    if pgtype.name in ("json", "jsonb") and isinstance(values, pa.Array) and is_nested(values.type):
        values = to_json(values)
    offsets, data = packed_bytes(pgtype, values, text=True)
    _check_no_nul(pgtype, offsets, data, nulls)
    if _bytes_input(values):
        _check_utf8(pgtype, offsets, data, nulls)
    if pgtype.name in ("varchar", "bpchar") and pgtype.modifiers:
        _check_length(pgtype, offsets, data, nulls)
    if pgtype.name == "jsonb":
        offsets, data = _prefix(offsets, data, JSONB_VERSION)
    return Packed(offsets, data, nulls)


def encode_bytea(pgtype: PgType, values: Values, nulls: Bools | None) -> Packed:
    offsets, data = packed_bytes(pgtype, values, text=False)
    return Packed(offsets, data, nulls)


def _prefix(offsets: I64, data: U8, byte: int) -> tuple[I64, U8]:
    """Every value with one byte in front: a new buffer, one byte longer per row."""
    n = len(offsets) - 1
    start = int(offsets[0])
    shifted = offsets - start + np.arange(n + 1)
    out = np.empty(int(shifted[-1]), dtype=np.uint8)
    marks = np.zeros(len(out), dtype=bool)
    marks[shifted[:-1]] = True
    out[marks] = byte
    out[~marks] = data[start : int(offsets[-1])]
    return shifted, out
