"""One-dimensional arrays: Arrow list / large_list of any scalar type pgbulk encodes.

``array_send`` writes int32 ndim, int32 has-nulls flag, int32 element type OID, then per
dimension int32 length and int32 lower bound (1), then each element as a field: int32
length (-1 for NULL) and its bytes. An empty array has ndim 0 and no dimensions.

The elements are encoded by their own type's encoder in one call, each becomes
"length + bytes", and Arrow's ``take`` lays out header, elements, header, elements, ...
in C++: no loop per row or per element.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.copy_format import Column, Packed
from pgbulk.errors import ParameterError, ValueRejected
from pgbulk.generate import Text
from pgbulk.types._wire import (
    Bools,
    Values,
    big_endian,
    binary_parts,
    large_binary,
    matrix_binary,
    pack_rows,
    wrong_input,
)
from pgbulk.types.pgtype import PgType

Encoder = Callable[[PgType, object, Bools | None], Column]


def encode_array(
    pgtype: PgType, values: Values, nulls: Bools | None, encode_element: Encoder
) -> Packed:
    if not isinstance(values, pa.Array) or not (
        pa.types.is_list(values.type) or pa.types.is_large_list(values.type)
    ):
        if isinstance(values, pa.Array) and (
            pa.types.is_fixed_size_list(values.type) or pa.types.is_list_view(values.type)
        ):
            values = values.cast(pa.large_list(values.type.value_type))
        else:
            raise wrong_input(pgtype, values, "an Arrow list or large_list")
    n = len(values)
    offsets = values.offsets.to_numpy().astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    offsets = offsets - first
    elements = values.values.slice(first, last - first)
    try:
        column = encode_element(pgtype.element, elements, None)
    except ValueRejected as e:
        row = int(np.searchsorted(offsets, e.row, side="right") - 1)
        where = f"element {e.row - int(offsets[row]) + 1}"
        raise ValueRejected(f"{where}: {e.reason}", row=row) from None
    fields, element_nulls = _fields(column)
    counts = np.diff(offsets)
    nulls_before = np.zeros(len(element_nulls) + 1, dtype=np.int64)
    np.cumsum(element_nulls, out=nulls_before[1:])
    has_nulls = (nulls_before[offsets[1:]] - nulls_before[offsets[:-1]]) > 0

    header = np.empty((n, 5), dtype=np.int64)
    header[:, 0] = counts > 0  # ndim: an empty array has none
    header[:, 1] = has_nulls
    header[:, 2] = pgtype.base.oid
    header[:, 3] = counts
    header[:, 4] = 1  # lower bound
    keep = np.ones((n, 20), dtype=bool)
    keep[counts == 0, 12:] = False
    headers = pack_rows(big_endian(header, ">i4"), keep, None)

    # Pieces in stream order: row i's header at position offsets[i] + i, its elements after.
    pieces = pa.concat_arrays([large_binary(headers.offsets, headers.data), fields])
    at_header = offsets[:-1] + np.arange(n)
    order = np.empty(n + len(fields), dtype=np.int64)
    is_header = np.zeros(len(order), dtype=bool)
    is_header[at_header] = True
    order[at_header] = np.arange(n)
    order[~is_header] = n + np.arange(len(fields))
    laid = pieces.take(pa.array(order))
    piece_offsets, data = binary_parts(laid)
    row_offsets = piece_offsets[np.append(at_header, len(order))]
    return Packed(row_offsets, data, nulls)


def _fields(column: Column) -> tuple[pa.Array, Bools]:
    """Each element as a binary COPY field (int32 length, then its bytes), and the NULL ones."""
    if isinstance(column, Text):
        lengths = column.row_lengths().astype(np.int64)
        rows = np.concatenate([big_endian(lengths, ">i4"), column.chars], axis=1)
        if column.lengths is None:
            return matrix_binary(rows), np.zeros(len(lengths), dtype=bool)
        keep = np.arange(rows.shape[1])[None, :] < (4 + np.maximum(lengths, 0))[:, None]
        packed = pack_rows(rows, keep, None)
        return large_binary(packed.offsets, packed.data), lengths < 0
    if isinstance(column, Packed):
        lengths = column.lengths()
        values = large_binary(column.offsets, column.data)
        if column.nulls is not None:
            values = pc.if_else(pa.array(column.nulls), pa.scalar(b"", pa.large_binary()), values)
        fields = pc.binary_join_element_wise(
            matrix_binary(big_endian(lengths, ">i4")), values, pa.scalar(b"", pa.large_binary())
        )
        return fields, lengths < 0
    raise ParameterError("type", "array", "elements must encode to one field each")
