"""One-dimensional arrays: ndim, has-nulls flag, element OID, dimension, lower bound, elements."""

from __future__ import annotations

import decimal
import struct

import numpy as np
import pyarrow as pa
import pytest

from pgbulk.errors import ParameterError, ValueRejected
from pgbulk.types import encode
from tests.unit.types.fields import fields


def header(ndim: int, has_nulls: int, oid: int, *dims: int) -> bytes:
    out = struct.pack(">iii", ndim, has_nulls, oid)
    for d in dims:
        out += struct.pack(">ii", d, 1)
    return out


def el(data: bytes | None) -> bytes:
    return struct.pack(">i", -1) if data is None else struct.pack(">i", len(data)) + data


def test_int4_array_with_a_null_element_an_empty_array_and_a_null_array() -> None:
    values = pa.array([[1, None, 3], [], None], pa.list_(pa.int32()))
    assert fields(encode("int4[]", values)) == [
        header(1, 1, 23, 3) + el(b"\x00\x00\x00\x01") + el(None) + el(b"\x00\x00\x00\x03"),
        header(0, 0, 23),  # '{}': no dimensions at all
        None,
    ]


def test_text_array_elements_are_length_prefixed_values() -> None:
    values = pa.array([["a", "bc"], [None, ""]], pa.large_list(pa.string()))
    assert fields(encode("text[]", values)) == [
        header(1, 0, 25, 2) + el(b"a") + el(b"bc"),
        header(1, 1, 25, 2) + el(None) + el(b""),
    ]


def test_array_elements_use_their_own_encoder() -> None:
    values = pa.array([[decimal.Decimal("1.50")]], pa.list_(pa.decimal128(5, 2)))
    numeric_150 = struct.pack(">hhHhHH", 2, 0, 0, 2, 1, 5000)  # 1.50 = 1 | 5000, dscale 2
    assert fields(encode("numeric(5,2)[]", values)) == [header(1, 0, 1700, 1) + el(numeric_150)]
    jsonb = pa.array([["{}"]], pa.list_(pa.string()))
    assert fields(encode("jsonb[]", jsonb)) == [header(1, 0, 3802, 1) + el(b"\x01{}")]


def test_a_sliced_list_array_starts_at_its_offset() -> None:
    values = pa.array([[1], [2, 3], [4]], pa.list_(pa.int64())).slice(1, 1)
    assert fields(encode("int8[]", values)) == [
        header(1, 0, 20, 2) + el(struct.pack(">q", 2)) + el(struct.pack(">q", 3))
    ]


def test_an_elements_rejection_names_the_row_and_element() -> None:
    values = pa.array([[1], [2, 70000]], pa.list_(pa.int64()))
    with pytest.raises(ValueRejected, match="element 2: 70000 is out of range") as e:
        encode("int2[]", values)
    assert e.value.row == 1


def test_random_lists_have_the_right_framing() -> None:
    rng = np.random.default_rng(4)
    lists = [
        None
        if rng.random() < 0.1
        else [
            None if rng.random() < 0.2 else int(v) for v in rng.integers(-5, 5, rng.integers(0, 6))
        ]
        for _ in range(300)
    ]
    got = fields(encode("int8[]", pa.array(lists, pa.list_(pa.int64()))))
    want = [
        None
        if xs is None
        else header(1 if xs else 0, int(None in xs), 20, *([len(xs)] if xs else []))
        + b"".join(el(None if x is None else struct.pack(">q", x)) for x in xs)
        for xs in lists
    ]
    assert got == want


def test_only_lists_make_arrays() -> None:
    with pytest.raises(ParameterError, match="Arrow list"):
        encode("int4[]", np.array([1, 2]))
