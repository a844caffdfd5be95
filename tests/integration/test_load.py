"""pgbulk.load on real PostgreSQL 15 and 18: the schema, the rows, and the refusals."""

from __future__ import annotations

import psycopg
import pytest

from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.datasets.contacts import dataset as contacts_dataset
from pgbulk.errors import DatasetMismatch, PgbulkError, TargetNotEmpty
from pgbulk.load import load

SMALL = ContactsSpec(chunk_users=1_000)
TABLES = ("users", "emails", "phone_numbers")

EXPECTED_COLUMNS = [
    ("emails", "email", "text", "NO", None),
    ("emails", "id", "uuid", "NO", "gen_random_uuid()"),
    ("emails", "user_id", "uuid", "NO", None),
    ("phone_numbers", "id", "uuid", "NO", "gen_random_uuid()"),
    ("phone_numbers", "phone_number", "text", "NO", None),
    ("phone_numbers", "user_id", "uuid", "NO", None),
    ("users", "id", "uuid", "NO", "gen_random_uuid()"),
    ("users", "name", "text", "NO", None),
]
EXPECTED_CONSTRAINTS = [
    ("emails", "emails_email_key", "UNIQUE (email)", True),
    ("emails", "emails_pkey", "PRIMARY KEY (id)", True),
    (
        "emails",
        "emails_user_id_fkey",
        "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
        True,
    ),
    ("phone_numbers", "phone_numbers_phone_number_key", "UNIQUE (phone_number)", True),
    ("phone_numbers", "phone_numbers_pkey", "PRIMARY KEY (id)", True),
    (
        "phone_numbers",
        "phone_numbers_user_id_fkey",
        "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
        True,
    ),
    ("users", "users_pkey", "PRIMARY KEY (id)", True),
]
EXPECTED_INDEXES = {
    "emails_email_key": "CREATE UNIQUE INDEX emails_email_key ON public.emails USING btree (email)",
    "emails_pkey": "CREATE UNIQUE INDEX emails_pkey ON public.emails USING btree (id)",
    "emails_user_id_idx": "CREATE INDEX emails_user_id_idx ON public.emails USING btree (user_id)",
    "phone_numbers_phone_number_key": "CREATE UNIQUE INDEX phone_numbers_phone_number_key ON public.phone_numbers USING btree (phone_number)",
    "phone_numbers_pkey": "CREATE UNIQUE INDEX phone_numbers_pkey ON public.phone_numbers USING btree (id)",
    "phone_numbers_user_id_idx": "CREATE INDEX phone_numbers_user_id_idx ON public.phone_numbers USING btree (user_id)",
    "users_pkey": "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
}

CHECKSUM = """
SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint::numeric), 0)
FROM {} t
"""


def checksums(dsn: str, schema: str = "public") -> dict[str, tuple[int, int]]:
    """An order-independent checksum of each table's contents."""
    with psycopg.connect(dsn) as conn:
        return {
            t: tuple(conn.execute(CHECKSUM.format(f'"{schema}".{t}').encode()).fetchone())  # type: ignore[misc]
            for t in TABLES
        }


def expected_rows(users: int, seed: int, spec: ContactsSpec = SMALL) -> dict[str, int]:
    ds = Rows(contacts_dataset(spec), users, seed=seed)
    return {t: sum(c.rows(t) for c in ds) for t in TABLES}


def test_load_builds_the_seed_schema_with_the_right_rows(db_dsn: str) -> None:
    report = load(db_dsn, users=2_500, seed=5, spec=SMALL)
    assert report.state == "complete"
    assert report.rows == expected_rows(2_500, 5)
    assert report.rows_loaded == sum(report.rows.values())
    assert report.chunks_loaded == 3 and report.bytes_sent > 0 and report.peak_memory_bytes > 0
    assert set(report.seconds) >= {"prepare", "load", "constraints", "analyze", "total"}
    # the test servers are on this machine (a unix socket): each step's backend CPU is read
    assert set(report.step_cpu_seconds) == set(report.step_seconds) - {
        s for s in report.step_seconds if s.startswith("analyze ")
    }
    assert all(
        0 <= cpu <= report.step_seconds[step] + 0.05  # one backend: no more than the wall time
        for step, cpu in report.step_cpu_seconds.items()
    )
    with psycopg.connect(db_dsn) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        assert columns == EXPECTED_COLUMNS
        cons = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace AND contype <> 'n' ORDER BY 1, 2"
        ).fetchall()
        assert cons == EXPECTED_CONSTRAINTS
        indexes = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        )
        assert indexes == EXPECTED_INDEXES
        counts = dict(
            conn.execute(
                "SELECT 'users', count(*) FROM users UNION ALL SELECT 'emails', count(*) FROM emails"
                " UNION ALL SELECT 'phone_numbers', count(*) FROM phone_numbers"
            ).fetchall()
        )
        assert counts == report.rows
        orphans = conn.execute(
            "SELECT (SELECT count(*) FROM emails e LEFT JOIN users u ON u.id = e.user_id WHERE u.id IS NULL)"
            " + (SELECT count(*) FROM phone_numbers p LEFT JOIN users u ON u.id = p.user_id"
            " WHERE u.id IS NULL)"
        ).fetchone()
        assert orphans == (0,)
        # Statistics exist and autovacuum is back on.
        analyzed = conn.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            " AND relname IN ('users', 'emails', 'phone_numbers')"
        ).fetchone()
        assert analyzed == (3,)
        options = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname IN ('users', 'emails',"
            " 'phone_numbers') AND reloptions IS NOT NULL"
        ).fetchone()
        assert options == (0,)
        # ON DELETE CASCADE works and uses the new index.
        victim = conn.execute("SELECT user_id FROM emails LIMIT 1").fetchone()
        conn.execute("DELETE FROM users WHERE id = %s", victim)
        assert conn.execute(
            "SELECT count(*) FROM emails WHERE user_id = %s", victim
        ).fetchone() == (0,)
        conn.rollback()
        ledger = conn.execute(
            "SELECT state, dataset, seed, scale, chunk_rows, chunks FROM pgbulk.datasets"
        ).fetchone()
        assert ledger == ("complete", "contacts", 5, 2_500, 1_000, 3)
        per_chunk = conn.execute("SELECT rows FROM pgbulk.chunks ORDER BY chunk").fetchall()
        assert [set(r) for (r,) in per_chunk] == [set(TABLES)] * 3
        assert {t: sum(r[t] for (r,) in per_chunk) for t in TABLES} == report.rows


def test_workers_do_not_change_the_data(pg18: object, db18_dsn: str) -> None:
    from tests.integration.conftest import Server

    assert isinstance(pg18, Server)
    other = pg18.new_database()
    try:
        from pgbulk.dsn import with_dbname

        other_dsn = with_dbname(pg18.dsn, other)
        load(db18_dsn, users=4_321, seed=9, workers=1, spec=SMALL)
        load(other_dsn, users=4_321, seed=9, workers=3, spec=SMALL)
        one, three = checksums(db18_dsn), checksums(other_dsn)
        assert one == three
        assert one["users"][0] == 4_321
    finally:
        pg18.drop_database(other)


def test_other_seed_other_data(db18_dsn: str) -> None:
    load(db18_dsn, users=1_000, seed=1, spec=SMALL)
    first = checksums(db18_dsn)
    load(db18_dsn, users=1_000, seed=2, spec=SMALL, if_exists="replace")
    assert checksums(db18_dsn) != first


def test_if_exists_fail_refuses_a_non_empty_target_and_changes_nothing(db18_dsn: str) -> None:
    load(db18_dsn, users=1_500, seed=3, spec=SMALL)
    before = checksums(db18_dsn)
    with pytest.raises(TargetNotEmpty, match="already hold rows"):
        load(db18_dsn, users=1_500, seed=3, spec=SMALL)
    with pytest.raises(DatasetMismatch, match="different pgbulk dataset"):
        load(db18_dsn, users=1_500, seed=4, spec=SMALL, if_exists="resume")
    assert checksums(db18_dsn) == before


def test_foreign_tables_are_not_touched_without_replace(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn) as conn:
        conn.execute("CREATE TABLE users (id int, note text)")
        conn.execute("INSERT INTO users VALUES (1, 'mine')")
    with pytest.raises(TargetNotEmpty, match="users in schema public already hold rows"):
        load(db18_dsn, users=100, seed=1, spec=SMALL)
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT note FROM users").fetchall() == [("mine",)]
    report = load(db18_dsn, users=100, seed=1, spec=SMALL, if_exists="replace")
    assert report.rows["users"] == 100


def test_resume_of_a_complete_load_does_nothing(db18_dsn: str) -> None:
    load(db18_dsn, users=1_200, seed=3, spec=SMALL)
    before = checksums(db18_dsn)
    report = load(db18_dsn, users=1_200, seed=3, spec=SMALL, if_exists="resume")
    assert report.chunks_loaded == 0 and report.state == "complete"
    assert checksums(db18_dsn) == before


def test_other_schema(db18_dsn: str) -> None:
    with psycopg.connect(db18_dsn) as conn:
        conn.execute("CREATE SCHEMA contacts")
    report = load(db18_dsn, users=1_000, seed=1, spec=SMALL, schema_name="contacts")
    assert report.rows["users"] == 1_000
    with psycopg.connect(db18_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM contacts.users").fetchone() == (1_000,)
        assert conn.execute("SELECT to_regclass('public.users')").fetchone() == (None,)


def test_missing_schema_and_missing_privileges_are_clear_errors(db18_dsn: str) -> None:
    with pytest.raises(PgbulkError, match="schema nowhere does not exist"):
        load(db18_dsn, users=10, schema_name="nowhere")
    with psycopg.connect(db18_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS pgbulk_reader")
        conn.execute("CREATE ROLE pgbulk_reader LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        from psycopg.conninfo import make_conninfo

        with pytest.raises(PgbulkError, match="no privilege to create tables in schema public"):
            load(make_conninfo(db18_dsn, user="pgbulk_reader"), users=10)
    finally:
        with psycopg.connect(db18_dsn, autocommit=True) as conn:
            conn.execute("DROP OWNED BY pgbulk_reader")
            conn.execute("DROP ROLE pgbulk_reader")


def test_the_original_schema_has_no_user_id_indexes_and_resumes_as_such(db18_dsn: str) -> None:
    import dataclasses

    from pgbulk import fingerprint
    from pgbulk.verify import verify

    original = dataclasses.replace(SMALL, user_id_indexes=False)
    assert "user_id_indexes" not in SMALL.to_dict()  # ledgers of the default stay as they were
    assert ContactsSpec.from_dict(original.to_dict()) == original
    report = load(db18_dsn, users=2_500, seed=5, spec=original)
    assert report.state == "complete"
    with psycopg.connect(db18_dsn) as conn:
        indexes = {
            r[0]
            for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        }
    assert indexes == set(EXPECTED_INDEXES) - {"emails_user_id_idx", "phone_numbers_user_id_idx"}
    # the same rows as with the indexes; verify reads the schema from the ledger
    assert fingerprint.of_database(db18_dsn) == fingerprint.of_dataset(
        Rows(contacts_dataset(SMALL), 2_500, seed=5)
    )
    assert verify(db18_dsn).ok
    again = load(db18_dsn, users=2_500, seed=5, spec=original, if_exists="resume")
    assert again.state == "complete" and any("nothing to do" in n for n in again.notes)
