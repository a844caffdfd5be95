"""The server a benchmark runs against, and the machine it runs on.

By default pgbulk's embedded server in its own data directory (``.pgbulk-bench``,
started if needed and stopped again if this run started it); with ``--dsn``, any
server. Every method loads into a database of its own, created fresh and dropped
after, so no method inherits another's tables, dead pages or statistics.
"""

from __future__ import annotations

import itertools
import os
import platform
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

import pgbulk
from pgbulk import dsn as dsns
from pgbulk.server import EmbeddedServer, wheel_bin_dir

DEFAULT_DATA_DIR = ".pgbulk-bench"
#: The phases of a ``pgbulk load --json`` report, in the order they run.
LOAD_PHASES = ("prepare", "load", "constraints", "analyze")

# A run is "busy", its figures not final, when the machine was loaded before it began
# or other processes took this much CPU, in cores, during any measurement.
BUSY_LOAD_AVERAGE = 0.5
BUSY_OTHER_CORES = 0.2
DEBIAN_BIN = Path("/usr/lib/postgresql")

# Server settings worth printing next to the figures: they decide most of them.
REPORTED_SETTINGS = (
    "shared_buffers",
    "maintenance_work_mem",
    "max_parallel_maintenance_workers",
    "max_wal_size",
    "wal_level",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "lc_collate",
)


@dataclass
class BenchServer:
    """A server to create scratch databases on. ``dsn`` names any database we may connect to."""

    dsn: str
    embedded: EmbeddedServer | None = None

    @property
    def version(self) -> str:
        with dsns.connect(self.dsn, autocommit=True) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0].split()[0])

    def settings(self) -> dict[str, str]:
        with dsns.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                (list(REPORTED_SETTINGS),),
            ).fetchall()
            collate = conn.execute(
                "SELECT datcollate FROM pg_database WHERE datname = current_database()"
            ).fetchone()
        found = {str(k): str(v) for k, v in rows}
        if collate:
            found["lc_collate"] = str(collate[0])
        return found

    def pgbench(self) -> Path | None:
        """The server's own pgbench: the embedded server's, else Debian's for its major, else PATH's."""
        candidates: list[Path | None] = []
        if self.embedded is not None:
            candidates.append(self.embedded.bin / "pgbench")
        candidates.append(DEBIAN_BIN / str(self.major) / "bin" / "pgbench")
        wheel = wheel_bin_dir()
        if wheel is not None and self.major == 18:
            candidates.append(wheel / "pgbench")
        found = shutil.which("pgbench")
        candidates.append(Path(found) if found else None)
        return next((c for c in candidates if c is not None and c.exists()), None)

    @contextmanager
    def fresh_database(self, name: str, *, keep: bool = False) -> Iterator[str]:
        """A new empty database, dropped afterwards (unless ``keep``); yields its DSN."""
        ident = sql.Identifier(name)
        with dsns.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        try:
            yield dsns.with_dbname(self.dsn, name)
        finally:
            if not keep:
                with dsns.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))

    def postmaster_pid(self) -> int | None:
        """The server's main process, when it runs on this machine (else None)."""
        if self.embedded is not None:
            return self.embedded.status().pid
        with dsns.connect(self.dsn, autocommit=True) as conn:
            backend = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
            with suppress(psutil.Error):
                parent = psutil.Process(backend).parent()
                if parent is not None and parent.name().startswith("postgres"):
                    return parent.pid
        return None

    def checkpoint(self) -> None:
        """Write out the previous method's dirty pages so the next one does not pay for them."""
        with (
            dsns.connect(self.dsn, autocommit=True) as conn,
            suppress(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("CHECKPOINT")


@contextmanager
def open_server(
    dsn: str | None, data_dir: str | Path = DEFAULT_DATA_DIR, pg_bin: str | Path | None = None
) -> Iterator[BenchServer]:
    """The server given by ``dsn``, else the embedded one (stopped at the end if we started it)."""
    if dsn:
        dsns.check(dsn)
        yield BenchServer(dsn)
        return
    server = EmbeddedServer(data_dir, pg_bin=pg_bin)
    was_running = server.status().running
    server.start()
    try:
        yield BenchServer(server.dsn("postgres"), server)
    finally:
        if not was_running:
            server.stop()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pgbulk": pgbulk.__version__,
        "commit": _git_commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _git_commit() -> str | None:
    with suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    return None


class CpuWatch:
    """CPU that other programs took on this machine during a measurement.

    The machines are shared: a figure measured while another program ran is not a
    figure of the method. ``other_cores`` is the CPU time of every user-space process
    outside this run and its server (their ended children included, through the parent
    that reaps them), plus the time the hypervisor stole for other guests, over the
    wall time. Kernel threads are left out: they mostly work for our own I/O.
    """

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.other_cores = 0.0
        self.steal_cores = 0.0

    def __enter__(self) -> CpuWatch:
        self._wall = time.perf_counter()
        self._steal = _steal()
        self._others = self._foreign_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        steal = _steal() - self._steal
        now = self._foreign_cpu()
        # A process that ended shows up again, whole, in its parent's children time:
        # take off what it had used before the measurement.
        used = sum(cpu - self._others.get(key, 0.0) for key, cpu in now.items())
        used -= sum(cpu for key, cpu in self._others.items() if key not in now)
        if wall > 0:
            self.steal_cores = steal / wall
            self.other_cores = max(0.0, used) / wall + self.steal_cores

    def _ours(self) -> set[int]:
        roots = [psutil.Process()]
        with suppress(psutil.Error):
            if self.server_pid:
                roots.append(psutil.Process(self.server_pid))
        pids: set[int] = set()
        for root in roots:
            with suppress(psutil.Error):
                pids.update(p.pid for p in [root, *root.children(recursive=True)])
        return pids

    def _foreign_cpu(self) -> dict[tuple[int, float], float]:
        """CPU seconds of every other user-space process, by (pid, start time)."""
        ours = self._ours()
        found: dict[tuple[int, float], float] = {}
        for proc in psutil.process_iter(["ppid", "create_time", "cpu_times"]):
            info = proc.info
            t = info.get("cpu_times")
            if (
                proc.pid in ours
                or proc.pid == _KTHREADD
                or info.get("ppid") == _KTHREADD
                or t is None
            ):
                continue
            found[proc.pid, info["create_time"]] = (
                t.user + t.system + t.children_user + t.children_system
            )
        return found


_KTHREADD = 2  # the parent of every kernel thread on Linux


def _steal() -> float:
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


def busy(load_average_before: float, other_cores: Sequence[float | None]) -> bool:
    during = [c for c in other_cores if c is not None]
    return load_average_before > BUSY_LOAD_AVERAGE or max(during, default=0.0) > BUSY_OTHER_CORES


def _process_cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def server_cpu(postmaster_pid: int) -> float:
    """The server's CPU seconds so far: the postmaster, its live children, and the reaped ones.

    A backend that exits is reaped by the postmaster, and its whole time moves into the
    postmaster's children time: a difference of two readings counts it once.
    """
    root = psutil.Process(postmaster_pid)
    total = _process_cpu(root)
    for child in root.children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:  # ended between the listing and the reading
            pass
    return total


class CpuTimeline:
    """The CPU seconds of the server and of a client process tree, sampled in a thread.

    ``cores(t0, t1)`` is what each used between two instants of ``time.perf_counter()``
    (linear between samples): the share of the machine's cores a phase kept busy, which
    wall times alone do not show.
    """

    def __init__(self, server_pid: int | None, client_pid: int, every: float = 0.2) -> None:
        self.server_pid, self.client_pid, self.every = server_pid, client_pid, every
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        server = client = 0.0
        with suppress(psutil.Error):
            server = server_cpu(self.server_pid) if self.server_pid else 0.0
        with suppress(psutil.Error):
            client = server_cpu(self.client_pid)
        if self.samples:
            # Neither can go back: the client may have exited meanwhile, and a backend
            # that just ended is in no reading until the postmaster reaps it (its whole
            # time then comes back at once, in the postmaster's children time).
            server = max(server, self.samples[-1][1])
            client = max(client, self.samples[-1][2])
        self.samples.append((time.perf_counter(), server, client))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> CpuTimeline:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _at(self, t: float) -> tuple[float, float]:
        samples = self.samples
        if not samples:
            return 0.0, 0.0
        if t <= samples[0][0]:
            return samples[0][1], samples[0][2]
        for (t0, s0, c0), (t1, s1, c1) in itertools.pairwise(samples):
            if t0 <= t <= t1:
                f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                return s0 + f * (s1 - s0), c0 + f * (c1 - c0)
        return samples[-1][1], samples[-1][2]

    def cores(self, t0: float, t1: float) -> tuple[float, float]:
        """(server, client) cores used on average between ``t0`` and ``t1``."""
        if t1 <= t0:
            return 0.0, 0.0
        (s0, c0), (s1, c1) = self._at(t0), self._at(t1)
        return (s1 - s0) / (t1 - t0), (c1 - c0) / (t1 - t0)

    def load_phases(
        self, ended: float, seconds: Mapping[str, float]
    ) -> dict[str, tuple[float, float]]:
        """(server, client) cores of each phase of a ``pgbulk load --json`` report, the
        client having exited at ``ended``: the phases ran one after the other and ended
        with the process (the report's total is its ``load()`` call)."""
        at = ended - float(seconds["total"])
        cores = {}
        for phase in LOAD_PHASES:
            took = float(seconds.get(phase, 0.0))
            cores[phase] = self.cores(at, at + took)
            at += took
        return cores
