"""Spec files (TOML) -> a canonical definition (plain, JSON-safe data) -> a :class:`Dataset`.

The canonical definition is what the ledger records, so ``pgbulk.datasets.from_definition``
makes the same dataset again from it: tables and columns are lists (a jsonb object does
not keep its keys' order), dates are ISO text. Every mistake is a :class:`SpecError`, one
line naming the table and column and saying what to do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.generators import Key, Keyed, Stream
from pgbulk.generators.arithmetic import Expr
from pgbulk.generators.base import CountLaw, Generator
from pgbulk.generators.relations import Lookup, Nullable, Reference, Tree
from pgbulk.generators.structured import ArrayOf, Json
from pgbulk.generators.text import FromParent
from pgbulk.model import (
    Column,
    Dataset,
    Fixed,
    ForeignKey,
    Index,
    PerParent,
    PerScale,
    RowCount,
    Table,
    Unique,
)
from pgbulk.spec.registry import GENERATORS, LAWS, STREAM_KEYED, fillable, parameters
from pgbulk.types import PgType

#: The ``format`` of a spec's definition in the ledger.
SPEC_FORMAT = "pgbulk-spec/1"
DEFAULT_CHUNK_ROWS = 10_000
_COLUMN_KEYS = {
    "name",
    "type",
    "gen",
    "nullable",
    "null",
    "unique",
    "collation",
    "default",
    "references",
}
_TABLE_KEYS = {"name", "rows", "columns", "primary_key", "unique", "foreign_keys", "indexes"}
_TOP_KEYS = {"name", "scale_table", "chunk_rows", "description", "tables", "format", "dataset"}


class SpecError(PgbulkError, ValueError):
    """A mistake in a spec: one line, naming where it is and what to do."""


def _where(table: str | None = None, column: str | None = None) -> str:
    if table and column:
        return f"table {table}, column {column}: "
    return f"table {table}: " if table else ""


# ---------------------------------------------------------------------- canonical form


def _plain(value: Any) -> Any:
    """JSON-safe: dates and times as ISO text, tuples as lists, mappings with text keys."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{value} is not a finite number: specs hold finite numbers only")
    return value


def _named_list(value: Any, what: str, where: str) -> list[dict[str, Any]]:
    """``{a = {...}, b = {...}}`` or ``[{name = "a", ...}, ...]`` -> a list with names."""
    if isinstance(value, Mapping):
        out = []
        for name, item in value.items():
            if not isinstance(item, Mapping):
                raise SpecError(f"{where}{what} {name} must be a table of settings, not {item!r}")
            out.append({"name": name, **item})
        return out
    if isinstance(value, list) and all(isinstance(v, Mapping) and "name" in v for v in value):
        return [dict(v) for v in value]
    raise SpecError(f"{where}{what}s must be a TOML table ({what}s by name) or a list with names")


def canonical(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as the ledger records it: the same data, in lists, JSON-safe."""
    unknown = sorted(set(spec) - _TOP_KEYS)
    if unknown:
        raise SpecError(
            f"unknown top-level key {unknown[0]!r}: a spec has {', '.join(sorted(_TOP_KEYS - {'format', 'dataset'}))}"
        )
    name = spec.get("name") or spec.get("dataset")
    if not isinstance(name, str) or not name:
        raise SpecError('a spec needs a name: name = "my_dataset"')
    tables = _named_list(spec.get("tables", {}), "table", "")
    if not tables:
        raise SpecError(f"spec {name} has no tables: add [tables.<name>] with columns")
    out_tables = []
    for t in tables:
        where = _where(t["name"])
        unknown = sorted(set(t) - _TABLE_KEYS)
        if unknown:
            raise SpecError(
                f"{where}unknown key {unknown[0]!r}: a table has {', '.join(sorted(_TABLE_KEYS - {'name'}))}"
            )
        columns = _named_list(t.get("columns", {}), "column", where)
        table = {k: _plain(v) for k, v in t.items() if k != "columns"}
        table["columns"] = [_canonical_column(t["name"], c) for c in columns]
        out_tables.append(table)
    out: dict[str, Any] = {"dataset": name, "format": SPEC_FORMAT}
    for key in ("description", "scale_table", "chunk_rows"):
        if key in spec:
            out[key] = _plain(spec[key])
    out["tables"] = out_tables
    return out


def _canonical_column(table: str, column: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _plain(v) for k, v in column.items()}
    if "fields" in out:
        where = _where(table, str(column.get("name")))
        out["fields"] = [
            _canonical_column(table, f) for f in _named_list(column["fields"], "field", where)
        ]
    if isinstance(out.get("element"), Mapping):
        out["element"] = _canonical_column(table, {"name": "element", **out["element"]})
    return out


# ---------------------------------------------------------------------- building


def _key(where: str, value: Any, *, keyed: bool, stream: bool) -> Key | int:
    """A ``key``: an integer (a :class:`Keyed` where ``keyed``: the generator takes a Key), or
    ``{ stream = N }`` (the unit's N-th PCG64 stream, drawn row after row: how contacts has
    always been made) where ``stream`` allows it."""
    if isinstance(value, Mapping):
        number = value.get("stream")
        if not stream:
            raise SpecError(
                f"{where}key = {{ stream = N }} is for uuid columns and count laws of "
                "top-level columns only: give an integer key"
            )
        if set(value) != {"stream"} or isinstance(number, bool) or not isinstance(number, int):
            raise SpecError(f"{where}key must be an integer or {{ stream = N }}, not {value!r}")
        if not 0 <= number < 2**32:
            raise SpecError(f"{where}key stream {number} must be in 0..2^32-1")
        return Stream(number)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}key must be an integer, not {value!r}")
    return Keyed(value) if keyed else value


def _generator(
    table: str, column: str, settings: Mapping[str, Any], pgtype: PgType, top: bool = True
) -> Generator:
    """``top``: a column's own generator, not a json field's or an array element's."""
    where = _where(table, column)
    kind = settings.get("gen")
    if kind is None:
        raise SpecError(
            f'{where}no generator: add gen = "..." (one of {", ".join(sorted(GENERATORS))})'
        )
    cls = GENERATORS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SpecError(
            f"{where}unknown generator {kind!r}: use one of {', '.join(sorted(GENERATORS))}"
        )
    if cls is Expr and not top:
        raise SpecError(
            f"{where}expr computes a column from the row's columns: not a json field or array element"
        )
    params = {k: v for k, v in settings.items() if k not in _COLUMN_KEYS}
    allowed = parameters(cls)
    for k in params:
        if k not in allowed:
            raise SpecError(
                f"{where}unknown parameter {k!r} of generator {kind}: its parameters are "
                f"{', '.join(allowed) or 'none'}"
            )
    if cls is Json:
        fields = params.get("fields", [])
        field_types = []
        for f in fields:
            field = f"{column}.{f['name']}"
            try:
                field_types.append(PgType.parse(f.get("type", "text")))
            except ParameterError as e:
                raise SpecError(f"{_where(table, field)}{e}") from None
        params["fields"] = tuple(
            (f["name"], _generator(table, f"{column}.{f['name']}", f, t, top=False))
            for f, t in zip(fields, field_types, strict=True)
        )
        params["field_types"] = tuple(field_types)
    if cls is ArrayOf:
        element = params.get("element")
        if not isinstance(element, Mapping):
            raise SpecError(f'{where}array needs element = {{ gen = "...", ... }}')
        if not pgtype.array:
            raise SpecError(
                f"{where}generator array fills array types (e.g. text[]), not {pgtype.sql}"
            )
        params["element"] = _generator(
            table, f"{column}[]", element, dataclasses.replace(pgtype, array=False), top=False
        )
    if "key" in params:
        keyed = cls in STREAM_KEYED
        params["key"] = _key(where, params["key"], keyed=keyed, stream=keyed and top)
    for k in ("values", "weights"):
        if isinstance(params.get(k), list):
            params[k] = tuple(params[k])
    try:
        generator: Generator = cls(**params)
    except ParameterError as e:
        raise SpecError(f"{where}{e}") from None
    except (TypeError, ValueError) as e:
        raise SpecError(f"{where}generator {kind}: {e}") from None
    types = fillable(generator)
    base = pgtype.name
    if pgtype.array and not isinstance(generator, ArrayOf | Reference | Lookup | FromParent | Tree):
        raise SpecError(
            f'{where}{pgtype.sql} is an array type: use gen = "array" with an element generator'
        )
    if types is not None and base not in types:
        raise SpecError(
            f"{where}generator {kind} cannot fill a {pgtype.sql} column: it fills "
            f"{', '.join(sorted(PgType(t).sql for t in types))}"
        )
    null = settings.get("null", 0)
    if null:
        try:
            generator = Nullable(generator, null)
        except ParameterError as e:
            raise SpecError(f"{where}{e}") from None
    return generator


def _law(table: str, rows: Mapping[str, Any]) -> CountLaw:
    where = _where(table)
    kind = rows.get("law", "fixed")
    cls = LAWS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SpecError(f"{where}unknown count law {kind!r}: use one of {', '.join(sorted(LAWS))}")
    params = {k: v for k, v in rows.items() if k not in ("parent", "law")}
    if cls.kind == "zipf" and "most" in params:
        params["most_children"] = params.pop("most")
    allowed = parameters(cls)
    for k in params:
        if k not in allowed:
            shown = ["most" if p == "most_children" else p for p in allowed]
            raise SpecError(
                f"{where}unknown parameter {k!r} of count law {kind}: its parameters are {', '.join(shown)}"
            )
    for k in ("counts", "weights"):
        if isinstance(params.get(k), list):
            params[k] = tuple(params[k])
    if "key" in params:
        params["key"] = _key(where, params["key"], keyed=True, stream=True)
    try:
        return cls(**params)
    except (ParameterError, TypeError) as e:
        raise SpecError(f"{where}{e}") from None


def _rows(table: str, rows: Any) -> RowCount:
    where = _where(table)
    if isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0:
        return Fixed(rows)
    if rows == "scale":
        return PerScale(1)
    if isinstance(rows, Mapping):
        if "per_scale" in rows and len(rows) == 1:
            factor = rows["per_scale"]
            if isinstance(factor, int) and not isinstance(factor, bool) and factor >= 1:
                return PerScale(factor)
        elif "fixed" in rows and len(rows) == 1:
            return _rows(table, rows["fixed"])
        elif "parent" in rows:
            return PerParent(str(rows["parent"]), _law(table, rows))
    raise SpecError(
        f'{where}rows must be a number (fixed), "scale", {{ per_scale = N }} or '
        f'{{ parent = "<table>", law = "poisson", mean = 3 }}; not {rows!r}'
    )


def _names(where: str, what: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise SpecError(f"{where}{what} must be a column name or a list of column names, not {value!r}")


def _table(t: Mapping[str, Any]) -> Table:
    name = t["name"]
    where = _where(name)
    columns = []
    unique: list[Unique] = []
    foreign_keys: list[ForeignKey] = []
    primary_key = _names(where, "primary_key", t["primary_key"]) if "primary_key" in t else ()
    for c in t["columns"]:
        cwhere = _where(name, c["name"])
        unknown_type = c.get("type")
        if not isinstance(unknown_type, str):
            raise SpecError(
                f'{cwhere}no type: add type = "<PostgreSQL type>" (bigint, text, numeric(12,2), ...)'
            )
        try:
            pgtype = PgType.parse(unknown_type)
        except ParameterError as e:
            raise SpecError(f"{cwhere}{e}") from None
        settings = dict(c)
        if "references" in c and "gen" not in c:
            ref_table, _, ref_column = str(c["references"]).partition(".")
            settings = {
                **settings,
                "gen": "ref",
                "table": ref_table,
                **({"column": ref_column} if ref_column else {}),
            }
        generator = _generator(name, c["name"], settings, pgtype)
        nullable = (
            bool(c.get("nullable", False)) or bool(c.get("null", 0)) or _makes_nulls(generator)
        )
        if nullable and c["name"] in primary_key:
            raise SpecError(f"{cwhere}a primary key column cannot be NULL: remove null/nullable")
        try:
            columns.append(
                Column(
                    c["name"],
                    pgtype,
                    generator,
                    nullable=nullable,
                    collation=c.get("collation"),
                    default=c.get("default"),
                )
            )
        except ParameterError as e:
            raise SpecError(f"{cwhere}{e}") from None
        if c.get("unique"):
            unique.append(Unique((c["name"],)))
        if "references" in c:
            ref_table, _, ref_column = str(c["references"]).partition(".")
            foreign_keys.append(
                ForeignKey((c["name"],), ref_table, (ref_column,) if ref_column else ())
            )
    columns = _null_through_exprs(columns)
    unique += [Unique(_names(where, "unique", u)) for u in t.get("unique", [])]
    for fk in t.get("foreign_keys", []):
        if not isinstance(fk, Mapping) or "table" not in fk or "columns" not in fk:
            raise SpecError(
                f'{where}a foreign key is {{ columns = ["..."], table = "...", ref_columns = ["..."] }}'
            )
        try:
            foreign_keys.append(
                ForeignKey(
                    _names(where, "foreign key columns", fk["columns"]),
                    fk["table"],
                    _names(where, "ref_columns", fk["ref_columns"]) if "ref_columns" in fk else (),
                    on_delete=fk.get("on_delete", "no action"),
                )
            )
        except ParameterError as e:
            raise SpecError(f"{where}{e}") from None
    indexes = [Index(_names(where, "index", i)) for i in t.get("indexes", [])]
    try:
        return Table(
            name,
            tuple(columns),
            _rows(name, t.get("rows")),
            primary_key=primary_key,
            unique=tuple(unique),
            foreign_keys=tuple(foreign_keys),
            indexes=tuple(indexes),
        )
    except ParameterError as e:
        raise SpecError(f"{where}{e}") from None


def _null_through_exprs(columns: list[Column]) -> list[Column]:
    """Columns computed by ``expr`` are NULL where an operand is: nullable when one is."""
    by_name = {c.name: c for c in columns}
    for _ in columns:  # enough passes for any chain of expressions
        changed = False
        for c in columns:
            g, nullable = by_name[c.name].generator, by_name[c.name].nullable
            if (
                isinstance(g, Expr)
                and not nullable
                and any(by_name[r].nullable for r in g.columns if r in by_name)
            ):
                by_name[c.name] = dataclasses.replace(by_name[c.name], nullable=True)
                changed = True
        if not changed:
            break
    return [by_name[c.name] for c in columns]


def _makes_nulls(generator: Generator) -> bool:
    from pgbulk.generators.numbers import Constant

    return isinstance(generator, Tree) or (
        isinstance(generator, Constant) and generator.value is None
    )


def build(definition: Mapping[str, Any]) -> Dataset:
    """The dataset of a canonical definition (what :func:`canonical` returns)."""
    from pgbulk.spec.check import check

    tables = tuple(_table(t) for t in definition["tables"])
    per_scale = [t.name for t in tables if isinstance(t.rows, PerScale)]
    scale_table = definition.get("scale_table") or (per_scale[0] if per_scale else None)
    if scale_table is None:
        raise SpecError(
            f'spec {definition["dataset"]}: no table is counted by the scale: give one rows = "scale"'
        )
    chunk_rows = definition.get("chunk_rows", DEFAULT_CHUNK_ROWS)
    try:
        dataset = Dataset(
            definition["dataset"],
            tables,
            scale_table=scale_table,
            chunk_rows=chunk_rows,
            definition=dict(definition),
        )
    except ParameterError as e:
        raise SpecError(f"spec {definition['dataset']}: {e}") from None
    return check(dataset)


def from_dict(spec: Mapping[str, Any]) -> Dataset:
    """A dataset from a spec as a dict (a parsed TOML file, or one written in Python)."""
    return build(canonical(spec))


def from_toml(text: str, source: str = "spec") -> Dataset:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{source}: not valid TOML: {e}") from None
    return from_dict(data)


BUILT_IN = ("contacts", "pgbench", "shop")


def builtin_text(name: str) -> str:
    """The TOML text of a built-in spec (package data)."""
    from importlib import resources

    return resources.files("pgbulk.spec").joinpath(f"builtin/{name}.toml").read_text("utf-8")


def load_spec(name_or_file: str | Path) -> Dataset:
    """A built-in spec by name (``contacts``, ``pgbench``, ``shop``), or a TOML file."""
    if name_or_file == "contacts":
        # The same dataset as ``--users``, recorded the same way, so either resumes the other.
        from pgbulk.datasets.contacts import dataset

        return dataset()
    if isinstance(name_or_file, str) and name_or_file in BUILT_IN:
        return from_toml(builtin_text(name_or_file), name_or_file)
    path = Path(name_or_file)
    if not path.is_file():
        raise SpecError(
            f"{name_or_file}: no such spec file, and not a built-in spec ({', '.join(BUILT_IN)})"
        )
    return from_toml(path.read_text("utf-8"), str(path))
