"""Measure the loader's choices side by side, on one server in one run.

    python -m benchmarks.load_choices --users 1M [--dsn DSN] [--out benchmarks/results]

Load phase: workers 1/2/3 and chunk sizes 50k/100k/200k (each into a fresh database).
Constraints phase: connections 1/2/3 x max_parallel_maintenance_workers 0/2, each on
the same loaded tables after one warm-up build (the first scan of freshly loaded pages
sets their hint bits; that cost is the same whatever is chosen, and is reported apart).
Prints a Markdown table and writes it, with JSON, to --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgbulk import constraints, ddl
from pgbulk.cli.options import parse_count
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.dsn import with_dbname
from pgbulk.estimate import expected_rows
from pgbulk.load import load
from pgbulk.model import Dataset
from pgbulk.target import embedded_dsn


def drop_statements(model: Dataset) -> list[sql.Composed]:
    """Drop every constraint and index the load built: foreign keys before the keys they use."""
    found = ddl.expected(model)
    statements = []
    for e in [e for e in found if e.kind == "f"] + [e for e in found if e.kind != "f"]:
        if e.kind == "i":
            statements.append(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(e.name)))
        else:
            statements.append(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                    sql.Identifier(e.table), sql.Identifier(e.name)
                )
            )
    return statements


def fresh_database(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def load_variants(admin_dsn: str, users: int) -> list[dict[str, Any]]:
    rows = []
    for workers, chunk_users in [
        (1, 100_000),
        (2, 100_000),
        (3, 100_000),
        (2, 50_000),
        (2, 200_000),
    ]:
        dsn = fresh_database(admin_dsn, "pgbulk_choices")
        report = load(dsn, users=users, workers=workers, spec=ContactsSpec(chunk_users=chunk_users))
        rows.append(
            {
                "variant": f"workers={workers} chunk_users={chunk_users:,}",
                "load_s": report.seconds["load"],
                "rows_per_s": report.load_rows_per_second,
                "constraints_s": report.seconds["constraints"],
                "peak_mib": report.peak_memory_bytes / 2**20,
            }
        )
        print(rows[-1], flush=True)
    drop_database(admin_dsn, "pgbulk_choices")
    return rows


def build(dsn: str, users: int, jobs: int, parallel: int) -> float:
    model = dataset()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in drop_statements(model):
            conn.execute(statement)
    started = time.perf_counter()
    constraints.run_steps(
        dsn,
        "public",
        ddl.post_load(model, expected_rows(model, users)),
        jobs=jobs,
        settings={"maintenance_work_mem": "1GB", "max_parallel_maintenance_workers": str(parallel)},
    )
    return time.perf_counter() - started


def constraint_variants(admin_dsn: str, users: int) -> tuple[float, list[dict[str, Any]]]:
    dsn = fresh_database(admin_dsn, "pgbulk_choices")
    report = load(dsn, users=users, workers=2)
    first = report.seconds["constraints"]
    rows = []
    for jobs, parallel in [(1, 2), (1, 0), (2, 2), (2, 0), (3, 2), (3, 0), (2, 2)]:
        seconds = build(dsn, users, jobs, parallel)
        rows.append(
            {
                "variant": f"connections={jobs} max_parallel_maintenance_workers={parallel}",
                "constraints_s": seconds,
            }
        )
        print(rows[-1], flush=True)
    drop_database(admin_dsn, "pgbulk_choices")
    return first, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1M")
    parser.add_argument("--dsn", help="maintenance database of the server (default: embedded)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    users = parse_count(args.users)
    admin = args.dsn or with_dbname(embedded_dsn(), "postgres")
    loads = load_variants(admin, users)
    first, builds = constraint_variants(admin, users)
    lines = [
        f"# Loader choices at {users:,} users",
        "",
        "| load variant | load s | rows/s | constraints s | peak MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['variant']} | {r['load_s']:.2f} | {r['rows_per_s'] / 1e6:.2f}M | {r['constraints_s']:.2f} "
        f"| {r['peak_mib']:.0f} |"
        for r in loads
    ]
    lines += [
        "",
        f"First build after the load (default choice, includes setting hint bits): {first:.2f} s",
        "",
        "| constraints variant (warm pages) | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {r['variant']} | {r['constraints_s']:.2f} |" for r in builds]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load_choices.md").write_text(text)
    (out / "load_choices.json").write_text(
        json.dumps(
            {"users": users, "load": loads, "first_build_s": first, "constraints": builds}, indent=2
        )
    )


if __name__ == "__main__":
    main()
