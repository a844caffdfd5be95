"""``pgbulk.export.export_parquet``: the dataset that ``load`` loads, as Parquet files.

Layout of an export directory (one dataset directory per table, which BigQuery,
DuckDB, Spark and ``pyarrow.dataset`` read as one table each)::

    DIR/users/part-00000.parquet          one file per unit, one row group per file
    DIR/emails/part-00000.parquet         (contacts: a unit's users and their children)
    DIR/phone_numbers/part-00000.parquet
    DIR/_pgbulk.json                      the manifest, written last

A producer pool of processes does the work: each process generates a unit and writes
its tables' files itself, so no chunk crosses a process boundary (the loader's workers do
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

import pyarrow.parquet as pq

from pgbulk import arrow
from pgbulk.chunks import Rows
from pgbulk.datasets import choose
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.errors import ExportFailed, ParameterError, PgbulkError, TargetNotEmpty
from pgbulk.estimate import estimate
from pgbulk.model import Dataset
from pgbulk.progress import Progress

MANIFEST = "_pgbulk.json"
COMPRESSION = "zstd"

#: Parquet bytes per heap byte the estimate predicts, with a margin (contacts measured
#: 17 MiB of Parquet for 100k users and about 45 MiB of heap): the free-space check.
PARQUET_PER_HEAP_BYTE = 0.5

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
    scale: int
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
            f"  dataset   {self.dataset.get('dataset', '?')} seed={self.seed} "
            f"scale={self.scale:,} chunks {self.chunks} with {self.workers} worker(s)",
        ]
        for table in self.rows:
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
    dataset: Dataset | None = None,
    scale: int | None = None,
    users: int | None = None,
    seed: int = 0,
    spec: ContactsSpec | None = None,
    workers: int = 2,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Write ``dataset`` at ``scale`` (default: contacts, ``users`` users) as Parquet files.

    The rows are the ones :func:`pgbulk.load` loads for the same parameters, whatever
    the number of workers. ``out_dir`` must be empty or absent; ``overwrite=True``
    replaces a previous pgbulk export there (and nothing else).
    """
    started = time.perf_counter()
    chosen, size = choose(dataset, scale, users, spec)
    rows = Rows(chosen, size, seed=seed)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ParameterError("workers", workers, "must be an integer in 1..64")
    for table in chosen.tables:
        arrow.schema(table)  # a column the export cannot write fails before any file
    out = Path(out_dir).expanduser().resolve()
    expected = estimate(rows)
    heap = sum(t.heap_bytes for t in expected.tables)
    _prepare(out, overwrite, chosen, int(heap * PARQUET_PER_HEAP_BYTE))
    progress = progress or Progress()
    progress.phase("export", total_rows=round(expected.rows))
    names = chosen.table_names
    report = ExportReport(
        out_dir=str(out),
        format="parquet",
        dataset=dict(chosen.definition),
        seed=rows.seed,
        scale=rows.scale,
        workers=min(workers, rows.chunks),
        chunks=rows.chunks,
        rows=dict.fromkeys(names, 0),
        bytes=dict.fromkeys(names, 0),
    )
    with _incomplete_on_error(out):
        for written in _write_all(out, rows, report.workers):
            for name, count in written.rows.items():
                report.rows[name] += count
                report.bytes[name] += written.bytes[name]
            progress.advance(sum(written.rows.values()))
        _write_manifest(out, rows, report)
    report.seconds = time.perf_counter() - started
    progress.close()
    return report


def write_chunk(out: Path, rows: Rows, index: int) -> ChunkWritten:
    """Generate unit ``index`` and write its file of each table it has rows of."""
    chunk = rows.chunk(index)
    provenance = json.dumps(_describe(rows) | {"chunk": index}).encode()
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for table in (t.name for t in chunk.tables):
        data = arrow.chunk_table(chunk, table)
        data = data.replace_schema_metadata({b"pgbulk": provenance})
        path = out / table / part_name(index)
        partial = path.with_name(f".{path.name}.partial")
        # One row group per chunk: a reader can take the chunks apart again.
        pq.write_table(data, partial, row_group_size=max(1, data.num_rows), **_WRITE_OPTIONS)
        partial.replace(path)
        counts[table] = data.num_rows
        sizes[table] = path.stat().st_size
    return ChunkWritten(index, counts, sizes)


# ---------------------------------------------------------------------- the pool


def _write_all(out: Path, rows: Rows, workers: int) -> Iterator[ChunkWritten]:
    """Yield each unit's ChunkWritten as it completes (in any order)."""
    if workers == 1:  # no pool to start: the common case of small exports and tests
        for index in range(rows.chunks):
            yield write_chunk(out, rows, index)
        return
    args = (str(out), rows.dataset, rows.seed, rows.scale)
    pool = ProcessPoolExecutor(
        workers, mp_context=mp.get_context("spawn"), initializer=_init_worker
    )
    try:
        pending: set[Future[ChunkWritten]] = {
            pool.submit(_write_chunk_in_worker, *args, index) for index in range(rows.chunks)
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
    out: str, dataset: Dataset, seed: int, scale: int, index: int
) -> ChunkWritten:
    return write_chunk(Path(out), Rows(dataset, scale, seed=seed), index)


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent decides and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # And no worker outlives its parent to keep writing into a directory nobody watches.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


# ---------------------------------------------------------------------- the directory


def _prepare(out: Path, overwrite: bool, dataset: Dataset, needed: int) -> None:
    """Make ``out`` an empty directory with one subdirectory per table."""
    if out.exists() and not out.is_dir():
        raise PgbulkError(f"{out} is a file: give a directory for the export")
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if entries and not overwrite:
        raise TargetNotEmpty(
            f"{out} is not empty: choose a new or empty directory, or --overwrite to replace "
            "the pgbulk export there"
        )
    foreign = [name for name in entries if name not in (*dataset.table_names, MANIFEST)]
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
    if free < needed * 1.2:
        raise PgbulkError(
            f"not enough free disk under {out}: about {needed / 2**30:.1f} GiB needed, "
            f"{free / 2**30:.1f} GiB free; export a smaller scale or choose another directory"
        )
    for table in dataset.table_names:
        (out / table).mkdir()


def _describe(rows: Rows) -> dict[str, Any]:
    from pgbulk import __version__

    return {
        "dataset": dict(rows.dataset.definition),
        "seed": rows.seed,
        "scale": rows.scale,
        "pgbulk_version": __version__,
    }


def _write_manifest(out: Path, rows: Rows, report: ExportReport) -> None:
    """What the directory holds; deterministic for a dataset (no times, no paths)."""
    manifest = {
        "format": "parquet",
        "compression": COMPRESSION,
        **_describe(rows),
        "chunks": rows.chunks,
        "tables": {
            table.name: {
                "rows": report.rows[table.name],
                "columns": {c.name: c.type.sql for c in table.columns},
            }
            for table in rows.dataset.tables
        },
    }
    partial = out / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(partial, out / MANIFEST)
