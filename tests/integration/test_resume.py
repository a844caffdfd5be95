"""Resuming: only the missing chunks, only the same dataset, also after the load phase.

An interrupted load is made the way users make one: the ``pgbulk`` command killed in
the middle. Interruptions while the constraints are built are made deterministic by
holding a lock on ``phone_numbers``, so that its steps wait while the others run.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import pgbulk
from pgbulk import fingerprint
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.errors import DatasetMismatch
from pgbulk.load import load
from tests.integration import loaders
from tests.integration.loaders import CHUNKS, SPEC, USERS, assert_complete, connect, load_args


@pytest.fixture
def workdir() -> Iterator[Path]:
    with loaders.scratch() as path:
        yield path


def _interrupted_load(dsn: str, seed: int, workdir: Path) -> int:
    """A load killed after some chunks; returns how many the ledger lists."""
    loader = loaders.start(load_args(dsn, seed=seed), workdir)
    loaders.wait_for_chunks(loader, dsn)
    loader.signal_group(signal.SIGKILL)
    loader.wait(10)
    assert loaders.wait_for_no_sessions(dsn) == []
    return loaders.assert_ledger_matches_tables(dsn)


def test_resume_with_other_parameters_is_refused_and_changes_nothing(
    db_dsn: str, workdir: Path
) -> None:
    committed = _interrupted_load(db_dsn, seed=21, workdir=workdir)
    ledger_before = loaders.ledger(db_dsn)
    rows_before = fingerprint.of_database(db_dsn)

    refused = loaders.run([*load_args(db_dsn, seed=22), "--if-exists", "resume"], workdir)
    assert refused.proc.returncode == 2
    assert refused.stderr.count("\n") == 1  # one line, no traceback
    assert refused.stderr.startswith(
        "pgbulk: error: schema public holds a different pgbulk dataset "
        "(contacts seed=21 scale=50,000 "
    )
    assert "chunk_users=1000" in refused.stderr
    assert "asked for contacts seed=22 scale=50,000" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    for users, spec in ((USERS + 1, SPEC), (USERS, ContactsSpec(chunk_users=2_000))):
        with pytest.raises(DatasetMismatch, match="holds a different pgbulk dataset"):
            load(db_dsn, users=users, seed=21, spec=spec, if_exists="resume")
    # Another pgbulk may generate other rows for the same options.
    with connect(db_dsn) as conn:
        conn.execute("UPDATE pgbulk.datasets SET pgbulk_version = '0.0.1'")
    other_version = loaders.run(["resume", "--dsn", db_dsn], workdir)
    assert other_version.proc.returncode == 2
    assert other_version.stderr == (
        f"pgbulk: error: schema public holds a load by pgbulk 0.0.1, not {pgbulk.__version__},"
        " whose rows may differ. Nothing was changed: finish it with pgbulk 0.0.1, or"
        " --if-exists replace to start over\n"
    )
    with connect(db_dsn) as conn:
        conn.execute("UPDATE pgbulk.datasets SET pgbulk_version = %s", (pgbulk.__version__,))
    # Without --if-exists resume, the same dataset is not resumed by surprise either.
    again = loaders.run(load_args(db_dsn, seed=21), workdir)
    assert again.proc.returncode == 2
    assert "an interrupted load of this dataset: add --if-exists resume" in again.stderr
    assert loaders.ledger(db_dsn) == ledger_before
    assert fingerprint.of_database(db_dsn) == rows_before

    resumed = loaders.run(["resume", "--dsn", db_dsn, "--json"], workdir)
    assert resumed.proc.returncode == 0, resumed.stderr
    assert resumed.report()["chunks_already_loaded"] == committed
    assert_complete(db_dsn, seed=21)


def test_resume_of_nothing_says_there_is_nothing(db18_dsn: str, workdir: Path) -> None:
    nothing = loaders.run(["resume", "--dsn", db18_dsn], workdir)
    assert nothing.proc.returncode == 2
    assert "no pgbulk load is recorded for schema public: nothing to resume" in nothing.stderr


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_a_stop_while_building_constraints_then_resume(
    db18_dsn: str, workdir: Path, sig: signal.Signals
) -> None:
    loader = loaders.start(load_args(db18_dsn, seed=23), workdir)
    loaders.wait_for_chunks(loader, db18_dsn, n=1)
    with loaders.phone_numbers_locked(db18_dsn):
        loaders.wait_for_blocked_constraints([loader], db18_dsn)
        assert loaders.ledger_state(db18_dsn) == "finalizing"
        tree = loader.tree()

        loader.signal_group(sig)
        code = loader.wait(timeout=5)
        assert loaders.wait_until_gone(tree) == []
        # No statement of the stopped load runs on, not even one waiting for a lock.
        assert loaders.wait_for_no_sessions(db18_dsn) == []
    if sig != signal.SIGKILL:
        assert code == 2
        assert loader.stderr.splitlines()[-1] == (
            f"pgbulk: error: interrupted by {sig.name} while building constraints: every chunk"
            " is loaded and the steps already built are kept; run `pgbulk resume` (or `pgbulk"
            " finalize`) to build the rest"
        )
    assert loaders.assert_ledger_matches_tables(db18_dsn) == CHUNKS
    assert loaders.ledger_state(db18_dsn) == "finalizing"

    resumed = loaders.run(["resume", "--dsn", db18_dsn, "--json"], workdir)
    assert resumed.proc.returncode == 0, resumed.stderr
    report = resumed.report()
    assert report["chunks_loaded"] == 0 and report["chunks_already_loaded"] == CHUNKS
    assert "users_pkey" not in report["step_seconds"]  # built before the stop: kept
    assert "phone_numbers_pkey" in report["step_seconds"]
    assert_complete(db18_dsn, seed=23)


def test_a_step_built_meanwhile_by_another_session_counts_as_built(
    db18_dsn: str, workdir: Path
) -> None:
    # What a killed finalize leaves on a server that does not notice its client is gone
    # (before PostgreSQL 14): its statement runs on and commits while the next finalize
    # waits to run the same one.
    loader = loaders.start(load_args(db18_dsn, seed=24), workdir)
    loaders.wait_for_chunks(loader, db18_dsn, n=1)
    with loaders.phone_numbers_locked(db18_dsn) as lock:
        waiting = loaders.wait_for_blocked_constraints([loader], db18_dsn)
        lock.execute("SET search_path = public")
        lock.execute(waiting.encode())  # the very step pgbulk waits to run
        lock.commit()

    assert loader.wait() == 0, loader.stderr
    assert loader.report()["state"] == "complete"
    assert_complete(db18_dsn, seed=24)


def test_finalize_waits_for_the_load_that_is_building_the_constraints(
    db18_dsn: str, workdir: Path
) -> None:
    loader = loaders.start(load_args(db18_dsn, seed=26), workdir)
    loaders.wait_for_chunks(loader, db18_dsn, n=1)
    with loaders.phone_numbers_locked(db18_dsn):
        loaders.wait_for_blocked_constraints([loader], db18_dsn)
        finalizer = loaders.start(["finalize", "--dsn", db18_dsn], workdir)
        loaders.wait_for_session(finalizer, db18_dsn, "pgbulk finalize", waiting_for="advisory")

    assert loader.wait() == 0, loader.stderr
    assert finalizer.wait() == 0, finalizer.stderr
    assert finalizer.stdout == "schema public: complete\n"
    assert loader.report()["step_seconds"]  # the load built them all, the finalize none
    assert_complete(db18_dsn, seed=26)
