"""``pgbulk analyze``: run the analysis queries of ``pgbulk/sql/analysis`` and show them.

The queries are plain SQL files, usable from psql as they are (``SET search_path`` to
the target schema first). Each file's first comment line is its title. The original
project's four queries are there (live rows, database size, sizes of all databases,
emails per user), with the phones per user, exact counts, table and index sizes per
row, column statistics and the pgbulk ledger's record of the dataset.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgbulk import dsn as dsns
from pgbulk import ledger
from pgbulk.datasets import TABLES
from pgbulk.errors import PgbulkError
from pgbulk.generate import truncated_zipf_pmf
from pgbulk.spec import ContactsSpec
from pgbulk.verify import resolve_target

#: Queries that read the ledger, skipped when the database has no pgbulk schema.
_NEEDS_LEDGER = {"pgbulk_dataset"}
#: Histograms of children per user, shown with the share the dataset's law expects.
HISTOGRAMS = {"emails_per_user": "emails", "phones_per_user": "phone_numbers"}


@dataclass(frozen=True)
class Query:
    name: str  # the file name without its order prefix and suffix, e.g. "emails_per_user"
    title: str
    sql: str


@dataclass
class Result:
    name: str
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def to_text(self) -> str:
        return format_table(self.columns, self.rows)


@dataclass
class Analysis:
    target: str
    schema: str
    spec: ContactsSpec | None  # the loaded dataset's spec, when the ledger has it
    results: list[Result] = field(default_factory=list)

    def __getitem__(self, name: str) -> Result:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_text(self) -> str:
        parts = [f"pgbulk analyze: schema {self.schema} on {self.target}"]
        for r in self.results:
            parts.append(f"\n{r.title}\n{r.to_text()}")
        return "\n".join(parts)


def queries() -> list[Query]:
    """The analysis queries, in the order of their file names."""
    folder = resources.files("pgbulk") / "sql" / "analysis"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text(encoding="utf-8")
        name = re.sub(r"^\d+_", "", entry.name.removesuffix(".sql"))
        title = text.splitlines()[0].removeprefix("--").strip()
        found.append(Query(name, title, text))
    return found


def analyze(
    dsn: str | None = None,
    schema_name: str = "public",
    *,
    data_dir: str | Path = ".pgbulk",
    pg_bin: str | Path | None = None,
) -> Analysis:
    """Run every analysis query against ``schema_name``."""
    target = resolve_target(dsn, data_dir, pg_bin)
    with dsns.connect(target, autocommit=True) as conn:
        _require_tables(conn, schema_name)
        record = ledger.read(conn, schema_name)
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema_name)))
        analysis = Analysis(dsns.redact(target), schema_name, record.spec if record else None)
        for query in queries():
            if query.name in _NEEDS_LEDGER and record is None:
                continue
            cur = conn.execute(query.sql.encode())
            columns = [d.name for d in cur.description or ()]
            analysis.results.append(Result(query.name, query.title, columns, cur.fetchall()))
    if analysis.spec is not None:
        for name in HISTOGRAMS:
            _add_expected(analysis[name], analysis.spec)
    return analysis


def _require_tables(conn: psycopg.Connection, schema_name: str) -> None:
    for table in TABLES:
        found = dsns.scalar(
            conn, "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema_name, table)
        )
        if found is None:
            raise PgbulkError(
                f"table {schema_name}.{table} does not exist: load the dataset first "
                "(pgbulk load) or name its schema with --schema"
            )


def _add_expected(result: Result, spec: ContactsSpec) -> None:
    """Add the percentage of users the truncated Zipf law expects for each count."""
    pmf = truncated_zipf_pmf(spec.zipf_a, spec.max_per_user)
    result.columns.append("expected_percent")
    result.rows = [
        (*row, round(100 * float(pmf[row[0] - 1]), 2) if 1 <= row[0] <= spec.max_per_user else 0.0)
        for row in result.rows
    ]


# ---------------------------------------------------------------------- text tables


def format_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """An aligned text table: numbers right-aligned with thousands separators."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(columns))
    ]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join("  " + s for s in out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return f"{int(value):,}"
    return str(value)
