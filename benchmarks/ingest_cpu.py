"""Where an ingest's CPU goes, per row: the server's COPY, and pgbulk's client.

    .venv/bin/python -m benchmarks.ingest_cpu --sf 1 [--tables lineitem]

On a machine whose cores the server and the client share, a load is bound by their CPU
together, not by wall time: with ``c`` cores, a load whose server spends ``S`` and whose
client spends ``C`` core-seconds takes at least ``(S + C) / c`` seconds, while the
file-COPY ceiling (no client) takes ``S_ceiling / c``. So the best ratio to the ceiling
any client can reach is ``S_ceiling / (S + C)``. This script measures each term in CPU
seconds (robust to other programs on the machine, unlike wall time):

- ``decode``: reading the Parquet files into Arrow batches, as pgbulk's workers do
  (``read_unit``), in this process, one core;
- ``encode``: the same, then encoding every batch into binary COPY (``encode_batch``);
- ``ceiling-2``: server-side ``COPY t FROM 'file' (FORMAT binary)`` of those bytes in 2
  sessions, into tables created beforehand (the benchmark's ceiling): the server's CPU,
  its backends and background processes included;
- ``ceiling-freeze``: the same files in one session, ``COPY ... FREEZE`` into tables
  truncated in the same transaction (with ``wal_level = minimal`` the rows skip WAL): what
  the server spends when it does the least it can per row;
- ``pgbulk-2``: ``pgbulk.ingest(..., workers=2)``: the server's CPU and the client's
  (this process and its workers).

and prints the bound above for a client that only decodes Parquet (zero-cost encoding
and sending), and for pgbulk as measured.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import pyarrow.parquet as pq

import pgbulk
from benchmarks.ingest_compare import (
    TPCH,
    copy_files,
    create_tables,
    tpchgen,
    write_ceiling_files,
)
from benchmarks.target import BenchServer, machine, open_server, server_cpu
from pgbulk.allocator import keep_freed_memory
from pgbulk.ingestion import mapping
from pgbulk.ingestion.source import open_source, read_unit
from pgbulk.ingestion.worker import encode_batch


@dataclass
class Measure:
    name: str
    rows: int
    wall_s: float
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def per_row_us(self, cpu: float) -> float:
        return cpu / self.rows * 1e6


def client_cpu() -> float:
    """This process's CPU and its reaped children's (pgbulk's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def measured(m: Measure, postmaster_pid: int | None) -> Iterator[Measure]:
    s0 = server_cpu(postmaster_pid) if postmaster_pid else 0.0
    c0 = client_cpu()
    w0 = time.perf_counter()
    yield m
    m.wall_s = time.perf_counter() - w0
    m.client_cpu_s = client_cpu() - c0
    if postmaster_pid:
        m.server_cpu_s = server_cpu(postmaster_pid) - s0


def client_pass(parquet: Path, tables: tuple[str, ...], encode: bool) -> None:
    keep_freed_memory()  # as pgbulk's workers do: each batch reuses the last one's pages
    for t in tables:
        src = open_source(parquet / f"{t}.parquet")
        cols = tuple(src.schema.names)
        kinds = tuple(mapping.pg_type_of(f) for f in src.schema)
        for unit in src.units():
            for _, batch in read_unit(unit, cols):
                if encode:
                    encode_batch(batch, cols, kinds)


def run(
    server: BenchServer, parquet: Path, tables: tuple[str, ...], files_dir: Path
) -> list[Measure]:
    rows = sum(pq.ParquetFile(parquet / f"{t}.parquet").metadata.num_rows for t in tables)
    pid = server.postmaster_pid()
    if pid is None:
        raise SystemExit("this measurement needs the server on this machine (its CPU is read)")
    ceiling = write_ceiling_files(parquet, tables, files_dir)
    work = [(t, p) for t in tables for p in ceiling[t]]
    results: list[Measure] = []

    def in_fresh_db(name: str, body: Callable[[str], None]) -> None:
        with server.fresh_database(f"bench_cpu_{name.replace('-', '_')}") as dsn:
            create_tables(dsn, parquet, tables)
            server.checkpoint()
            m = Measure(name, rows, 0.0)
            with measured(m, pid):
                body(dsn)
            results.append(m)
            print(json.dumps(asdict(m)), flush=True)

    for encode in (False, True):
        m = Measure("encode" if encode else "decode", rows, 0.0)
        with measured(m, None):
            client_pass(parquet, tables, encode)
        results.append(m)
        print(json.dumps(asdict(m)), flush=True)
    in_fresh_db("ceiling-2", lambda dsn: copy_files(dsn, work, 2))
    in_fresh_db("ceiling-freeze", lambda dsn: copy_files(dsn, work, 1, freeze=True))

    def ingest(dsn: str) -> None:
        for t in tables:
            pgbulk.ingest(dsn, t, parquet / f"{t}.parquet", workers=2, if_exists="append")

    in_fresh_db("pgbulk-2", ingest)
    return results


def summary(results: list[Measure], cores: int) -> str:
    by = {m.name: m for m in results}
    ceiling, pgb = by["ceiling-2"], by["pgbulk-2"]
    decode, encode, freeze = by["decode"], by["encode"], by["ceiling-freeze"]
    lines = [
        "| measure | wall s | server CPU s | client CPU s | server core-µs/row | client core-µs/row |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for m in results:
        lines.append(
            f"| {m.name} | {m.wall_s:.2f} | {m.server_cpu_s:.2f} | {m.client_cpu_s:.2f} "
            f"| {m.per_row_us(m.server_cpu_s):.3f} | {m.per_row_us(m.client_cpu_s):.3f} |"
        )
    s = ceiling.server_cpu_s
    lines += [
        "",
        f"rows: {ceiling.rows:,}; cores: {cores}",
        f"bound for a client that only decodes Parquet: {s / (s + decode.client_cpu_s):.2f}x the ceiling",
        f"bound for one that decodes and encodes as pgbulk does: {s / (s + encode.client_cpu_s):.2f}x",
        f"bound if the server wrote frozen rows without WAL ({freeze.server_cpu_s:.2f} s) "
        f"and the client only decoded: {s / (freeze.server_cpu_s + decode.client_cpu_s):.2f}x",
        f"pgbulk-2 by CPU: {s / (pgb.server_cpu_s + pgb.client_cpu_s):.2f}x; "
        f"by wall time: {ceiling.wall_s / pgb.wall_s:.2f}x "
        f"({pgb.wall_s:.2f} s against {ceiling.wall_s:.2f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "pgbulk-tpch")
    p.add_argument("--tables", default="lineitem", help="comma-separated, or 'all'")
    p.add_argument("--dsn")
    p.add_argument("--data-dir", default=".pgbulk-bench")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args(argv)
    tables = TPCH if args.tables == "all" else tuple(args.tables.split(","))
    parquet = tpchgen(args.sf, args.data, "parquet")
    with (
        open_server(args.dsn, args.data_dir) as server,
        tempfile.TemporaryDirectory(prefix="pgbulk-cpu-") as tmp,
    ):
        Path(tmp).chmod(0o755)
        before = machine()
        results = run(server, parquet, tables, Path(tmp) / "bin")
        version = server.version
    text = summary(results, psutil.cpu_count() or 1)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"ingest-cpu-sf{args.sf:g}-{args.tables.replace(',', '-')}"
    (args.out / f"{name}.json").write_text(
        json.dumps(
            {"machine": before, "server": version, "results": [asdict(m) for m in results]},
            indent=2,
        )
    )
    (args.out / f"{name}.md").write_text(
        f"# Ingest CPU per row, TPC-H SF{args.sf:g} {args.tables}, PostgreSQL {version}\n\n"
        + text
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
