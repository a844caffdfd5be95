"""Real ``pgbulk`` processes for the fault tests, and what to look at after a fault.

A loader runs the console script in a session of its own, so that a test can signal
its whole process group as a terminal or a job engine would. Faults are injected when
the ledger lists committed chunks, never after a sleep: the load is made long enough
by having many small chunks, not by waiting in product code.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from pgbulk import fingerprint
from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.fingerprint import Fingerprint

TABLES = ("users", "emails", "phone_numbers")

PGBULK = Path(sys.executable).with_name("pgbulk")  # the console script of this environment

#: 50 chunks of 1,000 users: a few seconds of loading on a shared 2-core machine, so a
#: fault injected after the second chunk lands mid-load.
USERS = 50_000
SPEC = ContactsSpec(chunk_users=1_000)
CHUNKS = 50

#: The name of the tests' own sessions, never mistaken for pgbulk's ("pgbulk ...").
TEST_APP = "pgbulk-tests"


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, application_name=TEST_APP)


# ---------------------------------------------------------------------- processes


@dataclass
class Loader:
    """A ``pgbulk`` command running in its own process group."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float = 120.0) -> int:
        return self.proc.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def report(self) -> dict[str, Any]:
        """The ``--json`` report it printed."""
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def tree(self) -> list[psutil.Process]:
        """This loader and every process under it, while it runs."""
        me = psutil.Process(self.proc.pid)
        return [me, *me.children(recursive=True)]


_STARTED: list[Loader] = []


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A directory for a test's loaders, outside pytest's basetemp (which a concurrent
    pytest session may prune); at the end, the loaders still running are killed."""
    path = Path(tempfile.mkdtemp(prefix="pgbulk-faults-"))
    try:
        yield path
    finally:
        while _STARTED:
            loader = _STARTED.pop()
            if loader.running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(loader.pid, signal.SIGKILL)
                loader.proc.wait()
        shutil.rmtree(path, ignore_errors=True)


def start(args: list[str], workdir: Path, env: Mapping[str, str] | None = None) -> Loader:
    """Run ``pgbulk ARGS`` in a new session; stdout and stderr go to files in ``workdir``."""
    n = len(list(workdir.glob("*.out")))
    out, err = workdir / f"{n}.out", workdir / f"{n}.err"
    inherited = ("PG", "DATABASE_URL", "CLOUD_RUN_", "JOB_COMPLETION_INDEX")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    environ.update(env or {})
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [str(PGBULK), *args], stdout=o, stderr=e, env=environ, start_new_session=True
        )
    loader = Loader(proc, out, err)
    _STARTED.append(loader)
    return loader


def run(args: list[str], workdir: Path, timeout: float = 120.0) -> Loader:
    loader = start(args, workdir)
    loader.wait(timeout)
    return loader


def load_args(
    dsn: str, *, seed: int, users: int = USERS, spec: ContactsSpec = SPEC, freeze: bool = False
) -> list[str]:
    """``pgbulk load`` arguments. Unit by unit (``--no-freeze``) unless ``freeze``: the
    faults these tests inject land between units; fresh frozen loads have their own
    (tests/integration/test_frozen.py)."""
    return [
        "load", "--dsn", dsn, "--users", str(users), "--seed", str(seed),
        "--chunk-users", str(spec.chunk_users), "--workers", "2", "--json",
        "--freeze" if freeze else "--no-freeze",
    ]  # fmt: skip


def wait_for_workers(loader: Loader, count: int = 2, timeout: float = 30.0) -> list[psutil.Process]:
    """The loader's worker processes, as soon as they exist (before their first chunk)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = []
        with contextlib.suppress(psutil.Error):
            for p in psutil.Process(loader.proc.pid).children():
                with contextlib.suppress(psutil.Error):
                    # Forked or spawned workers, not multiprocessing's own helpers.
                    cmdline = " ".join(p.cmdline())
                    if "resource_tracker" not in cmdline and "forkserver" not in cmdline:
                        workers.append(p)
        if len(workers) >= count:
            return workers
        assert loader.running, loader.stderr
        time.sleep(0.005)
    raise AssertionError(f"{count} workers did not start within {timeout} s")


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie waiting for its reaper has stopped running)."""
    running = []
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                running.append(p)
    return running


def wait_until_gone(processes: list[psutil.Process], timeout: float = 5.0) -> list[psutil.Process]:
    """Wait for the processes to end; return those still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# ---------------------------------------------------------------------- the database


def chunks_committed(dsn: str, schema: str = "public") -> int:
    with connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass('pgbulk.chunks') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        row = conn.execute(
            "SELECT count(*) FROM pgbulk.chunks WHERE target_schema = %s", (schema,)
        ).fetchone()
        return int(row[0]) if row else 0


def wait_for_chunks(loader: Loader, dsn: str, n: int = 2, timeout: float = 60.0) -> int:
    """Wait until the ledger lists ``n`` chunks: a fault injected then lands mid-load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = chunks_committed(dsn)
        if got >= n:
            assert got < CHUNKS, "the load finished before the fault could be injected"
            return got
        assert loader.running, f"the loader exited ({loader.proc.returncode}): {loader.stderr}"
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} chunks committed after {timeout} s")


def wait_for_dataset(loader: Loader, dsn: str, timeout: float = 60.0) -> None:
    """Until the loader has registered its dataset in the ledger (its set-up committed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(dsn) as conn:
            row = conn.execute("SELECT to_regclass('pgbulk.datasets') IS NOT NULL").fetchone()
            if row and row[0] and conn.execute("SELECT 1 FROM pgbulk.datasets").fetchone():
                return
        assert loader.running, f"the loader exited ({loader.proc.returncode}): {loader.stderr}"
        time.sleep(0.01)
    raise AssertionError(f"no dataset registered after {timeout} s")


def pgbulk_sessions(dsn: str) -> list[tuple[int, str, str]]:
    """Backends that pgbulk opened in this database: (pid, application_name, state)."""
    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT pid, application_name, coalesce(state, '') FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (application_name = 'pgbulk' OR application_name LIKE 'pgbulk %')"
        ).fetchall()
    return [(int(pid), str(app), str(state)) for pid, app, state in rows]


def wait_for_session(
    loader: Loader, dsn: str, application: str, waiting_for: str, timeout: float = 60.0
) -> None:
    """Until a session of ``application`` waits for a lock of type ``waiting_for``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(dsn) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = %s AND wait_event = %s",
                (application, waiting_for),
            ).fetchone()
        if row:
            return
        assert loader.running, f"the loader exited ({loader.proc.returncode}): {loader.stderr}"
        time.sleep(0.02)
    raise AssertionError(f"no {application} session waited for {waiting_for} in {timeout} s")


def wait_for_no_sessions(dsn: str, timeout: float = 10.0) -> list[tuple[int, str, str]]:
    """Wait for pgbulk's backends to end; return those left after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := pgbulk_sessions(dsn)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def ledger_state(dsn: str, schema: str = "public") -> str | None:
    with connect(dsn) as conn:
        row = conn.execute(
            "SELECT state FROM pgbulk.datasets WHERE target_schema = %s", (schema,)
        ).fetchone()
    return str(row[0]) if row else None


def ledger(dsn: str) -> tuple[list[Any], list[Any]]:
    """Every row of the two ledger tables."""
    with connect(dsn) as conn:
        datasets = conn.execute("SELECT * FROM pgbulk.datasets").fetchall()
        chunks = conn.execute("SELECT * FROM pgbulk.chunks ORDER BY chunk").fetchall()
    return datasets, chunks


def assert_ledger_matches_tables(
    dsn: str, schema: str = "public", chunk_users: int = SPEC.chunk_users
) -> int:
    """Every row in the tables belongs to a chunk the ledger lists, whole, and nothing
    more; returns the number of chunks."""
    with connect(dsn) as conn:
        recorded = conn.execute(
            "SELECT coalesce(sum((rows->>'users')::bigint), 0),"
            " coalesce(sum((rows->>'emails')::bigint), 0),"
            " coalesce(sum((rows->>'phone_numbers')::bigint), 0),"
            " count(*), array_agg(chunk ORDER BY chunk)"
            " FROM pgbulk.chunks WHERE target_schema = %s",
            (schema,),
        ).fetchone()
        assert recorded is not None
        counts = {}
        for t in TABLES:
            row = conn.execute(f'SELECT count(*) FROM "{schema}".{t}'.encode()).fetchone()
            counts[t] = int(row[0]) if row else -1
        # "User i" is user i (1-based), so its chunk is (i - 1) // chunk_users: the
        # chunks present in users are exactly those the ledger lists.
        present = conn.execute(
            "SELECT array_agg(c ORDER BY c) FROM (SELECT DISTINCT (substr(name, 6)::int - 1) / %s"
            f' AS c FROM "{schema}".users) s'.encode(),
            (chunk_users,),
        ).fetchone()
    assert counts == dict(zip(TABLES, map(int, recorded[:3]), strict=True))
    assert present is not None and present[0] == recorded[4]
    return int(recorded[3])


def constraints(dsn: str, schema: str = "public") -> list[tuple[str, str, int]]:
    """(name, type, oid) of each key and foreign key: a rebuilt one gets a new oid."""
    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT conname, contype::text, oid::int FROM pg_constraint"
            " WHERE connamespace = %s::regnamespace AND contype IN ('p', 'u', 'f') ORDER BY 1",
            (schema,),
        ).fetchall()
    return [(str(n), str(t), int(o)) for n, t, o in rows]


ALL_CONSTRAINTS = [
    ("emails_email_key", "u"),
    ("emails_pkey", "p"),
    ("emails_user_id_fkey", "f"),
    ("phone_numbers_phone_number_key", "u"),
    ("phone_numbers_pkey", "p"),
    ("phone_numbers_user_id_fkey", "f"),
    ("users_pkey", "p"),
]

_EXPECTED: dict[tuple[ContactsSpec, int, int], Fingerprint] = {}


def expected(seed: int, users: int = USERS, spec: ContactsSpec = SPEC) -> Fingerprint:
    """The fingerprint of a correct load of ``(spec, seed, users)``, from the generator:
    what a clean single-process load gives (tests/integration/test_verify_fingerprint.py)."""
    key = (spec, seed, users)
    if key not in _EXPECTED:
        _EXPECTED[key] = fingerprint.of_dataset(Rows(dataset(spec), users, seed=seed))
    return _EXPECTED[key]


def assert_complete(dsn: str, seed: int) -> None:
    """The load is finished and is the dataset: every chunk once, every constraint."""
    assert ledger_state(dsn) == "complete"
    assert assert_ledger_matches_tables(dsn) == CHUNKS
    assert [(n, t) for n, t, _ in constraints(dsn)] == ALL_CONSTRAINTS
    assert fingerprint.of_database(dsn) == expected(seed)


# ---------------------------------------------------------------------- constraint steps


@contextlib.contextmanager
def phone_numbers_locked(dsn: str) -> Iterator[psycopg.Connection]:
    """Holds ACCESS SHARE on phone_numbers inside the block: loading goes on, its
    constraint steps wait. Yields the locking connection, in its open transaction."""
    conn = psycopg.connect(dsn, application_name=TEST_APP)
    try:
        conn.execute("LOCK TABLE phone_numbers IN ACCESS SHARE MODE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


def wait_for_blocked_constraints(running: list[Loader], dsn: str, timeout: float = 60) -> str:
    """Until a phone_numbers step waits for the lock and users' primary key is built;
    returns the waiting statement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert any(r.running for r in running), [r.stderr for r in running]
        with connect(dsn) as conn:
            row = conn.execute(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'pgbulk constraints' AND wait_event_type = 'Lock'"
            ).fetchone()
        if row and "users_pkey" in {name for name, _, _ in constraints(dsn)}:
            return str(row[0])
        time.sleep(0.05)
    raise AssertionError("no constraint step waited for the lock on phone_numbers")
