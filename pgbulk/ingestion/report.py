"""What an ingest did: rows, bytes, seconds and rows/s per phase, memory. ``--json`` too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgbulk.load.report import PhaseFigures


@dataclass
class IngestReport(PhaseFigures):
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

    def summary(self) -> str:
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
        lines += self.phase_lines(12, 8)
        lines.append(self.traffic_line())
        lines.extend(f"  warning: {w}" for w in self.warnings)
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
