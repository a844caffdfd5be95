"""pgbulk: fill PostgreSQL with realistic, reproducible synthetic data at ingest speed."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pgbulk.errors import PgbulkError
from pgbulk.spec import ContactsSpec

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pgbulk.datasets import TABLES, Contacts, ContactsChunk, contacts
    from pgbulk.export import export_parquet

# Imported on first use: `import pgbulk` (and so the pytest plugin, which every pytest
# run in an environment with pgbulk loads) must not pay for numpy and pyarrow.
_LAZY = {
    "TABLES": "pgbulk.datasets",
    "Contacts": "pgbulk.datasets",
    "ContactsChunk": "pgbulk.datasets",
    "contacts": "pgbulk.datasets",
    "export_parquet": "pgbulk.export",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pgbulk' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "TABLES",
    "Contacts",
    "ContactsChunk",
    "ContactsSpec",
    "PgbulkError",
    "__version__",
    "contacts",
    "export_parquet",
]
