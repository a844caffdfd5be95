"""``encode(pgtype, values)``: numpy or Arrow values -> one binary COPY column.

One encoder per base type, found through :data:`ENCODERS` (psycopg's adapters map,
keyed by PostgreSQL type instead of Python class). Arrays go through their element's
encoder. To add a type: a ``BaseType`` in ``pgtype.py``, an encoder here, a row in
``arrow_map.py`` and tests against the server's own bytes (see docs/types.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pgbulk.copy_format import Column, Packed
from pgbulk.types import numeric, scalar, temporal, text
from pgbulk.types._wire import Bools, Values, null_mask, plain
from pgbulk.types.array import encode_array
from pgbulk.types.pgtype import PgType

Encoder = Callable[[PgType, Values, Bools | None], Column]

ENCODERS: dict[str, Encoder] = {
    "bool": scalar.encode_bool,
    "int2": scalar.encode_int,
    "int4": scalar.encode_int,
    "int8": scalar.encode_int,
    "float4": scalar.encode_float,
    "float8": scalar.encode_float,
    "numeric": numeric.encode_numeric,
    "text": text.encode_text,
    "varchar": text.encode_text,
    "bpchar": text.encode_text,
    "json": text.encode_text,
    "jsonb": text.encode_text,
    "bytea": text.encode_bytea,
    "uuid": scalar.encode_uuid,
    "date": temporal.encode_date,
    "time": temporal.encode_time,
    "timestamp": temporal.encode_timestamp,
    "timestamptz": temporal.encode_timestamp,
    "interval": temporal.encode_interval,
}


def encode(
    pgtype: PgType | str, values: object, *, nulls: npt.NDArray[np.bool_] | None = None
) -> Column:
    """One column of a binary COPY stream: ``Text`` for fixed widths, ``Packed`` otherwise.

    ``values``: a numpy array, Arrow Array or ChunkedArray (chunks are combined,
    dictionaries decoded). A row is NULL where Arrow says so, where ``nulls`` is True, or
    (numpy datetime64/timedelta64) where it is NaT. A value PostgreSQL would refuse
    raises :class:`~pgbulk.errors.ValueRejected` naming its row; a kind of input the
    type cannot take raises :class:`~pgbulk.errors.ParameterError`. Pure: no I/O.
    """
    t = PgType.parse(pgtype) if isinstance(pgtype, str) else pgtype
    return _encode(t, values, nulls)


def encode_canonical(
    pgtype: PgType | str, values: object, *, nulls: npt.NDArray[np.bool_] | None = None
) -> Column:
    """As :func:`encode`, but byte for byte what the server's send function returns for
    the stored values (``encode`` may send an equal value in a cheaper form: numeric with
    its zero digits). The fingerprint hashes these bytes on both sides."""
    t = PgType.parse(pgtype) if isinstance(pgtype, str) else pgtype
    return _encode(t, values, nulls, canonical=True)


def _encode(t: PgType, values: Any, nulls: Bools | None, *, canonical: bool = False) -> Column:
    arr = plain(values)
    if isinstance(arr, pa.Array) and pa.types.is_null(arr.type):
        # Arrow's type of a column with no value at all: NULL rows of any PostgreSQL type.
        n = len(arr)
        return Packed(np.zeros(n + 1, np.int64), np.zeros(0, np.uint8), np.ones(n, bool))
    mask = null_mask(arr, nulls)
    if t.array:
        return encode_array(t, arr, mask, _canonical_encode if canonical else _encode)
    if canonical and t.name == "numeric":
        return numeric.encode_numeric_canonical(t, arr, mask)
    return ENCODERS[t.name](t, arr, mask)


def _canonical_encode(t: PgType, values: Any, nulls: Bools | None) -> Column:
    return _encode(t, values, nulls, canonical=True)
