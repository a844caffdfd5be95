"""PostgreSQL types <-> Arrow types: what ingest maps a source to, and what export writes.

``pg_type_for_arrow`` picks the PostgreSQL type that holds every value of an Arrow type
without loss (unsigned ints move up one size; uint64 becomes numeric(20,0)).
``arrow_type`` is the way back. ``to_arrow`` builds an Arrow array of a column's type
from numpy values, for tests and for generators that produce numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pgbulk.errors import ParameterError
from pgbulk.types.pgtype import PgType

_INTS = {
    pa.int8(): "int2",
    pa.int16(): "int2",
    pa.int32(): "int4",
    pa.int64(): "int8",
    pa.uint8(): "int2",
    pa.uint16(): "int4",
    pa.uint32(): "int8",
    pa.float16(): "float4",
    pa.float32(): "float4",
    pa.float64(): "float8",
    pa.bool_(): "bool",
}


def pg_type_for_arrow(dtype: pa.DataType) -> PgType:
    """The PostgreSQL column type for an Arrow type (raises ParameterError when there is none)."""
    if dtype in _INTS:
        return PgType(_INTS[dtype])
    if dtype == pa.uint64():
        return PgType("numeric", (20, 0))
    if pa.types.is_decimal(dtype):
        return PgType("numeric", (dtype.precision, dtype.scale))
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    ):
        return PgType("text")
    if isinstance(dtype, pa.BaseExtensionType) and dtype.extension_name == "arrow.uuid":
        return PgType("uuid")
    if isinstance(dtype, pa.BaseExtensionType) and dtype.extension_name == "arrow.json":
        return PgType("jsonb")
    if pa.types.is_fixed_size_binary(dtype) and dtype.byte_width == 16:
        return PgType("uuid")
    if (
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_binary_view(dtype)
        or pa.types.is_fixed_size_binary(dtype)
    ):
        return PgType("bytea")
    if pa.types.is_date(dtype):
        return PgType("date")
    if pa.types.is_time(dtype):
        return PgType("time")
    if pa.types.is_timestamp(dtype):
        return PgType("timestamptz" if dtype.tz is not None else "timestamp")
    if pa.types.is_duration(dtype) or pa.types.is_interval(dtype):
        return PgType("interval")
    if pa.types.is_dictionary(dtype):
        return pg_type_for_arrow(dtype.value_type)
    if pa.types.is_struct(dtype) or pa.types.is_map(dtype):
        return PgType("jsonb")
    if (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
        or pa.types.is_list_view(dtype)
        or pa.types.is_large_list_view(dtype)
    ):
        element = pg_type_for_arrow(dtype.value_type)
        if element.array or element.name in ("json", "jsonb"):
            return PgType("jsonb")  # PostgreSQL arrays are rectangular; nested lists are JSON
        return PgType(element.name, element.modifiers, array=True)
    raise ParameterError("Arrow type", str(dtype), "has no PostgreSQL type in pgbulk")


def arrow_type(pgtype: PgType | str) -> pa.DataType:
    """The Arrow type that holds a column's values exactly."""
    t = PgType.parse(pgtype) if isinstance(pgtype, str) else pgtype
    if t.array:
        return pa.list_(arrow_type(t.element))
    name = t.name
    simple = {
        "bool": pa.bool_(),
        "int2": pa.int16(),
        "int4": pa.int32(),
        "int8": pa.int64(),
        "float4": pa.float32(),
        "float8": pa.float64(),
        "text": pa.string(),
        "varchar": pa.string(),
        "bpchar": pa.string(),
        "json": pa.string(),
        "jsonb": pa.string(),
        "bytea": pa.binary(),
        "uuid": pa.uuid(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "interval": pa.month_day_nano_interval(),
    }
    if name in simple:
        return simple[name]
    if not t.modifiers:
        raise ParameterError(
            "type", t.sql, "unconstrained numeric has no exact Arrow type; give numeric(p, s)"
        )
    precision, scale = t.modifiers
    if scale < 0:
        raise ParameterError("type", t.sql, "a negative scale has no Arrow decimal type")
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def to_arrow(
    pgtype: PgType | str, values: npt.NDArray[Any], nulls: npt.NDArray[np.bool_] | None = None
) -> pa.Array:
    """An Arrow array of ``arrow_type(pgtype)`` from numpy values (NULL where ``nulls``)."""
    t = PgType.parse(pgtype) if isinstance(pgtype, str) else pgtype
    target = arrow_type(t)
    mask = None if nulls is None else np.asarray(nulls, dtype=bool)
    if t.array:
        raise ParameterError("type", t.sql, "to_arrow takes scalar types; build lists with pyarrow")
    if t.name == "uuid":
        raw = values.view(np.uint8).reshape(-1, 16) if values.dtype != np.uint8 else values
        storage = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(16), len(raw), [_validity(mask), pa.py_buffer(np.ascontiguousarray(raw))]
        )
        return pa.ExtensionArray.from_storage(pa.uuid(), storage)
    if t.name == "interval":
        nanos = values.astype("timedelta64[ns]").view(np.int64)
        parts = np.zeros(len(values), dtype=[("m", "<i4"), ("d", "<i4"), ("ns", "<i8")])
        parts["ns"] = nanos
        return pa.Array.from_buffers(target, len(values), [_validity(mask), pa.py_buffer(parts)])
    if t.name == "time":
        usecs = values.astype("timedelta64[us]").view(np.int64)
        return pa.array(usecs, type=pa.int64(), mask=mask).view(target)
    if t.name == "numeric" and values.dtype.kind in "iu":
        # Arrow casts int64 only to a decimal with room for any int64: go through one.
        wide = pa.decimal128(38, target.scale) if target.precision <= 38 else target
        return pa.array(values, mask=mask).cast(wide).cast(target)
    if t.name == "numeric":
        scaled = np.rint(values * 10.0**target.scale)
        unscaled = pa.array(scaled.astype(np.int64), mask=mask).cast(pa.decimal128(38, 0))
        return _rescale(unscaled, target)
    return pa.array(values, mask=mask).cast(target, safe=False)


def _rescale(unscaled: pa.Array, target: pa.DataType) -> pa.Array:
    """An integer decimal read as ``unscaled / 10^scale``: same bytes, other scale."""
    width = 16 if pa.types.is_decimal128(target) else 32
    raw = unscaled.cast(pa.decimal128(38, 0) if width == 16 else pa.decimal256(76, 0))
    return pa.Array.from_buffers(target, len(raw), raw.buffers(), offset=raw.offset)


def _validity(mask: npt.NDArray[np.bool_] | None) -> pa.Buffer | None:
    if mask is None or not mask.any():
        return None
    return pa.py_buffer(np.packbits(~mask, bitorder="little"))
