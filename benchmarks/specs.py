"""Spec datasets side by side with their peers, one server, one run.

    python -m benchmarks.specs pgbench --scale 100        # pgbulk --spec pgbench vs pgbench -i
    python -m benchmarks.specs shop --customers 1000000 --rounds 3  # generation rows/s per core vs Faker, mimesis
    python -m benchmarks.specs memory --spec shop --scales 20000,200000
    python -m benchmarks.specs ceiling --spec shop --scale 200000   # load phase vs file COPY

``pgbench``: ``pgbulk load --spec pgbench --scale S`` (a process of its own, 2 workers)
against ``pgbench -i -s S`` with client-side generation (``-I dtgvp``, its default) and
server-side generation (``-I dtGvp``), each in a fresh database of the same server.
pgbench's ``v`` step is VACUUM (plus ANALYZE); pgbulk's last step is ANALYZE alone. On a
server on this machine, a fourth line is the floor of any generator: the same rows as
binary files (written beforehand, not timed) that the server COPYs itself over 2
sessions, then pgbulk's keys and ANALYZE; each line also gives the server's CPU seconds.
With ``c`` cores no load can take less than its server CPU / ``c``: when the floor's
server CPU exceeds ``c`` x half of pgbench's time, loading twice as fast as pgbench is
out of reach of any client.

``shop``: rows per second of one core making the shop spec's six tables as COPY bytes
(pgbulk), against Faker and mimesis making the same tables row by row in Python and
writing them as COPY text (the way a Faker loader feeds ``psycopg`` ``copy.write``),
alternating over rounds; pgbulk runs each round in a fresh process, one-off costs
(imports, vocabularies, the heap's growth) included, as in a load worker. Needs the ``bench`` extra (``pip install -e '.[bench]'``).

``memory``: the peak memory of ``pgbulk load --spec ... --json`` at two scales.
Figures are printed as Markdown and written to ``benchmarks/results/specs-*.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.target import DEFAULT_DATA_DIR, CpuTimeline, machine, open_server, server_cpu
from pgbulk.chunks import Rows
from pgbulk.spec import load_spec

RESULTS = Path(__file__).parent / "results"
_TOTAL = re.compile(r"done in (\d+\.\d+) s")


def _pgbulk_load(
    dsn: str, spec: str, scale: int, workers: int = 2, *, server_pid: int | None = None
) -> dict[str, Any]:
    """``pgbulk load --spec`` in a process of its own. With the server's ``server_pid``
    (a server on this machine), ``load_cpu_seconds`` is what the server and pgbulk's
    processes spent during the load phase."""
    cmd = [sys.executable, "-m", "pgbulk.cli", "load", "--spec", spec, "--scale", str(scale)]
    cmd += ["--workers", str(workers), "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PGBULK_DSN": dsn},
    )
    with CpuTimeline(server_pid, proc.pid, every=0.1) as timeline:
        stdout, stderr = proc.communicate()
        ended = time.perf_counter()
    wall = ended - started
    if proc.returncode != 0:
        raise SystemExit(f"pgbulk load failed: {stderr.strip()}")
    report: dict[str, Any] = json.loads(stdout)
    report["wall_seconds"] = wall
    if server_pid is not None:
        server, client = timeline.load_phases(ended, report["seconds"])["load"]
        took = float(report["seconds"]["load"])
        report["load_cpu_seconds"] = {"server": server * took, "pgbulk": client * took}
    return report


def _libpq_env(dsn: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
    }
    return {**os.environ, **{v: str(info[k]) for k, v in names.items() if info.get(k) is not None}}


def _pgbench_init(pgbench: Path, dsn: str, scale: int, steps: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(pgbench), "-i", "-q", "-s", str(scale), "-I", steps],
        capture_output=True,
        text=True,
        env=_libpq_env(dsn),
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pgbench -i failed: {done.stderr.strip()[-400:]}")
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("done in")), "")
    m = _TOTAL.match(line)
    return {"total": float(m.group(1)) if m else wall, "wall_seconds": wall, "steps": line}


def bench_pgbench(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"scale": args.scale, "methods": {}}
    with open_server(args.dsn, args.data_dir) as server:
        pgbench = server.pgbench()
        if pgbench is None:
            raise SystemExit("no pgbench binary found")
        out["server"] = server.version
        floor: FloorFiles | None = None
        runs: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
            (
                "pgbulk --spec pgbench (2 workers)",
                lambda dsn: _pgbulk_load(dsn, "pgbench", args.scale),
            ),
            (
                "pgbench -i (client-side, -I dtgvp)",
                lambda dsn: _pgbench_init(pgbench, dsn, args.scale, "dtgvp"),
            ),
            (
                "pgbench -i (server-side, -I dtGvp)",
                lambda dsn: _pgbench_init(pgbench, dsn, args.scale, "dtGvp"),
            ),
        ]
        if server.postmaster_pid() is not None:  # the server reads the files: same machine
            floor = FloorFiles("pgbench", args.scale)
            runs.append(("floor: file COPY (2 sessions) + pgbulk's keys and ANALYZE", floor.run))
            frozen = floor
            runs.append(
                (
                    "floor: file COPY FREEZE (whole tables over 2 sessions) + keys and ANALYZE",
                    lambda dsn: frozen.run(dsn, freeze=True),
                )
            )
        try:
            for name, run in runs:
                server.checkpoint()
                with server.fresh_database("pgbulk_bench_spec") as dsn:
                    pid = server.postmaster_pid()
                    cpu_before = server_cpu(pid) if pid else None
                    result = run(dsn)
                    if pid and cpu_before is not None:
                        result["server_cpu_seconds"] = server_cpu(pid) - cpu_before
                out["methods"][name] = result
                total = result.get("seconds", {}).get("total", result.get("total"))
                cpu = result.get("server_cpu_seconds")
                shown = f", server CPU {cpu:.2f} s" if cpu is not None else ""
                print(
                    f"{name}: {total:.2f} s (wall {result['wall_seconds']:.2f} s{shown})",
                    flush=True,
                )
        finally:
            if floor is not None:
                floor.remove()
    return out


class FloorFiles:
    """The least any generator can take: the rows as binary files the server COPYs itself.

    Generation costs nothing here (the files are written beforehand, not timed); what is
    timed is the server reading them over 2 sessions, then pgbulk's own post-load steps
    (keys, ANALYZE) over 2 connections, as ``pgbulk load`` runs them.
    """

    def __init__(self, spec: str, scale: int) -> None:
        from benchmarks.ceiling import write_files

        self.dataset = load_spec(spec)
        self.scale = scale
        self.files = write_files(Rows(self.dataset, scale, seed=0))

    def run(self, dsn: str, *, freeze: bool = False) -> dict[str, Any]:
        """``freeze``: each table created and COPYed FREEZE in one transaction (under
        wal_level=minimal, without WAL), whole tables over the 2 sessions; else into
        tables made beforehand, every table's files split over the 2 sessions."""
        from benchmarks.ceiling import copy_from_files
        from pgbulk import constraints, ddl
        from pgbulk import dsn as dsns
        from pgbulk.estimate import expected_rows

        started = time.perf_counter()
        if not freeze:
            with dsns.connect(dsn, autocommit=True) as conn:
                for t in self.dataset.tables:
                    conn.execute(ddl.create_table(t))
        load = copy_from_files(dsn, self.files, sessions=2, freeze=freeze)
        settings = {"synchronous_commit": "off", "max_parallel_maintenance_workers": "0"}
        keys_started = time.perf_counter()
        steps = ddl.post_load(self.dataset, expected_rows(self.dataset, self.scale))
        constraints.run_steps(dsn, "public", steps, jobs=2, settings=settings)
        keys = time.perf_counter() - keys_started
        analyze_started = time.perf_counter()
        constraints.run_steps(dsn, "public", ddl.analyze(self.dataset), jobs=3, settings=settings)
        analyze = time.perf_counter() - analyze_started
        wall = time.perf_counter() - started
        seconds = {"load": load, "constraints": keys, "analyze": analyze, "total": wall}
        return {"seconds": seconds, "wall_seconds": wall}

    def remove(self) -> None:
        self.files.remove()


# ---------------------------------------------------------------------- shop vs Faker, mimesis

STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
METHODS = ["card", "paypal", "bank_transfer", "gift_card"]


def pgbulk_shop(customers: int) -> tuple[int, float]:
    dataset = load_spec("shop")
    rows = Rows(dataset, customers, seed=0)
    started = time.process_time()
    made = 0
    for chunk in rows:
        for t in chunk.tables:
            if chunk.rows(t.name):
                chunk.copy_buffer(t.name)
                made += chunk.rows(t.name)
    return made, time.process_time() - started


def _copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in r))
        buf.write("\n")
    return buf.getvalue().encode()


def python_shop(customers: int, fake: Any, kind: str) -> tuple[int, float]:
    """The shop tables row by row with Faker or mimesis, written as COPY text."""
    rng = np.random.default_rng(0)
    started = time.process_time()
    made = 0
    if kind == "faker":
        first, last, city, country, word = (
            fake.first_name,
            fake.last_name,
            fake.city,
            fake.country,
            fake.word,
        )
        moment = lambda: fake.date_time_between("-2y", "now")  # noqa: E731
        ident = fake.uuid4
        phone = fake.msisdn
    else:
        from mimesis import Address, Cryptographic, Datetime, Person, Text

        person, address, when, text, crypto = (
            Person(),
            Address(),
            Datetime(),
            Text(),
            Cryptographic(),
        )
        first, last, city, country, word = (
            person.first_name,
            person.last_name,
            address.city,
            address.country,
            text.word,
        )
        moment = when.datetime
        ident = crypto.uuid
        phone = person.telephone
    products = [
        (
            i,
            f"SKU{i:07d}",
            f"{word()} {word()} {word()}",
            "books",
            round(float(rng.lognormal(3, 0.8)), 2),
            moment(),
        )
        for i in range(1, 10_001)
    ]
    _copy_text(products)
    made += len(products)
    order_id = 0
    out: dict[str, list[tuple[Any, ...]]] = {
        t: [] for t in ("customers", "addresses", "orders", "order_items", "payments")
    }
    for c in range(1, customers + 1):
        out["customers"].append(
            (
                c,
                ident(),
                first(),
                last(),
                f"customer{c}@example.com",
                phone(),
                "active",
                moment(),
                None,
            )
        )
        for _ in range(int(rng.choice([1, 2, 3], p=[0.7, 0.25, 0.05]))):
            out["addresses"].append(
                (ident(), c, "home", city(), country(), f"{int(rng.integers(10000, 99999))}")
            )
        for _ in range(int(rng.poisson(3))):
            order_id += 1
            out["orders"].append(
                (order_id, c, STATUSES[int(rng.integers(6))], moment(), moment(), None)
            )
            for line in range(1, int(rng.integers(1, 4)) + 1):
                p = products[int(rng.integers(len(products)))]
                quantity = int(rng.integers(1, 5))
                total = round(p[4] * quantity, 2)  # shop's line_total (expr)
                out["order_items"].append((order_id, line, p[0], quantity, p[4], total))
            out["payments"].append(
                (
                    ident(),
                    order_id,
                    METHODS[int(rng.integers(4))],
                    round(float(rng.uniform(1, 500)), 2),
                    moment(),
                    True,
                )
            )
    for rows in out.values():
        _copy_text(rows)
        made += len(rows)
    return made, time.process_time() - started


def _pgbulk_shop_cold(customers: int) -> tuple[int, float]:
    """pgbulk_shop in a fresh process, as a load worker makes its share: imports, the
    vocabularies and the heap's first growth count, as they do in a load."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from benchmarks.specs import pgbulk_shop; print(*pgbulk_shop({customers}))",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    made, cpu = done.stdout.split()
    return int(made), float(cpu)


def bench_shop(args: argparse.Namespace) -> dict[str, Any]:
    """Rows per CPU second making the shop tables: pgbulk (a fresh process per round), then
    Faker and mimesis row by row, alternating over the rounds; medians and the per-round
    ratio to Faker."""
    from faker import Faker

    fake = Faker()
    runs: dict[str, list[dict[str, Any]]] = {"pgbulk": [], "faker": [], "mimesis": []}
    for round_ in range(1, args.rounds + 1):
        for name, make in (
            ("pgbulk", lambda: _pgbulk_shop_cold(args.customers)),
            ("faker", lambda: python_shop(args.python_customers, fake, "faker")),
            ("mimesis", lambda: python_shop(args.python_customers, None, "mimesis")),
        ):
            made, cpu = make()
            runs[name].append({"rows": made, "cpu_seconds": cpu, "rows_per_s": made / cpu})
            print(
                f"round {round_} {name}: {made:,} rows, {cpu:.2f} CPU s, {made / cpu:,.0f} rows/s per core",
                flush=True,
            )
    ratios = [
        p["rows_per_s"] / f["rows_per_s"]
        for p, f in zip(runs["pgbulk"], runs["faker"], strict=True)
    ]
    results: dict[str, Any] = {
        "customers": args.customers,
        "python_customers": args.python_customers,
        "runs": runs,
        "median_rows_per_s": {
            k: statistics.median(r["rows_per_s"] for r in v) for k, v in runs.items()
        },
        "pgbulk_over_faker_per_round": ratios,
        "pgbulk_over_faker_median": statistics.median(ratios),
    }
    for name, rate in results["median_rows_per_s"].items():
        print(f"{name}: median {rate:,.0f} rows/s per core", flush=True)
    print(
        f"pgbulk / Faker per core, median of the rounds: {results['pgbulk_over_faker_median']:.0f}x"
    )
    return results


def bench_memory(args: argparse.Namespace) -> dict[str, Any]:
    scales = [int(s) for s in args.scales.split(",")]
    out: dict[str, Any] = {"spec": args.spec, "points": []}
    with open_server(args.dsn, args.data_dir) as server:
        for scale in scales:
            server.checkpoint()
            with server.fresh_database("pgbulk_bench_spec") as dsn:
                report = _pgbulk_load(dsn, args.spec, scale)
            point = {
                "scale": scale,
                "rows": sum(report["rows"].values()),
                "peak_memory_bytes": report["peak_memory_bytes"],
                "seconds": report["seconds"],
                "estimated_disk_bytes": report["estimated_disk_bytes"],
                "database_size_bytes": report["database_size_bytes"],
            }
            out["points"].append(point)
            print(
                f"{args.spec} scale {scale:,}: {point['rows']:,} rows, peak memory {point['peak_memory_bytes'] / 2**20:,.0f} MiB, total {report['seconds']['total']:.1f} s, estimated {report['estimated_disk_bytes'] / 2**20:,.0f} MiB, measured {report['database_size_bytes'] / 2**20:,.0f} MiB",
                flush=True,
            )
    peaks = [p["peak_memory_bytes"] for p in out["points"]]
    out["growth"] = peaks[-1] / peaks[0]
    print(f"memory growth {scales[0]:,} -> {scales[-1]:,}: x{out['growth']:.3f}")
    return out


def bench_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    """pgbulk's load phase against the server reading the same rows from binary COPY files."""
    from benchmarks.ceiling import copy_from_files, write_files
    from pgbulk import ddl
    from pgbulk import dsn as dsns

    dataset = load_spec(args.spec)
    out: dict[str, Any] = {"spec": args.spec, "scale": args.scale}
    with open_server(args.dsn, args.data_dir) as server:
        pid = server.postmaster_pid()

        def server_seconds(run: Callable[[], float]) -> tuple[float, float | None]:
            before = server_cpu(pid) if pid else None
            took = run()
            return took, None if before is None or not pid else server_cpu(pid) - before

        server.checkpoint()
        with server.fresh_database("pgbulk_bench_spec") as dsn:
            report = _pgbulk_load(dsn, args.spec, args.scale, server_pid=pid)
        out["pgbulk_load_seconds"] = report["seconds"]["load"]
        out["pgbulk_load_cpu_seconds"] = report.get("load_cpu_seconds")
        out["rows"] = sum(report["rows"].values())
        files = write_files(Rows(dataset, args.scale, seed=0))
        try:
            server.checkpoint()
            with server.fresh_database("pgbulk_bench_spec") as dsn:
                with dsns.connect(dsn, autocommit=True) as conn:
                    for t in dataset.tables:
                        conn.execute(ddl.create_table(t))
                out["file_copy_seconds"], out["file_copy_server_cpu_seconds"] = server_seconds(
                    lambda: copy_from_files(dsn, files, sessions=2)
                )
            # The same, each table created and copied FREEZE in one transaction (under
            # wal_level=minimal, no WAL), whole tables over the 2 sessions: the ceiling
            # of a fresh load, which is what pgbulk's frozen writers do.
            server.checkpoint()
            with server.fresh_database("pgbulk_bench_spec") as dsn:
                out["file_copy_frozen_seconds"], out["file_copy_frozen_server_cpu_seconds"] = (
                    server_seconds(lambda: copy_from_files(dsn, files, sessions=2, freeze=True))
                )
        finally:
            files.remove()
    out["ratio"] = out["file_copy_seconds"] / out["pgbulk_load_seconds"]
    out["ratio_frozen"] = out["file_copy_frozen_seconds"] / out["pgbulk_load_seconds"]
    print(
        f"{args.spec} scale {args.scale:,} ({out['rows']:,} rows): pgbulk load phase "
        f"{out['pgbulk_load_seconds']:.2f} s; server file COPY (2 sessions) "
        f"{out['file_copy_seconds']:.2f} s: pgbulk at {out['ratio']:.2f}x that ceiling; "
        f"the same frozen, whole tables over 2 sessions, {out['file_copy_frozen_seconds']:.2f} s: "
        f"{out['ratio_frozen']:.2f}x",
        flush=True,
    )
    cpu = out["pgbulk_load_cpu_seconds"]
    if cpu is not None and out["file_copy_server_cpu_seconds"] is not None:
        # On c cores a load takes at least the CPU it needs / c: the best ratio any
        # client that spends pgbulk's CPU could reach against the ceiling.
        cores = os.cpu_count() or 1
        least = (cpu["server"] + cpu["pgbulk"]) / cores
        out["least_load_seconds"] = least
        out["best_ratio"] = out["file_copy_seconds"] / least
        print(
            f"CPU s: pgbulk's load phase server {cpu['server']:.2f} + pgbulk {cpu['pgbulk']:.2f}; "
            f"file COPY server {out['file_copy_server_cpu_seconds']:.2f}, frozen "
            f"{out['file_copy_frozen_server_cpu_seconds']:.2f}. On {cores} cores pgbulk's "
            f"load phase needs at least {least:.2f} s: at best {out['best_ratio']:.2f}x the "
            "file-COPY ceiling",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pgbench")
    p.add_argument("--scale", type=int, default=100)
    s = sub.add_parser("shop")
    s.add_argument("--customers", type=int, default=1_000_000)
    s.add_argument("--python-customers", type=int, default=2_000)
    s.add_argument("--rounds", type=int, default=3)
    m = sub.add_parser("memory")
    m.add_argument("--spec", default="shop")
    m.add_argument("--scales", default="20000,200000")
    c = sub.add_parser("ceiling")
    c.add_argument("--spec", default="shop")
    c.add_argument("--scale", type=int, default=200_000)
    args = parser.parse_args(argv)
    run = {
        "pgbench": bench_pgbench,
        "shop": bench_shop,
        "memory": bench_memory,
        "ceiling": bench_ceiling,
    }[args.what]
    result = {
        "what": args.what,
        "argv": sys.argv,
        "at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "result": run(args),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"specs-{args.what}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
