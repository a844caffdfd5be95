"""From what the catalog and ``pg_stats`` say (:mod:`pgbulk.catalog.read`) to a spec: pure
functions, no database.

The shape of the dataset:

- a table with a foreign key to a large table (one with at least ``fixed_below`` rows),
  its columns NOT NULL, is made *under* that table: its rows per parent follow the law
  measured from the data (a fixed count, a uniform range or a Poisson law when one is
  within :data:`LAW_FIT` in total variation of the measured histogram, else the histogram
  itself); a foreign key in the primary key wins, then the largest referenced table;
- other tables are top-level: fixed (fewer than ``fixed_below`` rows) or counted per unit
  of scale, the smallest of them being the scale table;
- the other foreign keys become references (``ref``; ``lookup`` for the further columns
  of a composite key; ``sibling_ref`` for a key column of a child table).

Every column gets a generator fitted from its statistics, or a type-based default when
the table has none; what cannot be generated is reported, one line each, and left out.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pgbulk.catalog.read import ColumnInfo, ColumnStats, ForeignKeyInfo, TableInfo
from pgbulk.errors import ParameterError
from pgbulk.generators.counts import PoissonCount
from pgbulk.generators.numbers import INTEGERS
from pgbulk.types import PgType

#: A parametric count law replaces the measured histogram when within this distance.
LAW_FIT = 0.02
#: Correlation with the physical order beyond which values are placed by the row.
ORDERED = 0.98
#: Largest count of children per parent an empirical law holds.
MOST_CHILDREN = 10_000
#: Rows of descendants per unit of work a top-level table's chunk aims at.
UNIT_TARGET = 400_000
TEXTS = {"text", "varchar", "bpchar"}
TIMES = {"date", "timestamp", "timestamptz"}


@dataclass
class Fitted:
    """A spec (the dict ``pgbulk.spec.from_dict`` reads), where each law came from, and what
    could not be imported."""

    spec: dict[str, Any]
    comments: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    scale: int = 1  # the --scale that makes the source's row counts

    def note(self, table: str, column: str | None, text: str) -> None:
        self.comments.setdefault((table, column), []).append(text)


def _r(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


# ---------------------------------------------------------------------- count laws


def tv(p: dict[int, float], q: dict[int, float]) -> float:
    """Total-variation distance of two laws on the integers."""
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)


def normalized(counts: dict[int, int]) -> dict[int, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def fit_count_law(children: dict[int, int]) -> tuple[dict[str, Any], str]:
    """A count law for a measured children-per-parent histogram, and where it came from."""
    p = normalized(children)
    support = sorted(k for k, v in p.items() if v > 0)
    mean = sum(k * v for k, v in p.items())
    if len(support) == 1:
        return {"law": "fixed", "count": support[0]}, f"every parent has {support[0]}"
    low, high = support[0], support[-1]
    uniform = {k: 1 / (high - low + 1) for k in range(low, high + 1)}
    if high <= MOST_CHILDREN and tv(p, uniform) <= LAW_FIT:
        return (
            {"law": "uniform", "low": low, "high": high},
            f"uniform {low}..{high}: {tv(p, uniform):.4f} from the measured histogram (total variation)",
        )
    try:
        poisson = PoissonCount(mean=_r(mean, 4))
        support_p, pmf = poisson.pmf()
        d = tv(p, dict(zip(support_p.tolist(), pmf.tolist(), strict=True)))
        if d <= LAW_FIT and poisson.most <= MOST_CHILDREN:
            return (
                {"law": "poisson", "mean": _r(mean, 4)},
                f"Poisson({mean:.3f}): {d:.4f} from the measured histogram (total variation)",
            )
    except ParameterError:
        pass
    kept = {k: v for k, v in children.items() if v > 0}
    over = {k: v for k, v in kept.items() if k > MOST_CHILDREN}
    if over:
        kept = {k: v for k, v in kept.items() if k <= MOST_CHILDREN}
        kept[MOST_CHILDREN] = kept.get(MOST_CHILDREN, 0) + sum(over.values())
    counts = sorted(kept)
    return (
        {"law": "empirical", "counts": counts, "weights": [kept[k] for k in counts]},
        f"the measured histogram ({len(counts)} counts, mean {mean:.3f};"
        " no fixed, uniform or Poisson law within "
        f"{LAW_FIT})",
    )


# ---------------------------------------------------------------------- values


def _parse_type(c: ColumnInfo) -> PgType | None:
    try:
        return PgType.parse(c.type_sql)
    except ParameterError:
        return None


def _instant(text: str) -> str | None:
    t = text.strip()
    if t.lower() in ("infinity", "-infinity") or " BC" in t:
        return None
    t = re.sub(r"([+-]\d\d)(:\d\d)?$", "", t) if ":" in t else t
    return t.replace(" ", "T")


def _value(base: str, text: str) -> Any:
    """A value of pg_stats as the spec writes it (None: one the spec cannot hold)."""
    if base in TIMES:
        return _instant(text)
    if base in INTEGERS - {"numeric"}:
        return int(text)
    if base in ("numeric", "float4", "float8"):
        x = float(text)
        return x if math.isfinite(x) else None
    return text


def synthetic_tokens(literals: list[str]) -> dict[str, str]:
    """A token per distinct literal, keeping its length (at least the rank's letters) and the
    order of the literals (byte order of the code): what ``--no-values`` writes instead."""
    distinct = sorted(set(literals))
    width = max(1, math.ceil(math.log(max(len(distinct), 2)) / math.log(26)))
    out = {}
    for rank, text in enumerate(distinct):
        code, rest = "", rank
        for _ in range(width):
            code, rest = chr(97 + rest % 26) + code, rest // 26
        out[text] = code + "x" * max(0, len(text) - width)
    return out


def _coarse(x: float, span: float, down: bool | None) -> float:
    """``x`` rounded to two significant digits of ``span`` (down, up, or to the nearest)."""
    if span <= 0:
        return x
    step = 10.0 ** (math.floor(math.log10(span)) - 1)
    rounded = (
        math.floor(x / step) if down else math.ceil(x / step) if down is False else round(x / step)
    )
    return float(rounded * step)


def shape_only(
    values: list[float], weights: list[float], bounds: list[float], integer: bool
) -> list[float]:
    """``--no-values`` for numbers: 11 deciles of the column's law (common values and
    histogram together), rounded to two significant digits of its range; no value kept."""
    points = sorted({*values, *bounds})
    if not points:
        return []
    lo, hi = points[0], points[-1]
    grid = np.linspace(lo, hi, 2001)
    mass = sum(weights) if bounds else 1.0
    cdf = np.zeros_like(grid)
    if len(bounds) >= 2:
        cdf += (1 - mass) * np.interp(grid, bounds, np.linspace(0, 1, len(bounds)))
    for v, w in zip(values, weights, strict=True):
        cdf += (w / (sum(weights) or 1) * mass if not bounds else w) * (grid >= v)
    deciles = np.interp(np.linspace(0, 1, 11), np.maximum.accumulate(cdf), grid)
    span = hi - lo
    out = [_coarse(float(d), span, down=None) for d in deciles]
    out[0], out[-1] = _coarse(lo, span, True), _coarse(hi, span, False)
    if integer:
        out = [float(round(v)) for v in out]
    return sorted(out)


def _days(iso: str) -> float:
    return float(np.datetime64(iso.split("T")[0], "D").astype(np.int64))


def _from_days(d: float) -> str:
    return str(np.datetime64(int(d), "D"))


def fit_values(
    c: ColumnInfo, pgtype: PgType, stats: ColumnStats, rows: int, no_values: bool
) -> tuple[dict[str, Any] | None, str]:
    """A generator for a column from its statistics, and the comment saying where from."""
    base = pgtype.name
    keep = max(1e-12, 1.0 - stats.null_frac)
    freqs = [f / keep for f in stats.frequencies]
    pairs = [(_value(base, v), f) for v, f in zip(stats.common, freqs, strict=True)]
    pairs = [(v, f) for v, f in pairs if v is not None]
    bounds = [b for b in (_value(base, v) for v in stats.bounds) if b is not None]
    if len(bounds) < 2:
        bounds = []
    total = sum(f for _, f in pairs)
    if pairs and (not bounds or total > 1):  # the common values are all there is
        pairs = [(v, f / total) for v, f in pairs]
    source = (
        f"pg_stats: {len(pairs)} common values ({sum(f for _, f in pairs):.1%} of non-NULL rows),"
        f" {max(len(bounds) - 1, 0)} histogram buckets, n_distinct {stats.n_distinct:g}"
        + (f", correlation {stats.correlation:.3f}" if stats.correlation is not None else "")
    )
    if base == "bool":
        p = sum(f for v, f in pairs if str(v) in ("t", "true"))
        return {"gen": "boolean", "p": _r(p, 4)}, source
    if not pairs and not bounds:
        return None, source
    if base in TEXTS:
        lengths = sorted(len(b) for b in stats.bounds) or [max(1, stats.avg_width - 1)]
        values = [str(v) for v, _ in pairs]
        texts = [str(b) for b in bounds]
        if no_values:
            tokens = synthetic_tokens(values + texts)
            values, texts = [tokens[v] for v in values], [tokens[b] for b in texts]
            source += "; values replaced by synthetic tokens (lengths, order and frequencies kept)"
        if pgtype.modifiers:
            lengths = [min(n, pgtype.modifiers[0]) for n in lengths]
        out: dict[str, Any] = {"gen": "empirical_text"}
        if values:
            out |= {"values": values, "weights": [_r(f) for _, f in pairs]}
        if texts:
            out["bounds"] = texts
        out["distinct"] = _r(stats.n_distinct)
        out["lengths"] = _compress(lengths)
        return out, source
    if base not in INTEGERS | {"float4", "float8"} | TIMES:
        return None, source
    order = "random"
    if stats.correlation is not None and abs(stats.correlation) >= ORDERED and len(bounds) >= 2:
        order = "increasing" if stats.correlation > 0 else "decreasing"
        source += f"; placed by the row ({order})"
    out = {"gen": "empirical"}
    if no_values:
        to_num = _days if base in TIMES else float
        nums = shape_only(
            [to_num(v) for v, _ in pairs],
            [f for _, f in pairs],
            [to_num(b) for b in bounds],
            base in INTEGERS - {"numeric"} or base in TIMES,
        )
        if len(set(nums)) < 2:
            nums = [nums[0], nums[0] + 1] if nums else [0.0, 1.0]
        out["bounds"] = [_from_days(d) for d in nums] if base in TIMES else _ints(nums, base)
        source += "; values dropped: deciles of the law, rounded to 2 digits of the range"
        if order != "random":
            out["order"] = order
        else:
            out["distinct"] = _r(stats.n_distinct)
        return out, source
    if order == "random" and pairs:
        out |= {"values": [v for v, _ in pairs], "weights": [_r(f) for _, f in pairs]}
    if bounds:
        out["bounds"] = bounds
        if order == "random":
            out["distinct"] = _r(stats.n_distinct)
    if order != "random":
        out["order"] = order
    if not bounds and order != "random":
        out |= {"values": [v for v, _ in pairs], "weights": [_r(f) for _, f in pairs]}
    return out, source


def _ints(values: list[float], base: str) -> list[Any]:
    return [int(v) for v in values] if base in INTEGERS - {"numeric"} else values


def _compress(lengths: list[int]) -> list[int]:
    """Up to 101 lengths kept as they are (a sample is the width law)."""
    return lengths if len(lengths) <= 101 else lengths[:: math.ceil(len(lengths) / 101)]


def type_default(pgtype: PgType, c: ColumnInfo) -> dict[str, Any] | None:
    """A generator by type alone (a table without statistics)."""
    base = pgtype.name
    width = max(1, (c.stats.avg_width - 1) if c.stats else 8)
    if base in INTEGERS - {"numeric"}:
        return {"gen": "uniform_int", "low": 0, "high": 1000}
    if base in ("numeric", "float4", "float8"):
        return {"gen": "uniform", "low": 0, "high": 1000}
    if base in TEXTS:
        n = pgtype.modifiers[0] if pgtype.modifiers else width
        n = min(n, width) if base != "bpchar" else n
        return {
            "gen": "string",
            "alphabet": "abcdefghijklmnopqrstuvwxyz",
            "min_length": n,
            "max_length": n,
        }
    if base == "bool":
        return {"gen": "boolean"}
    if base in TIMES:
        return {"gen": "uniform_time", "start": "2020-01-01", "end": "2025-01-01"}
    if base == "time":
        return {"gen": "time_of_day"}
    if base == "uuid":
        return {"gen": "uuid"}
    if base in ("json", "jsonb"):
        return {"gen": "constant", "value": "{}"}
    return None


# ---------------------------------------------------------------------- checks

_IN = re.compile(
    r"^CHECK \(\(\(?(\w+)\)?(?:::\w+)? = ANY \(\(?ARRAY\[(.*)\]\)?(?:::\w+\[\])?\)\)\)$"
)
_CMP = re.compile(r"\(\(?(\w+)\)?(?:::\w+)? (>=|<=|>|<) \(?'?(-?[\d.]+)'?(?:::\w+)?\)?\)")


def parse_check(definition: str) -> tuple[str, str, Any] | None:
    """("in", column, values) or ("range", column, (low, high)) for a CHECK pgbulk can
    honour; None for the others."""
    m = _IN.match(definition)
    if m:
        items = [i.strip() for i in m.group(2).split(",")]
        values: list[Any] = []
        for item in items:
            text = re.sub(r"::[\w ]+$", "", item).strip("()")
            if text.startswith("'") and text.endswith("'"):
                values.append(text[1:-1].replace("''", "'"))
            else:
                try:
                    values.append(int(text))
                except ValueError:
                    try:
                        values.append(float(text))
                    except ValueError:
                        return None
        return "in", m.group(1), values
    body = definition.removeprefix("CHECK ").strip()
    parts = _CMP.findall(body)
    rest = _CMP.sub("", body).replace("AND", "").strip("() ")
    if not parts or rest or len({p[0] for p in parts}) != 1:
        return None
    low, high = -math.inf, math.inf
    for _, op, number in parts:
        x = float(number)
        if op in (">=", ">"):
            low = max(low, x if op == ">=" else x + (1 if x.is_integer() else 1e-9))
        else:
            high = min(high, x if op == "<=" else x - (1 if x.is_integer() else 1e-9))
    return "range", parts[0][0], (low, high)


# ---------------------------------------------------------------------- the dataset


def _choose_parents(tables: dict[str, TableInfo], fixed_below: int) -> dict[str, ForeignKeyInfo]:
    parents: dict[str, ForeignKeyInfo] = {}

    def ancestors(name: str) -> set[str]:
        seen = set()
        while name in parents and name not in seen:
            seen.add(name)
            name = parents[name].ref_table
        return seen | {name}

    for t in tables.values():
        candidates = []
        for fk in t.foreign_keys:
            target = tables.get(fk.ref_table)
            if (
                target is None
                or fk.ref_table == t.name
                or fk.children is None
                or target.rows < fixed_below
                or not all(t.column(c).not_null for c in fk.columns)
                or max(fk.children, default=0) > MOST_CHILDREN
                or t.name in ancestors(fk.ref_table)
            ):
                continue
            in_key = bool(t.primary_key) and set(fk.columns) <= set(t.primary_key)
            leading = bool(t.primary_key) and t.primary_key[0] in fk.columns
            candidates.append(((leading, in_key, target.rows), fk))
        if candidates:
            parents[t.name] = max(candidates, key=lambda c: c[0])[1]
    return parents


def _order(tables: dict[str, TableInfo], parents: dict[str, ForeignKeyInfo]) -> list[str]:
    """Parents before children, referenced tables before referencing ones where possible."""
    done: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in done or name in stack:
            return
        t = tables[name]
        for fk in t.foreign_keys:
            if fk.ref_table in tables and fk.ref_table != name:
                if fk.ref_table in stack and parents.get(name) is not fk:
                    continue
                visit(fk.ref_table, (*stack, name))
        if name not in done:
            done.append(name)

    for name in tables:
        visit(name, ())
    return done


def fit(
    infos: list[TableInfo],
    *,
    name: str = "imported",
    no_values: bool = False,
    fixed_below: int = 100,
) -> Fitted:
    """The spec of ``infos`` (see the module's docstring)."""
    fitted = Fitted({"name": name, "tables": {}})
    tables: dict[str, TableInfo] = {}
    for t in infos:
        if not t.readable:
            fitted.problems.append(f"table {t.qualified}: no SELECT privilege: left out")
            continue
        if t.name in tables:
            fitted.problems.append(
                f"table {t.qualified}: another schema has a table {t.name}: left out"
            )
            continue
        tables[t.name] = t
    if not tables:
        return fitted
    types: dict[tuple[str, str], PgType] = {}
    for t in tables.values():
        for c in t.columns:
            pgtype = _parse_type(c)
            if pgtype is None:
                what = c.declared if c.declared == c.type_sql else f"{c.declared} over {c.type_sql}"
                fitted.problems.append(
                    f"table {t.name}, column {c.name}: type {what} cannot be generated: left out"
                )
            else:
                types[(t.name, c.name)] = pgtype
        if not t.analyzed:
            fitted.problems.append(
                f"table {t.name}: no statistics (run ANALYZE or pass --analyze): type-based defaults"
            )
    # constraints on left-out columns go too
    for t in tables.values():
        ok = {c.name for c in t.columns if (t.name, c.name) in types}
        if not set(t.primary_key) <= ok:
            fitted.problems.append(f"table {t.name}: primary key on a left-out column: dropped")
            t.primary_key = []
        t.unique = [u for u in t.unique if set(u) <= ok]
        kept = []
        for fk in t.foreign_keys:
            target = tables.get(fk.ref_table)
            if target is None:
                fitted.problems.append(
                    f"table {t.name}: foreign key {fk.name} to {fk.ref_schema}.{fk.ref_table},"
                    " which is not imported: dropped"
                )
            elif not set(fk.columns) <= ok or not set(fk.ref_columns) <= {
                c.name for c in target.columns if (target.name, c.name) in types
            }:
                fitted.problems.append(
                    f"table {t.name}: foreign key {fk.name} on a left-out column: dropped"
                )
            else:
                kept.append(fk)
        t.foreign_keys = kept
    parents = _choose_parents(tables, fixed_below)
    tops = [t for t in tables.values() if t.name not in parents]
    scaled = [t for t in tops if t.rows >= fixed_below]
    if not scaled:  # the largest is the scale
        scaled = [max(tops, key=lambda t: t.rows)] if tops else []
    scale_table = min(scaled, key=lambda t: (t.rows, t.name)) if scaled else None
    scale_rows = max(1, scale_table.rows) if scale_table else 1
    fitted.scale = scale_rows
    if scale_table is not None:
        fitted.spec["scale_table"] = scale_table.name
    order = _order(tables, parents)
    descendants = _descendants(tables, parents)
    biggest = max((descendants.get(t.name, 0.0) for t in tops), default=0.0)
    fitted.spec["chunk_rows"] = int(max(100, min(10_000, UNIT_TARGET / (1 + biggest))))
    for tname in order:
        t = tables[tname]
        out: dict[str, Any] = {}
        fitted.spec["tables"][tname] = out
        fitted.note(tname, None, f"source: {t.qualified}, {t.rows:,} rows")
        parent_fk = parents.get(tname)
        if parent_fk is not None:
            assert parent_fk.children is not None
            law, why = fit_count_law(parent_fk.children)
            out["rows"] = {"parent": parent_fk.ref_table, **law}
            fitted.note(tname, None, f"rows per {parent_fk.ref_table} row: {why}")
        elif t.rows < fixed_below and t is not scale_table:
            out["rows"] = t.rows
        else:
            factor = max(1, round(t.rows / scale_rows))
            out["rows"] = "scale" if factor == 1 else {"per_scale": factor}
            if abs(factor * scale_rows - t.rows) > 0.01 * t.rows:
                fitted.problems.append(
                    f"table {tname}: {t.rows:,} rows is not a whole multiple of the scale table's"
                    f" {scale_rows:,}: {factor} per unit of scale"
                )
        if t.primary_key:
            out["primary_key"] = list(t.primary_key)
        _fit_columns(fitted, t, tables, parents, types, out, no_values)
    return fitted


def _descendants(
    tables: dict[str, TableInfo], parents: dict[str, ForeignKeyInfo]
) -> dict[str, float]:
    """Rows of descendants per row of each table (measured means)."""
    per_row: dict[str, float] = {}

    def under(name: str) -> float:
        if name in per_row:
            return per_row[name]
        total = 0.0
        for child, fk in parents.items():
            if fk.ref_table == name and fk.children:
                p = normalized(fk.children)
                mean = sum(k * v for k, v in p.items())
                total += mean * (1 + under(child))
        per_row[name] = total
        return total

    for name in tables:
        under(name)
    return per_row


def _fit_columns(
    fitted: Fitted,
    t: TableInfo,
    tables: dict[str, TableInfo],
    parents: dict[str, ForeignKeyInfo],
    types: dict[tuple[str, str], PgType],
    out: dict[str, Any],
    no_values: bool,
) -> None:
    columns: dict[str, dict[str, Any]] = {}
    made: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    parent_fk = parents.get(t.name)
    foreign_keys: list[dict[str, Any]] = []
    # foreign keys first: they decide their columns
    for fk in t.foreign_keys:
        target = tables[fk.ref_table]
        entry = {"columns": fk.columns, "table": fk.ref_table, "ref_columns": fk.ref_columns}
        if fk.on_delete != "no action":
            entry["on_delete"] = fk.on_delete
        if fk is parent_fk:
            for name, rc in zip(fk.columns, fk.ref_columns, strict=True):
                made[name] = {"gen": "parent", "column": rc}
                notes[name] = f"the parent {fk.ref_table} row's {rc}"
            foreign_keys.append(entry)
            continue
        if any(name in made for name in fk.columns):
            fitted.problems.append(
                f"table {t.name}: foreign key {fk.name} shares a column with another: dropped"
            )
            continue
        if fk.ref_table in parents:
            grand = parents[fk.ref_table].ref_table
            if grand in parents:
                fitted.problems.append(
                    f"table {t.name}: foreign key {fk.name} to {fk.ref_table}, whose rows are made"
                    f" under {grand}, itself made under a parent: not generated, dropped"
                )
                continue
            shared = zlib.crc32(f"{t.name}.{fk.name}".encode())
            for name, rc in zip(fk.columns, fk.ref_columns, strict=True):
                made[name] = {
                    "gen": "child_ref",
                    "table": fk.ref_table,
                    "column": rc,
                    "key": shared,
                }
                notes[name] = (
                    f"{rc} of a {fk.ref_table} row (a {grand} row uniformly, then one of its"
                    f" {fk.ref_table} rows); the columns of {fk.name} share a key: one row"
                )
            foreign_keys.append(entry)
            continue
        if fk.ref_table == t.name:
            if len(fk.columns) == 1 and not t.column(fk.columns[0]).not_null:
                made[fk.columns[0]] = {"gen": "tree", "column": fk.ref_columns[0], "fanout": 5}
                notes[fk.columns[0]] = "a self-reference: a tree of fan-out 5 (not measured)"
                foreign_keys.append(entry)
            else:
                fitted.problems.append(
                    f"table {t.name}: self-referencing foreign key {fk.name} on NOT NULL or several columns: dropped"
                )
            continue
        if any(name in made for name in fk.columns):
            fitted.problems.append(
                f"table {t.name}: foreign key {fk.name} shares a column with another: dropped"
            )
            continue
        first = fk.columns[0]
        in_key = parent_fk is not None and first in t.primary_key and len(fk.columns) == 1
        law = ""
        if fk.children:
            mean = sum(k * v for k, v in normalized(fk.children).items())
            law = f"; measured children per {fk.ref_table} row: mean {mean:.3f}"
        if in_key:
            made[first] = {"gen": "sibling_ref", "table": fk.ref_table, "column": fk.ref_columns[0]}
            notes[first] = f"a {fk.ref_table} row, distinct among its parent's rows{law}"
            if fk.children and _even(fk.children):
                made[first]["spread"] = "even"
                notes[first] += " (nearly the same for every row: spread evenly)"
        else:
            made[first] = {"gen": "ref", "table": fk.ref_table, "column": fk.ref_columns[0]}
            notes[first] = f"a {fk.ref_table} row, uniformly{law}"
        for name, rc in zip(fk.columns[1:], fk.ref_columns[1:], strict=True):
            made[name] = {"gen": "lookup", "ref": first, "column": rc}
            notes[name] = f"{rc} of the {fk.ref_table} row {first} points to"
        if target.rows == 0:
            fitted.problems.append(
                f"table {t.name}: foreign key {fk.name} to empty {fk.ref_table}: dropped"
            )
            for name in fk.columns:
                made.pop(name, None)
            continue
        foreign_keys.append(entry)
    # keys
    uniques: list[list[str]] = []
    key_sets = ([t.primary_key] if t.primary_key else []) + t.unique
    for cols in key_sets:
        if len(cols) == 1:
            col = cols[0]
            if col in made:  # a copied or referenced key repeats: pgbulk cannot promise it
                fitted.problems.append(
                    f"table {t.name}, column {col}: unique and a reference: constraint dropped"
                )
                if cols is t.primary_key:
                    out.pop("primary_key", None)
                continue
            unique_gen = _unique_generator(t, t.column(col), types[(t.name, col)])
            if unique_gen is None:
                fitted.problems.append(
                    f"table {t.name}, column {col}: unique {types[(t.name, col)].sql} cannot be made"
                    " unique by construction: constraint dropped"
                )
                if cols is t.primary_key:
                    out.pop("primary_key", None)
                continue
            made[col] = unique_gen[0]
            notes[col] = unique_gen[1]
            if cols is not t.primary_key:
                uniques.append(cols)
            continue
        others = [
            col
            for col in cols
            if col not in made or made[col]["gen"] not in ("parent", "sibling_ref")
        ]
        has_parent = parent_fk is not None and any(
            made.get(col, {}).get("gen") == "parent" for col in cols
        )
        if has_parent and len(others) == 1 and others[0] not in made:
            col = others[0]
            if types[(t.name, col)].name in INTEGERS - {"numeric"}:
                start = _low(t.column(col))
                made[col] = {"gen": "position", "start": start}
                notes[col] = f"the row's position under its parent, from {start}"
                if cols is not t.primary_key:
                    uniques.append(cols)
                continue
        if has_parent and not others:
            if cols is not t.primary_key:
                uniques.append(cols)
            continue
        fitted.problems.append(
            f"table {t.name}: unique ({', '.join(cols)}) cannot be kept unique by construction: constraint dropped"
        )
        if cols is t.primary_key:
            out.pop("primary_key", None)
    checks = _checks(fitted, t)
    for c in t.columns:
        pgtype = types.get((t.name, c.name))
        if pgtype is None:
            continue
        settings: dict[str, Any] = {"type": c.type_sql}
        note = notes.get(c.name, "")
        gen = made.get(c.name)
        serial = c.identity or (c.default or "").startswith("nextval(")
        if gen is None and serial and pgtype.name in INTEGERS - {"numeric"}:
            start = _low(c)
            gen, note = (
                {"gen": "sequence", "start": start},
                f"identity / serial: a sequence from {start}",
            )
        if gen is None and c.name in checks:
            kind, value = checks[c.name]
            if kind == "in":
                gen = _in_list(value, c.stats, pgtype)
                note = "CHECK IN list: its values, at their measured frequencies"
        if gen is None and c.stats is not None and t.analyzed:
            gen, note = fit_values(c, pgtype, c.stats, t.rows, no_values)
            if gen is not None and c.name in checks and checks[c.name][0] == "range":
                note += "; CHECK range honoured (the law stays within the observed values)"
        if gen is None:
            gen = type_default(pgtype, c)
            if gen is not None and c.name in checks and checks[c.name][0] == "range":
                gen = _ranged(gen, checks[c.name][1], pgtype)
            if gen is None:
                fitted.problems.append(
                    f"table {t.name}, column {c.name}: no generator for {pgtype.sql}: left out"
                )
                continue
            note = note or "no statistics: by type"
            if t.analyzed and c.stats is None:
                fitted.problems.append(f"table {t.name}, column {c.name}: no statistics: by type")
        settings |= gen
        stats = c.stats
        if (
            stats is not None
            and stats.null_frac > 0
            and not c.not_null
            and gen["gen"] not in ("tree",)
        ):
            settings["null"] = _r(stats.null_frac, 4)
        elif not c.not_null and c.name not in t.primary_key:
            settings["nullable"] = True
        if c.default is not None and not c.default.startswith("nextval("):
            settings["default"] = c.default
        columns[c.name] = settings
        if note:
            fitted.note(t.name, c.name, note)
    if no_values:  # a key's first value is a value of the source too
        for settings in columns.values():
            if settings["gen"] in ("sequence", "position") and settings.get("start", 1) != 1:
                settings["start"] = 1
    out["columns"] = columns
    if uniques:
        out["unique"] = uniques
    if foreign_keys:
        out["foreign_keys"] = foreign_keys


def _even(children: dict[int, int]) -> bool:
    """Whether every parent has nearly the same number of children (sd < 5% of the mean)."""
    p = normalized(children)
    mean = sum(k * v for k, v in p.items())
    var = sum((k - mean) ** 2 * v for k, v in p.items())
    return mean > 0 and math.sqrt(var) < 0.05 * mean


def _low(c: ColumnInfo) -> int:
    s = c.stats
    if s is None:
        return 1
    candidates = [v for v in (*s.bounds[:1], *s.common) if v is not None]
    try:
        return min(int(float(v)) for v in candidates) if candidates else 1
    except ValueError:
        return 1


def _unique_generator(
    t: TableInfo, c: ColumnInfo, pgtype: PgType
) -> tuple[dict[str, Any], str] | None:
    base = pgtype.name
    if base in INTEGERS:
        start = _low(c)
        return {"gen": "sequence", "start": start}, f"unique: a sequence from {start}"
    if base in TEXTS:
        width = max(8, (c.stats.avg_width - 1) if c.stats else 16)
        if pgtype.modifiers:
            width = min(width, pgtype.modifiers[0])
        length = max(1, min(width, 16))
        return (
            {"gen": "unique_text", "alphabet": "abcdefghijklmnopqrstuvwxyz", "length": length},
            f"unique: a keyed permutation of {length} letters",
        )
    if base == "uuid":
        return {"gen": "uuid"}, "unique: UUIDv4"
    return None


def _checks(fitted: Fitted, t: TableInfo) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for definition in t.checks:
        parsed = parse_check(definition)
        if parsed is None or parsed[1] not in {c.name for c in t.columns}:
            fitted.problems.append(
                f"table {t.name}: {definition}: not honoured (only ranges and IN lists are)"
            )
            continue
        kind, column, value = parsed
        out[column] = (kind, value)
        fitted.note(t.name, column, f"{definition}: honoured")
    return out


def _in_list(values: list[Any], stats: ColumnStats | None, pgtype: PgType) -> dict[str, Any]:
    weights = [1.0] * len(values)
    if stats is not None:
        seen = dict(zip(stats.common, stats.frequencies, strict=True))
        measured = [seen.get(str(v), 0.0) for v in values]
        if sum(measured) > 0:
            weights = [_r(max(m, 1e-6)) for m in measured]
    if pgtype.name in INTEGERS - {"numeric"}:
        values = [int(v) for v in values]
    return {"gen": "categorical", "values": values, "weights": weights}


def _ranged(gen: dict[str, Any], bounds: tuple[float, float], pgtype: PgType) -> dict[str, Any]:
    low, high = bounds
    if gen["gen"] == "uniform_int":
        lo = math.ceil(low) if math.isfinite(low) else gen["low"]
        hi = math.floor(high) if math.isfinite(high) else max(lo, gen["high"])
        return {**gen, "low": lo, "high": max(lo, hi)}
    if gen["gen"] == "uniform":
        lo = low if math.isfinite(low) else gen["low"]
        hi = high if math.isfinite(high) else lo + 1000
        return {**gen, "low": lo, "high": hi if hi > lo else lo + 1}
    return gen
