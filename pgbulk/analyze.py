"""``pgbulk analyze``: row counts, sizes and distributions of a loaded dataset.

Two kinds of queries. Plain SQL files in ``pgbulk/sql/analysis`` that hold for any
schema, usable from psql as they are (``SET search_path`` to the target schema first;
each file's first comment line is its title): live rows, database size, sizes of all
databases (three of the original project's four queries), table and index sizes per
row, column statistics, the pgbulk ledger's record. And queries made from the model of
the dataset the ledger records: exact rows per table, and for each table whose rows are
counted per parent row, how many parents have k children, beside the share the count
law expects (the original's fourth query, emails per user, is one of these; as a file
for psql it is ``pgbulk/sql/contacts/emails_per_user.sql``).
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
from pgbulk.errors import PgbulkError
from pgbulk.model import Dataset, PerParent, Table
from pgbulk.target import DEFAULT_DATA_DIR, resolve_target

#: Queries that read the ledger, skipped when the database has no pgbulk schema.
_NEEDS_LEDGER = {"pgbulk_dataset"}


@dataclass(frozen=True)
class Query:
    name: str  # the file name without its order prefix and suffix, e.g. "table_sizes"
    title: str
    sql: sql.SQL | sql.Composed


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
    dataset: Dataset | None  # the loaded dataset, when the ledger records one
    results: list[Result] = field(default_factory=list)

    def __getitem__(self, name: str) -> Result:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def histograms(self) -> list[tuple[Table, Result]]:
        """Each child table with its children-per-parent histogram."""
        if self.dataset is None:
            return []
        return [(t, self[histogram_name(t)]) for t in self.dataset.tables if t.parent]

    def to_text(self) -> str:
        parts = [f"pgbulk analyze: schema {self.schema} on {self.target}"]
        if self.dataset is None:
            parts.append(
                f"no pgbulk dataset is recorded in schema {self.schema}: the server's own "
                "figures only (no exact row counts, no children-per-parent histograms)"
            )
        for r in self.results:
            parts.append(f"\n{r.title}\n{r.to_text()}")
        return "\n".join(parts)


def queries() -> list[Query]:
    """The analysis queries that hold for any schema, in the order of their file names."""
    folder = resources.files("pgbulk") / "sql" / "analysis"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text(encoding="utf-8")
        name = re.sub(r"^\d+_", "", entry.name.removesuffix(".sql"))
        title = text.splitlines()[0].removeprefix("--").strip()
        found.append(Query(name, title, sql.SQL(text)))
    return found


def histogram_name(child: Table) -> str:
    return f"{child.name}_per_{child.parent}"


def model_queries(dataset: Dataset) -> list[Query]:
    """Exact rows per table, and per child table the histogram of children per parent."""
    counts = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, {}, count(*) FROM {}").format(
            sql.Literal(i), sql.Literal(t.name), sql.Identifier(t.name)
        )
        for i, t in enumerate(dataset.tables)
    )
    found = [
        Query(
            "exact_rows",
            "Exact rows per table, with a total (count(*): one scan of each table).",
            sql.SQL(
                'WITH counts (ord, "table", exact_rows) AS ({counts}) SELECT "table", exact_rows'
                ' FROM (SELECT ord, "table", exact_rows FROM counts UNION ALL'
                " SELECT {n}, 'total', sum(exact_rows) FROM counts) t ORDER BY ord"
            ).format(counts=counts, n=sql.Literal(len(dataset.tables))),
        )
    ]
    for child in dataset.tables:
        fk = child.foreign_key_to(child.parent) if child.parent else None
        if fk is None:
            continue
        group = sql.SQL(", ").join(sql.Identifier(c) for c in fk.columns)
        found.append(
            Query(
                histogram_name(child),
                f"{child.name} per row of {child.parent}: how many {child.parent} have k "
                f"{child.name} ({child.parent} with none are not counted).",
                sql.SQL(
                    "SELECT k, count(*) AS {parents}, round(100.0 * count(*) / sum(count(*)) OVER (), 2)"
                    " AS percent FROM (SELECT count(*) AS k FROM {child} GROUP BY {group}) g"
                    " GROUP BY k ORDER BY k"
                ).format(
                    parents=sql.Identifier(str(child.parent)),
                    child=sql.Identifier(child.name),
                    group=group,
                ),
            )
        )
    return found


def analyze(
    dsn: str | None = None,
    schema_name: str = "public",
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    pg_bin: str | Path | None = None,
) -> Analysis:
    """Run every analysis query against ``schema_name``."""
    target = resolve_target(dsn, data_dir, pg_bin).dsn
    with dsns.connect(target, autocommit=True) as conn:
        record = ledger.read(conn, schema_name)
        dataset = record.dataset() if record else None
        if dataset is not None:
            _require_tables(conn, schema_name, dataset)
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema_name)))
        analysis = Analysis(dsns.redact(target), schema_name, dataset)
        chosen = queries() + (model_queries(dataset) if dataset else [])
        for query in chosen:
            if query.name in _NEEDS_LEDGER and record is None:
                continue
            cur = conn.execute(query.sql)
            columns = [d.name for d in cur.description or ()]
            analysis.results.append(Result(query.name, query.title, columns, cur.fetchall()))
    for table, result in analysis.histograms():
        _add_expected(result, table)
    return analysis


def _require_tables(conn: psycopg.Connection, schema_name: str, dataset: Dataset) -> None:
    for table in dataset.table_names:
        found = dsns.scalar(
            conn, "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema_name, table)
        )
        if found is None:
            raise PgbulkError(
                f"table {schema_name}.{table} does not exist: load the dataset first "
                "(pgbulk load) or name its schema with --schema"
            )


def _add_expected(result: Result, child: Table) -> None:
    """Add the percentage of parents the count law expects for each count."""
    assert isinstance(child.rows, PerParent)
    support, pmf = child.rows.law.pmf()
    expected = {int(k): round(100 * float(p), 2) for k, p in zip(support, pmf, strict=True)}
    result.columns.append("expected_percent")
    result.rows = [(*row, expected.get(int(row[0]), 0.0)) for row in result.rows]


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
