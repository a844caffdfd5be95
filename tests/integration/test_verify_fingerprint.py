"""The fingerprint computed by the server equals the generator's, on PostgreSQL 15 and 18."""

from __future__ import annotations

import psycopg
import pytest

from pgbulk import fingerprint
from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.errors import PgbulkError
from pgbulk.load import load
from pgbulk.verify import verify


@pytest.mark.parametrize(
    "spec",
    [
        ContactsSpec(chunk_users=700),
        ContactsSpec(chunk_users=700, uuid_version=7, zipf_a=2.0, max_per_user=12),
    ],
    ids=["v4", "v7-zipf2-max12"],
)
def test_loaded_database_has_the_generators_fingerprint(db_dsn: str, spec: ContactsSpec) -> None:
    load(db_dsn, users=2_000, seed=21, spec=spec)
    in_server = fingerprint.of_database(db_dsn)
    generated = fingerprint.of_dataset(Rows(dataset(spec), 2_000, seed=21))
    assert in_server == generated
    assert in_server.combined == generated.combined
    assert in_server["users"].rows == 2_000
    assert generated != fingerprint.of_dataset(Rows(dataset(spec), 2_000, seed=22))
    report = verify(db_dsn)  # UUID version bits, n < max_per_user, the law's other parameters
    assert report.ok, report.summary()
    law = next(c for c in report.checks if (c.name, c.table) == ("distribution", "emails"))
    assert (
        f"zipf(a={spec.zipf_a}, most_children={spec.max_per_user}) on 1..{spec.max_per_user}"
        in (law.detail)
    )


def test_fingerprint_of_another_schema_and_of_a_changed_row(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
    spec = ContactsSpec(chunk_users=500)
    load(db18_dsn, users=900, seed=3, spec=spec, schema_name="other")
    before = fingerprint.of_database(db18_dsn, "other")
    assert before == fingerprint.of_dataset(Rows(dataset(spec), 900, seed=3))
    with psycopg.connect(db18_dsn) as conn:
        conn.execute("UPDATE other.users SET name = name || ' ' WHERE name = 'User 5'")
    after = fingerprint.of_database(db18_dsn, "other")
    assert after["users"].rows == before["users"].rows
    assert after["users"] != before["users"]
    assert after["emails"] == before["emails"]
    with pytest.raises(PgbulkError, match="no pgbulk dataset is recorded in schema public"):
        fingerprint.of_database(db18_dsn, "public")
    with pytest.raises(PgbulkError, match=r"table public\.users does not exist"):
        fingerprint.of_database(db18_dsn, "public", ["users"])


def test_the_server_hashes_text_as_its_utf8_bytes(db_dsn: str) -> None:
    # The length of a text field is its UTF-8 byte count, whatever the session's encoding.
    import hashlib
    import struct

    values = ["", "a", "é", "ü€𝄞", None, "x" * 300]
    with psycopg.connect(db_dsn) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t SELECT unnest(%s::text[])", (values,))
        conn.execute("SET client_encoding TO 'LATIN1'")  # '€' has no LATIN1 byte
        found = fingerprint.database_table(conn, "public", "t")
    total = 0
    for v in values:
        raw = b"\xff\xff\xff\xff" if v is None else struct.pack(">i", len(v.encode())) + v.encode()
        total += int.from_bytes(hashlib.md5(raw).digest()[:8], "big")
    assert (found.rows, found.checksum) == (len(values), total % 2**64)
