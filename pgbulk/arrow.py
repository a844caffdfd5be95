"""The contacts tables of a chunk as Arrow tables. Pure: arrays in, Arrow tables out.

Every column is text, built straight from the chunk's character matrices: an Arrow
string array is an offsets buffer and a values buffer, so the offsets are the running
sum of the text lengths and the values are the characters packed row after row. There
is no Python loop per value. UUIDs are their canonical lower-case text, what
PostgreSQL prints and what BigQuery, DuckDB and pandas read as a string.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pgbulk.datasets import TABLES, ContactsChunk
from pgbulk.errors import PgbulkError
from pgbulk.generate import Text, take_rows, uuid_text
from pgbulk.schema import COLUMNS

#: One schema per table: the columns of the PostgreSQL tables, in order, all NOT NULL.
SCHEMAS = {
    table: pa.schema([pa.field(name, pa.string(), nullable=False) for name in COLUMNS[table]])
    for table in TABLES
}

# An Arrow string array addresses its values with int32 offsets.
_MAX_STRING_BYTES = 2**31 - 1


def string_array(text: Text) -> pa.StringArray:
    """The values of ``text`` as an Arrow string array, without copying them one by one."""
    n = text.chars.shape[0]
    ends = np.cumsum(text.row_lengths(), dtype=np.int64)
    if n and ends[-1] > _MAX_STRING_BYTES:
        # A plain PgbulkError: it is raised in export workers and must survive pickling.
        raise PgbulkError(
            f"a chunk's text column exceeds 2 GiB ({n:,} values): use a smaller chunk_users"
        )
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = ends
    if text.lengths is None:
        values = np.ascontiguousarray(text.chars).reshape(-1)
    else:
        values = text.chars[np.arange(text.width)[None, :] < text.lengths[:, None]]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(values))


def chunk_table(chunk: ContactsChunk, table: str) -> pa.Table:
    """One table's rows of ``chunk``: the rows the loader COPYs, as text columns."""
    if table == "users":
        columns = [Text(uuid_text(chunk.user_ids)), chunk.user_names]
    elif table == "emails":
        columns = [
            Text(uuid_text(chunk.email_ids)),
            _owner_ids(chunk, chunk.email_owner_rows),
            chunk.emails,
        ]
    elif table == "phone_numbers":
        columns = [
            Text(uuid_text(chunk.phone_ids)),
            _owner_ids(chunk, chunk.phone_owner_rows),
            chunk.phone_numbers,
        ]
    else:
        raise KeyError(f"unknown table {table!r}; the contacts tables are {', '.join(TABLES)}")
    return pa.Table.from_arrays([string_array(c) for c in columns], schema=SCHEMAS[table])


def _owner_ids(chunk: ContactsChunk, owner_rows: npt.NDArray[np.intp]) -> Text:
    # Each user's id text once, then one row copy per child: cheaper than formatting
    # the owner's UUID again for every email or phone.
    return Text(take_rows(uuid_text(chunk.user_ids), owner_rows))
