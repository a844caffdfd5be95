"""``expr``: arithmetic on other columns of the same row, on the values as stored, exact
decimal arithmetic where SQL's is, and refused in one line when it is not arithmetic."""

from __future__ import annotations

import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pgbulk.chunks import Chunk, Rows
from pgbulk.spec import SpecError, from_dict

SCALE = 5_000


def _table(columns: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "t",
        "chunk_rows": 2_000,
        "tables": {"t": {"rows": "scale", "columns": columns}},
    }


OPERANDS = {
    "q": {"type": "int", "gen": "uniform_int", "low": -20, "high": 40},
    "p": {"type": "numeric(12,2)", "gen": "lognormal", "mu": 3.0, "sigma": 0.8},
    "r": {"type": "numeric(10,3)", "gen": "uniform", "low": -5, "high": 5},
    "f": {"type": "float8", "gen": "normal", "mean": 10, "sd": 3},
}


def _chunks(extra: dict[str, Any]) -> list[Chunk]:
    return list(Rows(from_dict(_table({**OPERANDS, **extra})), SCALE, seed=9))


def _col(chunks: list[Chunk], name: str) -> np.ndarray[Any, Any]:
    return np.concatenate([np.asarray(c.values("t", name)) for c in chunks])


def _stored(values: np.ndarray[Any, Any], scale: int) -> list[Decimal]:
    """Floats as a numeric(p, scale) column stores them (the encoder's rounding)."""
    return [Decimal(int(v)).scaleb(-scale) for v in np.rint(values * 10.0**scale)]


def test_exact_arithmetic_on_stored_values_rounds_half_away_from_zero() -> None:
    chunks = _chunks(
        {
            "total": {"type": "numeric(14,2)", "gen": "expr", "expr": "p * q"},
            "mixed": {"type": "numeric(14,2)", "gen": "expr", "expr": "-(p - r) * 2 + 0.125 * q"},
            "whole": {"type": "bigint", "gen": "expr", "expr": "q * 1.5 - 3"},
        }
    )
    q = [Decimal(int(v)) for v in _col(chunks, "q")]
    p, r = _stored(_col(chunks, "p"), 2), _stored(_col(chunks, "r"), 3)
    cent, one = Decimal("0.01"), Decimal(1)
    want_total = [(a * b).quantize(cent, ROUND_HALF_UP) for a, b in zip(p, q, strict=True)]
    want_mixed = [
        (-(a - c) * 2 + Decimal("0.125") * b).quantize(cent, ROUND_HALF_UP)
        for a, c, b in zip(p, r, q, strict=True)
    ]
    want_whole = [int((b * Decimal("1.5") - 3).quantize(one, ROUND_HALF_UP)) for b in q]
    assert _stored(_col(chunks, "total"), 2) == want_total
    assert _stored(_col(chunks, "mixed"), 2) == want_mixed
    whole = _col(chunks, "whole")
    assert whole.dtype == np.int64 and whole.tolist() == want_whole
    # Half away from zero: an odd q times 1.5 ends in .5 on both sides of zero.
    assert any(v % 2 and v < 0 for v in _col(chunks, "q")) and any(
        v % 2 and v > 0 for v in _col(chunks, "q")
    )


def test_division_and_reals_compute_in_doubles() -> None:
    chunks = _chunks(
        {
            "ratio": {"type": "float8", "gen": "expr", "expr": "f / (p + 1)"},
            "per": {"type": "numeric(12,4)", "gen": "expr", "expr": "(f - q) / 4"},
        }
    )
    cents = np.rint(_col(chunks, "p") * 100)  # p as stored; p + 1 is exact (in cents)
    f, q = _col(chunks, "f"), _col(chunks, "q")
    np.testing.assert_array_equal(_col(chunks, "ratio"), f / ((cents + 100) / 100))
    np.testing.assert_array_equal(_col(chunks, "per"), (f - q) / 4)


def test_a_null_operand_makes_a_null_result_and_a_nullable_column() -> None:
    spec = _table(
        {
            **OPERANDS,
            "p": {**OPERANDS["p"], "null": 0.3},
            "twice": {"type": "numeric(12,2)", "gen": "expr", "expr": "2 * p"},
            "more": {"type": "numeric(12,2)", "gen": "expr", "expr": "twice + q"},
            "plain": {"type": "int", "gen": "expr", "expr": "q + 1"},
        }
    )
    d = from_dict(spec)
    table = d.table("t")
    assert table.column("twice").nullable and table.column("more").nullable
    assert not table.column("plain").nullable
    frame = next(iter(Rows(d, SCALE, seed=1))).frame("t")
    frame.values("more")
    assert 0.2 < frame.nulls["p"].mean() < 0.4
    np.testing.assert_array_equal(frame.nulls["more"], frame.nulls["p"])


def test_an_expression_verifies_as_sql() -> None:
    d = from_dict(
        _table({**OPERANDS, "t": {"type": "numeric(14,2)", "gen": "expr", "expr": "p * -q + 1.5"}})
    )
    table = d.table("t")
    rule = table.column("t").generator.rule(table.column("t"), table, d)  # type: ignore[union-attr]
    assert rule is not None
    assert rule.sql == '"t" = round((("p"::numeric * (-"q"::numeric)) + 1.5), 2)'
    reals = from_dict(_table({**OPERANDS, "t": {"type": "float8", "gen": "expr", "expr": "f * q"}}))
    column = reals.table("t").column("t")
    assert column.generator.rule(column, reals.table("t"), reals) is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"type": "int", "gen": "expr", "expr": "q *"},
            "invalid expr='q *': is not an arithmetic expression",
        ),
        (
            {"type": "int", "gen": "expr", "expr": "abs(q)"},
            "+ - * / and parentheses only, not 'abs(q)'",
        ),
        ({"type": "int", "gen": "expr", "expr": "q ** 2"}, "not 'q ** 2'"),
        ({"type": "int", "gen": "expr", "expr": "q.real"}, "not 'q.real'"),
        ({"type": "int", "gen": "expr", "expr": "__import__('os')"}, "parentheses only, not"),
        ({"type": "int", "gen": "expr", "expr": "q > 1"}, "not 'q > 1'"),
        ({"type": "int", "gen": "expr", "expr": "'a' + q"}, "not \"'a'\""),
        ({"type": "int", "gen": "expr", "expr": ""}, "invalid expr='': must be arithmetic"),
        (
            {"type": "int", "gen": "expr", "expr": "qty * 2"},
            "expr names 'qty', which is not a column of t",
        ),
        ({"type": "int", "gen": "expr", "expr": "x + 1"}, "expr reads its own column 'x'"),
        (
            {"type": "int", "gen": "expr", "expr": "s + 1"},
            "expr reads s, a text column: it reads numbers only",
        ),
        ({"type": "numeric", "gen": "expr", "expr": "p"}, "expr fills numeric(p, s)"),
        ({"type": "text", "gen": "expr", "expr": "q"}, "generator expr cannot fill a text column"),
        (
            {"type": "int", "gen": "expr", "expr": "q", "exp": 1},
            "unknown parameter 'exp' of generator expr",
        ),
    ],
)
def test_mistakes_are_one_line_naming_table_and_column(
    settings: dict[str, Any], message: str
) -> None:
    spec = _table({**OPERANDS, "s": {"type": "text", "gen": "words"}, "x": settings})
    with pytest.raises(SpecError) as info:
        from_dict(spec)
    text = str(info.value)
    assert text.startswith("table t, column x: ") and "\n" not in text
    assert message in text, text


def test_an_expression_is_a_column_not_a_json_field() -> None:
    field = {"gen": "expr", "type": "int", "expr": "q + 1"}
    spec = _table({**OPERANDS, "x": {"type": "jsonb", "gen": "json", "fields": {"f": field}}})
    with pytest.raises(SpecError, match=r"^table t, column x\.f: expr computes a column"):
        from_dict(spec)


def test_a_cycle_of_expressions_is_refused() -> None:
    spec = _table(
        {
            **OPERANDS,
            "a": {"type": "int", "gen": "expr", "expr": "b + 1"},
            "b": {"type": "int", "gen": "expr", "expr": "q + a"},
        }
    )
    with pytest.raises(
        SpecError, match=r"^table t, column a: expr reads b, which reads a: a cycle$"
    ):
        from_dict(spec)


def test_spec_check_exits_2_on_a_bad_expression(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "s"\n[tables.t]\nrows = "scale"\n'
        'columns.q = { type = "int", gen = "uniform_int" }\n'
        'columns.x = { type = "int", gen = "expr", expr = "q + open(1)" }\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "pgbulk", "spec", "check", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "table t, column x: invalid expr='q + open(1)'" in run.stderr
