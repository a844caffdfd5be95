"""Values made of other values: json/jsonb objects whose fields are sub-generators, and
arrays whose length follows a law and whose elements come from a sub-generator."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.errors import ParameterError
from pgbulk.generate import Text, concat
from pgbulk.generators.base import Generator, Keyed
from pgbulk.generators.numbers import Drawn, _integer
from pgbulk.types import PgType

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column


def to_arrow_values(values: Values, nulls: np.ndarray | None) -> pa.Array:
    """A sub-generator's values as an Arrow array (text as strings, times as ISO text)."""
    from pgbulk.arrow import string_array

    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray):
        arr = pa.array(values, mask=nulls)
        if (
            pa.types.is_timestamp(arr.type)
            or pa.types.is_date(arr.type)
            or pa.types.is_duration(arr.type)
        ):
            arr = pc.cast(arr, pa.string())
        return arr
    text = values if isinstance(values, Text) else concat(*values)
    return string_array(text)


def _sub(
    frame: Frame,
    column: Column,
    name: str,
    generator: Generator,
    element: bool = False,
    pgtype: PgType | None = None,
) -> pa.Array:
    from pgbulk.model import Column as ModelColumn

    if pgtype is None:
        pgtype = dataclasses.replace(column.type, array=False) if element else column.type
    sub = ModelColumn(f"{column.name}__{name}"[:63], pgtype, generator)
    values = generator.generate(frame, sub)
    return to_arrow_values(values, frame.nulls.pop(sub.name, None))


def jsonb_text(names: list[str], arrays: list[pa.Array]) -> pa.Array:
    """Objects as jsonb prints them (keys by length, then bytes; ``", "`` and ``": "``), so
    the bytes sent are the bytes ``jsonb_send`` returns: the fingerprint compares them."""
    from pgbulk.types import jsontext

    order = sorted(range(len(names)), key=lambda i: (len(names[i].encode()), names[i].encode()))
    pieces: list[pa.Array | pa.Scalar] = []
    for k, i in enumerate(order):
        key = json.dumps(names[i])
        pieces += [pa.scalar(("{" if k == 0 else ", ") + key + ": ", pa.large_string())]
        pieces.append(jsontext._fragment(arrays[i]))
    empty = pa.scalar("", pa.large_string())
    return pc.binary_join_element_wise(*pieces, pa.scalar("}", pa.large_string()), empty)


@dataclass(frozen=True)
class Json(Generator):
    """A json/jsonb object per row, ``{"field": value, ...}``, each field's value made by
    its own generator (keyed by column and field name)."""

    kind = "json"
    types = frozenset({"json", "jsonb"})
    fields: tuple[tuple[str, Generator], ...] = ()
    #: Each field's type (what its generator makes: an integer field is rounded); none: text.
    field_types: tuple[PgType, ...] = ()

    def __post_init__(self) -> None:
        if not self.fields:
            raise ParameterError("json fields", self.fields, "needs at least one field")
        if self.field_types and len(self.field_types) != len(self.fields):
            raise ParameterError("json field_types", self.field_types, "needs one type per field")

    def generate(self, frame: Frame, column: Column) -> Values:
        types = self.field_types or tuple(PgType("text") for _ in self.fields)
        arrays = [
            _sub(frame, column, name, g, pgtype=t)
            for (name, g), t in zip(self.fields, types, strict=True)
        ]
        if column.type.name == "jsonb" and not column.type.array:
            return jsonb_text([name for name, _ in self.fields], arrays)
        return pa.StructArray.from_arrays(arrays, names=[name for name, _ in self.fields])

    def params(self) -> dict[str, Any]:
        types = [t.sql for t in self.field_types] or ["text"] * len(self.fields)
        return {
            "fields": {
                name: {"type": t, **g.params()}
                for (name, g), t in zip(self.fields, types, strict=True)
            }
        }


@dataclass(frozen=True)
class ArrayOf(Drawn):
    """An array per row of ``min_length..max_length`` elements (uniform length), made by
    ``element`` (keyed per row and position)."""

    kind = "array"
    types = frozenset()  # any array type: checked by the spec
    element: Generator | None = None
    min_length: int = 0
    max_length: int = 5
    key: int | None = None

    def __post_init__(self) -> None:
        lo, hi = (
            _integer("array min_length", self.min_length),
            _integer("array max_length", self.max_length),
        )
        if not 0 <= lo <= hi <= 10_000:
            raise ParameterError(
                "array length", (lo, hi), "needs 0 <= min_length <= max_length <= 10000"
            )
        if self.element is None:
            raise ParameterError("array element", None, "needs an element generator")

    def generate(self, frame: Frame, column: Column) -> Values:
        assert self.element is not None
        span = self.max_length - self.min_length + 1
        lengths = self.min_length + np.floor(self.uniforms(frame, column) * span).astype(np.int64)
        offsets = np.zeros(frame.rows + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        owners = np.repeat(frame.slots().astype(np.int64), lengths)
        position = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(
            offsets[:-1].astype(np.int64), lengths
        )
        counters = owners * np.int64(max(self.max_length, 1)) + position
        elements = frame.counted(frame.table, counters)
        values = _sub(elements, column, "element", self.element, element=True)
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    def params(self) -> dict[str, Any]:
        assert self.element is not None
        return {
            "element": self.element.params(),
            "min_length": self.min_length,
            "max_length": self.max_length,
        }


__all__ = ["ArrayOf", "Json", "Keyed"]
