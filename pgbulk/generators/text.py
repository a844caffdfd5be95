"""Text made from other values: templates, and columns copied from the parent row."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pgbulk.ddl import quote
from pgbulk.errors import ParameterError
from pgbulk.generate import Text
from pgbulk.generators.base import Generator, Rule, with_values

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table

# The fields a template may name besides columns: the row's 0-based index in its table,
# its 1-based number, and its 0-based position under its parent.
_NUMBERS = ("row", "number", "n")
_FIELD_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
# How a field's text is matched in SQL, by the width of its characters.
_UUID_CHARS = 36
_INTEGER_RE = "(0|[1-9][0-9]*)"


@dataclass(frozen=True)
class Piece:
    """A constant (``field`` empty) or a field: ``row``, ``number``, ``n``, a column, ``parent.<column>``."""

    text: str = ""
    field: str = ""

    @property
    def parent_column(self) -> str | None:
        return self.field.removeprefix("parent.") if self.field.startswith("parent.") else None


def parse_template(template: str) -> tuple[Piece, ...]:
    pieces: list[Piece] = []
    literal = ""
    pos = 0
    for m in _FIELD_RE.finditer(template):
        literal += template[pos : m.start()]
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            literal += token[0]
            continue
        name = (m.group(1) or "").strip()
        if token in ("{", "}") or not re.fullmatch(r"(parent\.)?[A-Za-z_][A-Za-z0-9_$]*", name):
            raise ParameterError(
                "template",
                template,
                "fields are {row}, {number}, {n}, {<column>} or {parent.<column>}; write {{ and }} for braces",
            )
        if literal:
            pieces.append(Piece(literal))
            literal = ""
        pieces.append(Piece(field=name))
    literal += template[pos:]
    if literal:
        pieces.append(Piece(literal))
    return tuple(pieces)


@dataclass(frozen=True)
class Template(Generator):
    """Text from a template: ``User {number}``, ``user{parent.id}_{n}@example.com``.

    Fields: ``{row}`` (the row's 0-based index in its table), ``{number}`` (row + 1),
    ``{n}`` (the row's 0-based position under its parent), ``{<column>}`` (another column
    of the same row) and ``{parent.<column>}`` (a column of the parent row), each as
    PostgreSQL prints it. The result is kept as parts, which the COPY encoder writes
    without joining them first.
    """

    kind = "template"
    template: str
    pieces: tuple[Piece, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pieces", parse_template(self.template))

    def params(self) -> dict[str, str]:
        return {"template": self.template}

    def generate(self, frame: Frame, column: Column) -> Values:
        parts: list[Text | bytes] = []
        for p in self.pieces:
            if not p.field:
                parts.append(p.text.encode())
            elif p.field in _NUMBERS:
                parts.append(frame.number_text(p.field))
            elif p.parent_column is not None:
                parts.append(frame.parent_text(p.parent_column))
            else:
                parts.append(frame.text(p.field))
        return parts

    # ------------------------------------------------------------------ verify

    def _sql_field(self, p: Piece, table: Table, dataset: Dataset) -> str | None:
        """SQL for the text of a column field, from the row itself; None for a number field."""
        if p.field in _NUMBERS:
            return None
        name = p.parent_column
        if name is None:
            return f"{quote(p.field)}::text"
        parent = dataset.table(table.parent or "")
        for fk in table.foreign_keys:
            if fk.table == parent.name:
                ref = fk.ref_columns or parent.primary_key
                if name in ref:
                    return f"{quote(fk.columns[ref.index(name)])}::text"
        raise ParameterError(
            "template",
            self.template,
            f"{{parent.{name}}} needs a foreign key of {table.name} to it",
        )

    def _fixed_chars(self, p: Piece, table: Table, dataset: Dataset) -> int | None:
        """Characters the piece always takes, or None when it varies."""
        if not p.field:
            return len(p.text)
        if p.field in _NUMBERS:
            return None
        name = p.parent_column
        source = dataset.table(table.parent or "") if name else table
        kind = source.column(name or p.field).type
        return _UUID_CHARS if kind.name == "uuid" and not kind.array else None

    def _matched(
        self, column: Column, table: Table, dataset: Dataset
    ) -> tuple[tuple[tuple[str, str], ...], str, dict[str, str]]:
        """Values computed once per row (see :class:`Rule`), SQL true when the value has the
        template's shape, and SQL for each number field's text (NULL when malformed).

        With exactly one number field and every other piece of a fixed width (constants,
        UUIDs), the number is cut out by position, the cheapest test; otherwise a regular
        expression captures the numbers. The cut (or the match) is one value of the row,
        which the rule, the position and the shape all read: written out in each, it was
        computed three times per row.
        """
        c = quote(column.name)
        numbers = [i for i, p in enumerate(self.pieces) if p.field in _NUMBERS]
        widths = [self._fixed_chars(p, table, dataset) for p in self.pieces]
        if len(numbers) == 1 and all(
            w is not None for i, w in enumerate(widths) if i != numbers[0]
        ):
            before = sum(w or 0 for w in widths[: numbers[0]])
            fixed = sum(w or 0 for w in widths)
            cut = quote(f"{column.name}#cut")
            number = quote(f"{column.name}#{self.pieces[numbers[0]].field}")
            values = (
                # empty when the text is too short (substr refuses a negative length)
                (cut, f"substr({c}, {before + 1}, greatest(char_length({c}) - {fixed}, 0))"),
                (number, f"CASE WHEN {cut} ~ '^{_INTEGER_RE}$' THEN {cut} END"),
            )
            return values, f"{number} IS NOT NULL", {self.pieces[numbers[0]].field: number}
        groups = []
        for p in self.pieces:
            if not p.field:
                groups.append(re.escape(p.text).replace("'", "''"))
            else:
                groups.append(_INTEGER_RE if p.field in _NUMBERS else "(?:.*)")
        pattern = "^" + "".join(groups) + "$"
        if not numbers:
            return (), f"{c} ~ '{pattern}'", {}
        match = quote(f"{column.name}#match")
        found = {self.pieces[i].field: f"({match})[{k + 1}]" for k, i in enumerate(numbers)}
        return ((match, f"regexp_match({c}, '{pattern}')"),), f"{match} IS NOT NULL", found

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        c = quote(column.name)
        values, shape, numbers = self._matched(column, table, dataset)
        rebuilt = " || ".join(
            "'" + p.text.replace("'", "''") + "'"
            if not p.field
            else numbers[p.field]
            if p.field in _NUMBERS
            else str(self._sql_field(p, table, dataset))
            for p in self.pieces
        )
        checks = [f"{c} = {rebuilt}"]
        if "number" in numbers:
            checks.append(f"{numbers['number']}::numeric BETWEEN 1 AND {{rows}}")
        if "row" in numbers:
            checks.append(f"{numbers['row']}::numeric < {{rows}}")
        description = f"{column.name} is {self.template!r}" + (
            " with number in 1..{rows}" if "number" in numbers else ""
        )
        return Rule(
            f"CASE WHEN {shape} THEN {' AND '.join(checks)} ELSE false END", description, values
        )

    def numbered(self) -> tuple[str, int] | None:
        """(field, first value) when the template is constants around one ``{row}`` or
        ``{number}``: then each row's text is known from its index alone (``User {number}``)."""
        fields = [p.field for p in self.pieces if p.field]
        if fields not in (["row"], ["number"]):
            return None
        return fields[0], 0 if fields[0] == "row" else 1

    def render(self, value: int) -> str:
        """The text of the row whose number field is ``value`` (for a :meth:`numbered` template)."""
        return "".join(p.text if not p.field else str(value) for p in self.pieces)

    def missing_sql(self, column: Column, table: Table, dataset: Dataset, limit: int) -> str | None:
        """SQL for the first ``limit`` numbers in range that no row has ({rows}: the expected count)."""
        numbered = self.numbered()
        if numbered is None:
            return None
        name, first = numbered
        values, shape, numbers = self._matched(column, table, dataset)
        last = f"{{rows}} + {first - 1}"
        return (
            f"SELECT n FROM generate_series({first}::bigint, {last}) n EXCEPT "
            f"SELECT ({numbers[name]})::bigint FROM {with_values(quote(table.name), values)}"
            f" WHERE {shape} ORDER BY 1 LIMIT {limit}"
        )

    def position_sql(self, column: Column, table: Table, dataset: Dataset) -> str | None:
        """SQL for the row's position under its parent, read from its text; NULL if malformed.

        It names the values of the column's :meth:`rule`, which the verifier computes."""
        _, _, numbers = self._matched(column, table, dataset)
        if "n" not in numbers:
            return None
        return f"({numbers['n']})::numeric"


@dataclass(frozen=True)
class FromParent(Generator):
    """A column of the parent row, copied (a child's foreign key to its parent's key)."""

    kind = "parent"
    column: str

    def generate(self, frame: Frame, column: Column) -> Values:
        return frame.parent_values(self.column)
