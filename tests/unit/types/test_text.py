"""text, varchar(n), char(n), json, jsonb, bytea: the bytes as they are, as offsets + values."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pgbulk import copy_format
from pgbulk.copy_format import Packed
from pgbulk.errors import ValueRejected
from pgbulk.types import encode
from tests.unit.types.fields import fields


@pytest.mark.parametrize(
    "values",
    [
        pa.array(["", "héllo", None, "😀"]),
        pa.array(["", "héllo", None, "😀"], pa.large_string()),
        pa.array(["", "héllo", None, "😀"], pa.string_view()),
        pa.array(["", "héllo", None, "😀"]).dictionary_encode(),
        pa.chunked_array([pa.array(["", "héllo"]), pa.array([None, "😀"])]),
    ],
)
def test_text_is_utf8_bytes_from_any_arrow_string(values: object) -> None:
    assert fields(encode("text", values)) == [b"", "héllo".encode(), None, "😀".encode()]


def test_text_from_numpy_str_bytes_and_objects() -> None:
    assert fields(encode("text", np.array(["a", "żółw"]))) == [b"a", "żółw".encode()]
    assert fields(encode("text", np.array([b"a", b"bc"]))) == [b"a", b"bc"]
    assert fields(
        encode("text", np.array(["x", None], dtype=object), nulls=np.array([False, True]))
    ) == [b"x", None]


def test_arrow_strings_are_used_in_place() -> None:
    values = pa.array(["abc", "de"]).slice(1)
    column = encode("text", values)
    assert isinstance(column, Packed)
    assert np.shares_memory(column.data, np.frombuffer(values.buffers()[2], np.uint8))
    assert fields(column) == [b"de"]


def test_a_nul_byte_is_rejected_with_its_row() -> None:
    with pytest.raises(ValueRejected, match="NUL byte") as e:
        encode("text", pa.array(["ok", None, "also ok", "bad\x00"]))
    assert e.value.row == 3
    # a NULL row's bytes are never sent, so never checked
    assert fields(encode("text", pa.array(["a", "b\x00"]), nulls=np.array([False, True]))) == [
        b"a",
        None,
    ]


def test_varchar_counts_characters_not_bytes() -> None:
    assert fields(encode("varchar(3)", pa.array(["żół", "abc"]))) == ["żół".encode(), b"abc"]
    with pytest.raises(
        ValueRejected, match=r"too long for character varying\(3\) \(4 characters\)"
    ) as e:
        encode("varchar(3)", pa.array(["żół", "ab", "żółw"]))
    assert e.value.row == 2


def test_varchar_and_char_accept_excess_spaces_as_the_server_does() -> None:
    assert fields(encode("varchar(2)", pa.array(["ab    "]))) == [b"ab    "]
    assert fields(encode("char(2)", pa.array(["a", "ab "]))) == [b"a", b"ab "]
    with pytest.raises(ValueRejected, match="too long"):
        encode("char(2)", pa.array(["a b"]))


def test_jsonb_is_version_1_then_the_text() -> None:
    assert fields(encode("jsonb", pa.array(['{"a": 1}', None, "[]"]))) == [
        b'\x01{"a": 1}',
        None,
        b"\x01[]",
    ]
    assert fields(encode("json", pa.array(['{"a": 1}']))) == [b'{"a": 1}']


def test_bytea_takes_any_bytes() -> None:
    values = pa.array([b"\x00\xff", b"", None], pa.binary())
    assert fields(encode("bytea", values)) == [b"\x00\xff", b"", None]
    assert fields(encode("bytea", np.array([b"\x01\x02"]))) == [b"\x01\x02"]


def test_one_large_value_costs_its_size_not_the_chunk_times_it() -> None:
    n = 10_000
    big = "x" * 1_000_000
    values = pa.array([big] + ["y"] * (n - 1), pa.large_string())
    column = encode("text", values)
    assert isinstance(column, Packed)
    assert column.data.nbytes < 1_000_000 + n + 64
    stream = copy_format.encode([column])
    # header 19 + per row 2 (field count) + 4 (length) + value, trailer 2
    assert len(stream) == 19 + n * 6 + 1_000_000 + (n - 1) + 2


def test_character_counts_match_python_on_random_unicode() -> None:
    from pgbulk.types._wire import binary_parts
    from pgbulk.types.text import char_lengths

    rng = np.random.default_rng(9)
    alphabet = ["a", "é", "ж", "€", "😀", " ", "\t"]
    strings = ["".join(rng.choice(alphabet, int(k))) for k in rng.integers(0, 12, 2_000)]
    offsets, data = binary_parts(pa.array(strings).slice(7))
    assert char_lengths(offsets, data).tolist() == [len(s) for s in strings[7:]]


@pytest.mark.parametrize(
    "values",
    [
        np.array([b"ok", b"fine", "żółw".encode(), b"\xff\xfe", b"\xc3"]),
        pa.array([b"ok", None, b"x", b"\xe2\x82", b"ok"], pa.binary()),
    ],
)
def test_bytes_into_text_must_be_utf8_and_the_first_bad_row_is_named(values: object) -> None:
    with pytest.raises(ValueRejected, match="valid UTF-8") as e:
        encode("text", values)
    assert e.value.row == 3


def test_invalid_bytes_under_a_null_are_not_checked() -> None:
    values = pa.array([b"ok", b"\xff"], pa.binary())
    assert fields(encode("text", values, nulls=np.array([False, True]))) == [b"ok", None]
    assert fields(encode("bytea", values)) == [b"ok", b"\xff"]
