"""The Arrow <-> PostgreSQL type mapping and to_arrow."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from pgbulk.errors import ParameterError
from pgbulk.types import PgType, arrow_type, encode, pg_type_for_arrow, to_arrow
from tests.unit.types.fields import fields

MAPPING = [
    (pa.int8(), "smallint"),
    (pa.int16(), "smallint"),
    (pa.int32(), "integer"),
    (pa.int64(), "bigint"),
    (pa.uint8(), "smallint"),
    (pa.uint16(), "integer"),
    (pa.uint32(), "bigint"),
    (pa.uint64(), "numeric(20,0)"),
    (pa.float16(), "real"),
    (pa.float32(), "real"),
    (pa.float64(), "double precision"),
    (pa.bool_(), "boolean"),
    (pa.decimal128(12, 2), "numeric(12,2)"),
    (pa.decimal256(60, 10), "numeric(60,10)"),
    (pa.string(), "text"),
    (pa.large_string(), "text"),
    (pa.string_view(), "text"),
    (pa.binary(), "bytea"),
    (pa.large_binary(), "bytea"),
    (pa.binary(7), "bytea"),
    (pa.binary(16), "uuid"),
    (pa.uuid(), "uuid"),
    (pa.date32(), "date"),
    (pa.date64(), "date"),
    (pa.time32("s"), "time without time zone"),
    (pa.time64("ns"), "time without time zone"),
    (pa.timestamp("ns"), "timestamp without time zone"),
    (pa.timestamp("s", tz="UTC"), "timestamp with time zone"),
    (pa.duration("ms"), "interval"),
    (pa.month_day_nano_interval(), "interval"),
    (pa.list_(pa.int32()), "integer[]"),
    (pa.large_list(pa.string()), "text[]"),
    (pa.list_(pa.list_(pa.int32())), "jsonb"),
    (pa.struct([("a", pa.int32())]), "jsonb"),
    (pa.map_(pa.string(), pa.int32()), "jsonb"),
    (pa.dictionary(pa.int32(), pa.string()), "text"),
]


@pytest.mark.parametrize(("arrow", "sql"), MAPPING, ids=[str(a) for a, _ in MAPPING])
def test_pg_type_for_arrow(arrow: pa.DataType, sql: str) -> None:
    assert pg_type_for_arrow(arrow).sql == sql


def test_unmapped_arrow_types_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="no PostgreSQL type"):
        pg_type_for_arrow(pa.null())


@pytest.mark.parametrize(
    ("sql", "arrow"),
    [
        ("int2", pa.int16()),
        ("numeric(12,2)", pa.decimal128(12, 2)),
        ("numeric(50,5)", pa.decimal256(50, 5)),
        ("varchar(10)", pa.string()),
        ("uuid", pa.uuid()),
        ("timestamptz", pa.timestamp("us", tz="UTC")),
        ("time(3)", pa.time64("us")),
        ("interval", pa.month_day_nano_interval()),
        ("int8[]", pa.list_(pa.int64())),
    ],
)
def test_arrow_type(sql: str, arrow: pa.DataType) -> None:
    assert arrow_type(sql) == arrow


def test_every_scalar_type_maps_back_to_itself_through_arrow() -> None:
    """pg -> Arrow -> pg is the identity, but for what Arrow cannot say (lengths, precisions)."""
    for name in [
        "bool",
        "int2",
        "int4",
        "int8",
        "float4",
        "float8",
        "numeric(12,2)",
        "text",
        "bytea",
        "uuid",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
        "int4[]",
    ]:
        t = PgType.parse(name)
        assert pg_type_for_arrow(arrow_type(t)) == t
    with pytest.raises(ParameterError, match="numeric\\(p, s\\)"):
        arrow_type("numeric")


def test_to_arrow_builds_values_the_encoder_takes_back() -> None:
    ints = np.array([1, 2, 3])
    nulls = np.array([False, True, False])
    for sql in ["int4", "int8", "float8", "numeric(10,2)"]:
        arr = to_arrow(sql, ints, nulls)
        assert arr.type == arrow_type(sql)
        assert fields(encode(sql, arr)) == fields(encode(sql, ints, nulls=nulls))
    assert to_arrow("numeric(10,2)", np.array([1.25, -2.5])).to_pylist()[1] == pytest.approx(-2.5)
    assert to_arrow("time", np.array([3_600_000_000], "timedelta64[us]")).to_pylist() == [
        dt.time(1)
    ]
    assert to_arrow("interval", np.array([1], "timedelta64[s]")).to_pylist()[0].nanoseconds == 10**9
    raw = np.arange(32, dtype=np.uint8).reshape(2, 16)
    uuids = to_arrow("uuid", raw, np.array([False, True]))
    assert fields(encode("uuid", uuids)) == [raw[0].tobytes(), None]
    days = np.array(["2024-02-29"], "datetime64[D]")
    assert to_arrow("date", days).to_pylist() == [dt.date(2024, 2, 29)]
