"""pgbulk verify on real PostgreSQL 15 and 18: a fresh load passes, each corruption is named.

One small dataset is loaded per server into a template database; each test gets a
copy (CREATE DATABASE ... TEMPLATE), corrupts it in one way and checks that verify
fails with the right checks, tables, bad-row counts and examples — and no others.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.dsn import with_dbname
from pgbulk.errors import PgbulkError, VerificationFailed
from pgbulk.load import load
from pgbulk.verify import Check, VerifyReport, verify
from tests.integration.conftest import Server

SPEC = ContactsSpec(chunk_users=1_000)
USERS = 3_000
SEED = 11


@pytest.fixture(scope="module")
def template(pg_server: Server) -> Iterator[tuple[Server, str]]:
    name = pg_server.new_database()
    load(with_dbname(pg_server.dsn, name), users=USERS, seed=SEED, spec=SPEC)
    try:
        yield pg_server, name
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def loaded(template: tuple[Server, str]) -> Iterator[str]:
    """A fresh copy of the loaded template database."""
    server, source = template
    name = f"{source}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source)
            )
        )
    try:
        yield with_dbname(server.dsn, name)
    finally:
        server.drop_database(name)


def failed(report: VerifyReport) -> dict[tuple[str, str | None], Check]:
    return {(c.name, c.table): c for c in report.failures}


def run(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def one(dsn: str, query: str) -> tuple[object, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return tuple(row)


def test_a_fresh_load_passes_every_check(loaded: str) -> None:
    report = verify(loaded)
    assert report.ok, report.summary()
    report.raise_if_failed()
    names = {(c.name, c.table) for c in report.checks}
    # Every check comes from the model: its columns' generators, keys and count laws.
    for table in ("users", "emails", "phone_numbers"):
        for name in ("constraints", "row count", "not null", "format id", "unique id"):
            assert (name, table) in names
        assert ("fingerprint", table) in names
    assert {
        ("format name", "users"),
        ("format email", "emails"),
        ("unique email", "emails"),
        ("format phone_number", "phone_numbers"),
        ("unique phone_number", "phone_numbers"),
        ("references", "emails"),
        ("references", "phone_numbers"),
        ("numbering", "emails"),
        ("distribution", "emails"),
        ("distribution", "phone_numbers"),
    } <= names
    assert len(names) == len(report.checks)  # no check twice
    distribution = next(c for c in report.checks if c.name == "distribution")
    assert "chi-square" in distribution.detail and "p-value" in distribution.detail
    data = report.to_dict()
    assert data["ok"] is True and len(data["checks"]) == len(report.checks)
    assert data["fingerprints"]["database"]["users"]["rows"] == USERS
    assert "password" not in report.summary()


def test_a_deleted_user_is_named_by_counts_and_fingerprint(loaded: str) -> None:
    user_id, name = one(loaded, "SELECT id::text, name FROM users WHERE name = 'User 1234'")
    emails, phones = one(
        loaded,
        f"SELECT (SELECT count(*) FROM emails WHERE user_id = '{user_id}'),"
        f" (SELECT count(*) FROM phone_numbers WHERE user_id = '{user_id}')",
    )
    run(loaded, f"DELETE FROM users WHERE id = '{user_id}'")  # ON DELETE CASCADE

    bad = failed(verify(loaded))
    assert set(bad) == {
        ("row count", "users"),
        ("row count", "emails"),
        ("row count", "phone_numbers"),
        ("fingerprint", "users"),
        ("fingerprint", "emails"),
        ("fingerprint", "phone_numbers"),
    }
    assert bad[("row count", "users")].bad_rows == 1
    assert bad[("row count", "users")].examples == [f"{name} is missing"]
    assert bad[("row count", "emails")].bad_rows == emails
    assert bad[("row count", "phone_numbers")].bad_rows == phones
    assert bad[("fingerprint", "users")].examples == [f"id={user_id}: missing"]
    assert bad[("fingerprint", "users")].bad_rows == 1
    assert bad[("fingerprint", "emails")].bad_rows == emails


def test_a_user_deleted_without_its_foreign_keys_leaves_named_orphans(loaded: str) -> None:
    user_id = one(loaded, "SELECT id::text FROM users WHERE name = 'User 7'")[0]
    emails = one(loaded, f"SELECT count(*) FROM emails WHERE user_id = '{user_id}'")[0]
    run(
        loaded,
        "ALTER TABLE emails DROP CONSTRAINT emails_user_id_fkey",
        "ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_user_id_fkey",
        f"DELETE FROM users WHERE id = '{user_id}'",
    )
    bad = failed(verify(loaded))
    owners = bad[("references", "emails")]
    assert owners.bad_rows == emails
    assert all(e.endswith(f"user_id={user_id} is no row of users") for e in owners.examples)
    assert ("references", "phone_numbers") in bad
    assert "constraint emails_user_id_fkey is missing" in bad[("constraints", "emails")].examples
    assert ("row count", "users") in bad


def test_a_duplicated_phone_is_named_with_its_value(loaded: str) -> None:
    first, second, number = one(
        loaded,
        "SELECT a.id::text, b.id::text, b.phone_number FROM phone_numbers a, phone_numbers b"
        " WHERE a.id <> b.id ORDER BY a.id, b.id LIMIT 1",
    )
    run(
        loaded,
        "ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_phone_number_key",
        f"UPDATE phone_numbers SET phone_number = '{number}' WHERE id = '{first}'",
    )
    bad = failed(verify(loaded))
    assert set(bad) == {
        ("unique phone_number", "phone_numbers"),
        ("constraints", "phone_numbers"),
        ("fingerprint", "phone_numbers"),
    }
    unique = bad[("unique phone_number", "phone_numbers")]
    assert unique.bad_rows == 2
    assert unique.examples == [f"phone_number={number} in 2 rows"]
    assert bad[("constraints", "phone_numbers")].examples == [
        "constraint phone_numbers_phone_number_key is missing"
    ]
    assert bad[("fingerprint", "phone_numbers")].examples == [
        f"id={first}: the row differs from the generated one"
    ]
    assert second != first


def test_an_email_pointing_at_another_user_is_named(loaded: str) -> None:
    # An email of a user with several, moved to another user: counts stay in 1..5.
    email_id, email, owner = one(
        loaded,
        "SELECT id::text, email, user_id::text FROM emails WHERE user_id IN"
        " (SELECT user_id FROM emails GROUP BY user_id HAVING count(*) = 3) ORDER BY id LIMIT 1",
    )
    other = one(
        loaded,
        "SELECT user_id::text FROM emails GROUP BY user_id HAVING count(*) = 1 ORDER BY 1 LIMIT 1",
    )[0]
    run(loaded, f"UPDATE emails SET user_id = '{other}' WHERE id = '{email_id}'")

    bad = failed(verify(loaded))
    assert {("format email", "emails"), ("numbering", "emails"), ("fingerprint", "emails")} <= set(
        bad
    )
    assert not {k for k in bad if k[1] in ("users", "phone_numbers")}
    fmt = bad[("format email", "emails")]
    assert fmt.bad_rows == 1
    assert fmt.examples == [f"id={email_id}, user_id={other}, email={email}"]
    assert owner in email
    numbering = bad[("numbering", "emails")]
    # The moved email's n is 0, as the other user's own email: two zeros under one user.
    assert f"user_id={other}: numbered 0, 0" in numbering.examples
    assert bad[("fingerprint", "emails")].examples == [
        f"id={email_id}: the row differs from the generated one"
    ]


def test_malformed_values_fail_their_format_checks(loaded: str) -> None:
    # One value per table, each wrong in a way only its format check (and the fingerprint)
    # sees: a phone number of 16 bytes but 15 characters, an email whose n is written
    # with a leading zero, a user number out of range.
    phone_id = one(loaded, "SELECT id::text FROM phone_numbers ORDER BY id LIMIT 1")[0]
    email_id, email = one(
        loaded, "SELECT id::text, email FROM emails WHERE email LIKE '%\\_1@%' ORDER BY id LIMIT 1"
    )
    user_id = one(loaded, "SELECT id::text FROM users WHERE name = 'User 5'")[0]
    run(
        loaded,
        f"UPDATE phone_numbers SET phone_number = '01234567890123é' WHERE id = '{phone_id}'",
        f"UPDATE emails SET email = replace(email, '_1@', '_01@') WHERE id = '{email_id}'",
        f"UPDATE users SET name = 'User {USERS + 1}' WHERE id = '{user_id}'",
    )
    bad = failed(verify(loaded))
    assert set(bad) == {
        ("format phone_number", "phone_numbers"),
        ("format email", "emails"),
        ("numbering", "emails"),  # '01' is no number: the user's emails lack their n = 1
        ("format name", "users"),
        *(("fingerprint", t) for t in ("users", "emails", "phone_numbers")),
    }
    phone = bad[("format phone_number", "phone_numbers")]
    assert phone.bad_rows == 1 and phone.examples[0].startswith(f"id={phone_id}, ")
    fmt = bad[("format email", "emails")]
    assert fmt.bad_rows == 1
    assert fmt.examples == [
        f"id={email_id}, user_id={email[4:40]}, email={email.replace('_1@', '_01@')}"
    ]
    assert bad[("format name", "users")].examples == [f"id={user_id}, name=User {USERS + 1}"]


def test_a_dropped_constraint_is_the_only_failure(loaded: str) -> None:
    run(loaded, "ALTER TABLE emails DROP CONSTRAINT emails_email_key")
    report = verify(loaded)
    bad = failed(report)
    assert set(bad) == {("constraints", "emails")}
    assert bad[("constraints", "emails")].examples == ["constraint emails_email_key is missing"]
    unique = next(c for c in report.checks if (c.name, c.table) == ("unique email", "emails"))
    assert unique.ok and "grouping" in unique.detail  # without the index, checked the long way
    with pytest.raises(VerificationFailed, match="emails constraints"):
        report.raise_if_failed()


def test_a_changed_row_is_found_by_the_fingerprint_alone(loaded: str) -> None:
    phone_id = one(loaded, "SELECT id::text FROM phone_numbers ORDER BY id LIMIT 1")[0]
    # Still 16 digits and unique (phones are drawn from 10^16), but not the generated value.
    run(
        loaded,
        f"UPDATE phone_numbers SET phone_number = '0000000000000000' WHERE id = '{phone_id}'",
    )
    bad = failed(verify(loaded))
    assert set(bad) == {("fingerprint", "phone_numbers")}
    check = bad[("fingerprint", "phone_numbers")]
    assert check.bad_rows == 1
    assert check.examples == [f"id={phone_id}: the row differs from the generated one"]


def test_a_disabled_foreign_key_and_an_unfinished_ledger_are_named(loaded: str) -> None:
    run(
        loaded,
        "ALTER TABLE phone_numbers DISABLE TRIGGER ALL",
        "UPDATE pgbulk.datasets SET state = 'finalizing'",
    )
    bad = failed(verify(loaded))
    assert set(bad) == {("constraints", "phone_numbers"), ("ledger", None)}
    assert bad[("constraints", "phone_numbers")].examples == [
        "the triggers of constraint phone_numbers_user_id_fkey are disabled: it is not enforced"
    ]
    assert "finalizing, not complete" in bad[("ledger", None)].detail


def test_verify_without_a_recorded_load_is_a_user_error(db_dsn: str) -> None:
    with pytest.raises(PgbulkError, match="no pgbulk load is recorded for schema public"):
        verify(db_dsn)


def test_the_checks_are_the_same_over_one_or_two_connections(
    loaded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pgbulk.verify

    two = verify(loaded)
    monkeypatch.setattr(pgbulk.verify, "VERIFY_JOBS", 1)
    one = verify(loaded)
    assert [c.to_dict() for c in two.checks] == [c.to_dict() for c in one.checks]
    assert (
        set(two.step_seconds)
        == set(one.step_seconds)
        >= {
            "checks users",
            "unique emails(email)",
            "references emails(user_id)",
            "fingerprint phone_numbers",
        }
    )


def test_the_second_connection_reads_the_same_snapshot(loaded: str) -> None:
    from pgbulk.verify import _in_parallel, _Task

    seen: list[tuple[int, int]] = []

    def look(conn: psycopg.Connection) -> list[Check]:
        row = conn.execute("SELECT pg_backend_pid(), (SELECT count(*) FROM later), pg_sleep(0.3)")
        pid, later, _ = row.fetchone()  # type: ignore[misc]
        seen.append((pid, later))
        return []

    with psycopg.connect(loaded, autocommit=True) as other:
        other.execute("CREATE TABLE later (x int)")
        try:
            with psycopg.connect(loaded) as conn:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.execute("SELECT 1")  # the snapshot is taken
                other.execute("INSERT INTO later VALUES (1)")  # committed after it
                found, seconds = _in_parallel(
                    conn, loaded, "public", [_Task("a", 1, look), _Task("b", 1, look)], jobs=2
                )
        finally:
            other.execute("DROP TABLE later")  # the loaded database is shared by the module
    assert found == {"a": [], "b": []} and set(seconds) == {"a", "b"}
    assert len({pid for pid, _ in seen}) == 2  # two backends...
    assert [later for _, later in seen] == [0, 0]  # ...in the snapshot taken before the row
