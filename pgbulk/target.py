"""Where a command works: the server a DSN names, or pgbulk's embedded server, started on demand.

Every command resolves its target here, once: an explicit DSN, ``PGBULK_DSN``,
``DATABASE_URL``, or libpq's ``PG*`` variables (:func:`pgbulk.dsn.resolve`); with none,
the embedded PostgreSQL in ``data_dir`` is started (initialised the first time) and its
``pgbulk`` database is used.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from pgbulk import dsn as dsns
from pgbulk.errors import PgbulkError
from pgbulk.server import EmbeddedServer

EMBEDDED_DATABASE = "pgbulk"
DEFAULT_DATA_DIR = ".pgbulk"


@dataclass(frozen=True)
class Target:
    dsn: str
    embedded: bool  # pgbulk's own server: its memory and settings are known


def resolve_target(
    dsn: str | None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    pg_bin: str | Path | None = None,
    *,
    disk_needed: int = 0,
) -> Target:
    """The given or environment DSN, else the embedded server's (started).

    ``disk_needed`` (bytes): refuse, before the embedded server starts, a job its disk
    cannot hold, so that a refused load creates nothing.
    """
    resolved = dsns.resolve(dsn)
    if resolved is not None:
        return Target(resolved, embedded=False)
    if disk_needed:
        check_disk(Path(data_dir), disk_needed)
    return Target(embedded_dsn(data_dir, pg_bin), embedded=True)


def embedded_dsn(data_dir: str | Path = DEFAULT_DATA_DIR, pg_bin: str | Path | None = None) -> str:
    """Start (if needed) pgbulk's own server and return the DSN of its ``pgbulk`` database."""
    server = EmbeddedServer(data_dir, pg_bin=pg_bin)
    server.start()
    with dsns.connect(server.dsn(), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
    return server.dsn(EMBEDDED_DATABASE)


def check_disk(data_dir: Path, needed: int) -> None:
    probe = data_dir.expanduser().resolve()
    while not probe.exists():  # the server creates the directory, and its parents
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed * 1.2:
        raise PgbulkError(
            f"not enough free disk for the embedded server: about {needed / 2**30:.1f} GiB "
            f"needed, {free / 2**30:.1f} GiB free under {probe}; load a smaller scale or "
            "use --data-dir on a larger disk"
        )
