"""Nested Arrow values as JSON text for json/jsonb columns."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa
import pytest

from pgbulk.errors import ParameterError
from pgbulk.types import encode
from pgbulk.types.jsontext import to_json
from tests.unit.types.fields import fields


def test_struct_with_every_leaf_kind() -> None:
    values = pa.array(
        [
            {
                "i": 1,
                "s": 'q"b\\s\n\x01',
                "f": [1.5, None, float("nan")],
                "b": True,
                "d": decimal.Decimal("1.50"),
                "day": dt.date(2020, 1, 2),
            },
            None,
            {"i": None, "s": None, "f": [], "b": None, "d": None, "day": None},
        ]
    )
    got = to_json(values).to_pylist()
    assert (
        got[0]
        == '{"i":1,"s":"q\\"b\\\\s\\n\\u0001","f":[1.5,null,null],"b":true,"d":1.50,"day":"2020-01-02"}'
    )
    assert json.loads(got[0])["s"] == 'q"b\\s\n\x01'
    assert got[1] is None  # a NULL row stays SQL NULL
    assert got[2] == '{"i":null,"s":null,"f":[],"b":null,"d":null,"day":null}'


def test_maps_lists_and_slices() -> None:
    maps = pa.array([[("a", 1), ('k"', None)], None, []], pa.map_(pa.string(), pa.int64()))
    assert to_json(maps).to_pylist() == ['{"a":1,"k\\"":null}', None, "{}"]
    assert to_json(maps.slice(2)).to_pylist() == ["{}"]
    nested = pa.array([[[1, 2], [3]], [[None]], None], pa.list_(pa.list_(pa.int32())))
    assert to_json(nested.slice(1)).to_pylist() == ["[[null]]", None]


def test_jsonb_from_a_struct_column_is_version_byte_and_text() -> None:
    values = pa.array([{"a": 1}, None])
    assert fields(encode("jsonb", values)) == [b'\x01{"a":1}', None]


def test_binary_leaves_have_no_json_spelling() -> None:
    with pytest.raises(ParameterError, match="no JSON spelling"):
        to_json(pa.array([{"b": b"\x00"}]))
