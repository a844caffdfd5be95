"""Build one-table (or small) spec datasets and read a column's values, for the law tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from pgbulk.chunks import Rows, Values, is_arrow
from pgbulk.generate import Text, concat
from pgbulk.model import Dataset
from pgbulk.spec import from_dict


def one_column(
    settings: dict[str, Any], *, rows: int = 20_000, chunk_rows: int | None = None
) -> Dataset:
    return from_dict(
        {
            "name": "t",
            "chunk_rows": chunk_rows or rows,
            "tables": {"t": {"rows": "scale", "columns": {"x": settings}}},
        }
    )


def column(
    settings: dict[str, Any], *, rows: int = 20_000, seed: int = 0, chunk_rows: int | None = None
) -> Any:
    """The column's values for ``rows`` rows: a numpy array, a list of str, or an Arrow array."""
    dataset = one_column(settings, rows=rows, chunk_rows=chunk_rows)
    parts = [as_python(c.values("t", "x")) for c in Rows(dataset, rows, seed=seed)]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    if isinstance(parts[0], list):
        return [v for p in parts for v in p]
    return parts[0] if len(parts) == 1 else parts


def as_python(values: Values) -> Any:
    if isinstance(values, np.ndarray) or is_arrow(values):
        return values
    text = values if isinstance(values, Text) else concat(*values)
    lengths = text.row_lengths()
    return [
        None if n < 0 else bytes(row[:n]).decode()
        for row, n in zip(text.chars, lengths, strict=True)
    ]
