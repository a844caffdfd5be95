"""The type layer: PostgreSQL types as data, and arrays -> binary COPY fields, one encoder per type.

``encode(pgtype, values)`` turns a numpy or Arrow array into one column of a binary COPY
stream (:func:`pgbulk.copy_format.encode` writes the stream); ``arrow_type`` and
``pg_type_for_arrow`` map between PostgreSQL and Arrow types; :mod:`pgbulk.types.catalog`
reads a target table's column types. See docs/types.md.
"""

from __future__ import annotations

from pgbulk.types.arrow_map import arrow_type, pg_type_for_arrow, to_arrow
from pgbulk.types.encode import ENCODERS, encode, encode_canonical
from pgbulk.types.pgtype import BASES, PgType

__all__ = [
    "BASES",
    "ENCODERS",
    "PgType",
    "arrow_type",
    "encode",
    "encode_canonical",
    "pg_type_for_arrow",
    "to_arrow",
]
