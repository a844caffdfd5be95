"""Where the server's backends spend a command's time: its wait events, sampled.

    .venv/bin/python -m benchmarks.wait_events --dsn DSN [--interval 0.05] -- \\
        .venv/bin/pgbulk load --dsn DSN --users 10M --if-exists replace -q

Runs the command and meanwhile reads ``pg_stat_activity`` every ``--interval`` seconds
on a connection of its own. For each ``application_name`` (or backend type, for a
backend without one) it prints how long it had a backend active and, over those samples,
the mean number of its backends in each state: ``CPU`` (no wait event) or the event it
waits on (``IO:DataFileExtend``: writing a file's new pages; ``IO:DataFileImmediateSync``:
the fsync at commit of a relation written without WAL; ``Lock:...``, ``Client:...``).

Why: when a phase keeps fewer cores busy than it has connections, this says whether the
connections sat waiting (for a lock, the client, the disk), which leaves time to win by
scheduling, or worked all along. An ``IO`` event is time inside a system call: on a
machine where new page-cache pages are dear (``benchmarks.first_touch``), a write's is
mostly the kernel's CPU, an fsync's mostly waiting for the disk.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence

import psycopg

#: One sample: (who, state) for each active backend at that instant.
Sample = list[tuple[str, str]]

_ACTIVE = """
SELECT coalesce(nullif(application_name, ''), backend_type),
       coalesce(wait_event_type || ':' || wait_event, 'CPU')
  FROM pg_stat_activity
 WHERE state = 'active' AND pid <> pg_backend_pid()
"""


def _samples_with(samples: Sequence[Sample]) -> Counter[str]:
    """Per ``who``, the number of samples in which it had a backend active."""
    return Counter(who for sample in samples for who in {who for who, _ in sample})


def mean_backends(samples: Sequence[Sample]) -> dict[tuple[str, str], float]:
    """Per (who, state), the mean number of backends in it over the samples in which
    ``who`` had any backend active: a phase's own picture, not diluted by the others."""
    present = _samples_with(samples)
    counts = Counter(pair for sample in samples for pair in sample)
    return {key: n / present[key[0]] for key, n in counts.most_common()}


def active_share(samples: Sequence[Sample]) -> dict[str, float]:
    """Per ``who``, the share of all the samples in which it had a backend active."""
    return {who: n / len(samples) for who, n in _samples_with(samples).most_common()}


def table(samples: Sequence[Sample], seconds: float) -> Iterable[str]:
    """One block per ``who``: how long it was active, then its mean backends per state."""
    yield f"{len(samples)} samples over {seconds:.1f} s"
    means = mean_backends(samples)
    for who, share in active_share(samples).items():
        states = {state: m for (w, state), m in means.items() if w == who}
        yield f"{who}: active {share * seconds:.1f} s, {sum(states.values()):.2f} backends on average"
        for state, mean in states.items():
            yield f"  {mean:6.3f}  {state}"


class Sampler(threading.Thread):
    """Reads the active backends every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, dsn: str, interval: float) -> None:
        super().__init__(name="wait-events", daemon=True)
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="wait_events")
        self.interval = interval
        self.samples: list[Sample] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        with self.conn:
            while not self._stopping.is_set():
                rows = self.conn.execute(_ACTIVE).fetchall()
                self.samples.append([(str(who), str(state)) for who, state in rows])
                self._stopping.wait(self.interval)

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def sample_while(
    dsn: str, command: Sequence[str], interval: float
) -> tuple[int, list[Sample], float]:
    """Run ``command``, sampling meanwhile: its exit status, the samples, its seconds."""
    sampler = Sampler(dsn, interval)
    started = time.perf_counter()
    sampler.start()
    try:
        status = subprocess.run(command, check=False).returncode
    finally:
        sampler.stop()
    return status, sampler.samples, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dsn", required=True, help="the server the command works on")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command to run after --")
    if not args.interval > 0:
        p.error("--interval must be more than 0")
    try:
        status, samples, seconds = sample_while(args.dsn, command, args.interval)
    except psycopg.OperationalError as e:
        p.error(f"cannot reach the server: {' '.join(str(e).split())}")
    except FileNotFoundError:
        p.error(f"no such command: {command[0]}")
    for line in table(samples, seconds):
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
