"""Template databases and their clones (pgbulk.testing), on real servers."""

from __future__ import annotations

import multiprocessing as mp
import secrets
import time
from concurrent.futures import ProcessPoolExecutor

import psycopg
import pytest

import pgbulk
from pgbulk import ddl, testing
from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.datasets.contacts import dataset as contacts_dataset
from pgbulk.dsn import with_dbname
from pgbulk.errors import ParameterError
from tests.integration.conftest import Server

SPEC = ContactsSpec(chunk_users=100)
TABLES = ("users", "emails", "phone_numbers")


def _counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in TABLES
        }


def _expected(users: int, seed: int) -> dict[str, int]:
    ds = Rows(contacts_dataset(SPEC), users, seed=seed)
    return {t: sum(c.rows(t) for c in ds) for t in TABLES}


def _database(admin_dsn: str, name: str) -> tuple[int, bool, bool] | None:
    """(oid, is template, allows connections) of a database, None when absent."""
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute(
            "SELECT oid::int, datistemplate, datallowconn FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def test_clones_are_fresh_copies_and_dropped_after(pg_server: Server) -> None:
    with testing.DatabaseFactory(pg_server.dsn) as factory:
        first = factory(users=300, seed=3, chunk_users=100)
        second = factory(users=300, seed=3, chunk_users=100)
        assert first != second
        with psycopg.connect(first) as conn:
            conn.execute("DELETE FROM users")  # cascades to both child tables
            constraints = {r[0] for r in conn.execute("SELECT conname FROM pg_constraint")}
        expected = {e.name for e in ddl.expected(contacts_dataset(SPEC)) if e.kind != "i"}
        assert expected <= constraints
        assert _counts(first) == dict.fromkeys(TABLES, 0)
        assert _counts(second) == _expected(300, 3)
        names = list(factory.databases)
    assert factory.databases == []
    assert all(_database(pg_server.dsn, name) is None for name in names)
    template = testing.template_name(contacts_dataset(SPEC), 3, 300)
    assert _database(pg_server.dsn, template) is not None  # the cache stays


@pytest.mark.parametrize("strategy", ["wal_log", "file_copy"])
def test_both_clone_strategies_copy_the_dataset(pg_server: Server, strategy: str) -> None:
    template = testing.ensure_template(
        pg_server.dsn, dataset=contacts_dataset(SPEC), scale=300, seed=3
    )
    name = testing.clone(pg_server.dsn, template.name, strategy=strategy)  # type: ignore[arg-type]
    try:
        assert _counts(with_dbname(pg_server.dsn, name)) == _expected(300, 3)
    finally:
        testing.drop_database(pg_server.dsn, name)


def _ensure(admin_dsn: str, seed: int) -> testing.Template:
    return testing.ensure_template(
        admin_dsn, dataset=contacts_dataset(SPEC), scale=200, seed=seed, workers=1
    )


def _wait_for_advisory_waiters(admin_dsn: str, count: int) -> None:
    deadline = time.monotonic() + 120
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            ).fetchone()
            if waiting and waiting[0] >= count:
                return
            time.sleep(0.1)
    pytest.fail(f"{count} template builders never queued on the advisory lock")


def test_concurrent_builders_build_a_template_once(pg18: Server) -> None:
    seed = secrets.randbelow(2**62)  # a template no earlier run left on the server
    name = testing.template_name(contacts_dataset(SPEC), seed, 200)
    try:
        with psycopg.connect(pg18.dsn, autocommit=True) as holder:
            # Hold the builders' lock so that both are queued on it before either builds.
            holder.execute("SELECT pg_advisory_lock(%s)", (testing.lock_key(name),))
            with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_ensure, pg18.dsn, seed) for _ in range(2)]
                _wait_for_advisory_waiters(pg18.dsn, 2)
                holder.execute("SELECT pg_advisory_unlock(%s)", (testing.lock_key(name),))
                results = [f.result(timeout=300) for f in futures]
        assert {r.name for r in results} == {name}
        assert sorted(r.built for r in results) == [False, True]
        assert _database(pg18.dsn, name)[1:] == (True, False)  # type: ignore[index]
    finally:
        testing.drop_database(pg18.dsn, name)


def test_a_half_built_template_is_dropped_and_built_again(pg18: Server) -> None:
    seed = secrets.randbelow(2**62)
    name = testing.template_name(contacts_dataset(SPEC), seed, 200)
    with psycopg.connect(pg18.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # what a build killed half-way leaves
    try:
        template = _ensure(pg18.dsn, seed)
        assert template.built
        clone = testing.clone(pg18.dsn, name)
        assert _counts(with_dbname(pg18.dsn, clone)) == _expected(200, seed)
        testing.drop_database(pg18.dsn, clone)
    finally:
        testing.drop_database(pg18.dsn, name)


def test_a_template_of_another_pgbulk_version_is_not_reused(
    pg18: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = secrets.randbelow(2**62)
    ours = _ensure(pg18.dsn, seed)
    monkeypatch.setattr(pgbulk, "__version__", "99.0.0")
    theirs = _ensure(pg18.dsn, seed)
    try:
        assert theirs.built and theirs.name != ours.name
        assert not _ensure(pg18.dsn, seed).built
        clone = testing.clone(pg18.dsn, theirs.name)
        with psycopg.connect(with_dbname(pg18.dsn, clone)) as conn:
            version = conn.execute("SELECT pgbulk_version FROM pgbulk.datasets").fetchone()
        testing.drop_database(pg18.dsn, clone)
        assert version == ("99.0.0",)
    finally:
        testing.drop_database(pg18.dsn, ours.name)
        testing.drop_database(pg18.dsn, theirs.name)


def test_a_spec_typo_names_the_valid_fields(pg18: Server) -> None:
    with (
        testing.DatabaseFactory(pg18.dsn) as factory,
        pytest.raises(ParameterError, match="chunk_user=100: is not a contacts spec field; use "),
    ):
        factory(users=10, chunk_user=100)
