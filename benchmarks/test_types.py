"""The type layer on one core: rows/s per type for a 1M-row chunk, and a TPC-H lineitem row.

No database. Each benchmark encodes the column(s) with ``pgbulk.types.encode`` and writes
the whole binary COPY stream with ``copy_format.encode``, from Arrow arrays as a Parquet
reader hands them over (numpy where noted). ``extra_info["rows_per_second"]`` holds the
rate over the median round; the summary at the end of the run prints it.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pgbulk import copy_format
from pgbulk.types import encode

ROWS = 1_000_000
ROUNDS = 3
RNG = np.random.default_rng(42)


def _words(n: int, lo: int, hi: int) -> pa.Array:
    """Random lowercase text of lo..hi characters, built in Arrow (no Python loop)."""
    lengths = RNG.integers(lo, hi + 1, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = RNG.integers(97, 123, int(offsets[-1]), dtype=np.uint8)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _with_nulls(values: pa.Array, share: float = 0.1) -> pa.Array:
    mask = pa.array(RNG.random(len(values)) < share)
    return pc.if_else(mask, pa.nulls(len(values), values.type), values)


def _rescaled(unscaled: np.ndarray, precision: int, scale: int) -> pa.Array:
    raw = pa.array(unscaled).cast(pa.decimal128(38, 0))
    return pa.Array.from_buffers(pa.decimal128(precision, scale), len(raw), raw.buffers())


COLUMNS: dict[str, Callable[[], Any]] = {
    "bool": lambda: pa.array(RNG.random(ROWS) < 0.5),
    "int2": lambda: pa.array(RNG.integers(-(2**15), 2**15, ROWS).astype(np.int16)),
    "int4": lambda: pa.array(RNG.integers(-(2**31), 2**31, ROWS).astype(np.int32)),
    "int8": lambda: pa.array(RNG.integers(-(2**63), 2**63 - 1, ROWS)),
    "int8 (10% NULL)": lambda: _with_nulls(pa.array(RNG.integers(-(2**63), 2**63 - 1, ROWS))),
    "float4": lambda: pa.array(RNG.standard_normal(ROWS).astype(np.float32)),
    "float8": lambda: pa.array(RNG.standard_normal(ROWS)),
    "numeric(15,2)": lambda: _rescaled(RNG.integers(-(10**13), 10**13, ROWS), 15, 2),
    "numeric(38,10)": lambda: pa.array(
        [decimal.Decimal(int(v)).scaleb(-10) for v in RNG.integers(-(2**62), 2**62, 1000)]
        * (ROWS // 1000),
        pa.decimal128(38, 10),
    ),
    "numeric(12,2) from int64": lambda: RNG.integers(-(10**9), 10**9, ROWS),
    "text (5..40 chars)": lambda: _words(ROWS, 5, 40),
    "text (10% NULL)": lambda: _with_nulls(_words(ROWS, 5, 40)),
    "varchar(44)": lambda: _words(ROWS, 10, 44),
    "jsonb": lambda: pc.binary_join_element_wise(
        '{"k": ', pc.cast(pa.array(RNG.integers(0, 10**6, ROWS)), pa.string()), "}", ""
    ),
    "bytea": lambda: _words(ROWS, 0, 32).cast(pa.large_binary()),
    "uuid": lambda: pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), ROWS, [None, pa.py_buffer(RNG.integers(0, 256, ROWS * 16, dtype=np.uint8))]
    ),
    "uuid (36-char text)": lambda: pa.array(
        np.array(["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] * ROWS)
    ),
    "date": lambda: pa.array(RNG.integers(0, 20_000, ROWS).astype(np.int32), pa.date32()),
    "time": lambda: pa.array(RNG.integers(0, 86_400_000_000, ROWS), pa.time64("us")),
    "timestamp": lambda: pa.array(RNG.integers(0, 2**60, ROWS), pa.timestamp("ns")),
    "timestamptz": lambda: pa.array(RNG.integers(0, 2**50, ROWS), pa.timestamp("us", tz="UTC")),
    "interval": lambda: pa.array(RNG.integers(0, 2**40, ROWS), pa.duration("us")),
    "int4[] (0..8 elements)": lambda: pa.ListArray.from_arrays(
        np.concatenate([[0], np.cumsum(RNG.integers(0, 9, ROWS))]).astype(np.int32),
        pa.array(RNG.integers(0, 1000, ROWS * 8).astype(np.int32)),
    ),
    "text[] (0..4 elements)": lambda: pa.ListArray.from_arrays(
        np.concatenate([[0], np.cumsum(RNG.integers(0, 5, ROWS))]).astype(np.int32),
        _words(ROWS * 4, 1, 10),
    ),
}


def record_rate(benchmark: BenchmarkFixture, summary: list[str], rows: int) -> None:
    benchmark.extra_info["rows"] = rows
    if benchmark.stats is not None:  # None under --benchmark-disable
        rate = rows / benchmark.stats.stats.median
        benchmark.extra_info["rows_per_second"] = round(rate)
        summary.append(f"{benchmark.name}: {rows:,} rows, {rate / 1e6:.2f}M rows/s on one core")


@pytest.mark.parametrize("name", list(COLUMNS))
def test_encode_type(benchmark: BenchmarkFixture, rate_summary: list[str], name: str) -> None:
    values = COLUMNS[name]()
    pgtype = name.split(" ")[0]
    stream = benchmark.pedantic(
        lambda: copy_format.encode([encode(pgtype, values)]), rounds=ROUNDS, warmup_rounds=1
    )
    assert bytes(stream[:11]) == b"PGCOPY\n\xff\r\n\x00"
    record_rate(benchmark, rate_summary, ROWS)


def _lineitem(n: int) -> list[tuple[str, Any]]:
    """TPC-H lineitem's 16 columns, with its value shapes (dbgen's ranges)."""
    orderkey = np.sort(RNG.integers(1, 6_000_000, n))
    day = pa.array(RNG.integers(8_035, 10_591, n).astype(np.int32), pa.date32())  # 1992..1998
    return [
        ("int8", pa.array(orderkey)),
        ("int8", pa.array(RNG.integers(1, 200_000, n))),
        ("int8", pa.array(RNG.integers(1, 10_000, n))),
        ("int4", pa.array(RNG.integers(1, 8, n).astype(np.int32))),
        ("numeric(15,2)", _rescaled(RNG.integers(1, 51, n) * 100, 15, 2)),
        ("numeric(15,2)", _rescaled(RNG.integers(90_000, 10_495_000, n), 15, 2)),
        ("numeric(15,2)", _rescaled(RNG.integers(0, 11, n), 15, 2)),
        ("numeric(15,2)", _rescaled(RNG.integers(0, 9, n), 15, 2)),
        ("char(1)", pa.array(np.array(["A", "N", "R"])[RNG.integers(0, 3, n)])),
        ("char(1)", pa.array(np.array(["F", "O"])[RNG.integers(0, 2, n)])),
        ("date", day),
        ("date", pa.array(day.view(pa.int32()).to_numpy() + np.int32(30), pa.date32())),
        ("date", day),
        (
            "char(25)",
            pa.array(
                np.array(["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"])[
                    RNG.integers(0, 4, n)
                ]
            ),
        ),
        (
            "char(10)",
            pa.array(
                np.array(["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"])[
                    RNG.integers(0, 7, n)
                ]
            ),
        ),
        ("varchar(44)", _words(n, 10, 43)),
    ]


def test_encode_lineitem(benchmark: BenchmarkFixture, rate_summary: list[str]) -> None:
    columns = _lineitem(ROWS)
    stream = benchmark.pedantic(
        lambda: copy_format.encode([encode(t, v) for t, v in columns]),
        rounds=ROUNDS,
        warmup_rounds=1,
    )
    benchmark.extra_info["bytes"] = len(stream)
    record_rate(benchmark, rate_summary, ROWS)
