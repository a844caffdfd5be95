"""Shared pieces of the encoders: input normalisation, NULL masks, errors, byte layouts.

Every encoder gets numpy or Arrow values plus an optional NULL mask and returns a
:data:`~pgbulk.copy_format.Column`: a fixed-width ``Text`` matrix (one row of bytes per
value, length -1 for NULL) or ``Packed`` values (offsets + bytes). Nothing here loops per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.copy_format import Packed
from pgbulk.errors import ParameterError, ValueRejected
from pgbulk.generate import Text

Bools = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
# pyarrow has no type hints: to mypy an Arrow array is Any, so this alias is too.
Values: TypeAlias = npt.NDArray[Any] | pa.Array


def plain(values: object) -> Values:
    """One Arrow array or a numpy array: chunks combined, dictionaries decoded."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        return values
    if isinstance(values, np.ndarray):
        return values
    raise ParameterError("values", type(values).__name__, "must be a numpy or Arrow array")


def null_mask(values: Values, nulls: Bools | None) -> Bools | None:
    """Arrow's validity and the caller's mask, OR-ed; None when no row is NULL."""
    mask = None
    if nulls is not None:
        mask = np.asarray(nulls, dtype=bool)
        if mask.shape != (len(values),):
            raise ParameterError(
                "nulls", mask.shape, f"must be a boolean mask of {len(values)} rows"
            )
    if isinstance(values, pa.Array) and values.null_count:
        validity = values.is_null().to_numpy(zero_copy_only=False)
        mask = validity if mask is None else mask | validity
    if isinstance(values, np.ndarray) and values.dtype.kind in "mM":
        nat = np.isnat(values)
        if nat.any():
            mask = nat if mask is None else mask | nat
    if mask is not None and not mask.any():
        return None
    return mask


def live(bad: Bools, nulls: Bools | None) -> Bools:
    """``bad`` without the NULL rows: a NULL's bytes are never sent, so never checked."""
    return bad if nulls is None else bad & ~nulls


def reject(bad: Bools, nulls: Bools | None, reason: Callable[[int], str]) -> None:
    """Raise ValueRejected for the first bad non-NULL row, saying how many rows are bad."""
    bad = live(bad, nulls)
    if not bad.any():
        return
    row = int(np.argmax(bad))
    count = int(bad.sum())
    more = f" ({count:,} rows like this)" if count > 1 else ""
    raise ValueRejected(reason(row) + more, row=row)


def wrong_input(pgtype: object, values: Values, expected: str) -> ParameterError:
    kind = values.type if isinstance(values, pa.Array) else values.dtype
    return ParameterError("values", str(kind), f"cannot be encoded as {pgtype}; give {expected}")


def big_endian(values: npt.NDArray[Any], dtype: str) -> U8:
    """(n, width) bytes of each value in network order."""
    out = np.ascontiguousarray(values, dtype=dtype)
    width = out.dtype.itemsize * int(np.prod(out.shape[1:], dtype=np.int64))
    return out.view(np.uint8).reshape(len(out), width)  # not -1: zero rows have no width


def fixed(matrix: U8, nulls: Bools | None) -> Text:
    """Fixed-width values as a ``Text`` matrix; a NULL row has length -1 and sends no bytes."""
    if nulls is None:
        return Text(matrix)
    width = matrix.shape[1]
    return Text(matrix, np.where(nulls, -1, width).astype(np.int32))


def pack_rows(matrix: U8, keep: Bools, nulls: Bools | None) -> Packed:
    """Packed values from padded rows: row i's value is its kept bytes, in order."""
    lengths = keep.sum(axis=1, dtype=np.int64)
    offsets = np.zeros(len(matrix) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Packed(offsets, np.ascontiguousarray(matrix[keep]), nulls)


def arrow_ints(values: pa.Array, int_type: pa.DataType) -> npt.NDArray[Any]:
    """The integers behind a temporal or integer Arrow array (0 under NULLs), zero-copy if it can."""
    ints = values.view(int_type)
    if ints.null_count:
        ints = pc.fill_null(ints, 0)
    out: npt.NDArray[Any] = ints.to_numpy(zero_copy_only=False)
    return out


def fixed_buffer(values: pa.Array, width: int) -> U8:
    """(n, width) bytes of a fixed-width Arrow array's values buffer, without copying."""
    buf = values.buffers()[1]
    data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
    start = values.offset * width
    return data[start : start + len(values) * width].reshape(len(values), width)


def binary_parts(values: pa.Array) -> tuple[I64, U8]:
    """Offsets (int64) and data bytes of an Arrow string/binary array, as Arrow holds them."""
    if pa.types.is_string_view(values.type) or pa.types.is_binary_view(values.type):
        values = values.cast(pa.large_binary())
    if pa.types.is_fixed_size_binary(values.type):
        values = values.cast(pa.large_binary())
    large = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    _, off_buf, data_buf = values.buffers()
    n = len(values)
    offsets = np.frombuffer(off_buf, dtype=np.int64 if large else np.int32)
    offsets = offsets[values.offset : values.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    return offsets.astype(np.int64, copy=False), data


def large_binary(offsets: I64, data: U8) -> pa.Array:
    """Offsets + bytes as an Arrow large_binary array, without copying them."""
    return pa.Array.from_buffers(
        pa.large_binary(),
        len(offsets) - 1,
        [None, pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int64)), pa.py_buffer(data)],
    )


def matrix_binary(rows: U8) -> pa.Array:
    """A (n, w) matrix as an Arrow large_binary array of its rows, without copying it."""
    n, width = rows.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return large_binary(offsets, np.ascontiguousarray(rows).reshape(-1))
