"""What an ingest did: rows, bytes, seconds and rows/s per phase, memory. ``--json`` too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class IngestReport:
    """What an ingest did. ``to_dict()`` is the ``--json`` output."""

    target: str
    schema: str
    table: str
    server_version: str
    source: dict[str, Any]
    source_id: str
    workers: int
    state: str
    created: bool = False
    columns: list[str] = field(default_factory=list)
    units_total: int | None = None
    units_loaded: int = 0
    units_already_loaded: int = 0
    rows_loaded: int = 0
    rows: int = 0  # rows of this source recorded in the ledger (this run and earlier ones)
    bytes_sent: int = 0
    retries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_units: list[str] = field(default_factory=list)

    @property
    def load_rows_per_second(self) -> float:
        seconds = self.seconds.get("load", 0.0)
        return self.rows_loaded / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["load_rows_per_second"] = round(self.load_rows_per_second)
        data["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        data["step_seconds"] = {k: round(v, 3) for k, v in self.step_seconds.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        mib = 2**20
        kind = self.source.get("kind", "?")
        files = f", {self.source['files']} file(s)" if "files" in self.source else ""
        total = "?" if self.units_total is None else f"{self.units_total}"
        lines = [
            f"pgbulk ingest: {self.state} — {self.target}, {self.schema}.{self.table} "
            f"(PostgreSQL {self.server_version})" + (", created" if self.created else ""),
            f"  source    {kind}{files}; units {self.units_loaded} loaded now, "
            f"{self.units_already_loaded} already there, of {total}",
            f"  rows      {self.rows_loaded:,} loaded now, {self.rows:,} of this source in all",
        ]
        for phase in ("prepare", "load", "constraints", "analyze", "total"):
            if phase in self.seconds:
                extra = (
                    f"  {self.load_rows_per_second / 1e6:.2f}M rows/s" if phase == "load" else ""
                )
                lines.append(f"  {phase:<12}{self.seconds[phase]:>8.2f} s{extra}")
        lines.append(
            f"  sent {self.bytes_sent / mib:,.0f} MiB with {self.workers} worker(s); "
            f"peak memory of pgbulk processes {self.peak_memory_bytes / mib:,.0f} MiB"
            + (f"; {self.retries} retries" if self.retries else "")
        )
        lines.extend(f"  warning: {w}" for w in self.warnings)
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
