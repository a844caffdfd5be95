"""pgbulk ingest against the other ways to put Parquet into PostgreSQL, one server, one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m benchmarks.ingest_compare --sf 1 [--workload lineitem|all|both]

TPC-H from ``tpchgen-cli`` (Parquet, and CSV for ``psql \\copy``), generated into
``--data`` if missing. Every method loads into tables created beforehand with the same
DDL (pgbulk's Arrow -> PostgreSQL mapping), in a fresh database of its own, so only the
data movement is timed; the server is checkpointed between methods. Methods:

- ``pgbulk-1``, ``pgbulk-2``: ``pgbulk.ingest`` with 1 and 2 workers (wall time of the
  call, and its load phase);
- ``adbc``: ``adbc_driver_postgresql`` ``cursor.adbc_ingest(mode="append")``, file by file;
- ``pgpq``: pgpq's encoder + psycopg ``COPY ... FROM STDIN (FORMAT binary)``;
- ``duckdb``: DuckDB's postgres extension, ``INSERT INTO pg.t SELECT * FROM read_parquet``
  (extension from the ``duckdb-ext-postgres`` wheel, no download);
- ``polars``: ``pl.read_parquet(...).write_database(engine="adbc")``;
- ``pandas``: ``to_sql(method="multi", chunksize=10_000)`` on a sample of
  ``--pandas-rows`` rows per table, extrapolated to the whole table (labelled so);
- ``psql-copy``: ``psql -c "\\copy t FROM file CSV HEADER"``;
- ``ceiling-1``, ``ceiling-2``: server-side ``COPY t FROM 'file' (FORMAT binary)`` of the
  same rows as binary files written beforehand (by pgbulk's encoder), 1 and 2 sessions.

A method that fails (a type it does not take) is reported with its error, not hidden.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

import pgbulk
from benchmarks.target import BenchServer, CpuWatch, machine, open_server
from benchmarks.tpch import TABLES as TPCH
from benchmarks.tpch import tpchgen
from pgbulk.ingestion import mapping
from pgbulk.ingestion.source import open_source, read_unit
from pgbulk.ingestion.worker import encode_batch

METHODS = (
    "ceiling-1",
    "ceiling-2",
    "pgbulk-1",
    "pgbulk-2",
    "adbc",
    "pgpq",
    "duckdb",
    "polars",
    "pandas",
    "psql-copy",
)


@dataclass
class Result:
    method: str
    workload: str
    rows: int
    seconds: float | None = None
    load_seconds: float | None = None  # pgbulk: its load phase alone
    extrapolated_from: int | None = None  # pandas: rows really sent
    other_cores: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float | None:
        s = self.load_seconds or self.seconds
        return self.rows / s if s else None


def uri_of(dsn: str) -> str:
    """A postgresql:// URI for drivers that take only URIs (ADBC), socket directories too."""
    p = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    query = "&".join(
        f"{k}={quote(v)}" for k, v in p.items() if k not in ("dbname",) and v is not None
    )
    return f"postgresql:///{p.get('dbname', 'postgres')}?{query}"


def sqlalchemy_url(dsn: str) -> str:
    return "postgresql+psycopg:" + uri_of(dsn)[len("postgresql:") :]


def create_tables(dsn: str, parquet: Path, tables: tuple[str, ...]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in tables:
            fields = list(pq.read_schema(parquet / f"{t}.parquet"))
            conn.execute(mapping.create_table("public", t, fields))


def count_rows(dsn: str, tables: tuple[str, ...]) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return sum(
            int(
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
                ).fetchone()[0]
            )  # type: ignore[index]
            for t in tables
        )


# --- the methods: each loads ``tables`` from ``parquet`` into ``dsn``'s existing tables ---


def m_pgbulk(workers: int) -> Callable[..., float | None]:
    def run(dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, **_: Any) -> float:
        load = 0.0
        for t in tables:
            report = pgbulk.ingest(
                dsn, t, parquet / f"{t}.parquet", workers=workers, if_exists="append"
            )
            load += report.seconds.get("load", 0.0)
        r.load_seconds = load
        return load

    return run


def m_adbc(dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, **_: Any) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(uri_of(dsn)) as conn:
        for t in tables:
            reader = pq.ParquetFile(parquet / f"{t}.parquet").iter_batches(batch_size=131_072)
            schema = _plain_schema(pq.read_schema(parquet / f"{t}.parquet"))
            stream = pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in reader))
            with conn.cursor() as cur:
                cur.adbc_ingest(t, stream, mode="append")
        conn.commit()
    r.notes.append("string_view cast to string (ADBC does not take views)")


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) else f.type, f.nullable)
            for f in schema
        ]
    )


def m_pgpq(dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, **_: Any) -> None:
    from pgpq import ArrowToPostgresBinaryEncoder

    with psycopg.connect(dsn) as conn:
        for t in tables:
            pf = pq.ParquetFile(parquet / f"{t}.parquet")
            schema = _plain_schema(pf.schema_arrow)
            encoder = ArrowToPostgresBinaryEncoder(schema)
            with (
                conn.cursor() as cur,
                cur.copy(
                    sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(t))
                ) as copy,
            ):
                copy.write(encoder.write_header())
                for batch in pf.iter_batches(batch_size=131_072):
                    copy.write(encoder.write_batch(batch.cast(schema)))
                copy.write(encoder.finish())
        conn.commit()


def m_duckdb(dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, **_: Any) -> None:
    import duckdb

    ext = Path(sys.prefix).glob("lib/python*/site-packages/duckdb_ext/extensions")
    ext_dir = next(iter(ext), None)
    if ext_dir is None:
        raise RuntimeError("duckdb-ext-postgres is not installed (pip install duckdb-ext-postgres)")
    con = duckdb.connect(
        config={"extension_directory": str(ext_dir), "autoinstall_known_extensions": False}
    )
    con.execute("LOAD postgres")
    libpq = " ".join(f"{k}={v}" for k, v in conninfo_to_dict(dsn).items())
    con.execute(f"ATTACH '{libpq}' AS pg (TYPE postgres)")
    for t in tables:
        con.execute(
            f"INSERT INTO pg.public.{t} SELECT * FROM read_parquet('{parquet / (t + '.parquet')}')"
        )
    con.close()


def m_polars(dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, **_: Any) -> None:
    import polars as pl

    for t in tables:
        df = pl.read_parquet(parquet / f"{t}.parquet")
        df.write_database(t, connection=uri_of(dsn), engine="adbc", if_table_exists="append")


def m_pandas(
    dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, *, pandas_rows: int, **_: Any
) -> float:
    """to_sql on the first ``pandas_rows`` rows of each table; seconds scaled to all rows."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy_url(dsn))
    scaled = 0.0
    sent = 0
    for t in tables:
        pf = pq.ParquetFile(parquet / f"{t}.parquet")
        total = pf.metadata.num_rows
        sample = pq.read_table(parquet / f"{t}.parquet").slice(0, pandas_rows)
        df = sample.cast(_plain_schema(sample.schema)).to_pandas()
        started = time.perf_counter()
        # One INSERT may carry at most 65,535 parameters: 10,000 rows of lineitem's 16
        # columns would be 160,000, which the server refuses.
        chunk = min(10_000, 65_535 // len(df.columns))
        # Decimals and dates arrive as Python objects, which SQLAlchemy would bind as text.
        kinds = {
            f.name: sqlalchemy.Numeric(f.type.precision, f.type.scale)
            if pa.types.is_decimal(f.type)
            else sqlalchemy.Date()
            for f in sample.schema
            if pa.types.is_decimal(f.type) or pa.types.is_date(f.type)
        }
        df.to_sql(
            t, engine, if_exists="append", index=False, method="multi", chunksize=chunk, dtype=kinds
        )
        took = time.perf_counter() - started
        scaled += took * total / max(len(df), 1)
        sent += len(df)
    engine.dispose()
    r.extrapolated_from = sent
    r.notes.append(
        f"measured on {sent:,} rows (first {pandas_rows:,} of each table), extrapolated; "
        "chunksize min(10,000, 65,535 // columns): the server's bind-parameter limit"
    )
    return scaled


def m_psql_copy(
    dsn: str, parquet: Path, tables: tuple[str, ...], r: Result, *, csv: Path, psql: str, **_: Any
) -> None:
    for t in tables:
        subprocess.run(
            [
                psql,
                dsn,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                f"\\copy {t} FROM '{csv / (t + '.csv')}' CSV HEADER",
            ],
            check=True,
            capture_output=True,
        )


def write_ceiling_files(parquet: Path, tables: tuple[str, ...], out: Path) -> dict[str, list[Path]]:
    """The rows as binary COPY files, one per batch, made by pgbulk's encoder (not timed)."""
    files: dict[str, list[Path]] = {}
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    for t in tables:
        src = open_source(parquet / f"{t}.parquet")
        cols = tuple(src.schema.names)
        kinds = tuple(mapping.pg_type_of(f) for f in src.schema)
        files[t] = []
        for i, unit in enumerate(src.units()):
            for offset, batch in read_unit(unit, cols):
                path = out / f"{t}-{i:04d}-{offset}.bin"
                path.write_bytes(encode_batch(batch, cols, kinds))
                path.chmod(0o644)
                files[t].append(path)
    return files


def copy_files(
    dsn: str, work: list[tuple[str, Path]], sessions: int, *, freeze: bool = False
) -> None:
    """Server-side ``COPY t FROM 'file' (FORMAT binary)`` of (table, file) pairs over
    ``sessions`` sessions. ``freeze``: each session truncates its tables and copies with
    FREEZE in one transaction (the rows skip the WAL on ``wal_level = minimal``)."""
    errors: list[BaseException] = []
    options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"

    def session(items: list[tuple[str, Path]]) -> None:
        try:
            with psycopg.connect(dsn, autocommit=not freeze) as conn:
                conn.execute("SET synchronous_commit = off")
                if freeze:
                    for t in sorted({t for t, _ in items}):
                        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(t)))
                for t, p in items:
                    conn.execute(
                        sql.SQL("COPY {} FROM {} (" + options + ")").format(
                            sql.Identifier(t), sql.Literal(str(p))
                        )
                    )
                if freeze:
                    conn.commit()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=session, args=(work[s::sessions],)) for s in range(sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


def m_ceiling(sessions: int) -> Callable[..., None]:
    def run(
        dsn: str,
        parquet: Path,
        tables: tuple[str, ...],
        r: Result,
        *,
        ceiling: dict[str, list[Path]],
        **_: Any,
    ) -> None:
        copy_files(dsn, [(t, p) for t in tables for p in ceiling[t]], sessions)

    return run


RUNNERS: dict[str, Callable[..., float | None]] = {
    "ceiling-1": m_ceiling(1),
    "ceiling-2": m_ceiling(2),
    "pgbulk-1": m_pgbulk(1),
    "pgbulk-2": m_pgbulk(2),
    "adbc": m_adbc,
    "pgpq": m_pgpq,
    "duckdb": m_duckdb,
    "polars": m_polars,
    "pandas": m_pandas,
    "psql-copy": m_psql_copy,
}


def measure(
    server: BenchServer,
    method: str,
    workload: str,
    tables: tuple[str, ...],
    parquet: Path,
    **extra: Any,
) -> Result:
    expected = sum(pq.ParquetFile(parquet / f"{t}.parquet").metadata.num_rows for t in tables)
    r = Result(method, workload, expected)
    with server.fresh_database(f"bench_ingest_{method.replace('-', '_')}") as dsn:
        create_tables(dsn, parquet, tables)
        server.checkpoint()
        try:
            with CpuWatch(server.postmaster_pid()) as cpu:
                started = time.perf_counter()
                own = RUNNERS[method](dsn, parquet, tables, r, **extra)
                wall = time.perf_counter() - started
            r.other_cores = round(cpu.other_cores, 2)
            r.seconds = own if (method == "pandas" and own is not None) else wall
            if method.startswith("pgbulk"):
                r.notes.append(f"wall time of the calls {wall:.2f} s (prepare, load, analyze)")
            if method != "pandas":
                found = count_rows(dsn, tables)
                if found != expected:
                    r.error = f"loaded {found:,} rows, expected {expected:,}"
        except Exception as e:  # a peer that cannot do it: say so
            r.error = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    print(line(r), flush=True)
    return r


def line(r: Result) -> str:
    if r.error:
        return f"{r.workload:<9} {r.method:<10} FAILED: {r.error}"
    rate = r.rows_per_second or 0
    load = f" (load phase {r.load_seconds:.2f} s)" if r.load_seconds else ""
    extra = " extrapolated" if r.extrapolated_from else ""
    return (
        f"{r.workload:<9} {r.method:<10} {r.seconds:8.2f} s{load}  {rate / 1e6:6.2f}M rows/s{extra}"
        f"  (other programs: {r.other_cores} cores)"
    )


def table_md(results: list[Result]) -> str:
    out = []
    for workload in dict.fromkeys(r.workload for r in results):
        rows = [r for r in results if r.workload == workload]
        ceiling = next((r for r in rows if r.method == "ceiling-2" and not r.error), None)
        out.append(f"\n**{workload}** ({rows[0].rows:,} rows)\n")
        out.append("| method | seconds | rows/s | vs ceiling-2 | notes |")
        out.append("|---|---|---|---|---|")
        for r in rows:
            if r.error:
                out.append(f"| {r.method} | failed | | | {r.error} |")
                continue
            s = r.load_seconds or r.seconds or 0
            vs = f"{ceiling.seconds / s:.2f}x" if ceiling and ceiling.seconds and s else ""
            shown = f"{s:.2f}" + (f" (call {r.seconds:.2f})" if r.load_seconds else "")
            notes = "; ".join(r.notes)
            out.append(
                f"| {r.method} | {shown} | {(r.rows_per_second or 0) / 1e6:.2f}M | {vs} | {notes} |"
            )
    return "\n".join(out)


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r.workload for r in results))
    fig, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 4), squeeze=False)
    for ax, w in zip(axes[0], workloads, strict=True):
        rows = [r for r in results if r.workload == w and not r.error]
        names = [r.method + (" *" if r.extrapolated_from else "") for r in rows]
        rates = [(r.rows_per_second or 0) / 1e6 for r in rows]
        colors = [
            "#2a6"
            if r.method.startswith("pgbulk")
            else "#888"
            if r.method.startswith("ceiling")
            else "#48c"
            for r in rows
        ]
        ax.barh(names[::-1], rates[::-1], color=colors[::-1])
        ax.set_xlabel("M rows/s (higher is better)")
        ax.set_title(f"TPC-H {w}")
    fig.suptitle("Parquet -> PostgreSQL, one server, one run (* extrapolated from a sample)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "pgbulk-tpch")
    p.add_argument("--workload", choices=["lineitem", "all", "both"], default="both")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--pandas-rows", type=int, default=20_000)
    p.add_argument("--dsn")
    p.add_argument("--data-dir", default=".pgbulk-bench")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    parquet = tpchgen(args.sf, args.data, "parquet")
    csv = tpchgen(args.sf, args.data, "csv") if "psql-copy" in methods else None
    workloads = {"lineitem": ("lineitem",), "all": TPCH}
    chosen = ["lineitem", "all"] if args.workload == "both" else [args.workload]
    results: list[Result] = []
    with (
        open_server(args.dsn, args.data_dir) as server,
        tempfile.TemporaryDirectory(prefix="pgbulk-ceiling-") as tmp,
    ):
        os.chmod(tmp, 0o755)
        psql = (
            str(server.embedded.bin / "psql")
            if server.embedded
            else (shutil.which("psql") or "psql")
        )
        ceiling = (
            write_ceiling_files(parquet, TPCH, Path(tmp) / "bin")
            if any(m.startswith("ceiling") for m in methods)
            else {}
        )
        before = machine()
        for w in chosen:
            for m in methods:
                results.append(
                    measure(
                        server, m, w, workloads[w], parquet,
                        csv=csv, psql=psql, ceiling=ceiling, pandas_rows=args.pandas_rows,
                    )
                )  # fmt: skip
        settings = server.settings()
        version = server.version
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"ingest-sf{args.sf:g}"
    (args.out / f"{name}.json").write_text(
        json.dumps(
            {
                "sf": args.sf,
                "machine": before,
                "server": version,
                "settings": settings,
                "results": [asdict(r) | {"rows_per_second": r.rows_per_second} for r in results],
            },
            indent=2,
        )
    )
    md = f"# pgbulk ingest vs peers, TPC-H SF{args.sf:g}, PostgreSQL {version}\n" + table_md(
        results
    )
    (args.out / f"{name}.md").write_text(md + "\n")
    with contextlib.suppress(ImportError):
        chart(results, args.out / f"{name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
