"""A unit's rows of a table as an Arrow table, with the schema the model gives. Pure.

Text is built straight from the generator's character matrices: an Arrow string array
is an offsets buffer and a values buffer, so the offsets are the running sum of the
text lengths and the values are the characters packed row after row. There is no
Python loop per value. UUIDs are their canonical lower-case text, what PostgreSQL
prints and what BigQuery, DuckDB and pandas read as a string. Columns generated as
numpy arrays (numbers, times) become Arrow arrays of the type layer's mapping
(:func:`pgbulk.types.arrow_type`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pgbulk import types
from pgbulk.chunks import Chunk, Frame
from pgbulk.errors import PgbulkError
from pgbulk.generate import Text
from pgbulk.model import Column, Table

# An Arrow string array addresses its values with int32 offsets.
_MAX_STRING_BYTES = 2**31 - 1
#: Field metadata naming each column's PostgreSQL type, so a reader (pgbulk ingest) can
#: make the same table again: a uuid travels as text.
PG_TYPE = b"pgbulk.type"


def schema(table: Table) -> pa.Schema:
    """The Arrow schema of a table's export: one field per column, in model order."""
    return pa.schema([_field(c) for c in table.columns])


_AS_TEXT = ("uuid", "text", "varchar", "bpchar")


def _field(column: Column) -> pa.Field:
    if column.type.name in _AS_TEXT and not column.type.array:
        kind = pa.string()
    else:
        try:
            kind = types.arrow_type(column.type)
        except PgbulkError as e:
            raise PgbulkError(f"the export cannot write column {column.name}: {e}") from None
    return pa.field(
        column.name, kind, nullable=column.nullable, metadata={PG_TYPE: column.type.sql}
    )


def string_array(text: Text) -> pa.StringArray:
    """The values of ``text`` as an Arrow string array, without copying them one by one."""
    n = text.chars.shape[0]
    ends = np.cumsum(np.maximum(text.row_lengths(), 0), dtype=np.int64)
    if n and ends[-1] > _MAX_STRING_BYTES:
        # A plain PgbulkError: it is raised in export workers and must survive pickling.
        raise PgbulkError(f"a unit's text column exceeds 2 GiB ({n:,} values): use smaller units")
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = ends
    if text.lengths is None:
        values = np.ascontiguousarray(text.chars).reshape(-1)
    else:
        values = text.chars[np.arange(text.width)[None, :] < text.lengths[:, None]]
    validity = None
    if text.lengths is not None and bool((text.lengths < 0).any()):
        validity = pa.py_buffer(np.packbits(text.lengths >= 0, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(values), validity)


def _column_array(frame: Frame, column: Column) -> pa.Array:
    values = frame.values(column.name)
    if isinstance(values, np.ndarray):
        return types.to_arrow(column.type, values, frame.nulls.get(column.name))
    if isinstance(values, pa.Array):
        from pgbulk.types import jsontext

        target = types.arrow_type(column.type)
        if jsontext.is_nested(values.type) and not column.type.array:
            values = jsontext.to_json(values)  # a json object per row, as the COPY sends it
        values = values.cast(target)
        nulls = frame.nulls.get(column.name)
        if nulls is not None and nulls.any():
            import pyarrow.compute as pc

            values = pc.if_else(pa.array(nulls), pa.nulls(len(values), target), values)
        return values
    return string_array(frame.text(column.name))


def chunk_table(chunk: Chunk, table: str) -> pa.Table:
    """One table's rows of the unit: the rows the loader COPYs."""
    frame = chunk.frame(table)
    return pa.Table.from_arrays(
        [_column_array(frame, c) for c in frame.table.columns], schema=schema(frame.table)
    )
