"""``pgbulk.export.export_parquet``: the dataset that ``load`` loads, as Parquet files.

Layout of an export directory (one dataset directory per table, which BigQuery,
DuckDB, Spark and ``pyarrow.dataset`` read as one table each)::

    DIR/users/part-00000.parquet          one file per chunk, one row group per file
    DIR/emails/part-00000.parquet
    DIR/phone_numbers/part-00000.parquet
    DIR/_pgbulk.json                      the manifest, written last

A producer pool of processes does the work: each process generates a chunk and writes
its three files itself, so no chunk crosses a process boundary (the loader's workers do
the same for the same reason). A file is written under a hidden name and renamed when
complete, and the manifest is written only after every chunk: a directory without
``_pgbulk.json`` is an export that did not finish.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing as mp
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pgbulk import arrow
from pgbulk.datasets import TABLES, Contacts
from pgbulk.errors import ExportFailed, ParameterError, PgbulkError, TargetNotEmpty
from pgbulk.generate import truncated_zipf_pmf
from pgbulk.progress import Progress
from pgbulk.spec import ContactsSpec

MANIFEST = "_pgbulk.json"
COMPRESSION = "zstd"

#: Parquet bytes per user (measured: 17 MiB for 100k users, UUIDv4): the free-space check.
BYTES_PER_USER = 180

# Dictionary encoding and min/max statistics cost write time and give nothing for these
# columns: ids, emails and phone numbers are unique, and random values make every row
# group's min/max span the whole range.
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": COMPRESSION,
    "use_dictionary": False,
    "write_statistics": False,
}


@dataclass
class ExportReport:
    """What an export wrote. ``to_dict()`` is the ``--json`` output."""

    out_dir: str
    format: str
    dataset: dict[str, Any]
    seed: int
    users: int
    workers: int
    chunks: int
    rows: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["rows_per_second"] = round(self.rows_per_second)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        lines = [
            f"pgbulk export: {self.format} in {self.out_dir}",
            f"  dataset   contacts seed={self.seed} users={self.users:,} "
            f"chunks {self.chunks} with {self.workers} worker(s)",
        ]
        for table in TABLES:
            lines.append(
                f"  {table:<14}{self.rows.get(table, 0):>14,} rows"
                f"{self.bytes.get(table, 0) / 2**20:>10,.1f} MiB"
            )
        lines.append(
            f"  {'total':<14}{self.total_rows:>14,} rows"
            f"{sum(self.bytes.values()) / 2**20:>10,.1f} MiB"
        )
        lines.append(
            f"  {self.seconds:.2f} s, {self.rows_per_second / 1e6:.2f}M rows/s ({COMPRESSION})"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class ChunkWritten:
    index: int
    rows: dict[str, int]
    bytes: dict[str, int]


def part_name(chunk: int) -> str:
    return f"part-{chunk:05d}.parquet"


def export_parquet(
    out_dir: str | Path,
    *,
    users: int,
    seed: int = 0,
    spec: ContactsSpec | None = None,
    workers: int = 2,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Write the ``contacts`` dataset for ``(spec, seed, users)`` as Parquet under ``out_dir``.

    The rows are the ones :func:`pgbulk.load.load` loads for the same parameters, whatever
    the number of workers. ``out_dir`` must be empty or absent; ``overwrite=True``
    replaces a previous pgbulk export there (and nothing else).
    """
    started = time.perf_counter()
    dataset = Contacts(users, seed=seed, spec=spec)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ParameterError("workers", workers, "must be an integer in 1..64")
    out = Path(out_dir).expanduser().resolve()
    _prepare(out, overwrite, dataset.users * BYTES_PER_USER)
    progress = progress or Progress()
    progress.phase("export", total_rows=_expected_rows(dataset))
    report = ExportReport(
        out_dir=str(out),
        format="parquet",
        dataset=dataset.spec.to_dict(),
        seed=dataset.seed,
        users=dataset.users,
        workers=min(workers, dataset.chunks),
        chunks=dataset.chunks,
        rows=dict.fromkeys(TABLES, 0),
        bytes=dict.fromkeys(TABLES, 0),
    )
    with _incomplete_on_error(out):
        for written in _write_all(out, dataset, report.workers):
            for table in TABLES:
                report.rows[table] += written.rows[table]
                report.bytes[table] += written.bytes[table]
            progress.advance(sum(written.rows.values()))
        _write_manifest(out, dataset, report)
    report.seconds = time.perf_counter() - started
    progress.close()
    return report


def write_chunk(out: Path, dataset: Contacts, index: int) -> ChunkWritten:
    """Generate chunk ``index`` and write its file of each table."""
    chunk = dataset.chunk(index)
    provenance = json.dumps(_describe(dataset) | {"chunk": index}).encode()
    rows: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for table in TABLES:
        data = arrow.chunk_table(chunk, table)
        data = data.replace_schema_metadata({b"pgbulk": provenance})
        path = out / table / part_name(index)
        partial = path.with_name(f".{path.name}.partial")
        # One row group per chunk: a reader can take the chunks apart again.
        pq.write_table(data, partial, row_group_size=max(1, data.num_rows), **_WRITE_OPTIONS)
        partial.replace(path)
        rows[table] = data.num_rows
        sizes[table] = path.stat().st_size
    return ChunkWritten(index, rows, sizes)


# ---------------------------------------------------------------------- the pool


def _write_all(out: Path, dataset: Contacts, workers: int) -> Iterator[ChunkWritten]:
    """Yield each chunk's ChunkWritten as it completes (in any order)."""
    if workers == 1:  # no pool to start: the common case of small exports and tests
        for index in range(dataset.chunks):
            yield write_chunk(out, dataset, index)
        return
    args = (str(out), dataset.spec.to_dict(), dataset.seed, dataset.users)
    pool = ProcessPoolExecutor(
        workers, mp_context=mp.get_context("spawn"), initializer=_init_worker
    )
    try:
        pending: set[Future[ChunkWritten]] = {
            pool.submit(_write_chunk_in_worker, *args, index) for index in range(dataset.chunks)
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        # On an error or Ctrl-C: drop the chunks not started, let the running ones end.
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _incomplete_on_error(out: Path) -> Iterator[None]:
    """Turn a failure of the writers into an ExportFailed that says what is left in ``out``."""
    incomplete = f"{out} is incomplete (no {MANIFEST}): run the export again with --overwrite"
    try:
        yield
    except BrokenProcessPool:
        raise ExportFailed(f"an export worker process died; {incomplete}") from None
    except PgbulkError as e:
        raise ExportFailed(f"{e}; {incomplete}") from None
    except OSError as e:
        raise ExportFailed(f"cannot write the Parquet files: {e}; {incomplete}") from None


def _write_chunk_in_worker(
    out: str, spec: dict[str, Any], seed: int, users: int, index: int
) -> ChunkWritten:
    dataset = Contacts(users, seed=seed, spec=ContactsSpec.from_dict(spec))
    return write_chunk(Path(out), dataset, index)


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent decides and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # And no worker outlives its parent to keep writing into a directory nobody watches.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


# ---------------------------------------------------------------------- the directory


def _prepare(out: Path, overwrite: bool, estimate: int) -> None:
    """Make ``out`` an empty directory with one subdirectory per table."""
    if out.exists() and not out.is_dir():
        raise PgbulkError(f"{out} is a file: give a directory for the export")
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if entries and not overwrite:
        raise TargetNotEmpty(
            f"{out} is not empty: choose a new or empty directory, or --overwrite to replace "
            "the pgbulk export there"
        )
    foreign = [name for name in entries if name not in (*TABLES, MANIFEST)]
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise TargetNotEmpty(
            f"{out} holds files that are not part of a pgbulk export ({shown}); --overwrite "
            "only replaces a pgbulk export: choose another directory"
        )
    for name in entries:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if free < estimate * 1.2:
        raise PgbulkError(
            f"not enough free disk under {out}: about {estimate / 2**30:.1f} GiB needed, "
            f"{free / 2**30:.1f} GiB free; export fewer users or choose another directory"
        )
    for table in TABLES:
        (out / table).mkdir()


def _expected_rows(dataset: Contacts) -> int:
    """Users plus the law's mean of emails and phones per user: close enough for an ETA."""
    spec = dataset.spec
    pmf = truncated_zipf_pmf(spec.zipf_a, spec.max_per_user)
    return round(dataset.users * (1 + 2 * float(pmf @ np.arange(1, spec.max_per_user + 1))))


def _describe(dataset: Contacts) -> dict[str, Any]:
    from pgbulk import __version__

    return {
        "dataset": dataset.spec.to_dict(),
        "seed": dataset.seed,
        "users": dataset.users,
        "pgbulk_version": __version__,
    }


def _write_manifest(out: Path, dataset: Contacts, report: ExportReport) -> None:
    """What the directory holds; deterministic for a dataset (no times, no paths)."""
    manifest = {
        "format": "parquet",
        "compression": COMPRESSION,
        **_describe(dataset),
        "chunks": dataset.chunks,
        "tables": {table: {"rows": report.rows[table]} for table in TABLES},
    }
    partial = out / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(partial, out / MANIFEST)
