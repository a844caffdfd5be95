"""Change events per second through the whole chain, with real parts only.

    python -m benchmarks.events_chain --events 5000 [--concurrency 8] [--relays 1] [--batch 2000]
                                     [--per-request 250] [--dsn DSN] [--json]

PostgreSQL (the embedded server in a temporary directory, or ``--dsn``) with the
capture triggers -> ``pgbulk relay`` -> the events function (Node.js, 127.0.0.1) ->
the Pub/Sub emulator (Java). One UPDATE of ``--events`` users writes that many
events, one per row, so several relays can share them. The rate counts from the
first claim to the last event acknowledged by Pub/Sub (the function answers 200 only
then); the subscription is pulled afterwards to check every event arrived.

Also printed: what capture costs the writer, as the same UPDATE timed without and
with the triggers. Figures from a machine that other work shares are not final: the
load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.target import BenchServer, machine, open_server
from pgbulk import events
from pgbulk.cli.options import parse_count
from pgbulk.events import Relay, RelayReport, Secret
from pgbulk.load import load
from tests.integration.events.chain import (
    EventsFunction,
    PubSubEmulator,
    build_function,
    missing_part,
)

SECRET = "bench-events-secret"


def _timed_update(dsn: str, suffix: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM users")  # each run starts from the same clean table
        started = time.perf_counter()
        conn.execute("UPDATE users SET name = name || %s", (suffix,))
        return time.perf_counter() - started


def _relay_all(
    dsn: str, url: str, relays: int, batch: int, concurrency: int, per_request: int
) -> tuple[float, list[RelayReport]]:
    runners = [
        Relay(
            dsn,
            url,
            Secret(SECRET.encode()),
            batch_size=batch,
            concurrency=concurrency,
            per_request=per_request,
        )
        for _ in range(relays)
    ]
    reports: list[RelayReport] = []
    threads = [
        threading.Thread(target=lambda r=r: reports.append(r.run(once=True))) for r in runners
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, reports


def _cpu_seconds() -> float:
    """CPU time of this process: the relays, since nothing else runs here meanwhile."""
    return time.process_time()


def run(
    server: BenchServer,
    n_events: int,
    relays: int,
    batch: int,
    concurrency: int,
    logs: Path,
    per_request: int = 250,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "events": n_events,
        "relays": relays,
        "concurrency": concurrency,
        "batch": batch,
        "per_request": per_request,
        "server": server.version,
        "machine": machine(),
    }
    build_function()
    emulator = PubSubEmulator(logs / "emulator.log")
    function = EventsFunction(
        emulator_host=emulator.host, topic="bench-events", secret=SECRET, log=logs / "function.log"
    )
    try:
        emulator.start()
        emulator.create_topic("bench-events")
        emulator.create_subscription("bench-events-sub", "bench-events")
        function.start()
        with server.fresh_database("bench_events") as dsn:
            load(dsn, users=n_events, seed=0, workers=1)
            plain = _timed_update(dsn, ".")
            events.install(dsn)
            # Warm-up: the function creates its Pub/Sub client on the first publish.
            with psycopg.connect(dsn) as conn:
                conn.execute("UPDATE users SET name = name WHERE name LIKE 'User 1.'")
            _relay_all(dsn, function.url, 1, batch, 1, per_request)
            emulator.pull_until("bench-events-sub", 1)

            captured = _timed_update(dsn, "!")
            cpu = _cpu_seconds()
            seconds, reports = _relay_all(
                dsn, function.url, relays, batch, concurrency, per_request
            )
            cpu = _cpu_seconds() - cpu
            delivered = sum(r.delivered for r in reports)
            messages = emulator.pull_until("bench-events-sub", n_events, timeout=120)
            status = events.status(dsn)
    finally:
        function.stop()
        emulator.stop()
    result["capture"] = {"update_seconds_without": plain, "update_seconds_with": captured}
    result["delivery"] = {
        "seconds": seconds,
        "delivered": delivered,
        "events_per_second": delivered / seconds,
        "relay_cpu_seconds": cpu,
        "failed_attempts": sum(r.failed_attempts for r in reports),
        "requests": sum(r.requests for r in reports),
        "parked": status.parked,
        "pending": status.pending,
    }
    result["subscription"] = {
        "messages": len(messages),
        "distinct_event_ids": len({m.attributes["event_id"] for m in messages}),
    }
    return result


def summary(r: dict[str, Any]) -> str:
    c, d, s, m = r["capture"], r["delivery"], r["subscription"], r["machine"]
    return "\n".join(
        [
            f"events chain: {r['events']:,} events, {r['relays']} relay(s) x {r['concurrency']} "
            f"requests in flight, batch {r['batch']}, {r.get('per_request', 1)} events per "
            "request, "
            f"PostgreSQL {r['server']}",
            f"  capture   UPDATE of {r['events']:,} rows: {c['update_seconds_without']:.3f} s "
            f"without triggers, {c['update_seconds_with']:.3f} s with",
            f"  delivery  {d['delivered']:,} events in {d['seconds']:.2f} s = "
            f"{d['events_per_second']:,.0f} events/s (DB -> relay -> function -> Pub/Sub ack); "
            f"{d['failed_attempts']} retries, {d['parked']} parked, {d['pending']} left; "
            f"relay CPU {d['relay_cpu_seconds']:.1f} s",
            f"  pulled    {s['messages']:,} messages, {s['distinct_event_ids']:,} distinct event ids",
            f"  machine   {m['cpus']} cpus, load average {m['load_average']} (shared: not final)",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.events_chain", description=__doc__)
    parser.add_argument("--events", type=parse_count, default=5_000)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per relay")
    parser.add_argument("--relays", type=int, default=1, help="relays sharing the outbox")
    parser.add_argument("--batch", type=int, default=2000, help="events leased per pass")
    parser.add_argument("--per-request", type=int, default=250, help="events per HTTP request")
    parser.add_argument("--dsn", help="a server to use instead of a temporary embedded one")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    reason = missing_part()
    if reason:
        sys.exit(f"cannot run the chain here: {reason}")
    with (
        tempfile.TemporaryDirectory(prefix="pgbulk-bench-events-") as tmp,
        open_server(args.dsn, data_dir=Path(tmp) / "pg") as server,
    ):
        result = run(
            server,
            args.events,
            args.relays,
            args.batch,
            args.concurrency,
            Path(tmp),
            args.per_request,
        )
    print(json.dumps(result, indent=2) if args.json else summary(result))


if __name__ == "__main__":
    main()
