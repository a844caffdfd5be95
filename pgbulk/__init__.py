"""pgbulk: fill PostgreSQL with realistic, reproducible synthetic data at ingest speed."""

from pgbulk.datasets import TABLES, Contacts, ContactsChunk, contacts
from pgbulk.errors import PgbulkError
from pgbulk.spec import ContactsSpec

__version__ = "0.1.0"

__all__ = [
    "TABLES",
    "Contacts",
    "ContactsChunk",
    "ContactsSpec",
    "PgbulkError",
    "__version__",
    "contacts",
]
