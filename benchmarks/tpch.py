"""TPC-H in PostgreSQL for ``spec import``: ingest tpchgen-cli's Parquet, add the keys and
foreign keys of the TPC-H specification (section 1.4.2), ANALYZE. Shared by
benchmarks/catalog_import.py and tests/integration/test_catalog_import.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

import pgbulk

TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")

#: TPC-H's primary keys and foreign keys (clause 1.4.2.2-1.4.2.3), with lineitem's part and
#: supplier as the specification's composite reference to partsupp.
KEYS = (
    "ALTER TABLE region ADD PRIMARY KEY (r_regionkey)",
    "ALTER TABLE nation ADD PRIMARY KEY (n_nationkey)",
    "ALTER TABLE supplier ADD PRIMARY KEY (s_suppkey)",
    "ALTER TABLE customer ADD PRIMARY KEY (c_custkey)",
    "ALTER TABLE part ADD PRIMARY KEY (p_partkey)",
    "ALTER TABLE partsupp ADD PRIMARY KEY (ps_partkey, ps_suppkey)",
    "ALTER TABLE orders ADD PRIMARY KEY (o_orderkey)",
    "ALTER TABLE lineitem ADD PRIMARY KEY (l_orderkey, l_linenumber)",
    "ALTER TABLE nation ADD FOREIGN KEY (n_regionkey) REFERENCES region",
    "ALTER TABLE supplier ADD FOREIGN KEY (s_nationkey) REFERENCES nation",
    "ALTER TABLE customer ADD FOREIGN KEY (c_nationkey) REFERENCES nation",
    "ALTER TABLE partsupp ADD FOREIGN KEY (ps_partkey) REFERENCES part",
    "ALTER TABLE partsupp ADD FOREIGN KEY (ps_suppkey) REFERENCES supplier",
    "ALTER TABLE orders ADD FOREIGN KEY (o_custkey) REFERENCES customer",
    "ALTER TABLE lineitem ADD FOREIGN KEY (l_orderkey) REFERENCES orders ON DELETE CASCADE",
    "ALTER TABLE lineitem ADD FOREIGN KEY (l_partkey, l_suppkey) REFERENCES partsupp",
)


def tpchgen(sf: float, out: Path, fmt: str = "parquet") -> Path:
    """tpchgen-cli's files (``parquet`` or ``csv``) of scale factor ``sf`` under ``out``,
    made once."""
    target = out / f"sf{sf:g}-{fmt}"
    if (target / f"lineitem.{fmt}").exists():
        return target
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    subprocess.run([exe, fmt, "-s", str(sf), f"--output-dir={target}"], check=True)
    return target


def load_tpch(dsn: str, parquet: Path, *, workers: int = 2) -> None:
    """The eight tables ingested, their keys added, ANALYZEd."""
    for table in TABLES:
        pgbulk.ingest(dsn, table, str(parquet / f"{table}.parquet"), create=True, workers=workers)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in KEYS:
            conn.execute(statement)
        conn.execute("ANALYZE")


def keys_hold(dsn: str) -> list[str]:
    """The declared keys and foreign keys of every table: all are VALIDATED constraints
    (created after the load, so PostgreSQL checked every row): their names."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype IN ('p', 'u', 'f') AND connamespace = 'public'::regnamespace"
            " AND convalidated ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]
