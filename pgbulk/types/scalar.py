"""bool, int2/4/8, float4/8 and uuid: fixed-width values in network byte order.

Formats from PostgreSQL's ``*_send`` functions: bool is one byte 0/1 (``boolsend``),
integers and floats are big-endian (``int2send`` ... ``float8send``), a uuid is its 16
bytes as written (``uuid_send``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.generate import Text
from pgbulk.types._wire import (
    U8,
    Bools,
    Values,
    big_endian,
    binary_parts,
    fixed,
    fixed_buffer,
    reject,
    wrong_input,
)
from pgbulk.types.pgtype import PgType

_INTS: dict[str, type[np.signedinteger[Any]]] = {
    "int2": np.int16,
    "int4": np.int32,
    "int8": np.int64,
}


def encode_bool(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    if isinstance(values, pa.Array):
        if not pa.types.is_boolean(values.type):
            raise wrong_input(pgtype, values, "Arrow bool")
        flags = pc.fill_null(values, False).to_numpy(zero_copy_only=False)
    elif values.dtype == np.bool_:
        flags = values
    else:
        raise wrong_input(pgtype, values, "a numpy bool array")
    return fixed(flags.astype(np.uint8).reshape(-1, 1), nulls)


def _numbers(pgtype: PgType, values: Values, kinds: str) -> npt.NDArray[Any]:
    """The values as a numpy array of one of the given dtype kinds (0 under Arrow NULLs)."""
    if isinstance(values, pa.Array):
        t = values.type
        ok = (pa.types.is_integer(t) and ("i" in kinds or "u" in kinds)) or (
            pa.types.is_floating(t) and "f" in kinds
        )
        if not ok:
            raise wrong_input(pgtype, values, "Arrow integers" if "f" not in kinds else "numbers")
        filled = pc.fill_null(values, 0) if values.null_count else values
        values = filled.to_numpy(zero_copy_only=False)
    if values.dtype.kind not in kinds:
        raise wrong_input(pgtype, values, "numpy " + " or ".join(_KIND_NAMES[k] for k in kinds))
    return values


_KIND_NAMES = {"i": "signed integers", "u": "unsigned integers", "f": "floats", "b": "bools"}


def encode_int(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    target = _INTS[pgtype.name]
    ints = _numbers(pgtype, values, "iub")
    if not np.can_cast(ints.dtype, target):
        info = np.iinfo(target)
        # Unsigned values are compared as such: -32768 would not convert to uint64.
        unsigned = ints.dtype.kind == "u"
        bad = ints > np.uint64(info.max) if unsigned else (ints < info.min) | (ints > info.max)
        reject(
            bad,
            nulls,
            lambda row: f"{ints[row]} is out of range for {pgtype.sql} ({info.min}..{info.max})",
        )
    return fixed(big_endian(ints, f">i{np.dtype(target).itemsize}"), nulls)


def encode_float(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    floats = _numbers(pgtype, values, "fiu")
    if pgtype.name == "float4":
        if floats.dtype.itemsize > 4 or floats.dtype.kind != "f":
            # A finite float8 beyond float4's range would arrive as infinity: PostgreSQL's own
            # float8 -> float4 cast refuses it ("value out of range: overflow").
            big = np.isfinite(floats) & (np.abs(floats) > np.finfo(np.float32).max)
            reject(big, nulls, lambda row: f"{floats[row]} is out of range for real")
        return fixed(big_endian(floats, ">f4"), nulls)
    return fixed(big_endian(floats, ">f8"), nulls)


# ------------------------------------------------------------------------------ uuid

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
_DASHES = [8, 13, 18, 23]
_HEX_AT = [i for i in range(36) if i not in _DASHES]


def encode_uuid(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    if isinstance(values, pa.Array):
        t = values.type
        if isinstance(t, pa.BaseExtensionType) and pa.types.is_fixed_size_binary(t.storage_type):
            values, t = values.storage, t.storage_type
        if pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
            return fixed(fixed_buffer(values, 16), nulls)
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            offsets, data = binary_parts(values)
            return fixed(_parse_uuids(_text_matrix(offsets, data, nulls), nulls), nulls)
        raise wrong_input(pgtype, values, "fixed_size_binary(16), uuid or 36-character strings")
    if values.dtype == np.uint8 and values.ndim == 2 and values.shape[1] == 16:
        return fixed(values, nulls)
    if values.dtype == np.dtype("S16"):
        return fixed(values.view(np.uint8).reshape(-1, 16), nulls)
    if values.dtype.kind == "U" and values.ndim == 1:
        # Code points as they are: a non-ASCII character maps to no hex digit and is refused.
        points = values.view(np.uint32).reshape(len(values), -1)
        short = np.zeros((len(values), max(0, 36 - points.shape[1])), dtype=np.uint32)
        points = np.concatenate([points, short], axis=1)
        too_long = (points[:, 36:] != 0).any(axis=1)
        reject(too_long, nulls, lambda row: f"{values[row]!r} is not a uuid (36 characters)")
        chars = np.minimum(points[:, :36], 255).astype(np.uint8)
        return fixed(_parse_uuids(chars, nulls), nulls)
    raise wrong_input(pgtype, values, "(n, 16) uint8, 'S16' or 36-character strings")


def _text_matrix(offsets: npt.NDArray[np.int64], data: U8, nulls: Bools | None) -> U8:
    """(n, 36) bytes of strings that must all be 36 bytes long."""
    lengths = np.diff(offsets)
    reject(lengths != 36, nulls, lambda row: f"a uuid has 36 characters, not {lengths[row]}")
    first = int(offsets[0])
    if bool((lengths == 36).all()):  # the buffer is the matrix, NULLs included
        return data[first : first + 36 * len(lengths)].reshape(-1, 36)
    starts = np.where(lengths == 36, offsets[:-1], 0)  # a NULL's bytes are whatever is there
    if len(data) < 36:
        data = np.concatenate([data, np.zeros(36, np.uint8)])
    return data[starts[:, None] + np.arange(36)[None, :]]


def _parse_uuids(chars: U8, nulls: Bools | None) -> U8:
    """(n, 36) text 8-4-4-4-12 -> (n, 16) bytes; any other shape is a rejected value."""
    nibbles = _HEX[chars[:, _HEX_AT]]
    bad = (nibbles == 255).any(axis=1) | (chars[:, _DASHES] != ord("-")).any(axis=1)
    reject(bad, nulls, lambda row: f"{bytes(chars[row]).decode('latin-1')!r} is not a uuid")
    out = ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).astype(np.uint8)
    if nulls is not None:
        out[nulls] = 0
    return out


__all__ = ["encode_bool", "encode_float", "encode_int", "encode_uuid"]
