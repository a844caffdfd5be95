"""Arrow structs, maps and lists as JSON text, built column by column in Arrow's C++ kernels.

For json/jsonb columns fed from nested Arrow data (``pg_type_for_arrow`` maps struct and
map to jsonb). Each leaf column becomes JSON fragments at once (numbers cast to text,
strings quoted and escaped, NULL as ``null``); a struct joins its fields' fragments row
by row, a list or map joins its elements with ``binary_join``. Non-finite floats have no
JSON spelling and become ``null``; binary leaves are refused (JSON has no bytes).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.errors import ParameterError


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())  # the kernels want one string type throughout


_NULL = _lit("null")
_EMPTY = pa.scalar("", pa.large_string())
# JSON forbids raw control characters in strings: each one as \u00XX.
_CONTROL = {chr(c): f"\\u{c:04x}" for c in range(32)} | {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def is_nested(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_struct(dtype)
        or pa.types.is_map(dtype)
        or pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    )


def to_json(values: pa.Array) -> pa.Array:
    """One JSON document per row (large_string); a NULL row stays NULL."""
    text = _fragment(values)
    if values.null_count:
        text = pc.if_else(values.is_null(), pa.scalar(None, pa.large_string()), text)
    return text


def _fragment(values: pa.Array) -> pa.Array:
    """JSON text of every row, with ``null`` for NULL (never a NULL itself)."""
    t = values.type
    if pa.types.is_dictionary(t):
        return _fragment(values.dictionary_decode())
    if isinstance(t, pa.BaseExtensionType):
        return _fragment(values.storage)
    if pa.types.is_null(t):
        return pa.repeat(_NULL, len(values))
    if pa.types.is_boolean(t):
        text = pc.if_else(values, _lit("true"), _lit("false"))
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        text = values.cast(pa.large_string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(values)
        text = pc.if_else(finite, values.cast(pa.large_string()), _NULL)
    elif (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_temporal(t)
    ):
        text = _quoted(values.cast(pa.large_string()))
    elif pa.types.is_struct(t):
        text = _object(values)
    elif pa.types.is_map(t):
        text = _map(values)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        text = _list(values.cast(pa.large_list(t.value_type)))
    else:
        raise ParameterError("Arrow type", str(t), "has no JSON spelling in pgbulk")
    if values.null_count:
        text = pc.if_else(values.is_null(), _NULL, text)
    return pc.fill_null(text, _NULL)


def _quoted(text: pa.Array) -> pa.Array:
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
        for char, escape in _CONTROL.items():
            text = pc.replace_substring(text, char, escape)
    return pc.binary_join_element_wise(_lit('"'), text, _lit('"'), _EMPTY)


def _key(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    for char, escape in _CONTROL.items():
        escaped = escaped.replace(char, escape)
    return f'"{escaped}":'


def _object(values: pa.Array) -> pa.Array:
    pieces: list[pa.Array | pa.Scalar] = []
    for i in range(values.type.num_fields):
        name = values.type.field(i).name
        pieces += [
            _lit(("{" if i == 0 else ",") + _key(name)),
            _fragment(pc.struct_field(values, [i])),
        ]
    if not pieces:
        return pa.repeat(_lit("{}"), len(values))
    return pc.binary_join_element_wise(*pieces, _lit("}"), _EMPTY)


def _joined(offsets: pa.Array, items: pa.Array, opening: str, closing: str) -> pa.Array:
    lists = pa.LargeListArray.from_arrays(offsets.cast(pa.int64()), items)
    inner = pc.binary_join(lists, _lit(","))
    return pc.binary_join_element_wise(_lit(opening), inner, _lit(closing), _EMPTY)


def _list(values: pa.Array) -> pa.Array:
    return _joined(values.offsets, _fragment(values.values), "[", "]")


def _map(values: pa.Array) -> pa.Array:
    entries = values.values  # all key/item structs, as the offsets index them
    keys = _quoted(pc.struct_field(entries, [0]).cast(pa.large_string()))
    items = _fragment(pc.struct_field(entries, [1]))
    entries = pc.binary_join_element_wise(keys, _lit(":"), items, _EMPTY)
    return _joined(values.offsets, entries, "{", "}")
