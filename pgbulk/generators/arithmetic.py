"""Columns computed from other columns of the same row: ``expr = "unit_price * quantity"``.

The expression is parsed once with :mod:`ast` and only arithmetic is accepted: numbers,
names of columns, ``+ - * /``, unary minus and parentheses (no calls, attributes,
powers or anything else Python could run). It is evaluated on whole columns with numpy.

The operands are the values *as the server stores them*: a ``numeric(p, s)`` column's
draw rounded to s digits, as the encoder rounds it. ``+``, ``-`` and ``*`` on integers,
``numeric(p, s)`` columns and decimal constants are exact decimal arithmetic (scaled
64-bit integers), and the result is rounded to the column's scale half away from zero,
as PostgreSQL rounds numeric: a loaded ``line_total`` equals ``unit_price * quantity``
computed in SQL. ``/`` and real (float) operands compute in double precision (then
rounded to the column's scale); a NULL operand makes a NULL result.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pgbulk.ddl import quote
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.generators.base import Generator, Rule

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table
    from pgbulk.types import PgType

#: The column types an expression reads and fills (numeric needs a scale to fill).
INTEGER_TYPES = frozenset({"int2", "int4", "int8"})
REAL_TYPES = frozenset({"float4", "float8"})
NUMERIC_TYPES = INTEGER_TYPES | REAL_TYPES | {"numeric"}
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
# Exact values are scaled int64: past these, an operation computes in doubles instead.
_EXACT_BOUND = 2.0**62
_MAX_SCALE = 18

#: A column (or constant) as the expression sees it: int64 scaled by 10^scale (exact), or
#: float64 with scale None.
Number = tuple[npt.NDArray[Any], int | None]


def _parse(text: str) -> ast.expr:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ParameterError("expr", text, f"is not an arithmetic expression ({e.msg})") from None
    for node in ast.walk(tree.body):
        allowed = (
            isinstance(node, ast.BinOp | ast.Name | ast.Load)
            or type(node) in _OPERATORS
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd))
            or isinstance(node, ast.USub | ast.UAdd)
            or (
                isinstance(node, ast.Constant)
                and isinstance(node.value, int | float)
                and not isinstance(node.value, bool)
            )
        )
        if isinstance(node, ast.BinOp) and type(node.op) not in _OPERATORS:
            allowed = False
        if not allowed:
            shown = ast.get_source_segment(text, node) or type(node).__name__
            raise ParameterError(
                "expr",
                text,
                f"may hold numbers, column names, + - * / and parentheses only, not {shown!r}",
            )
    return tree.body


def _constant(value: int | float) -> Number:
    if isinstance(value, int) and abs(value) < _EXACT_BOUND:
        return np.array(value, dtype=np.int64), 0
    if isinstance(value, float) and math.isfinite(value):
        exponent = Decimal(repr(value)).as_tuple().exponent
        scale = max(-int(exponent), 0)
        scaled = Decimal(repr(value)).scaleb(scale)
        if scale <= _MAX_SCALE and abs(scaled) < _EXACT_BOUND:
            return np.array(int(scaled), dtype=np.int64), scale
    return np.array(float(value), dtype=np.float64), None


def _as_float(x: Number) -> npt.NDArray[np.float64]:
    values, scale = x
    return values / 10.0**scale if scale is not None else values


def _rescale(values: npt.NDArray[np.int64], by: int) -> npt.NDArray[np.int64]:
    return values * np.int64(10**by) if by else values


def _bound(x: Number) -> float:
    return float(np.max(np.abs(x[0]), initial=0))


def _apply(op: ast.operator, a: Number, b: Number) -> Number:
    (av, sa), (bv, sb) = a, b
    if sa is not None and sb is not None and not isinstance(op, ast.Div):
        if isinstance(op, ast.Mult):
            scale = sa + sb
            exact = _bound(a) * _bound(b) < _EXACT_BOUND
        else:
            scale = max(sa, sb)
            exact = (_bound(a) * 10.0 ** (scale - sa) + _bound(b) * 10.0 ** (scale - sb)) < (
                _EXACT_BOUND
            )
        if exact and scale <= _MAX_SCALE:
            if isinstance(op, ast.Mult):
                return av * bv, scale
            av, bv = _rescale(av, scale - sa), _rescale(bv, scale - sb)
            return (av + bv if isinstance(op, ast.Add) else av - bv), scale
    x, y = _as_float(a), _as_float(b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(op, ast.Add):
            return x + y, None
        if isinstance(op, ast.Sub):
            return x - y, None
        if isinstance(op, ast.Mult):
            return x * y, None
        return x / y, None


def _round_half_away(values: npt.NDArray[np.int64], digits: int) -> npt.NDArray[np.int64]:
    """values / 10^digits rounded half away from zero (PostgreSQL's numeric rounding)."""
    if digits <= 0:
        return values
    unit = np.int64(10**digits)
    magnitude = (np.abs(values) + unit // np.int64(2)) // unit
    return np.where(values < 0, -magnitude, magnitude)


def _target_scale(pgtype: PgType) -> int | None:
    """The digits after the point the column keeps (None: a real type keeps them all)."""
    if pgtype.name in INTEGER_TYPES:
        return 0
    if pgtype.name == "numeric":
        return pgtype.modifiers[1] if pgtype.modifiers else None
    return None


@dataclass(frozen=True)
class Expr(Generator):
    """Arithmetic on other columns of the same row (see the module's docstring)."""

    kind = "expr"
    expr: str = ""
    tree: ast.expr = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.expr, str) or not self.expr.strip():
            raise ParameterError("expr", self.expr, 'must be arithmetic, e.g. "price * quantity"')
        object.__setattr__(self, "tree", _parse(self.expr.strip()))

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the expression reads, in order of first use."""
        names = [n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)]
        return tuple(dict.fromkeys(names))

    def params(self) -> dict[str, Any]:
        return {"expr": self.expr}

    def exact(self, table: Table) -> bool:
        """+ - * on integers and numeric columns only: decimal arithmetic, as SQL's."""
        reads_reals = any(table.column(c).type.name in REAL_TYPES for c in self.columns)
        divides = any(isinstance(n, ast.Div) for n in ast.walk(self.tree))
        return not reads_reals and not divides

    def generate(self, frame: Frame, column: Column) -> Values:
        values, scale = _evaluate(self.tree, frame)
        values = np.broadcast_to(values, (frame.rows,))
        nulls = [frame.nulls[c] for c in self.columns if c in frame.nulls]
        if nulls:
            frame.nulls[column.name] = np.logical_or.reduce(nulls)
        return _fill(values, scale, column, frame.table.name)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule | None:
        if not self.exact(table) or column.type.name in REAL_TYPES:
            return None
        sql = _sql(self.tree)
        keeps = _target_scale(column.type)
        rounded = f"round({sql}, {keeps})" if keeps is not None else sql
        return Rule(f"{quote(column.name)} = {rounded}", f"{column.name} is {self.expr}")


def _evaluate(node: ast.expr, frame: Frame) -> Number:
    # A function of the module, not a closure: a recursive closure is a reference cycle
    # (function -> cell -> function) holding the frame, and so a whole unit's arrays,
    # until the cyclic collector runs (shop's load grew 1.6x in peak memory from 100k to
    # 1M customers).
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # _parse allows no other
        return _constant(node.value)
    if isinstance(node, ast.Name):
        return _operand(frame, node.id)
    if isinstance(node, ast.UnaryOp):
        values, scale = _evaluate(node.operand, frame)
        return (-values if isinstance(node.op, ast.USub) else values), scale
    assert isinstance(node, ast.BinOp)
    return _apply(node.op, _evaluate(node.left, frame), _evaluate(node.right, frame))


def _operand(frame: Frame, name: str) -> Number:
    """A column's values as the server stores them."""
    pgtype = frame.table.column(name).type
    values = frame.values(name)
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "iuf":
        raise PgbulkError(f"table {frame.table.name}: expr reads {name}, which is not a number")
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False), 0
    if pgtype.name == "numeric" and pgtype.modifiers:
        scale = pgtype.modifiers[1]
        # As the numeric encoder rounds a draw to the column's scale: the stored value.
        return np.rint(values * 10.0**scale).astype(np.int64), scale
    if pgtype.name == "float4":
        return values.astype(np.float32).astype(np.float64), None
    return values.astype(np.float64, copy=False), None


def _fill(values: npt.NDArray[Any], scale: int | None, column: Column, table: str) -> Values:
    keeps = _target_scale(column.type)
    if scale is not None:
        if keeps is not None and scale > keeps:
            values, scale = _round_half_away(values, scale - keeps), keeps
        if column.type.name in INTEGER_TYPES or scale == 0:
            return np.array(values, dtype=np.int64)
        return values / 10.0**scale
    if column.type.name in INTEGER_TYPES:
        if not np.isfinite(values).all():
            raise PgbulkError(
                f"table {table}, column {column.name}: expr is not finite (a division by 0?)"
            )
        return np.where(values < 0, -np.floor(-values + 0.5), np.floor(values + 0.5)).astype(
            np.int64
        )
    return np.array(values, dtype=np.float64)


def _sql(node: ast.expr) -> str:
    """The expression in SQL, columns as numeric (no integer overflow, no integer division)."""
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.Name):
        return f"{quote(node.id)}::numeric"
    if isinstance(node, ast.UnaryOp):
        return f"(-{_sql(node.operand)})" if isinstance(node.op, ast.USub) else _sql(node.operand)
    assert isinstance(node, ast.BinOp)
    return f"({_sql(node.left)} {_OPERATORS[type(node.op)]} {_sql(node.right)})"


def check_expr(generator: Expr, column: Column, table: Table) -> str | None:
    """What is wrong with an expression in its table, or None."""
    for name in generator.columns:
        if name not in table.column_names:
            return f"expr names {name!r}, which is not a column of {table.name}"
        if name == column.name:
            return f"expr reads its own column {name!r}"
        if table.column(name).type.name not in NUMERIC_TYPES or table.column(name).type.array:
            return (
                f"expr reads {name}, a {table.column(name).type.sql} column: it reads numbers only"
            )
    if column.type.name == "numeric" and not column.type.modifiers:
        return "expr fills numeric(p, s) (a scale to round to), not numeric without one"
    todo, seen = list(generator.columns), set()
    while todo:  # columns made from each other could never be made
        name = todo.pop()
        read = table.column(name).generator
        if isinstance(read, Expr) and name not in seen:
            seen.add(name)
            if column.name in read.columns:
                return f"expr reads {name}, which reads {column.name}: a cycle"
            todo += [c for c in read.columns if c in table.column_names]
    return None
