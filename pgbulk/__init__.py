"""pgbulk: fill PostgreSQL with realistic, reproducible synthetic data at ingest speed."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pgbulk.errors import PgbulkError

__version__ = "0.2.0"

if TYPE_CHECKING:
    from pgbulk.chunks import Chunk, Rows
    from pgbulk.datasets.contacts import ContactsSpec, contacts
    from pgbulk.export import export_parquet
    from pgbulk.ingestion import ingest
    from pgbulk.model import Column, Dataset, Table
    from pgbulk.types import PgType

# Imported on first use: `import pgbulk` (and so the pytest plugin, which every pytest
# run in an environment with pgbulk loads) must not pay for numpy and pyarrow.
_LAZY = {
    "Chunk": "pgbulk.chunks",
    "Column": "pgbulk.model",
    "ContactsSpec": "pgbulk.datasets.contacts",
    "Dataset": "pgbulk.model",
    "PgType": "pgbulk.types",
    "Rows": "pgbulk.chunks",
    "Table": "pgbulk.model",
    "contacts": "pgbulk.datasets.contacts",
    "export_parquet": "pgbulk.export",
    "ingest": "pgbulk.ingestion",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pgbulk' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "Chunk",
    "Column",
    "ContactsSpec",
    "Dataset",
    "PgType",
    "PgbulkError",
    "Rows",
    "Table",
    "__version__",
    "contacts",
    "export_parquet",
    "ingest",
]
