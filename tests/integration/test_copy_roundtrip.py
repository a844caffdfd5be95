"""Every COPY buffer is accepted by real PostgreSQL and reads back equal to the arrays."""

from __future__ import annotations

import uuid

import psycopg
import pytest

import pgbulk
from tests.copy_stream import decode_stream

TABLES = ("users", "emails", "phone_numbers")


def _value(field: bytes | None, type_name: str) -> object:
    if field is None:
        return None
    return uuid.UUID(bytes=field) if type_name == "uuid" else field.decode()


@pytest.mark.parametrize("uuid_version", [4, 7])
def test_buffers_load_and_read_back_equal(db_dsn: str, uuid_version: int) -> None:
    ds = pgbulk.contacts(2_500, seed=11, chunk_users=1_000, uuid_version=uuid_version)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("CREATE TABLE users (id uuid, name text)")
        conn.execute("CREATE TABLE emails (id uuid, user_id uuid, email text)")
        conn.execute("CREATE TABLE phone_numbers (id uuid, user_id uuid, phone_number text)")
        for chunk in ds:
            for table in TABLES:
                with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(chunk.copy_buffer(table))
        conn.commit()

        for table in ds.dataset.tables:
            # The streams read back by the tests' own decoder: what the server must hold.
            types = [c.type.name for c in table.columns]
            expected = [
                tuple(_value(f, t) for f, t in zip(row, types, strict=True))
                for c in ds
                for row in decode_stream(bytes(c.copy_buffer(table.name)))
            ]
            assert len(expected) == sum(c.rows(table.name) for c in ds)
            columns = ", ".join(table.column_names)
            loaded = conn.execute(f"SELECT {columns} FROM {table.name} ORDER BY id").fetchall()
            assert loaded == sorted(expected), table.name
