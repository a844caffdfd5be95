"""PostgreSQL column types as data: parsed from what people write, printed as the server does.

A :class:`PgType` is a base type (``int4``, ``numeric``, ``text``, ...), its modifiers
(``numeric(12, 2)``, ``varchar(20)``, ``timestamp(3)``) and whether it is a
one-dimensional array. :attr:`PgType.sql` is the spelling of PostgreSQL's own
``format_type()``, so a model's type and a catalog's type compare as strings, and the
same text is valid DDL. Type OIDs of the built-in types are fixed by PostgreSQL
(``pg_type.dat``): a binary array carries its element's OID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pgbulk.errors import ParameterError


@dataclass(frozen=True)
class BaseType:
    name: str  # pgbulk's canonical short name (PostgreSQL's internal one)
    sql: str  # format_type's spelling, without modifiers
    oid: int
    array_oid: int
    width: int | None  # bytes of a non-NULL value on the wire; None: variable
    modifiers: tuple[str, ...] = ()  # what ``(a, b)`` after the name means, if allowed


_BASES = (
    BaseType("bool", "boolean", 16, 1000, 1),
    BaseType("int2", "smallint", 21, 1005, 2),
    BaseType("int4", "integer", 23, 1007, 4),
    BaseType("int8", "bigint", 20, 1016, 8),
    BaseType("float4", "real", 700, 1021, 4),
    BaseType("float8", "double precision", 701, 1022, 8),
    BaseType("numeric", "numeric", 1700, 1231, None, ("precision", "scale")),
    BaseType("text", "text", 25, 1009, None),
    BaseType("varchar", "character varying", 1043, 1015, None, ("length",)),
    BaseType("bpchar", "character", 1042, 1014, None, ("length",)),
    BaseType("bytea", "bytea", 17, 1001, None),
    BaseType("uuid", "uuid", 2950, 2951, 16),
    BaseType("date", "date", 1082, 1182, 4),
    BaseType("time", "time without time zone", 1083, 1183, 8, ("precision",)),
    BaseType("timestamp", "timestamp without time zone", 1114, 1115, 8, ("precision",)),
    BaseType("timestamptz", "timestamp with time zone", 1184, 1185, 8, ("precision",)),
    BaseType("interval", "interval", 1186, 1187, 16, ("precision",)),
    BaseType("json", "json", 114, 199, None),
    BaseType("jsonb", "jsonb", 3802, 3807, None),
)
BASES = {b.name: b for b in _BASES}

# What people write -> the canonical name. format_type's spellings are aliases too.
_ALIASES = {
    **{b.name: b.name for b in _BASES},
    **{b.sql: b.name for b in _BASES},
    "boolean": "bool",
    "smallint": "int2",
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "real": "float4",
    "double precision": "float8",
    "float": "float8",
    "decimal": "numeric",
    "character varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "time without time zone": "time",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "timetz": "",  # listed so that the error says it is not supported, rather than unknown
}

_TYPE_RE = re.compile(
    r"\s*(?P<name>[a-z][a-z0-9 ]*?)\s*(?:\(\s*(?P<mods>[0-9]+(?:\s*,\s*-?[0-9]+)?)\s*\))?"
    r"(?P<zone>\s+with(?:out)?\s+time\s+zone)?\s*(?P<array>\[\s*\])?\s*",
)


@dataclass(frozen=True)
class PgType:
    """A column type. ``PgType.parse("numeric(12,2)")``; ``.sql`` -> ``numeric(12,2)``."""

    name: str
    modifiers: tuple[int, ...] = ()
    array: bool = False

    def __post_init__(self) -> None:
        base = BASES.get(self.name)
        if base is None:
            raise ParameterError("type", self.name, f"must be one of {', '.join(BASES)}")
        if len(self.modifiers) > len(base.modifiers):
            allowed = f"({', '.join(base.modifiers)})" if base.modifiers else "no modifiers"
            raise ParameterError("type", self.sql_unchecked(), f"{self.name} takes {allowed}")
        if self.name == "numeric" and len(self.modifiers) == 1:
            object.__setattr__(self, "modifiers", (self.modifiers[0], 0))  # as the server does
        if self.name == "numeric" and self.modifiers:
            precision, scale = self.modifiers
            if not 1 <= precision <= 1000 or not -1000 <= scale <= 1000:
                raise ParameterError(
                    "type", self.sql_unchecked(), "numeric(p, s) needs 1 <= p <= 1000, |s| <= 1000"
                )
        if self.name in ("varchar", "bpchar") and self.modifiers and self.modifiers[0] < 1:
            raise ParameterError("type", self.sql_unchecked(), "the length must be at least 1")
        timed = self.name in ("time", "timestamp", "timestamptz", "interval")
        if timed and self.modifiers and not 0 <= self.modifiers[0] <= 6:
            raise ParameterError("type", self.sql_unchecked(), "the precision must be 0..6")

    @classmethod
    def parse(cls, text: str) -> PgType:
        """``int``, ``integer``, ``int4``, ``numeric(12,2)``, ``varchar(20)``, ``timestamptz``,
        ``timestamp(3) with time zone``, ``text[]``, ... (case and spaces as you like)."""
        m = _TYPE_RE.fullmatch(text.lower()) if isinstance(text, str) else None
        if m is None:
            raise ParameterError("type", text, "is not a PostgreSQL type name")
        name = " ".join(m.group("name").split())
        if m.group("zone"):
            name += " " + " ".join(m.group("zone").split())
        canonical = _ALIASES.get(name)
        if not canonical:
            raise ParameterError(
                "type", text, f"is not a type pgbulk encodes; use one of {', '.join(BASES)}"
            )
        mods = tuple(int(v) for v in m.group("mods").split(",")) if m.group("mods") else ()
        if canonical == "bpchar" and not mods and name in ("char", "character"):
            mods = (1,)  # as in PostgreSQL: char means char(1)
        return cls(canonical, mods, bool(m.group("array")))

    @property
    def base(self) -> BaseType:
        return BASES[self.name]

    @property
    def element(self) -> PgType:
        """The type of an array's elements (the type itself when it is no array)."""
        return PgType(self.name, self.modifiers)

    @property
    def oid(self) -> int:
        return self.base.array_oid if self.array else self.base.oid

    @property
    def width(self) -> int | None:
        """Bytes of a non-NULL value in binary COPY, or None when it varies."""
        return None if self.array else self.base.width

    @property
    def sql(self) -> str:
        """The type as PostgreSQL's ``format_type()`` prints it (and as DDL takes it)."""
        return self.sql_unchecked()

    def sql_unchecked(self) -> str:
        base = BASES[self.name].sql if self.name in BASES else self.name
        mods = f"({','.join(str(m) for m in self.modifiers)})" if self.modifiers else ""
        if self.name == "bpchar" and not self.modifiers:
            text = "bpchar"  # format_type's spelling of an unconstrained character
        elif base.endswith(" time zone"):  # time(3) without time zone
            head, _, zone = base.partition(" with")
            text = f"{head}{mods} with{zone}"
        else:
            text = f"{base}{mods}"
        return text + ("[]" if self.array else "")

    def __str__(self) -> str:
        return self.sql
