"""pytest fixtures: PostgreSQL databases holding a pgbulk dataset, cloned from a cached template.

Installed with pgbulk as the ``pytest11`` entry point ``pgbulk``, or loaded with
``pytest -p pgbulk.pytest_plugin``. See docs/testing.md.

- ``pgbulk_postgres`` (session): the server. ``PGBULK_TEST_DSN`` when set, else an
  embedded PostgreSQL 18 in a temporary directory, stopped at the end of the session.
- ``pgbulk_database`` (function): a factory. ``pgbulk_database(users=1000, seed=0,
  **spec)`` (contacts) or ``pgbulk_database(dataset=..., scale=..., seed=...)`` (any
  dataset of the model) returns the DSN of a fresh database holding that dataset; every
  database it made is dropped after the test.

The plugin loads in every pytest run of an environment where pgbulk is installed, so
it costs nothing until a test asks for one of its fixtures: it imports only pytest
here, registers no options and no markers, and starts nothing by itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pgbulk.testing import Postgres

DSN_VARIABLE = "PGBULK_TEST_DSN"


@pytest.fixture(scope="session")
def pgbulk_postgres() -> Iterator[Postgres]:
    """The PostgreSQL server of the session: ``$PGBULK_TEST_DSN``, else an embedded one.

    ``.dsn`` connects to a database from which the fixtures run CREATE DATABASE (the role
    needs CREATEDB). An embedded server is stopped and deleted at the end of the session.
    """
    from pgbulk import testing

    dsn = os.environ.get(DSN_VARIABLE)
    # Not under pytest's tmp_path: run as root, the server runs as another user who must
    # reach its directory, and every pytest session makes pytest's root private again.
    data_dir = None if dsn else tempfile.mkdtemp(prefix="pgbulk-pytest-")
    with testing.postgres(dsn, data_dir) as server:
        yield server


@pytest.fixture
def pgbulk_database(pgbulk_postgres: Postgres) -> Iterator[Callable[..., str]]:
    """``pgbulk_database(users=1000, seed=0, **contacts) -> dsn``: a fresh database with that dataset.

    ``contacts`` takes the fields of :class:`pgbulk.ContactsSpec` (``chunk_users``,
    ``uuid_version``, ``zipf_a``, ``max_per_user``); ``dataset=`` and ``scale=`` take any
    :class:`pgbulk.Dataset` instead, and ``spec=`` a spec (a built-in name such as
    ``"shop"``, a TOML file, a dict, or a Dataset) with ``scale=`` (default 1). The first call for a dataset loads a
    template database once per server; each call clones it. Clones are dropped after
    the test.
    """
    from pgbulk.testing import DatabaseFactory

    with DatabaseFactory(pgbulk_postgres.dsn) as factory:
        yield factory
