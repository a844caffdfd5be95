"""What a load did: rows per table, seconds and rows/s per phase, bytes, memory. ``--json`` too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


class PhaseFigures:
    """What the reports of ``load`` and ``ingest`` share: seconds per phase, rows/s of the
    load phase, bytes sent, workers and memory, and their JSON. A mixin of methods only;
    each report is a dataclass holding the fields these read."""

    rows_loaded: int
    seconds: dict[str, float]
    step_seconds: dict[str, float]
    bytes_sent: int
    workers: int
    peak_memory_bytes: int
    retries: int

    @property
    def load_rows_per_second(self) -> float:
        seconds = self.seconds.get("load", 0.0)
        return self.rows_loaded / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]  # every report is a dataclass
        data["load_rows_per_second"] = round(self.load_rows_per_second)
        data["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        data["step_seconds"] = {k: round(v, 3) for k, v in self.step_seconds.items()}
        if "step_cpu_seconds" in data:
            data["step_cpu_seconds"] = {k: round(v, 3) for k, v in data["step_cpu_seconds"].items()}
        return dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def phase_lines(self, width: int, digits: int) -> list[str]:
        """One line per phase that ran: name padded to ``width``, seconds in ``digits`` places."""
        lines = []
        for phase in ("prepare", "load", "constraints", "analyze", "total"):
            if phase in self.seconds:
                extra = (
                    f"  {self.load_rows_per_second / 1e6:.2f}M rows/s" if phase == "load" else ""
                )
                lines.append(f"  {phase:<{width}}{self.seconds[phase]:>{digits}.2f} s{extra}")
        return lines

    def traffic_line(self) -> str:
        mib = 2**20
        return (
            f"  sent {self.bytes_sent / mib:,.0f} MiB with {self.workers} worker(s); "
            f"peak memory of pgbulk processes {self.peak_memory_bytes / mib:,.0f} MiB"
            + (f"; {self.retries} retries" if self.retries else "")
        )


@dataclass
class LoadReport(PhaseFigures):
    """What a load did. ``to_dict()`` is the ``--json`` output."""

    target: str
    schema: str
    server_version: str
    dataset: dict[str, Any]  # its definition, as the ledger records it
    seed: int
    scale: int
    workers: int
    shard: str | None
    state: str
    tables: list[str] = field(default_factory=list)  # the dataset's, in model order
    rows: dict[str, int] = field(default_factory=dict)
    chunks_total: int = 0
    chunks_loaded: int = 0
    chunks_already_loaded: int = 0
    rows_loaded: int = 0
    bytes_sent: int = 0
    retries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of each constraint step's backend, when the server is on this machine
    step_cpu_seconds: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    estimated_rows: int = 0
    estimated_disk_bytes: int = 0
    database_size_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        name = self.dataset.get("dataset", "?")
        width = max([14, *(len(t) + 2 for t in self.tables)])
        lines = [
            f"pgbulk load: {self.state} — {self.target}, schema {self.schema} (PostgreSQL {self.server_version})",
            f"  dataset   {name} seed={self.seed} scale={self.scale:,} "
            f"chunks {self.chunks_loaded} loaded now, {self.chunks_already_loaded} already there, "
            f"of {self.chunks_total}" + (f" (shard {self.shard})" if self.shard else ""),
        ]
        for table in self.tables:
            if table in self.rows:
                lines.append(f"  {table:<{width}}{self.rows[table]:>14,} rows")
        lines.append(f"  {'total':<{width}}{sum(self.rows.values()):>14,} rows")
        lines += self.phase_lines(width, 10)
        lines.append(self.traffic_line())
        if self.database_size_bytes is not None:
            lines.append(
                f"  database size {self.database_size_bytes / 2**30:.2f} GiB"
                f" (estimated {self.estimated_disk_bytes / 2**30:.2f} GiB for the dataset)"
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
