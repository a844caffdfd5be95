"""Faults in the middle of a real load: killed processes, killed backends, server restarts.

Each test runs the ``pgbulk`` command as a process group of its own, injects the fault
once the ledger lists committed chunks, and ends with the dataset's fingerprint equal to
that of a clean load of the same (seed, users): nothing lost, nothing twice. What each
fault costs, and how to resume, is in docs/resilience.md.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from pgbulk import dsn, fingerprint
from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.datasets.contacts import dataset as contacts_dataset
from pgbulk.dsn import with_dbname
from pgbulk.errors import ConnectionFailed
from pgbulk.estimate import estimate
from pgbulk.load import load
from pgbulk.load.finalize import reconnect
from pgbulk.load.report import LoadReport
from pgbulk.server import EmbeddedServer
from tests.integration import loaders
from tests.integration.loaders import CHUNKS, SPEC, assert_complete, connect, load_args


@pytest.fixture
def workdir() -> Iterator[Path]:
    with loaders.scratch() as path:
        yield path


def _resume(dsn: str, workdir: Path) -> dict[str, object]:
    resumed = loaders.run(["resume", "--dsn", dsn, "--json"], workdir)
    assert resumed.proc.returncode == 0, resumed.stderr
    return resumed.report()


# ---------------------------------------------------------------------- killed processes


def test_sigkill_of_the_whole_loader_then_resume(db18_dsn: str, workdir: Path) -> None:
    loader = loaders.start(load_args(db18_dsn, seed=11), workdir)
    loaders.wait_for_chunks(loader, db18_dsn)
    tree = loader.tree()
    assert len(tree) >= 3  # the parent and its two workers

    loader.signal_group(signal.SIGKILL)
    assert loader.wait(10) == -signal.SIGKILL
    assert loaders.wait_until_gone(tree) == []
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    committed = loaders.assert_ledger_matches_tables(db18_dsn)
    assert 2 <= committed < CHUNKS
    assert loaders.ledger_state(db18_dsn) == "loading"

    report = _resume(db18_dsn, workdir)
    assert report["chunks_already_loaded"] == committed
    assert report["chunks_loaded"] == CHUNKS - committed
    assert_complete(db18_dsn, seed=11)


def test_sigkill_of_the_parent_alone_takes_its_workers_down(db18_dsn: str, workdir: Path) -> None:
    loader = loaders.start(load_args(db18_dsn, seed=12), workdir)
    loaders.wait_for_chunks(loader, db18_dsn)
    workers = loader.tree()[1:]
    assert workers

    os.kill(loader.pid, signal.SIGKILL)  # the workers get no signal from us
    loader.wait(10)
    assert loaders.wait_until_gone(workers) == []
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    loaders.assert_ledger_matches_tables(db18_dsn)

    args = [*load_args(db18_dsn, seed=12), "--if-exists", "resume"]
    resumed = loaders.run(args, workdir)
    assert resumed.proc.returncode == 0, resumed.stderr
    assert_complete(db18_dsn, seed=12)


def test_sigkill_of_the_parent_while_its_workers_start(db18_dsn: str, workdir: Path) -> None:
    # The parent dying as soon as its workers exist (a spawned worker is still importing
    # then; a forked one may not yet have asked to die with its parent) must take them
    # down too, not leave them loading on their own.
    loader = loaders.start(load_args(db18_dsn, seed=20), workdir)
    workers = loaders.wait_for_workers(loader)

    os.kill(loader.pid, signal.SIGKILL)
    loader.wait(10)
    assert loaders.wait_until_gone(workers, timeout=10) == []
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    committed = loaders.chunks_committed(db18_dsn)
    time.sleep(1.0)
    assert loaders.chunks_committed(db18_dsn) == committed  # no orphan goes on loading


# ---------------------------------------------------------------------- stop signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_stop_signal_ends_every_process_quickly_then_resume(
    db18_dsn: str, workdir: Path, sig: signal.Signals
) -> None:
    loader = loaders.start(load_args(db18_dsn, seed=17), workdir)
    loaders.wait_for_chunks(loader, db18_dsn)
    tree = loader.tree()

    loader.signal_group(sig)  # as Ctrl-C on a terminal, or a job engine stopping a task
    assert loader.wait(timeout=5) == 2
    assert loader.stderr.count("\n") == 1, loader.stderr  # one line, no traceback
    assert loader.stderr.startswith(f"pgbulk: error: interrupted by {sig.name}: the chunks")
    assert "resume with the same options and --if-exists resume" in loader.stderr
    assert loaders.wait_until_gone(tree) == []
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    loaders.assert_ledger_matches_tables(db18_dsn)

    _resume(db18_dsn, workdir)
    assert_complete(db18_dsn, seed=17)


def test_ctrl_c_while_the_workers_start(db18_dsn: str, workdir: Path) -> None:
    # Before they can ignore SIGINT, workers start up (a spawned one imports for a second
    # or more): Ctrl-C then must stop the load as cleanly as later, with no traceback.
    loader = loaders.start(load_args(db18_dsn, seed=25), workdir)
    workers = loaders.wait_for_workers(loader)

    loader.signal_group(signal.SIGINT)
    assert loader.wait(timeout=5) == 2
    assert loader.stderr.startswith("pgbulk: error: interrupted by SIGINT"), loader.stderr
    assert loader.stderr.count("\n") == 1, loader.stderr
    assert loaders.wait_until_gone(workers) == []
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    loaders.assert_ledger_matches_tables(db18_dsn)


def test_a_stop_signal_exits_with_thousands_of_chunks_still_queued(
    db18_dsn: str, workdir: Path
) -> None:
    # 10,000 chunk numbers are more than the task queue's pipe holds: those the workers
    # never read are still with the parent when it stops.
    args = load_args(db18_dsn, seed=18, spec=ContactsSpec(chunk_users=5))
    loader = loaders.start(args, workdir)
    loaders.wait_for_chunks(loader, db18_dsn)
    tree = loader.tree()

    loader.signal_group(signal.SIGINT)
    assert loader.wait(timeout=5) == 2
    assert "interrupted by SIGINT" in loader.stderr
    assert loaders.wait_until_gone(tree) == []
    assert loaders.wait_for_no_sessions(db18_dsn) == []
    loaders.assert_ledger_matches_tables(db18_dsn, chunk_users=5)


def test_load_from_a_thread_other_than_the_main_one(db18_dsn: str) -> None:
    # Only the main thread may set signal handlers: a library caller's thread (a web
    # app, a notebook's executor) still loads, under its process's own handling.
    with ThreadPoolExecutor(1) as pool:
        report = pool.submit(load, db18_dsn, users=3_000, seed=19, spec=SPEC).result()
    assert report.state == "complete"
    assert fingerprint.of_database(db18_dsn) == loaders.expected(19, users=3_000)


# ---------------------------------------------------------------------- the server


def test_a_terminated_backend_is_retried_in_place(db18_dsn: str, workdir: Path) -> None:
    loader = loaders.start(load_args(db18_dsn, seed=13), workdir)
    loaders.wait_for_chunks(loader, db18_dsn)
    with connect(db18_dsn) as conn:
        killed = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'pgbulk worker %'"
        ).fetchone()
    assert killed is not None and killed[0] >= 1

    assert loader.wait() == 0, loader.stderr
    report = loader.report()
    assert report["retries"] >= 1
    assert report["chunks_loaded"] + report["chunks_already_loaded"] == CHUNKS
    assert "retry 1 in 0.5 s" in loader.stderr  # each retry is logged
    assert_complete(db18_dsn, seed=13)


@pytest.fixture(scope="module")
def own_server() -> Iterator[EmbeddedServer]:
    """A server of this module's own, to stop, crash and start under running loads."""
    server = EmbeddedServer(tempfile.mkdtemp(prefix="pgbulk-faults-server-"))
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def own_dsn(own_server: EmbeddedServer) -> Iterator[str]:
    """A fresh database on the test's own server, running whatever the last test did."""
    own_server.start()
    with connect(own_server.dsn()) as conn:
        conn.execute("DROP DATABASE IF EXISTS target WITH (FORCE)")
        conn.execute("CREATE DATABASE target")
    yield with_dbname(own_server.dsn(), "target")


def test_a_server_restart_mid_load_is_survived(
    own_server: EmbeddedServer, own_dsn: str, workdir: Path
) -> None:
    loader = loaders.start(load_args(own_dsn, seed=14), workdir)
    loaders.wait_for_chunks(loader, own_dsn)
    own_server.stop()  # fast shutdown: every session ends, transactions in flight roll back
    own_server.start()

    assert loader.wait() == 0, loader.stderr
    report = loader.report()
    assert report["retries"] >= 1
    assert report["chunks_loaded"] + report["chunks_already_loaded"] == CHUNKS
    assert_complete(own_dsn, seed=14)


def test_after_the_load_a_connection_waits_for_a_restarting_server(
    own_server: EmbeddedServer, own_dsn: str
) -> None:
    # A restart that lands after the workers' last unit meets the loader's own
    # connections (the ledger check, the constraints): they retry as the workers do.
    report = LoadReport(
        target="", schema="public", server_version="", dataset={}, seed=0, scale=1,
        workers=2, shard=None, state="loading",
    )  # fmt: skip
    own_server.stop()
    starter = threading.Timer(1.0, own_server.start)
    starter.start()
    try:
        with reconnect(own_dsn, report) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        starter.join()
    assert report.retries >= 1


def test_a_connection_refused_with_a_reason_is_not_retried(own_dsn: str) -> None:
    waits: list[float] = []
    with pytest.raises(ConnectionFailed, match="does not exist"):
        dsn.connect(
            with_dbname(own_dsn, "no_such_database"),
            retries=3,
            on_retry=lambda reason, delay: waits.append(delay),
        )
    assert waits == []  # a user's mistake fails at once, not after 23 s of retries


def test_a_server_crash_mid_load_is_survived(
    own_server: EmbeddedServer, own_dsn: str, workdir: Path
) -> None:
    loader = loaders.start(load_args(own_dsn, seed=15), workdir)
    loaders.wait_for_chunks(loader, own_dsn, n=4)
    pid = own_server.status().pid
    assert pid is not None
    # Immediate shutdown, as in a crash: no checkpoint, so the chunks committed in the
    # last moments (synchronous_commit=off) are lost with their ledger rows.
    os.kill(pid, signal.SIGQUIT)
    assert loaders.wait_until_gone([psutil.Process(pid)], timeout=30) == []
    own_server.start()

    assert loader.wait() == 0, loader.stderr
    report = loader.report()
    assert report["chunks_loaded"] + report["chunks_already_loaded"] == CHUNKS
    assert_complete(own_dsn, seed=15)


@pytest.mark.slow
def test_a_server_that_stays_down_stops_the_load_resumably(
    own_server: EmbeddedServer, own_dsn: str, workdir: Path
) -> None:
    loader = loaders.start(load_args(own_dsn, seed=16), workdir)
    loaders.wait_for_chunks(loader, own_dsn)
    tree = loader.tree()
    own_server.stop()

    assert loader.wait() == 2  # after the retries: about 25 s of backoff
    error = loader.stderr.splitlines()[-1]
    assert error.startswith("pgbulk: error: worker ")
    assert "the connection failed 7 times" in error
    assert error.endswith("resume with the same options and --if-exists resume")
    assert "Traceback" not in loader.stderr
    assert loaders.wait_until_gone(tree) == []

    own_server.start()
    assert loaders.assert_ledger_matches_tables(own_dsn) < CHUNKS
    assert loaders.ledger_state(own_dsn) == "loading"
    _resume(own_dsn, workdir)
    assert_complete(own_dsn, seed=16)


# ---------------------------------------------------------------------- guards


def test_not_enough_disk_for_the_embedded_server_is_refused_before_it_starts(
    workdir: Path,
) -> None:
    data_dir = workdir / "not" / "yet" / "there"
    refused = loaders.run(["load", "--users", "10000G", "--data-dir", str(data_dir)], workdir)
    assert refused.proc.returncode == 2
    needed = estimate(Rows(contacts_dataset(), 10**13)).bytes / 2**30
    assert refused.stderr.startswith(
        f"pgbulk: error: not enough free disk for the embedded server: about {needed:.1f} GiB"
    ), refused.stderr
    assert f"GiB free under {workdir}; load a smaller scale" in refused.stderr
    assert not (workdir / "not").exists()  # no server was started, nothing was created
