"""``pgbulk spec compare``: how far two databases' statistics are, per column, per foreign
key and per table. Reading is :func:`pgbulk.catalog.read.read_tables` on each side; the
distances are pure functions of what it returns.

Per column (matched by table and column name, both sides ANALYZEd):

- ``null``: |null_frac A - null_frac B|;
- ``distinct``: distinct values B / A (``n_distinct`` resolved against the row counts),
  its distance |ratio - 1|;
- ``mcv``: total variation between the most common values of both sides, over the union
  of the two lists; a value in one list only is given, on the other side, the frequency
  the planner would assume (the rest of the rows spread evenly over the other distinct
  values);
- ``histogram``: the largest difference between the two histograms' CDFs (piecewise
  linear between bounds; text by byte order, one step per bound), a Kolmogorov distance.

Per foreign key: the Kolmogorov distance between the children-per-parent laws (the
largest gap of their CDFs; robust when few parents make the laws ragged), and their total
variation. Per table: rows.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pgbulk import dsn as dsns
from pgbulk.catalog.fit import TIMES, normalized, tv
from pgbulk.catalog.read import ColumnStats, TableInfo, read_tables
from pgbulk.generators.numbers import INTEGERS
from pgbulk.types import PgType


@dataclass
class ColumnDistance:
    table: str
    column: str
    null: float | None
    distinct_ratio: float | None
    mcv: float | None
    histogram: float | None

    @property
    def distinct(self) -> float | None:
        return None if self.distinct_ratio is None else abs(self.distinct_ratio - 1)


@dataclass
class ForeignKeyDistance:
    table: str
    columns: list[str]
    ref_table: str
    children_tv: float | None
    children_ks: float | None


@dataclass
class TableRows:
    table: str
    rows_a: int | None
    rows_b: int | None


@dataclass
class Comparison:
    columns: list[ColumnDistance] = field(default_factory=list)
    foreign_keys: list[ForeignKeyDistance] = field(default_factory=list)
    tables: list[TableRows] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tables": [asdict(t) for t in self.tables],
            "columns": [asdict(c) | {"distinct": c.distinct} for c in self.columns],
            "foreign_keys": [asdict(f) for f in self.foreign_keys],
        }


def distinct_count(stats: ColumnStats, rows: int) -> float:
    return (
        -stats.n_distinct * rows * (1 - stats.null_frac)
        if stats.n_distinct < 0
        else stats.n_distinct
    )


def _planner_frequencies(stats: ColumnStats, rows: int) -> tuple[dict[str, float], float]:
    """Most common values -> frequency, and the frequency of any other value."""
    common = dict(zip(stats.common, stats.frequencies, strict=True))
    rest = max(0.0, 1.0 - stats.null_frac - sum(common.values()))
    others = max(1.0, distinct_count(stats, rows) - len(common))
    return common, (rest / others if stats.bounds else 0.0)


def mcv_distance(a: ColumnStats, rows_a: int, b: ColumnStats, rows_b: int) -> float | None:
    if not a.common and not b.common:
        return None
    pa, other_a = _planner_frequencies(a, rows_a)
    pb, other_b = _planner_frequencies(b, rows_b)
    keys = set(pa) | set(pb)
    return 0.5 * sum(abs(pa.get(k, other_a) - pb.get(k, other_b)) for k in keys)


def ks(p: dict[int, float], q: dict[int, float]) -> float:
    """Kolmogorov distance of two laws on the integers: the largest gap of their CDFs."""
    fa = fb = worst = 0.0
    for k in sorted(set(p) | set(q)):
        fa, fb = fa + p.get(k, 0.0), fb + q.get(k, 0.0)
        worst = max(worst, abs(fa - fb))
    return worst


def _numeric(base: str, values: list[str]) -> np.ndarray | None:
    try:
        if base in TIMES:
            return (
                np.array(
                    [np.datetime64(v.split("+")[0].strip().replace(" ", "T"), "us") for v in values]
                )
                .astype(np.int64)
                .astype(np.float64)
            )
        if base in INTEGERS | {"float4", "float8"}:
            return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None
    return None


def histogram_distance(base: str, a: list[str], b: list[str]) -> float | None:
    """Kolmogorov distance between two equi-depth histograms (None: one side has none)."""
    if len(a) < 2 or len(b) < 2:
        return None
    na, nb = _numeric(base, a), _numeric(base, b)
    if na is not None and nb is not None:
        grid = np.union1d(na, nb)
        fa = np.interp(grid, na, np.linspace(0, 1, len(na)))
        fb = np.interp(grid, nb, np.linspace(0, 1, len(nb)))
        return float(np.abs(fa - fb).max())
    sa, sb = sorted(a), sorted(b)
    worst = 0.0
    for x in sorted(set(sa) | set(sb)):
        fa_x = bisect.bisect_right(sa, x) / len(sa)
        fb_x = bisect.bisect_right(sb, x) / len(sb)
        worst = max(worst, abs(fa_x - fb_x))
    return worst


def _base(type_sql: str) -> str:
    try:
        return PgType.parse(type_sql).name
    except Exception:
        return "text"


def compare_tables(a: list[TableInfo], b: list[TableInfo]) -> Comparison:
    out = Comparison()
    tb = {t.name: t for t in b}
    for ta in a:
        other = tb.get(ta.name)
        out.tables.append(TableRows(ta.name, ta.rows, other.rows if other else None))
        if other is None:
            continue
        for ca in ta.columns:
            cb = next((c for c in other.columns if c.name == ca.name), None)
            if cb is None or ca.stats is None or cb.stats is None:
                out.columns.append(ColumnDistance(ta.name, ca.name, None, None, None, None))
                continue
            sa, sb = ca.stats, cb.stats
            da, db = distinct_count(sa, ta.rows), distinct_count(sb, other.rows)
            out.columns.append(
                ColumnDistance(
                    ta.name,
                    ca.name,
                    abs(sa.null_frac - sb.null_frac),
                    db / da if da > 0 else None,
                    mcv_distance(sa, ta.rows, sb, other.rows),
                    histogram_distance(_base(ca.type_sql), sa.bounds, sb.bounds),
                )
            )
        for fa in ta.foreign_keys:
            fb = next(
                (
                    f
                    for f in other.foreign_keys
                    if f.columns == fa.columns and f.ref_table == fa.ref_table
                ),
                None,
            )
            d_tv = d_ks = None
            if fa.children and fb is not None and fb.children:
                pa, pb = normalized(fa.children), normalized(fb.children)
                d_tv, d_ks = tv(pa, pb), ks(pa, pb)
            out.foreign_keys.append(
                ForeignKeyDistance(ta.name, fa.columns, fa.ref_table, d_tv, d_ks)
            )
    for name in tb.keys() - {t.name for t in a}:
        out.tables.append(TableRows(name, None, tb[name].rows))
    return out


def compare(
    dsn_a: str,
    dsn_b: str,
    *,
    schemas: list[str] | None = None,
    tables: list[str] | None = None,
    analyze: bool = False,
) -> Comparison:
    sides = []
    for dsn in (dsn_a, dsn_b):
        with dsns.connect(dsn, autocommit=True, application_name="pgbulk spec compare") as conn:
            sides.append(read_tables(conn, schemas or ["public"], tables, analyze=analyze))
    return compare_tables(sides[0], sides[1])


def _f(x: float | None, fmt: str = "{:.4f}") -> str:
    return "-" if x is None else fmt.format(x)


def render(c: Comparison) -> str:
    """The comparison as text: tables, then columns, then foreign keys."""
    lines = ["table                     rows A        rows B"]
    for t in c.tables:
        lines.append(f"{t.table:<20}{_f(t.rows_a, '{:>12,}'):>12}  {_f(t.rows_b, '{:>12,}'):>12}")
    lines += ["", "column                                  null  distinct B/A    mcv  histogram"]
    for d in c.columns:
        lines.append(
            f"{d.table + '.' + d.column:<36}{_f(d.null):>8}  {_f(d.distinct_ratio, '{:.3f}'):>12}"
            f"  {_f(d.mcv):>6}  {_f(d.histogram):>9}"
        )
    lines += ["", "foreign key                                   children per parent:   KS      TV"]
    for f in c.foreign_keys:
        name = f"{f.table}({', '.join(f.columns)}) -> {f.ref_table}"
        lines.append(f"{name:<60}{_f(f.children_ks):>8}{_f(f.children_tv):>8}")
    return "\n".join(lines)
