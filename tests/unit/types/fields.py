"""Read an encoded column back as Python bytes per row (None for NULL): the tests' view of it."""

from __future__ import annotations

from pgbulk.copy_format import Column, Packed
from pgbulk.generate import Text


def fields(column: Column) -> list[bytes | None]:
    if isinstance(column, Packed):
        lengths = column.lengths()
        return [
            None if k < 0 else bytes(column.data[column.offsets[i] : column.offsets[i + 1]])
            for i, k in enumerate(lengths)
        ]
    assert isinstance(column, Text), "encoders return one Text or Packed per column"
    return [
        None if k < 0 else bytes(column.chars[i, :k]) for i, k in enumerate(column.row_lengths())
    ]
