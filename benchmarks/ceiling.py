"""The ingest ceiling: the dataset pre-written as binary COPY files the server reads itself.

``COPY ... FROM 'file' (FORMAT binary)`` has no client, no network and no generation
in the way: what it costs is what the server needs to ingest the rows. The files are
written with pgbulk's own encoder, so they hold exactly the rows pgbulk loads. Each
table is split into ``parts`` files of half the rows each (every chunk is cut in two),
so two sessions can share the work evenly at any size; one session reads both parts in
one transaction.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from pgbulk import copy_format, ddl
from pgbulk.chunks import Rows
from pgbulk.copy_format import HEADER, TRAILER, Column, Packed
from pgbulk.generate import Text
from pgbulk.model import Dataset


class ServerCannotRead(Exception):
    """The server cannot open the files: it runs elsewhere, or lacks the privilege."""


@dataclass
class CeilingFiles:
    """Binary COPY files of one dataset: ``paths[table][part]``, tables in the model's order."""

    directory: Path
    dataset: Dataset
    paths: dict[str, list[Path]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for ps in self.paths.values() for p in ps)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _slice(column: Column, start: int, stop: int) -> Column:
    def cut(t: Text) -> Text:
        if t.chars.shape[0] == 1:  # a constant broadcast over every row
            return t
        return Text(t.chars[start:stop], None if t.lengths is None else t.lengths[start:stop])

    if isinstance(column, Text):
        return cut(column)
    if isinstance(column, Packed):
        return column.rows(start, stop)
    return [p if isinstance(p, bytes) else cut(p) for p in column]


def write_files(rows: Rows, parent: str | Path | None = None, parts: int = 2) -> CeilingFiles:
    """Write the dataset's tables as ``parts`` binary COPY files each, readable by any user.

    The directory is 0755 and the files 0644: the server usually runs as another
    system user (pgbulk's embedded server runs as ``pgbulk`` when we are root).
    """
    started = time.perf_counter()
    directory = Path(tempfile.mkdtemp(prefix="pgbulk-ceiling-", dir=parent))
    directory.chmod(0o755)
    tables = rows.dataset.table_names
    files = CeilingFiles(
        directory,
        rows.dataset,
        {t: [directory / f"{t}.{p}.copy" for p in range(parts)] for t in tables},
        dict.fromkeys(tables, 0),
    )
    handles = {(t, p): path.open("wb") for t in tables for p, path in enumerate(files.paths[t])}
    try:
        for f in handles.values():
            f.write(HEADER)
        for chunk in rows:
            for t in chunk.tables:
                table = t.name
                columns, n = chunk.frame(table).copy_columns(), chunk.rows(table)
                files.rows[table] += n
                for p in range(parts):
                    start, stop = p * n // parts, (p + 1) * n // parts
                    if stop > start:
                        stream = copy_format.encode([_slice(c, start, stop) for c in columns])
                        handles[table, p].write(stream[len(HEADER) : len(stream) - len(TRAILER)])
        for f in handles.values():
            f.write(TRAILER)
    finally:
        for f in handles.values():
            f.close()
    for paths in files.paths.values():
        for path in paths:
            path.chmod(0o644)
    files.seconds = time.perf_counter() - started
    return files


def check_readable(dsn: str, files: CeilingFiles) -> None:
    """Ask the server to stat one file: the ceiling is only possible when it can."""
    path = str(next(iter(files.paths.values()))[0])
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_file(%s)", (path,))
    except psycopg.Error as e:
        reason = " ".join(str(e).split())
        raise ServerCannotRead(
            f"the server cannot read {path} ({reason}): server-side COPY needs a server on this machine, "
            "a role with pg_read_server_files, and --files-dir on a path the server's user can read"
        ) from None


def copy_from_files(dsn: str, files: CeilingFiles, *, sessions: int, freeze: bool = False) -> float:
    """Load every file with server-side COPY; seconds from the first COPY to the last commit.

    Each session commits one transaction per table, with ``synchronous_commit=off``.
    With ``freeze``, each table is created in its load transaction and copied with
    FREEZE: rows are written frozen (no hint-bit rewrite on first read), and under
    ``wal_level=minimal`` without WAL; a table is then one session's, whole tables
    spread over the sessions largest first (what pgbulk's frozen writers do). Otherwise
    the tables must exist, and every table's files are split over the sessions.
    """
    parts = len(next(iter(files.paths.values())))
    if freeze:
        plans: list[list[tuple[str, list[Path]]]] = [[] for _ in range(sessions)]
        loads = [0] * sessions
        by_size = sorted(
            files.paths.items(), key=lambda item: -sum(p.stat().st_size for p in item[1])
        )
        for table, paths in by_size:
            least = loads.index(min(loads))
            plans[least].append((table, paths))
            loads[least] += sum(p.stat().st_size for p in paths)
    else:
        if parts % sessions:
            raise ValueError(f"{parts} files per table do not split over {sessions} sessions")
        per_session = parts // sessions
        plans = [
            [
                (t, paths[s * per_session : (s + 1) * per_session])
                for t, paths in files.paths.items()
            ]
            for s in range(sessions)
        ]
    conns = [
        psycopg.connect(dsn, autocommit=True, application_name=f"ceiling {s}")
        for s in range(sessions)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(sessions + 1)

    def session(conn: psycopg.Connection, plan: Sequence[tuple[str, list[Path]]]) -> None:
        try:
            conn.execute("SET synchronous_commit = off")
            start.wait()
            for table, paths in plan:
                with conn.transaction():
                    if freeze:
                        conn.execute(ddl.create_table(files.dataset.table(table)))
                    for path in paths:
                        conn.execute(
                            sql.SQL("COPY {} FROM {} (FORMAT binary{})").format(
                                sql.Identifier(table),
                                sql.Literal(str(path)),
                                sql.SQL(", FREEZE" if freeze else ""),
                            )
                        )
        except BaseException as e:
            errors.append(e)
            start.abort()

    threads = [
        threading.Thread(target=session, args=(c, p)) for c, p in zip(conns, plans, strict=True)
    ]
    try:
        for t in threads:
            t.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - began
    finally:
        for c in conns:
            c.close()
    if errors:
        raise errors[0]
    return seconds
