"""bool, integers, floats, uuid: bytes as PostgreSQL's *_send functions write them."""

from __future__ import annotations

import struct
import uuid

import numpy as np
import pyarrow as pa
import pytest
from psycopg.types.numeric import (
    Float4BinaryDumper,
    FloatBinaryDumper,
    Int2BinaryDumper,
    Int4BinaryDumper,
    Int8BinaryDumper,
)
from psycopg.types.uuid import UUIDBinaryDumper

from pgbulk.errors import ParameterError, ValueRejected
from pgbulk.generate import Text
from pgbulk.types import encode
from tests.unit.types.fields import fields


def test_bool_is_one_byte() -> None:
    assert fields(encode("bool", np.array([True, False]))) == [b"\x01", b"\x00"]
    assert fields(encode("boolean", pa.array([None, True, False]))) == [None, b"\x01", b"\x00"]


@pytest.mark.parametrize(
    ("pgtype", "value", "wire"),
    [
        ("int2", 1, b"\x00\x01"),
        ("int2", -2, b"\xff\xfe"),
        ("int2", 300, b"\x01\x2c"),
        ("int4", -(2**31), b"\x80\x00\x00\x00"),
        ("int4", 2**31 - 1, b"\x7f\xff\xff\xff"),
        ("int8", -1, b"\xff" * 8),
        ("int8", 2**63 - 1, b"\x7f" + b"\xff" * 7),
    ],
)
def test_integers_are_big_endian(pgtype: str, value: int, wire: bytes) -> None:
    assert fields(encode(pgtype, np.array([value], dtype=np.int64))) == [wire]
    assert fields(encode(pgtype, pa.array([value], pa.int64()))) == [wire]


def test_integers_match_psycopgs_dumpers_on_random_data() -> None:
    rng = np.random.default_rng(1)
    for pgtype, dumper, bits in [
        ("int2", Int2BinaryDumper, 16),
        ("int4", Int4BinaryDumper, 32),
        ("int8", Int8BinaryDumper, 64),
    ]:
        values = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), 1000, dtype=np.int64)
        want = [bytes(dumper(int).dump(int(v))) for v in values]
        assert fields(encode(pgtype, values)) == want


@pytest.mark.parametrize(
    ("pgtype", "values", "row"),
    [
        ("int2", np.array([1, 70000]), 1),
        ("int2", np.array([-32769, 0]), 0),
        ("int4", np.array([0, 0, 2**31]), 2),
        ("int8", np.array([1, 2**63], dtype=np.uint64), 1),
        ("int2", pa.array([None, 40000], pa.int32()), 1),
    ],
)
def test_integers_out_of_range_name_the_row(pgtype: str, values: object, row: int) -> None:
    with pytest.raises(ValueRejected, match="out of range") as e:
        encode(pgtype, values)
    assert e.value.row == row


def test_a_null_rows_value_is_not_checked() -> None:
    column = encode("int2", np.array([70000, 1]), nulls=np.array([True, False]))
    assert fields(column) == [None, b"\x00\x01"]


def test_smaller_and_unsigned_integers_widen() -> None:
    assert fields(encode("int8", np.array([255], np.uint8))) == [b"\x00" * 7 + b"\xff"]
    assert fields(encode("int4", np.array([True]))) == [b"\x00\x00\x00\x01"]


def test_floats_as_ieee_big_endian_including_nan_and_infinities() -> None:
    values = np.array([1.5, -0.0, np.inf, -np.inf, 5e-324])
    assert fields(encode("float8", values)) == [struct.pack(">d", v) for v in values]
    assert fields(encode("float8", values)) == [
        bytes(FloatBinaryDumper(float).dump(float(v))) for v in values
    ]
    assert fields(encode("float8", np.array([np.nan]))) == [b"\x7f\xf8" + b"\x00" * 6]
    f4 = np.array([1.5, np.inf, 3.4028235e38], np.float32)
    assert fields(encode("float4", f4)) == [
        bytes(Float4BinaryDumper(float).dump(float(v))) for v in f4
    ]


def test_a_float8_beyond_float4_is_rejected_not_made_infinite() -> None:
    with pytest.raises(ValueRejected, match="out of range for real"):
        encode("float4", np.array([1.0, 1e39]))
    assert fields(encode("float4", np.array([np.inf]))) == [b"\x7f\x80\x00\x00"]


U = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")


@pytest.mark.parametrize(
    "values",
    [
        pa.array([U.bytes], pa.binary(16)),
        pa.ExtensionArray.from_storage(pa.uuid(), pa.array([U.bytes], pa.binary(16))),
        np.frombuffer(U.bytes, np.uint8).reshape(1, 16),
        np.array([U.bytes], "S16"),
        np.array([str(U)]),
        np.array([str(U).upper()]),
        pa.array([str(U)]),
        pa.array([str(U)], pa.string_view()),
    ],
)
def test_uuid_from_every_form_is_its_16_bytes(values: object) -> None:
    assert fields(encode("uuid", values)) == [bytes(UUIDBinaryDumper(uuid.UUID).dump(U))]


@pytest.mark.parametrize(
    "text",
    [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
        "a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11",
        "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11a",
    ],
)
def test_malformed_uuid_text_is_rejected(text: str) -> None:
    with pytest.raises(ValueRejected, match="uuid") as e:
        encode("uuid", np.array([str(U), text]))
    assert e.value.row == 1
    with pytest.raises(ValueRejected, match="uuid"):
        encode("uuid", pa.array([str(U), text]))


def test_uuid_text_null_rows_are_not_parsed() -> None:
    assert fields(encode("uuid", pa.array([None, str(U)]))) == [None, U.bytes]


def test_fixed_width_columns_are_text_matrices_without_copies() -> None:
    raw = np.frombuffer(U.bytes * 3, np.uint8).reshape(3, 16)
    column = encode("uuid", raw)
    assert isinstance(column, Text) and column.lengths is None
    assert np.shares_memory(column.chars, raw)


@pytest.mark.parametrize(
    ("pgtype", "values"),
    [
        ("int4", np.array([1.5])),
        ("int4", pa.array(["1"])),
        ("bool", np.array([1])),
        ("uuid", np.array([1, 2])),
        ("float8", np.array(["x"])),
    ],
)
def test_inputs_a_type_cannot_take_are_parameter_errors(pgtype: str, values: object) -> None:
    with pytest.raises(ParameterError, match="cannot be encoded"):
        encode(pgtype, values)


def test_uuid_text_with_nulls_of_other_lengths_keeps_rows_aligned() -> None:
    values = pa.array(["", str(U), "x" * 72, str(U)])
    nulls = np.array([True, False, True, False])
    assert fields(encode("uuid", values, nulls=nulls)) == [None, U.bytes, None, U.bytes]
