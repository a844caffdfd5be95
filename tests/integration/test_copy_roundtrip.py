"""Every COPY buffer is accepted by real PostgreSQL and reads back equal to the arrays."""

from __future__ import annotations

import uuid

import psycopg
import pytest

import pgbulk


@pytest.mark.parametrize("uuid_version", [4, 7])
def test_buffers_load_and_read_back_equal(db_dsn: str, uuid_version: int) -> None:
    ds = pgbulk.contacts(2_500, seed=11, chunk_users=1_000, uuid_version=uuid_version)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("CREATE TABLE users (id uuid, name text)")
        conn.execute("CREATE TABLE emails (id uuid, user_id uuid, email text)")
        conn.execute("CREATE TABLE phone_numbers (id uuid, user_id uuid, phone_number text)")
        for chunk in ds:
            for table in pgbulk.TABLES:
                with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(chunk.copy_buffer(table))
        conn.commit()

        expected_users, expected_emails, expected_phones = [], [], []
        for c in ds:
            expected_users += [
                (uuid.UUID(bytes=i.tobytes()), n)
                for i, n in zip(c.user_ids, c.user_names.to_list(), strict=True)
            ]
            expected_emails += [
                (uuid.UUID(bytes=i.tobytes()), uuid.UUID(bytes=u.tobytes()), e)
                for i, u, e in zip(c.email_ids, c.email_user_ids, c.emails.to_list(), strict=True)
            ]
            expected_phones += [
                (uuid.UUID(bytes=i.tobytes()), uuid.UUID(bytes=u.tobytes()), p)
                for i, u, p in zip(
                    c.phone_ids, c.phone_user_ids, c.phone_numbers.to_list(), strict=True
                )
            ]
        assert conn.execute("SELECT id, name FROM users ORDER BY id").fetchall() == sorted(
            expected_users
        )
        assert conn.execute(
            "SELECT id, user_id, email FROM emails ORDER BY id"
        ).fetchall() == sorted(expected_emails)
        assert conn.execute(
            "SELECT id, user_id, phone_number FROM phone_numbers ORDER BY id"
        ).fetchall() == sorted(expected_phones)
