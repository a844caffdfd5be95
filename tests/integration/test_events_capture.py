"""Change capture on real PostgreSQL (15 and 18): the outbox rows the triggers write,
install/uninstall, and how capture and bulk loads keep out of each other's way."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from pgbulk import events
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.errors import EventsError, PgbulkError
from pgbulk.load import load
from pgbulk.plan import Shard

SMALL = ContactsSpec(chunk_users=10)


def _load(dsn: str, users: int = 20, **kw: Any) -> None:
    load(dsn, users=users, seed=1, workers=1, spec=SMALL, **kw)


def _outbox(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "SELECT id, event_id, txid::text AS txid, table_schema, table_name, op, row_id,"
            " old_row, new_row, state, attempts FROM pgbulk.outbox ORDER BY id"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur]


def test_triggers_write_every_change_with_its_rows(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    new_user = uuid.uuid4()
    with psycopg.connect(db_dsn) as conn:
        victim = conn.execute("SELECT id FROM users ORDER BY name LIMIT 1").fetchone()[0]  # type: ignore[index]
        child_rows = conn.execute(
            "SELECT (SELECT count(*) FROM emails WHERE user_id = %s)"
            " + (SELECT count(*) FROM phone_numbers WHERE user_id = %s)",
            (victim, victim),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO users (id, name) VALUES (%s, 'Ada')", (new_user,))
        conn.execute(
            "INSERT INTO emails (user_id, email) VALUES (%s, 'ada@example.com')", (new_user,)
        )
        conn.execute("UPDATE users SET name = 'Ada L.' WHERE id = %s", (new_user,))
        conn.execute("DELETE FROM users WHERE id = %s", (victim,))  # cascades to its children

    rows = _outbox(db_dsn)
    assert [(r["table_name"], r["op"]) for r in rows[:3]] == [
        ("users", "INSERT"),
        ("emails", "INSERT"),
        ("users", "UPDATE"),
    ]
    insert, email, update = rows[:3]
    assert insert["old_row"] is None
    assert insert["new_row"] == {"id": str(new_user), "name": "Ada"}
    assert insert["row_id"] == str(new_user)
    assert email["new_row"]["user_id"] == str(new_user)  # the default id was filled in
    assert email["row_id"] == email["new_row"]["id"]
    assert update["old_row"] == {"id": str(new_user), "name": "Ada"}
    assert update["new_row"] == {"id": str(new_user), "name": "Ada L."}

    deletes = rows[3:]
    assert {r["op"] for r in deletes} == {"DELETE"}
    assert len(deletes) == 1 + child_rows  # the user and every cascaded child row
    user_delete = next(r for r in deletes if r["table_name"] == "users")
    assert user_delete["row_id"] == str(victim) and user_delete["new_row"] is None
    assert all(r["old_row"]["user_id"] == str(victim) for r in deletes if r is not user_delete)

    assert {r["table_schema"] for r in rows} == {"public"}
    assert {r["state"] for r in rows} == {"pending"} and {r["attempts"] for r in rows} == {0}
    assert len({r["event_id"] for r in rows}) == len(rows)
    assert len({r["txid"] for r in rows}) == 1  # one transaction, one txid


def test_install_and_uninstall_are_idempotent(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    events.install(db_dsn)
    st = events.status(db_dsn)
    assert st.installed and st.triggers == {"users": True, "emails": True, "phone_numbers": True}

    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE users SET name = name || '!' WHERE name = 'User 1'")
    assert events.status(db_dsn).pending == 1

    events.uninstall(db_dsn)
    events.uninstall(db_dsn)
    st = events.status(db_dsn)
    assert not any(st.triggers.values()) and st.outbox and st.pending == 1
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE users SET name = name || '!' WHERE name LIKE 'User 1!'")
    assert events.status(db_dsn).pending == 1  # no longer captured


def test_dropping_the_outbox_refuses_while_events_are_pending(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("DELETE FROM phone_numbers")
    pending = events.status(db_dsn).pending
    assert pending > 0

    with pytest.raises(EventsError, match=f"{pending} undelivered events"):
        events.uninstall(db_dsn, drop_outbox=True)
    st = events.status(db_dsn)
    assert st.installed and st.pending == pending  # the refusal changed nothing

    assert events.uninstall(db_dsn, drop_outbox=True, force=True) == pending
    st = events.status(db_dsn)
    assert not st.outbox and not any(st.triggers.values())


def test_the_outbox_stays_while_another_schema_captures(db_dsn: str) -> None:
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
    _load(db_dsn)
    _load(db_dsn, schema_name="other")
    events.install(db_dsn)
    events.install(db_dsn, "other")
    with pytest.raises(EventsError, match=r"still installed in schema.*other"):
        events.uninstall(db_dsn, drop_outbox=True)
    assert events.status(db_dsn, "other").installed
    assert events.status(db_dsn).installed  # rolled back as a whole

    events.uninstall(db_dsn, "other")
    events.uninstall(db_dsn, drop_outbox=True)
    assert not events.status(db_dsn).outbox


def test_install_needs_a_dataset_or_the_tables(db_dsn: str) -> None:
    with pytest.raises(EventsError, match="no pgbulk dataset is recorded in schema public"):
        events.install(db_dsn)
    with pytest.raises(EventsError, match="orders, items not found in schema public"):
        events.install(db_dsn, tables=["orders", "items"])


def test_install_captures_the_tables_named(db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)")
    assert events.install(db_dsn, tables=["orders"]) == ["orders"]
    assert events.status(db_dsn).triggers == {"orders": True}
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO orders VALUES (1, 9.50)")
    assert events.status(db_dsn).pending == 1
    events.uninstall(db_dsn, drop_outbox=True, force=True)


def test_install_refuses_an_unfinished_load(db_dsn: str) -> None:
    _load(db_dsn, shard=Shard(0, 2))  # half the chunks: the load stays "loading"
    with pytest.raises(EventsError, match="is loading, not complete"):
        events.install(db_dsn)
    assert not any(events.status(db_dsn).triggers.values())


def test_a_load_refuses_to_run_into_captured_tables(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    with pytest.raises(PgbulkError, match="triggers would fire for every loaded row"):
        _load(db_dsn, if_exists="resume")
    assert events.status(db_dsn).pending == 0  # and nothing was captured by trying


def test_install_after_a_load_captures_only_later_changes(db_dsn: str) -> None:
    _load(db_dsn, users=30)
    events.install(db_dsn)
    assert events.status(db_dsn).pending == 0  # the loaded rows are not events
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE users SET name = upper(name)")
    rows = _outbox(db_dsn)
    assert len(rows) == 30 and {r["op"] for r in rows} == {"UPDATE"}
    assert all(r["new_row"]["name"] == r["old_row"]["name"].upper() for r in rows)


def test_a_failing_change_leaves_no_event(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    with psycopg.connect(db_dsn) as conn:
        email = conn.execute("SELECT email FROM emails LIMIT 1").fetchone()[0]  # type: ignore[index]
        user = conn.execute("SELECT id FROM users LIMIT 1").fetchone()[0]  # type: ignore[index]
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO emails (user_id, email) VALUES (%s, %s)", (user, email))
    assert events.status(db_dsn).pending == 0


def test_status_reports_parked_errors(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE users SET name = name || '?'")
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'parked', last_error = 'HTTP 401: unauthorized'"
            " WHERE id IN (SELECT id FROM pgbulk.outbox ORDER BY id LIMIT 3)"
        )
    st = events.status(db_dsn)
    assert (st.pending, st.parked, st.delivered) == (17, 3, 0)
    assert st.parked_errors == [("HTTP 401: unauthorized", 3)]
    assert "HTTP 401: unauthorized" in st.summary()

    assert events.requeue(db_dsn) == 3
    st = events.status(db_dsn)
    assert (st.pending, st.parked) == (20, 0)


def test_purge_deletes_only_old_delivered_events(db_dsn: str) -> None:
    _load(db_dsn)
    events.install(db_dsn)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE users SET name = name || '~'")  # 20 events
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'delivered', delivered_at = now() - interval '2 days'"
            " WHERE id IN (SELECT id FROM pgbulk.outbox ORDER BY id LIMIT 5)"
        )
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'delivered', delivered_at = now()"
            " WHERE id IN (SELECT id FROM pgbulk.outbox WHERE state = 'pending' ORDER BY id LIMIT 5)"
        )
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'parked', last_error = 'HTTP 400: bad'"
            " WHERE id IN (SELECT id FROM pgbulk.outbox WHERE state = 'pending' ORDER BY id LIMIT 5)"
        )
    assert events.purge(db_dsn, older_than="1 day") == 5
    st = events.status(db_dsn)
    assert (st.pending, st.delivered, st.parked) == (5, 5, 5)
    assert events.purge(db_dsn, older_than="0") == 5
    with pytest.raises(EventsError, match="'a week' is not a PostgreSQL interval"):
        events.purge(db_dsn, older_than="a week")
