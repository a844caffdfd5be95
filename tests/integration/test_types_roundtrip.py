"""Every encoder against the server: COPY the encoded stream, read ``::text`` back, and compare
with what PostgreSQL renders for the same values sent as text literals.

Each case is a type, the values (numpy or Arrow, with NULLs), and the literals a person
would write for them. Both tables are read back by the server's own output functions, so
the comparison needs no Python reimplementation of PostgreSQL's formatting.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg import sql

from pgbulk import copy_format, types
from pgbulk.errors import TypeMismatch, ValueRejected
from pgbulk.types import catalog


@dataclass
class Case:
    pgtype: str
    values: Any
    literals: list[str | None]
    nulls: np.ndarray | None = field(default=None)

    @property
    def id(self) -> str:
        kind = type(self.values).__name__
        return f"{self.pgtype}-{kind}"


D = decimal.Decimal
U1 = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
U2 = uuid.UUID("00000000-0000-0000-0000-000000000000")

CASES = [
    Case("boolean", np.array([True, False, True]), ["t", "f", None], np.array([0, 0, 1], bool)),
    Case("boolean", pa.array([True, None, False]), ["t", None, "f"]),
    Case("smallint", np.array([-32768, 0, 32767], np.int64), ["-32768", "0", "32767"]),
    Case(
        "integer",
        pa.array([-(2**31), None, 2**31 - 1], pa.int64()),
        ["-2147483648", None, "2147483647"],
    ),
    Case("bigint", np.array([-(2**63), -1, 2**63 - 1]), [str(-(2**63)), "-1", str(2**63 - 1)]),
    Case("bigint", np.array([0, 2**63 - 1], np.uint64), ["0", str(2**63 - 1)]),
    Case(
        "real",
        np.array([1.5, -0.0, np.nan, np.inf, -np.inf, 3.4028235e38], np.float32),
        ["1.5", "-0", "NaN", "Infinity", "-Infinity", "3.4028235e38"],
    ),
    Case(
        "double precision",
        np.array([0.1, -1e308, np.nan, np.inf, 5e-324]),
        ["0.1", "-1e308", "NaN", "Infinity", "5e-324"],
    ),
    Case("double precision", pa.array([1.25, None], pa.float32()), ["1.25", None]),
    Case(
        "numeric",
        pa.array(
            [
                D("1234.5600"),
                D("-0.0001"),
                D("0"),
                None,
                D("99999999999999999999999999.999999999999"),
                D("-12345678901234567890123456.123456789012"),
            ],
            pa.decimal128(38, 12),
        ),
        [
            "1234.560000000000",
            "-0.000100000000",
            "0.000000000000",
            None,
            "99999999999999999999999999.999999999999",
            "-12345678901234567890123456.123456789012",
        ],
    ),
    Case(
        "numeric(38,0)",
        pa.array(
            [D("-12345678901234567890123456789012345678"), D("10000000000000000")],
            pa.decimal128(38, 0),
        ),
        ["-12345678901234567890123456789012345678", "10000000000000000"],
    ),
    Case(
        "numeric(12,2)",
        np.array([5, -123456, 0, 9_999_999_999]),
        ["5", "-123456", "0", "9999999999"],
    ),
    Case(
        "numeric(12,2)",
        np.array([5.25, -0.5, np.nan, 1e9 + 0.75]),
        ["5.25", "-0.5", "NaN", "1000000000.75"],
    ),
    Case("numeric", np.array([2**63 - 1, -(2**63), 0]), [str(2**63 - 1), str(-(2**63)), "0"]),
    Case(
        "numeric(70,30)",
        pa.array(
            [D("-1234567890123456789012345678901234567890.123456789012345678901234567890")],
            pa.decimal256(70, 30),
        ),
        ["-1234567890123456789012345678901234567890.123456789012345678901234567890"],
    ),
    Case(
        "numeric(6,2)",
        pa.array([D("1.005"), D("-9999.994")], pa.decimal128(10, 3)),
        ["1.005", "-9999.994"],
    ),
    Case(
        "text",
        pa.array(["", "héllo wörld 😀", None, "x" * 5000]),
        ["", "héllo wörld 😀", None, "x" * 5000],
    ),
    Case("text", np.array(["a", "żółw", ""]), ["a", "żółw", ""]),
    Case("text", np.array([b"abc", b""]), ["abc", ""]),
    Case("text", pa.array(["view", None], pa.string_view()), ["view", None]),
    Case(
        "text",
        pa.array(["dict", "dict", None], pa.string()).dictionary_encode(),
        ["dict", "dict", None],
    ),
    Case(
        "character varying(3)",
        pa.array(["abc", "żół", "ab   ", None], pa.large_string()),
        ["abc", "żół", "ab   ", None],
    ),
    Case("character(3)", pa.array(["a", "abc", None]), ["a", "abc", None]),
    Case("bytea", pa.array([b"\x00\x01\xff", b"", None], pa.binary()), ["\\x0001ff", "\\x", None]),
    Case("uuid", pa.array([U1.bytes, U2.bytes, None], pa.binary(16)), [str(U1), str(U2), None]),
    Case("uuid", np.array([U1.bytes, U2.bytes], "S16"), [str(U1), str(U2)]),
    Case("uuid", np.array([str(U1).upper(), str(U2)]), [str(U1), str(U2)]),
    Case(
        "uuid",
        pa.ExtensionArray.from_storage(pa.uuid(), pa.array([U1.bytes, None], pa.binary(16))),
        [str(U1), None],
    ),
    Case(
        "date",
        np.array(
            ["2000-01-01", "1970-01-01", "-4713-11-24", "5874897-12-31", "0000-12-31", "NaT"],
            "datetime64[D]",
        ),
        ["2000-01-01", "1970-01-01", "4714-11-24 BC", "5874897-12-31", "0001-12-31 BC", None],
    ),
    Case(
        "date",
        pa.array([dt.date(1999, 12, 31), None, dt.date(2024, 2, 29)], pa.date32()),
        ["1999-12-31", None, "2024-02-29"],
    ),
    Case("date", pa.array([dt.datetime(2024, 2, 29, 23, 0)], pa.date64()), ["2024-02-29"]),
    Case(
        "time without time zone",
        pa.array([0, 86_400_000_000, 45_296_789_012, None], pa.time64("us")),
        ["00:00", "24:00", "12:34:56.789012", None],
    ),
    Case("time", pa.array([45_296], pa.time32("s")), ["12:34:56"]),
    Case("time", np.array([45_296_789_012_345], "timedelta64[ns]"), ["12:34:56.789012"]),
    Case(
        "timestamp",
        np.array(
            ["2000-01-01T00:00:00", "-4713-11-24T00:00:00", "294276-12-31T23:59:59", "NaT"],
            "datetime64[s]",
        ),
        ["2000-01-01 00:00", "4714-11-24 00:00 BC", "294276-12-31 23:59:59", None],
    ),
    Case(
        "timestamp",
        pa.array([1_700_000_000_123_456_789, -1], pa.timestamp("ns")),
        ["2023-11-14 22:13:20.123456", "1969-12-31 23:59:59.999999"],
    ),
    Case(
        "timestamp(3) without time zone",
        pa.array([1_700_000_000_123_456], pa.timestamp("us")),
        ["2023-11-14 22:13:20.123456"],
    ),
    Case(
        "timestamp with time zone",
        pa.array([0, None, 1_700_000_000_000], pa.timestamp("ms", tz="Europe/Paris")),
        ["1970-01-01 00:00+00", None, "2023-11-14 22:13:20+00"],
    ),
    Case(
        "interval",
        pa.array(
            [(1, 2, 3_000), (-14, -3, -86_400_000_000_000), None], pa.month_day_nano_interval()
        ),
        ["1 mon 2 days 0.000003 sec", "-1 year -2 mons -3 days -24:00:00", None],
    ),
    Case(
        "interval", pa.array([90_061_000_000, -1], pa.duration("us")), ["25:01:01", "-0.000001 sec"]
    ),
    Case("interval", np.array([3, "NaT"], "timedelta64[h]"), ["03:00:00", None]),
    Case("interval", np.array([1, 14, -1], "timedelta64[M]"), ["1 mon", "1 year 2 mons", "-1 mon"]),
    Case(
        "json",
        pa.array(['{"b": 1, "a": [1, 2]}', None, '"x"']),
        ['{"b": 1, "a": [1, 2]}', None, '"x"'],
    ),
    Case(
        "jsonb",
        pa.array(['{"b": 1, "a": [1, 2.50]}', None, "null", "[]"]),
        ['{"b": 1, "a": [1, 2.50]}', None, "null", "[]"],
    ),
    Case(
        "jsonb",
        pa.array([{"a": 1, "b": ['x"', None], "c": {"d": 1.5}}, None]),
        ['{"a": 1, "b": ["x\\"", null], "c": {"d": 1.5}}', None],
    ),
    Case("jsonb", pa.array([[("k", 2)]], pa.map_(pa.string(), pa.int8())), ['{"k": 2}']),
    Case(
        "integer[]",
        pa.array([[1, None, 3], [], None, [2**31 - 1]], pa.list_(pa.int32())),
        ["{1,NULL,3}", "{}", None, "{2147483647}"],
    ),
    Case(
        "text[]",
        pa.array([["a", "b c", None, ""], ["żółw"]], pa.large_list(pa.string())),
        ['{a,"b c",NULL,""}', "{żółw}"],
    ),
    Case(
        "numeric(10,2)[]",
        pa.array([[D("1.50"), D("-2.25")], [None]], pa.list_(pa.decimal128(10, 2))),
        ["{1.50,-2.25}", "{NULL}"],
    ),
    Case("uuid[]", pa.array([[U1.bytes, U2.bytes]], pa.list_(pa.binary(16))), [f"{{{U1},{U2}}}"]),
    Case(
        "timestamp with time zone[]",
        pa.array([[0, None]], pa.list_(pa.timestamp("us", tz="UTC"))),
        ["{1970-01-01 00:00+00,NULL}"],
    ),
    Case("boolean[]", pa.array([[True, False]], pa.list_(pa.bool_())), ["{t,f}"]),
    Case(
        "jsonb[]", pa.array([['{"a": 1}', None]], pa.list_(pa.string())), ['{"{\\"a\\": 1}",NULL}']
    ),
    Case("date[]", pa.array([[0, 1]], pa.list_(pa.date32())), ["{1970-01-01,1970-01-02}"]),
    Case(
        "interval[]", pa.array([[(0, 1, 0)]], pa.list_(pa.month_day_nano_interval())), ['{"1 day"}']
    ),
]


def _copy_binary(
    conn: psycopg.Connection[Any], table: str, columns: list[str], stream: memoryview
) -> None:
    query = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor().copy(query) as copy:
        copy.write(bytes(stream))


@pytest.fixture
def conn(db_dsn: str) -> Any:
    with psycopg.connect(db_dsn, autocommit=True) as c:
        c.execute("SET TimeZone = 'UTC'")
        c.execute("SET IntervalStyle = 'postgres'")
        yield c


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_encoded_values_read_back_as_the_server_renders_them(
    conn: psycopg.Connection[Any], case: Case
) -> None:
    t = types.PgType.parse(case.pgtype)
    conn.execute(f"CREATE TABLE sent (id int4, v {t.sql})")
    conn.execute(f"CREATE TABLE typed (id int4, v {t.sql})")
    n = len(case.literals)
    stream = copy_format.encode(
        [
            types.encode("int4", np.arange(n, dtype=np.int32)),
            types.encode(t, case.values, nulls=case.nulls),
        ]
    )
    _copy_binary(conn, "sent", ["id", "v"], stream)
    conn.execute(
        f"INSERT INTO typed SELECT i::int4 - 1, v::{t.sql} FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, i)",
        [case.literals],
    )
    got = conn.execute("SELECT id, v::text FROM sent ORDER BY id").fetchall()
    want = conn.execute("SELECT id, v::text FROM typed ORDER BY id").fetchall()
    assert got == want
    assert len(got) == n


def test_many_columns_with_nulls_in_one_stream(conn: psycopg.Connection[Any]) -> None:
    """Packed and fixed columns side by side, NULLs at random: the stream's framing holds."""
    rng = np.random.default_rng(7)
    n = 5_000
    nulls = rng.random(n) < 0.2
    ints = rng.integers(-(2**31), 2**31, n)
    words = pa.array([f"w{i}" * int(k) for i, k in enumerate(rng.integers(0, 5, n))])
    lists = pa.array([[int(v), None] for v in rng.integers(0, 100, n)], pa.list_(pa.int64()))
    conn.execute("CREATE TABLE t (id int4, a int8, b text, c int8[], d numeric(20,2))")
    stream = copy_format.encode(
        [
            types.encode("int4", np.arange(n, dtype=np.int32)),
            types.encode("int8", ints, nulls=nulls),
            types.encode("text", words, nulls=nulls[::-1].copy()),
            types.encode("int8[]", lists),
            types.encode("numeric(20,2)", ints, nulls=nulls),
        ]
    )
    _copy_binary(conn, "t", ["id", "a", "b", "c", "d"], stream)
    rows = conn.execute("SELECT a, b, c, d FROM t ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [None if m else int(v) for v, m in zip(ints, nulls, strict=True)]
    assert [r[1] for r in rows] == [
        None if m else w for w, m in zip(words.to_pylist(), nulls[::-1], strict=True)
    ]
    assert [r[2] for r in rows] == lists.to_pylist()
    assert [r[3] for r in rows] == [
        None if m else D(int(v)).scaleb(0) for v, m in zip(ints, nulls, strict=True)
    ]


@pytest.mark.parametrize(
    ("pgtype", "values"),
    [
        ("smallint", np.array([70000])),
        ("text", pa.array(["a\x00b"])),
        ("character varying(2)", pa.array(["abc"])),
        ("numeric(4,2)", pa.array([D("99.995")], pa.decimal128(5, 3))),
        ("date", np.array(["5874898-01-01"], "datetime64[D]")),
        ("timestamp", np.array(["294277-01-01T00:00:00"], "datetime64[s]")),
        ("time", pa.array([86_400_000_001], pa.time64("us"))),
    ],
)
def test_what_the_encoder_rejects_the_server_rejects_too(
    conn: psycopg.Connection[Any], pgtype: str, values: Any
) -> None:
    """The checks are PostgreSQL's: the same value as a literal fails on the server."""
    with pytest.raises(ValueRejected):
        types.encode(pgtype, values)
    literal = {
        "smallint": "70000",
        "character varying(2)": "abc",
        "numeric(4,2)": "99.995",
        "date": "5874898-01-01",
        "timestamp": "294277-01-01 00:00:00",
        "time": "24:00:00.000001",
    }.get(pgtype)
    if literal is None:  # a NUL byte cannot even be written as a literal
        with pytest.raises(psycopg.DataError):
            conn.execute("SELECT convert_from('\\x610062'::bytea, 'UTF8')")
        return
    conn.execute(f"CREATE TABLE x (v {pgtype})")
    with pytest.raises(psycopg.DataError):
        conn.execute("INSERT INTO x VALUES (%s)", [literal])


def test_table_columns_reads_the_catalog(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE c (a int4 NOT NULL, b numeric(12,2), gone int, "
        "d timestamp(3) with time zone, e varchar(20)[], f char(3), g bpchar)"
    )
    conn.execute("ALTER TABLE c DROP COLUMN gone")
    assert catalog.table_columns(conn, "public", "c") == [
        ("a", types.PgType("int4"), True),
        ("b", types.PgType("numeric", (12, 2)), False),
        ("d", types.PgType("timestamptz", (3,)), False),
        ("e", types.PgType("varchar", (20,), array=True), False),
        ("f", types.PgType("bpchar", (3,)), False),
        ("g", types.PgType("bpchar"), False),
    ]


def test_every_pgtype_spelling_is_format_types(conn: psycopg.Connection[Any]) -> None:
    """PgType.sql as DDL, read back through format_type: the same type."""
    spellings = [c.pgtype for c in CASES]
    columns = ", ".join(f"c{i} {types.PgType.parse(s).sql}" for i, s in enumerate(spellings))
    conn.execute(f"CREATE TABLE s ({columns})")
    found = catalog.table_columns(conn, "public", "s")
    assert [t for _, t, _ in found] == [types.PgType.parse(s) for s in spellings]
    assert [t.sql for _, t, _ in found] == [
        r[0]
        for r in conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 's'::regclass AND attnum > 0 ORDER BY attnum"
        )
    ]


def test_check_columns_names_each_bad_column(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE k (id int8, name text, at timestamptz, p point)")
    P = types.PgType.parse
    catalog.check_columns(conn, "public", "k", [("id", P("bigint")), ("at", P("timestamptz"))])
    with pytest.raises(TypeMismatch) as e:
        catalog.check_columns(
            conn,
            "public",
            "k",
            [("id", P("int4")), ("name", P("text")), ("missing", P("date")), ("p", P("text"))],
        )
    assert str(e.value).splitlines() == [
        "public.k.id: expected integer, found bigint",
        "public.k.missing: expected date, found no such column",
        "public.k.p: expected text, found point",
    ]
    with pytest.raises(TypeMismatch, match=r"public\.nope: no such table"):
        catalog.check_columns(conn, "public", "nope", [("id", P("int4"))])
    with pytest.raises(TypeMismatch, match=r"public\.k\.p: type point is not one pgbulk encodes"):
        catalog.table_columns(conn, "public", "k")


def test_random_columns_match_psycopgs_own_binary_copy(conn: psycopg.Connection[Any]) -> None:
    """A second oracle: the same rows sent by psycopg's binary dumpers, one row at a time
    (``Copy.set_types`` + ``write_row``), read back equal to ours, NULLs included."""
    from psycopg.types.json import Jsonb

    rng = np.random.default_rng(13)
    n = 2_000

    def nulls_in(values: pa.Array) -> pa.Array:
        mask = pa.array(rng.random(n) < 0.15)
        return pc.if_else(mask, pa.nulls(n, values.type), values)

    unscaled = pa.array(rng.integers(-(10**17), 10**17, n)).cast(pa.decimal128(38, 0))
    wide = pa.array(
        [D(int(v)) * D(10) ** 12 for v in rng.integers(-(2**62), 2**62, n)], pa.decimal128(38, 0)
    )
    lengths = rng.integers(0, 6, n)
    columns: list[tuple[str, pa.Array, Any]] = [
        ("int2", pa.array(rng.integers(-(2**15), 2**15, n).astype(np.int16)), None),
        ("int4", pa.array(rng.integers(-(2**31), 2**31, n).astype(np.int32)), None),
        ("int8", pa.array(rng.integers(-(2**63), 2**63 - 1, n)), None),
        ("float4", pa.array(rng.standard_normal(n).astype(np.float32)), None),
        ("float8", pa.array(rng.standard_normal(n) * 1e10), None),
        ("numeric", pa.Array.from_buffers(pa.decimal128(38, 6), n, unscaled.buffers()), None),
        ("numeric", wide, None),
        ("text", pa.array([("żółw😀" * int(k))[: int(k) * 2] for k in lengths]), None),
        (
            "bytea",
            pa.array([bytes(rng.integers(0, 256, int(k), dtype=np.uint8)) for k in lengths]),
            None,
        ),
        (
            "uuid",
            pa.array(
                list(
                    rng.integers(0, 256, (n, 16), dtype=np.uint8).tobytes()[i * 16 : i * 16 + 16]
                    for i in range(n)
                ),
                pa.binary(16),
            ),
            lambda b: uuid.UUID(bytes=b),
        ),
        (
            "date",
            pa.array(rng.integers(-500_000, 2_900_000, n).astype(np.int32), pa.date32()),
            None,
        ),
        ("time", pa.array(rng.integers(0, 86_400_000_000, n), pa.time64("us")), None),
        ("timestamp", pa.array(rng.integers(-(2**55), 2**57, n), pa.timestamp("us")), None),
        (
            "timestamptz",
            pa.array(rng.integers(-(2**55), 2**57, n), pa.timestamp("us", tz="UTC")),
            None,
        ),
        (
            "interval",  # timedelta keeps 0 <= µs < 1 day, and psycopg sends its days and µs
            pa.array(
                [
                    (0, int(d), int(us) * 1000)
                    for d, us in zip(
                        rng.integers(-1000, 1000, n),
                        rng.integers(0, 86_400_000_000, n),
                        strict=True,
                    )
                ],
                pa.month_day_nano_interval(),
            ),
            lambda v: dt.timedelta(days=v.days, microseconds=v.nanoseconds // 1000),
        ),
        (
            "jsonb",
            pa.array([f'{{"k": {int(v)}, "s": "x{int(v)}"}}' for v in rng.integers(0, 1000, n)]),
            lambda s: Jsonb(json.loads(s)),
        ),
        (
            "int4[]",
            pa.array(
                [[int(x) for x in rng.integers(0, 100, int(k))] for k in lengths],
                pa.list_(pa.int32()),
            ),
            None,
        ),
        (
            "text[]",
            pa.array(
                [[f"e{int(x)}" for x in rng.integers(0, 100, int(k))] for k in lengths],
                pa.list_(pa.string()),
            ),
            None,
        ),
    ]
    columns = [(t, nulls_in(v), f) for t, v, f in columns]
    names = [f"c{i}" for i in range(len(columns))]
    ddl = ", ".join(
        f"{c} {types.PgType.parse(t).sql}" for c, (t, _, _) in zip(names, columns, strict=True)
    )
    conn.execute(f"CREATE TABLE ours (id int4, {ddl})")
    conn.execute(f"CREATE TABLE theirs (id int4, {ddl})")

    stream = copy_format.encode(
        [types.encode("int4", np.arange(n, dtype=np.int32))]
        + [types.encode(t, v) for t, v, _ in columns]
    )
    _copy_binary(conn, "ours", ["id", *names], stream)

    python = [
        [None if x is None or f is None else f(x) for x in v.to_pylist()] if f else v.to_pylist()
        for _, v, f in columns
    ]
    query = sql.SQL("COPY theirs (id, {}) FROM STDIN WITH (FORMAT binary)").format(
        sql.SQL(", ").join(map(sql.Identifier, names))
    )
    with conn.cursor().copy(query) as copy:
        copy.set_types(["int4", *[t for t, _, _ in columns]])
        for i in range(n):
            copy.write_row([i, *[col[i] for col in python]])

    select = f"SELECT id, {', '.join(f'{c}::text' for c in names)} FROM {{}} ORDER BY id"
    ours = conn.execute(select.format("ours")).fetchall()
    theirs = conn.execute(select.format("theirs")).fetchall()
    assert len(ours) == n
    for a, b in zip(ours, theirs, strict=True):
        assert a == b


@pytest.mark.parametrize(
    ("pgtype", "values"),
    [
        ("numeric(12,2)", np.array([0.0, 1.0, -1.5, 1234567.89, 0.01, 100.0, -0.0])),
        ("numeric(10,0)", np.array([0, 10_000, -7, 99_990_000], dtype=np.int64)),
        ("numeric(20,4)", np.array([0, 5, -123456789, 10**15], dtype=np.int64)),
        ("int4[]", pa.array([[1, None, 3], [], None])),
    ],
)
def test_canonical_fields_are_what_the_server_sends_back(
    conn: psycopg.Connection[Any], pgtype: str, values: Any
) -> None:
    """The fingerprint hashes these bytes on both sides: they must be the send function's."""
    t = types.PgType.parse(pgtype)
    conn.execute(sql.SQL("CREATE TABLE canon (v {})").format(sql.SQL(t.sql)))
    with conn.cursor().copy("COPY canon (v) FROM STDIN (FORMAT binary)") as copy:
        copy.write(bytes(copy_format.encode([types.encode(t, values)])))
    # In insertion order: a fresh heap is read back in the order COPY wrote it.
    server = [
        None if v is None else bytes(v)
        for (v,) in conn.execute(
            sql.SQL("SELECT {}(v) FROM canon").format(sql.SQL(_send(t)))
        ).fetchall()
    ]
    assert len(server) == len(values)
    column = types.encode_canonical(t, values)
    ours = [row for (row,) in _fields(copy_format.encode([column]))]
    assert ours == server


def _send(t: types.PgType) -> str:
    return "array_send" if t.array else f"{t.name}_send"


def _fields(stream: memoryview) -> list[tuple[bytes | None, ...]]:
    from tests.copy_stream import decode_stream

    return decode_stream(bytes(stream))
