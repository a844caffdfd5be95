"""NULLs in any column: from Arrow validity, from the ``nulls`` mask, or both."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pgbulk import copy_format
from pgbulk.types import encode
from tests.unit.types.fields import fields

N = 2_000
RNG = np.random.default_rng(11)

SAMPLES = {
    "bool": lambda: RNG.random(N) < 0.5,
    "int2": lambda: RNG.integers(-(2**15), 2**15, N),
    "int4": lambda: RNG.integers(-(2**31), 2**31, N),
    "int8": lambda: RNG.integers(-(2**63), 2**63 - 1, N),
    "float4": lambda: RNG.standard_normal(N).astype(np.float32),
    "float8": lambda: RNG.standard_normal(N) * 1e300,
    "numeric(30,6)": lambda: RNG.integers(-(2**63), 2**63 - 1, N),
    "text": lambda: np.array([f"v{i}" * int(k) for i, k in enumerate(RNG.integers(0, 4, N))]),
    "varchar(40)": lambda: np.array([f"ü{i}" for i in range(N)]),
    "bytea": lambda: np.array([bytes([i % 256]) * int(i % 5) for i in range(N)], dtype=object),
    "jsonb": lambda: np.array([f'{{"a": {i}}}' for i in range(N)]),
    "uuid": lambda: RNG.integers(0, 256, (N, 16), dtype=np.uint8),
    "date": lambda: RNG.integers(-2_000_000, 2_000_000, N).astype("datetime64[D]"),
    "time": lambda: RNG.integers(0, 86_400_000_000, N).astype("timedelta64[us]"),
    "timestamp": lambda: RNG.integers(-(2**62), 2**62, N).astype("datetime64[ns]"),
    "timestamptz": lambda: RNG.integers(-(2**40), 2**40, N).astype("datetime64[ms]"),
    "interval": lambda: RNG.integers(-(2**50), 2**50, N).astype("timedelta64[us]"),
}


@pytest.mark.parametrize("pgtype", list(SAMPLES))
def test_the_nulls_mask_makes_exactly_those_rows_null(pgtype: str) -> None:
    values = SAMPLES[pgtype]()
    nulls = RNG.random(N) < 0.3
    plain = fields(encode(pgtype, values))
    masked = fields(encode(pgtype, values, nulls=nulls))
    assert [v is None for v in masked] == nulls.tolist()
    assert [v for v, m in zip(plain, nulls, strict=True) if not m] == [
        v for v in masked if v is not None
    ]
    assert None not in plain


@pytest.mark.parametrize("pgtype", ["int8", "text", "numeric(30,6)", "float8"])
def test_arrow_validity_and_the_mask_combine(pgtype: str) -> None:
    values = SAMPLES[pgtype]()
    validity = RNG.random(N) < 0.2
    nulls = RNG.random(N) < 0.2
    arrow = pa.array(values, mask=validity)
    masked = fields(encode(pgtype, arrow, nulls=nulls))
    assert [v is None for v in masked] == (validity | nulls).tolist()


def test_nulls_in_every_column_make_a_stream_with_minus_one_lengths() -> None:
    columns = [encode(t, SAMPLES[t](), nulls=np.ones(N, bool)) for t in SAMPLES]
    stream = bytes(copy_format.encode(columns))
    # header, then per row: field count + one -1 length per column, then the trailer
    assert len(stream) == 19 + N * (2 + 4 * len(SAMPLES)) + 2
    row = stream[19 : 19 + 2 + 4 * len(SAMPLES)]
    assert row == len(SAMPLES).to_bytes(2, "big") + b"\xff\xff\xff\xff" * len(SAMPLES)


def test_nulls_must_match_the_rows() -> None:
    from pgbulk.errors import ParameterError

    with pytest.raises(ParameterError, match="boolean mask of 3 rows"):
        encode("int4", np.array([1, 2, 3]), nulls=np.array([True]))


@pytest.mark.parametrize("pgtype", list(SAMPLES))
def test_an_empty_column_encodes_to_no_rows(pgtype: str) -> None:
    values = SAMPLES[pgtype]()[:0]
    assert fields(encode(pgtype, values)) == []
    assert fields(encode(pgtype, pa.array(values) if values.ndim == 1 else values)) == []


@pytest.mark.parametrize("pgtype", ["int4[]", "text[]", "jsonb"])
def test_an_empty_arrow_column_of_a_nested_type_encodes_to_no_rows(pgtype: str) -> None:
    values = pa.array([], pa.list_(pa.int32()) if pgtype != "text[]" else pa.list_(pa.string()))
    assert fields(encode(pgtype, values)) == []


def test_an_arrow_null_column_is_null_in_any_type() -> None:
    for pgtype in ["int4", "text", "uuid", "numeric(5,2)", "date[]"]:
        assert fields(encode(pgtype, pa.nulls(3))) == [None, None, None]
