"""Values made of other values: json/jsonb objects whose fields are sub-generators, and
arrays whose length follows a law and whose elements come from a sub-generator."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgbulk.errors import ParameterError
from pgbulk.generate import Text, concat
from pgbulk.generators.base import Generator, Keyed
from pgbulk.generators.numbers import Drawn, _integer

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
    frame: Frame, column: Column, name: str, generator: Generator, element: bool = False
) -> pa.Array:
    from pgbulk.model import Column as ModelColumn

    pgtype = dataclasses.replace(column.type, array=False) if element else column.type
    sub = ModelColumn(f"{column.name}__{name}"[:63], pgtype, generator)
    values = generator.generate(frame, sub)
    return to_arrow_values(values, frame.nulls.pop(sub.name, None))


@dataclass(frozen=True)
class Json(Generator):
    """A json/jsonb object per row, ``{"field": value, ...}``, each field's value made by
    its own generator (keyed by column and field name)."""

    kind = "json"
    types = frozenset({"json", "jsonb"})
    fields: tuple[tuple[str, Generator], ...] = ()

    def __post_init__(self) -> None:
        if not self.fields:
            raise ParameterError("json fields", self.fields, "needs at least one field")

    def generate(self, frame: Frame, column: Column) -> Values:
        arrays = [_sub(frame, column, name, g) for name, g in self.fields]
        return pa.StructArray.from_arrays(arrays, names=[name for name, _ in self.fields])

    def params(self) -> dict[str, Any]:
        return {"fields": {name: g.params() for name, g in self.fields}}


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
