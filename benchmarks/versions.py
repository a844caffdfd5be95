"""Two versions of pgbulk side by side: the same load, alternating, into one server.

    git worktree add /tmp/pgbulk-0.1.0 v0.1.0-commit
    python -m benchmarks.versions --baseline /tmp/pgbulk-0.1.0 --dsn "$(pgbulk server dsn)" \\
        --users 1M --rounds 5
    python -m benchmarks.versions --baseline ... --dsn ... --spec pgbench --scale 100

Each version loads into a database of its own (``bench_base`` / ``bench_this``, created
if missing: their ledgers may differ) with ``--if-exists replace``; the order alternates
round by round, and the figures are medians of the per-round ratios (this tree over the
baseline), which is what is comparable on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from pgbulk.dsn import with_dbname

THIS = Path(__file__).resolve().parents[1]
FIGURES = ("load", "constraints", "total", "peak_memory")


def _database(dsn: str, name: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(dsn, name)


def _load(tree: Path, dsn: str, size: list[str], workers: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "pgbulk.cli", "load", "--dsn", dsn, *size]
    cmd += ["--workers", str(workers), "--if-exists", "replace", "--json"]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{tree}: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    seconds = report["seconds"]
    return {
        "load": seconds["load"],
        "constraints": seconds.get("constraints", 0.0),
        "total": seconds["total"],
        "peak_memory": report.get("peak_memory_bytes", 0) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--baseline", type=Path, required=True, help="a checkout of the other version"
    )
    parser.add_argument("--dsn", required=True, help="a server where databases can be created")
    parser.add_argument("--users", default="1M")
    parser.add_argument("--spec", help="load this spec instead of contacts (with --scale)")
    parser.add_argument("--scale", default="100")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": THIS}
    dsns = {
        "baseline": _database(args.dsn, "bench_base"),
        "this": _database(args.dsn, "bench_this"),
    }
    size = ["--spec", args.spec, "--scale", args.scale] if args.spec else ["--users", args.users]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
            got = _load(trees[name], dsns[name], size, args.workers)
            runs[name].append(got)
            shown = "  ".join(f"{k} {v:.2f}" for k, v in got.items())
            print(f"round {r} {name:<8} {shown}", flush=True)
    print(
        f"\n{'':<12}{'baseline':>10}{'this':>10}{'ratio':>8}  (medians; ratio: of per-round ratios)"
    )
    for k in FIGURES:
        base = statistics.median(x[k] for x in runs["baseline"])
        this = statistics.median(x[k] for x in runs["this"])
        ratio = statistics.median(
            t[k] / b[k] for t, b in zip(runs["this"], runs["baseline"], strict=True) if b[k]
        )
        print(f"{k:<12}{base:>10.2f}{this:>10.2f}{ratio:>8.3f}")


if __name__ == "__main__":
    main()
