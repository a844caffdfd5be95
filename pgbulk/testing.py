"""Databases holding a pgbulk dataset for tests, cloned in moments from a cached template.

The first request for a dataset loads it once into a *template database* whose name
encodes a hash of (dataset definition, seed, scale, pgbulk version); every request after that,
in this session or a later one on the same server, is a ``CREATE DATABASE ... TEMPLATE``
of it: a file-level copy, no generation, no COPY, no index builds. A template made by
another pgbulk version has another name, so it is never reused.

Builders of the same template take turns on a PostgreSQL advisory lock, so concurrent
test processes (pytest-xdist workers, CI jobs sharing a server) build it once. A build
that died half-way leaves a database that is not marked as a template: the next
builder drops it and starts over.

This module does not import pytest; :mod:`pgbulk.pytest_plugin` wires it into fixtures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql

from pgbulk import dsn as dsns
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.server import EmbeddedServer

if TYPE_CHECKING:
    from pgbulk.datasets.contacts import ContactsSpec
    from pgbulk.model import Dataset

TEMPLATE_PREFIX = "pgbulk_tpl_"
CLONE_PREFIX = "pgbulk_db_"

#: How ``CREATE DATABASE`` copies the template (PostgreSQL 15+). ``wal_log``, the server's
#: default, copies page by page through the WAL; ``file_copy`` copies the files but
#: checkpoints twice, which costs more the more the server has written lately. Test
#: datasets are small and test servers busy: the default is the server's.
#: benchmarks/export_and_clone.py times both.
CloneStrategy = Literal["file_copy", "wal_log"]


@dataclass(frozen=True)
class Postgres:
    """A server for tests: ``dsn`` of a database to connect to for CREATE DATABASE.

    ``embedded`` is the server pgbulk started for the session, or None for a server
    given by DSN (``PGBULK_TEST_DSN``).
    """

    dsn: str
    embedded: EmbeddedServer | None = None


@contextmanager
def postgres(dsn: str | None, data_dir: str | Path | None = None) -> Iterator[Postgres]:
    """The server at ``dsn``, or an embedded one in ``data_dir``, stopped and deleted after."""
    if dsn:
        dsns.check(dsn)
        yield Postgres(dsn)
        return
    if data_dir is None:
        raise ParameterError(
            "data_dir", data_dir, "is needed to start a server when no DSN is given"
        )
    server = EmbeddedServer(data_dir)
    try:
        server.start()
        yield Postgres(server.dsn("postgres"), server)
    finally:
        server.destroy()


@dataclass(frozen=True)
class Template:
    name: str
    built: bool  # True when this call loaded it; False when it was already there
    seconds: float


def spec_from(fields_given: dict[str, Any]) -> ContactsSpec:
    """A ContactsSpec from keyword arguments, naming the valid ones on a typo."""
    from pgbulk.datasets.contacts import ContactsSpec

    valid = [f.name for f in fields(ContactsSpec)]
    for name, value in fields_given.items():
        if name not in valid:
            raise ParameterError(
                name, value, f"is not a contacts spec field; use {', '.join(valid)}"
            )
    return ContactsSpec(**fields_given)


def template_name(dataset: Dataset, seed: int, scale: int) -> str:
    """The template database of a dataset: a hash of everything that fixes its rows."""
    from pgbulk import __version__

    key = json.dumps(
        {"dataset": dict(dataset.definition), "seed": seed, "scale": scale, "pgbulk": __version__},
        sort_keys=True,
    )
    return TEMPLATE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def lock_key(template: str) -> int:
    """The advisory lock (bigint key, in the DSN's database) that builders of a template take."""
    return int.from_bytes(hashlib.sha256(template.encode()).digest()[:8], "big", signed=True)


def ensure_template(
    admin_dsn: str,
    *,
    dataset: Dataset,
    scale: int,
    seed: int = 0,
    workers: int = 2,
) -> Template:
    """The template database of ``(dataset, seed, scale)`` on the server, loaded if missing."""
    from pgbulk import __version__
    from pgbulk.chunks import check_seed
    from pgbulk.load import load

    started = time.perf_counter()
    seed = check_seed(seed)
    scale = dataset.check_scale(scale)
    name = template_name(dataset, seed, scale)
    with dsns.connect(admin_dsn, autocommit=True) as conn:
        if _is_template(conn, name):
            return Template(name, False, time.perf_counter() - started)
        # Held until this connection closes, whatever happens in between.
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(name),))
        if _is_template(conn, name):  # built by whoever held the lock before us
            return Template(name, False, time.perf_counter() - started)
        _drop(conn, name)  # what an interrupted build left behind
        _create_database(conn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            target = dsns.with_dbname(admin_dsn, name)
            load(target, dataset=dataset, scale=scale, seed=seed, workers=workers)
            with dsns.connect(target, autocommit=True) as tpl:
                # Frozen once here rather than in every clone: clones start with
                # all-visible pages and never need an anti-wraparound vacuum.
                tpl.execute("VACUUM (FREEZE)")
        except BaseException:
            with contextlib.suppress(psycopg.Error):  # else the next builder drops it
                _drop(conn, name)
            raise
        comment = (
            f"pgbulk template: {dataset.name} seed={seed} scale={scale} "
            f"{json.dumps(dict(dataset.definition), sort_keys=True)} pgbulk {__version__}"
        )
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(comment)))
        # Marked last: a template is complete by definition. No connections are
        # allowed so that none can block a clone (CREATE DATABASE needs it idle).
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(ident)
        )
    return Template(name, True, time.perf_counter() - started)


def clone(admin_dsn: str, template: str, *, strategy: CloneStrategy | None = None) -> str:
    """A new database copied from ``template``; returns its name.

    ``strategy=None`` is the server's default (``wal_log`` since PostgreSQL 15).
    """
    if strategy not in (None, "file_copy", "wal_log"):
        raise ParameterError("strategy", strategy, "must be file_copy or wal_log")
    name = CLONE_PREFIX + uuid.uuid4().hex[:16]
    query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    if strategy is not None:
        query = sql.SQL("{} STRATEGY {}").format(query, sql.SQL(strategy))
    with dsns.connect(admin_dsn, autocommit=True) as conn:
        if strategy is not None and conn.info.server_version < 150000:
            raise ParameterError("strategy", strategy, "needs PostgreSQL 15 or later")
        _create_database(conn, query)
    return name


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database, ending the sessions still connected to it."""
    with dsns.connect(admin_dsn, autocommit=True) as conn:
        _drop(conn, name)


def drop_templates(admin_dsn: str) -> list[str]:
    """Drop every pgbulk template on the server (the cache); returns their names."""
    with dsns.connect(admin_dsn, autocommit=True) as conn:
        names = [
            str(row[0])
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1",
                (TEMPLATE_PREFIX,),
            )
        ]
        for name in names:
            _drop(conn, name)
    return names


class DatabaseFactory:
    """``factory(users=1000, seed=0, **spec)`` or ``factory(dataset=..., scale=N)`` -> the DSN
    of a fresh database holding that dataset. ``close()`` drops every database it made."""

    def __init__(self, admin_dsn: str, *, workers: int = 2) -> None:
        self.admin_dsn = admin_dsn
        self.workers = workers
        self.databases: list[str] = []

    def __call__(
        self,
        users: int = 1000,
        seed: int = 0,
        *,
        dataset: Dataset | None = None,
        scale: int | None = None,
        spec: str | os.PathLike[str] | Mapping[str, Any] | Dataset | None = None,
        **contacts: Any,
    ) -> str:
        if spec is not None:
            if dataset is not None:
                raise ParameterError(
                    "spec", spec, "is a dataset too: give spec or dataset, not both"
                )
            dataset = _spec_dataset(spec)
            if scale is None:
                scale = 1
        if dataset is None:
            from pgbulk.datasets.contacts import dataset as contacts_dataset

            dataset = contacts_dataset(spec_from(contacts))
        elif contacts:
            raise ParameterError(
                "contacts parameters",
                contacts,
                "apply to contacts only: give them or a dataset/spec, not both",
            )
        template = ensure_template(
            self.admin_dsn,
            dataset=dataset,
            scale=users if scale is None else scale,
            seed=seed,
            workers=self.workers,
        )
        name = clone(self.admin_dsn, template.name)
        self.databases.append(name)
        return dsns.with_dbname(self.admin_dsn, name)

    def close(self) -> None:
        while self.databases:
            drop_database(self.admin_dsn, self.databases.pop())

    def __enter__(self) -> DatabaseFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- internals


def _spec_dataset(spec: str | os.PathLike[str] | Mapping[str, Any] | Dataset) -> Dataset:
    """A built-in spec's name, a TOML file, a spec as a dict, or a Dataset."""
    from pgbulk import spec as specs
    from pgbulk.model import Dataset as Model

    if isinstance(spec, Model):
        return spec
    if isinstance(spec, Mapping):
        return specs.from_dict(spec)
    return specs.load_spec(os.fspath(spec))


def _is_template(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    return bool(row and row[0])


def _create_database(conn: psycopg.Connection, query: sql.Composed) -> None:
    try:
        conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        user = conn.execute("SELECT current_user").fetchone()
        raise PgbulkError(
            f"role {user[0] if user else '?'} may not create databases: ALTER ROLE ... CREATEDB, "
            "or point PGBULK_TEST_DSN at a role that may"
        ) from None


def _drop(conn: psycopg.Connection, name: str) -> None:
    ident = sql.Identifier(name)
    row = conn.execute(
        "SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    if row is None:
        return
    if row[0]:  # PostgreSQL refuses to drop a database marked as a template
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
