"""The type layer: PostgreSQL types as data, and arrays -> binary COPY fields, one encoder per type."""

from __future__ import annotations

from pgbulk.types.pgtype import BASES, PgType

__all__ = ["BASES", "PgType"]
