"""pgbulk at growing sizes: seconds per phase, rows/s and peak memory of all its processes.

    python -m benchmarks.scaling --sizes 100k,1M [--include-10m] [--dsn DSN]

Each size is a ``pgbulk load --json`` in its own process (so the memory measured is
pgbulk's alone) into a fresh database. Writes ``scaling.{json,md,png}`` under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.methods import Context, run_pgbulk
from benchmarks.target import DEFAULT_DATA_DIR, CpuWatch, busy, machine, open_server
from pgbulk import dsn as dsns
from pgbulk.cli.options import parse_count

MEMORY_LIMIT = 2**30  # issue 3: under 1 GiB...
MEMORY_GROWTH = 1.10  # ...and not growing from 1M to 10M users (10% for sampling noise)


@dataclass
class Point:
    users: int
    rows: dict[str, int]
    seconds: dict[str, float]
    peak_memory_bytes: int
    database_size_bytes: int | None
    step_seconds: dict[str, float] = field(default_factory=dict)
    other_cores: float | None = None  # CPU other processes used meanwhile (see target.CpuWatch)
    steal_cores: float | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def load_rate(self) -> float:
        return self.total_rows / self.seconds["load"] if self.seconds.get("load") else 0.0


@dataclass
class Scaling:
    workers: int
    seed: int
    server: dict[str, Any]
    machine_before: dict[str, Any]
    load_average_after: list[float] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    started_at: str = ""

    @property
    def busy(self) -> bool:
        return busy(self.machine_before["load_average"][0], [p.other_cores for p in self.points])

    def memory_checks(self) -> list[tuple[str, bool]]:
        """Peak memory under 1 GiB at each size, and flat from 1M users up."""
        found = [
            (
                f"{p.users:,} users: peak {p.peak_memory_bytes / 2**20:,.0f} MiB < 1024 MiB",
                p.peak_memory_bytes < MEMORY_LIMIT,
            )
            for p in self.points
        ]
        large = [p for p in self.points if p.users >= 1_000_000]
        if len(large) >= 2:
            growth = large[-1].peak_memory_bytes / large[0].peak_memory_bytes
            found.append(
                (
                    f"{large[0].users:,} -> {large[-1].users:,} users: peak memory x{growth:.2f}",
                    growth <= MEMORY_GROWTH,
                )
            )
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaling:
        """Back from ``to_dict()`` (derived keys dropped), to render a saved run again."""
        kept = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}
        names = {f.name for f in fields(Point)}
        kept["points"] = [
            Point(**{k: v for k, v in p.items() if k in names}) for p in data["points"]
        ]
        return cls(**kept)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["busy"] = self.busy
        for point, out in zip(self.points, data["points"], strict=True):
            out["load_rows_per_second"] = round(point.load_rate)
        data["memory_checks"] = [{"what": w, "passed": ok} for w, ok in self.memory_checks()]
        return data


def run(args: argparse.Namespace) -> Scaling:
    with open_server(args.dsn, args.data_dir, args.pg_bin) as server:
        ctx = Context(seed=args.seed)
        scaling = Scaling(
            workers=args.workers,
            seed=args.seed,
            server={
                "target": dsns.redact(server.dsn),
                "embedded": server.embedded is not None,
                "version": server.version,
                "settings": server.settings(),
            },
            machine_before=machine(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        server_pid = server.postmaster_pid()
        for users in args.sizes:
            print(
                f"pgbulk load, {users:,} users, {args.workers} workers ...",
                file=sys.stderr,
                flush=True,
            )
            server.checkpoint()
            started = time.perf_counter()
            with (
                CpuWatch(server_pid) as watch,
                server.fresh_database("pgbulk_bench_scaling") as dsn,
            ):
                outcome = run_pgbulk(ctx, dsn, users, workers=args.workers)
            point = Point(
                users,
                outcome.rows,
                outcome.seconds,
                outcome.peak_memory_bytes or 0,
                outcome.database_size_bytes,
                outcome.step_seconds,
                watch.other_cores,
                watch.steal_cores,
            )
            scaling.points.append(point)
            print(
                f"    {report.point_summary(point)} ({time.perf_counter() - started:.0f} s with set-up)",
                file=sys.stderr,
                flush=True,
            )
        scaling.load_average_after = [round(x, 2) for x in os.getloadavg()]
    return scaling


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [parse_count(x) for x in s.split(",") if x.strip()],
        default=[100_000, 1_000_000],
        help="comma-separated users (default 100k,1M)",
    )
    parser.add_argument(
        "--include-10m", action="store_true", help="add 10M users (about 7.5 GB on disk)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dsn", help="the server to use (default: the embedded server in --data-dir)"
    )
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="embedded server directory")
    parser.add_argument(
        "--pg-bin", help="PostgreSQL bin directory for the embedded server (default: the wheel)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results", help="results directory"
    )
    args = parser.parse_args(argv)
    if args.include_10m and 10_000_000 not in args.sizes:
        args.sizes.append(10_000_000)
    args.sizes = sorted(set(args.sizes))
    args.dsn = args.dsn or os.environ.get("PGBULK_DSN")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scaling = run(args)
    print(report.scaling_markdown(scaling))
    written = report.write_scaling(scaling, args.out)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
