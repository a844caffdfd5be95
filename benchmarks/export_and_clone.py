"""Parquet export against load, and a database cloned from a template against a fresh load.

    python -m benchmarks.export_and_clone --users 100k [--chunk-users 25k] [--workers 2]
        [--clones 5] [--dsn DSN] [--json FILE]

One server, one run, the same dataset throughout:

1. ``load`` into a fresh database: rows/s of the COPY phase, and the whole load
   (constraints and ANALYZE included);
2. ``export_parquet`` of the same dataset with the same number of workers: rows/s;
3. the test template of that dataset built from scratch (a load, then VACUUM FREEZE),
   then ``--clones`` clones of it per ``CREATE DATABASE`` strategy, each dropped after.

Figures from a machine that other work shares are not final: the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.target import DEFAULT_DATA_DIR, BenchServer, machine, open_server
from pgbulk import testing
from pgbulk.cli.options import parse_count
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.export import export_parquet
from pgbulk.load import load

STRATEGIES: tuple[testing.CloneStrategy, ...] = ("wal_log", "file_copy")


def run(
    server: BenchServer, users: int, seed: int, workers: int, clones: int, chunk_users: int
) -> dict[str, Any]:
    spec = ContactsSpec(chunk_users=chunk_users)
    model = dataset(spec)
    result: dict[str, Any] = {
        "users": users,
        "chunk_users": chunk_users,
        "seed": seed,
        "workers": workers,
        "clones": clones,
        "server": server.version,
        "machine": machine(),
    }

    server.checkpoint()
    with server.fresh_database("bench_export_and_clone") as dsn:
        loaded = load(dsn, users=users, seed=seed, workers=workers, spec=spec)
    result["load"] = {
        "rows": loaded.rows_loaded,
        "copy_seconds": loaded.seconds["load"],
        "copy_rows_per_second": loaded.load_rows_per_second,
        "total_seconds": loaded.seconds["total"],
        "database_bytes": loaded.database_size_bytes,
    }

    with tempfile.TemporaryDirectory(prefix="pgbulk-bench-export-") as out:
        exported = export_parquet(out, users=users, seed=seed, spec=spec, workers=workers)
    result["export"] = {
        "rows": exported.total_rows,
        "seconds": exported.seconds,
        "rows_per_second": exported.rows_per_second,
        "bytes": sum(exported.bytes.values()),
    }

    server.checkpoint()
    testing.drop_database(server.dsn, testing.template_name(model, seed, users))
    template = testing.ensure_template(
        server.dsn, dataset=model, scale=users, seed=seed, workers=workers
    )
    result["template_build_seconds"] = template.seconds
    try:
        result["clone"] = {s: _clone_times(server, template.name, s, clones) for s in STRATEGIES}
    finally:
        testing.drop_database(server.dsn, template.name)
    return result


def _clone_times(
    server: BenchServer, template: str, strategy: testing.CloneStrategy, clones: int
) -> dict[str, float]:
    create, drop = [], []
    for _ in range(clones):
        server.checkpoint()  # each clone starts from the same clean server
        started = time.perf_counter()
        name = testing.clone(server.dsn, template, strategy=strategy)
        create.append(time.perf_counter() - started)
        started = time.perf_counter()
        testing.drop_database(server.dsn, name)
        drop.append(time.perf_counter() - started)
    return {
        "median_seconds": statistics.median(create),
        "min_seconds": min(create),
        "max_seconds": max(create),
        "median_drop_seconds": statistics.median(drop),
    }


def summary(result: dict[str, Any]) -> str:
    load, export = result["load"], result["export"]
    fresh = load["total_seconds"]
    lines = [
        f"pgbulk export and clone: {result['users']:,} users in chunks of "
        f"{result['chunk_users']:,}, {result['workers']} workers, "
        f"PostgreSQL {result['server']}, load average {result['machine']['load_average']}",
        f"  {'load, COPY phase':<34}{load['copy_seconds']:>8.2f} s"
        f"{load['copy_rows_per_second'] / 1e6:>8.2f}M rows/s",
        f"  {'load, whole (fresh database)':<34}{fresh:>8.2f} s"
        f"  database {(load['database_bytes'] or 0) / 2**20:,.0f} MiB",
        f"  {'export parquet (zstd)':<34}{export['seconds']:>8.2f} s"
        f"{export['rows_per_second'] / 1e6:>8.2f}M rows/s  {export['bytes'] / 2**20:,.0f} MiB",
        f"  {'template build (load + freeze)':<34}{result['template_build_seconds']:>8.2f} s",
    ]
    for strategy, times in result["clone"].items():
        label = f"clone from template, {strategy}"
        lines.append(
            f"  {label:<34}{times['median_seconds']:>8.2f} s  median of "
            f"{result['clones']}, {fresh / times['median_seconds']:,.1f}x "
            f"faster than a fresh load (drop {times['median_drop_seconds']:.2f} s)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=parse_count, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--chunk-users",
        type=parse_count,
        default=ContactsSpec.chunk_users,
        help="users per chunk: with fewer chunks than workers, the extra workers idle",
    )
    parser.add_argument("--clones", type=int, default=5, help="clones per strategy (median)")
    parser.add_argument("--dsn", help="a server to use instead of the embedded one")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="embedded server directory")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with open_server(args.dsn, args.data_dir) as server:
        result = run(server, args.users, args.seed, args.workers, args.clones, args.chunk_users)
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
